"""``PairedBootstrap``: is model A better than (not worse than, equal to) model B? Same resamplings for both."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import Ids
from fuse.eval.framework._metric_base import MetricBase, WrappingMetric
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.resampling._bootstrap import check_bootstrap_settings, evaluate_bootstraps, strata_and_clusters
from fuse.eval.resampling._ci import describe_metric

__all__ = [
    "COMPARE_METHODS",
    "PairedBootstrap",
    "bootstrap_margin_equality",
    "bootstrap_margin_non_inferiority",
    "bootstrap_margin_superiority",
]


MARGIN_TYPES = ("abs", "rel")


CompareMethod = Callable[..., Any]


def _margin(reference: np.ndarray, margin: float, margin_type: str) -> np.ndarray | float:
    if margin_type not in MARGIN_TYPES:
        raise ValueError(f"margin_type must be one of {MARGIN_TYPES}, got {margin_type!r}")
    return margin * reference if margin_type == "rel" else margin


def _differences(test_values: Sequence[float], reference_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    test, reference = np.asarray(test_values, dtype=float), np.asarray(reference_values, dtype=float)
    if test.shape != reference.shape or test.ndim != 1 or len(test) == 0:
        raise ValueError(
            f"test and reference need the same non-zero number of bootstrap values, got {test.shape} and "
            f"{reference.shape}"
        )
    return test - reference, reference


def _counted(count_name: str, holds: np.ndarray, diff: np.ndarray) -> dict[str, Any]:
    """FuseMedML's result: how often the hypothesis held, the mean difference and ``1 - held / count``."""
    held = int(np.sum(holds))
    return {"count": len(diff), count_name: held, "diff": float(diff.mean()), "p_value": 1 - held / len(diff)}


def bootstrap_margin_superiority(
    name: str | None,
    test_values: Sequence[float],
    reference_values: Sequence[float],
    margin: float = 0.0,
    margin_type: str = "abs",
) -> dict[str, Any]:
    """Superiority of the test model by more than ``margin`` (FuseMedML's ``ModelComparison`` method).

    ``{"count", "count_superior" (diff > margin), "diff" (mean difference), "p_value" = 1 - count_superior/count}``;
    ``margin_type="rel"`` scales the margin by each reference value. ``name`` is the compared key (unused).

    >>> bootstrap_margin_superiority(None, [0.8, 0.7, 0.9, 0.6], [0.7, 0.75, 0.8, 0.5], margin=0.05)
    {'count': 4, 'count_superior': 3, 'diff': 0.0625, 'p_value': 0.25}
    """
    diff, reference = _differences(test_values, reference_values)
    return _counted("count_superior", diff > _margin(reference, margin, margin_type), diff)


def bootstrap_margin_non_inferiority(
    name: str | None,
    test_values: Sequence[float],
    reference_values: Sequence[float],
    margin: float = 0.0,
    margin_type: str = "abs",
) -> dict[str, Any]:
    """Non-inferiority of the test model within ``margin``: ``{"count", "count_non_inferior" (diff > -margin),
    "diff", "p_value" = 1 - count_non_inferior/count}``.

    >>> bootstrap_margin_non_inferiority(None, [0.8, 0.7, 0.9, 0.6], [0.7, 0.75, 0.8, 0.5], margin=0.01)
    {'count': 4, 'count_non_inferior': 3, 'diff': 0.0625, 'p_value': 0.25}
    """
    diff, reference = _differences(test_values, reference_values)
    return _counted("count_non_inferior", diff > -_margin(reference, margin, margin_type), diff)


def bootstrap_margin_equality(
    name: str | None,
    test_values: Sequence[float],
    reference_values: Sequence[float],
    margin: float = 0.0,
    margin_type: str = "abs",
) -> dict[str, Any]:
    """Equality within ``margin``: ``{"count", "count_margin_equal" (|diff| < margin), "diff" (mean |diff|),
    "p_value" = 1 - count_margin_equal/count}``.

    >>> bootstrap_margin_equality(None, [0.75, 0.5, 1.0, 0.25], [0.5, 0.5, 0.75, 0.5], margin=0.1)
    {'count': 4, 'count_margin_equal': 1, 'diff': 0.1875, 'p_value': 0.75}
    """
    diff, reference = _differences(test_values, reference_values)
    absolute = np.abs(diff)
    return _counted("count_margin_equal", absolute < _margin(reference, margin, margin_type), absolute)


COMPARE_METHODS: dict[str, CompareMethod] = {
    "superiority": bootstrap_margin_superiority,
    "non_inferiority": bootstrap_margin_non_inferiority,
    "equality": bootstrap_margin_equality,
}


class PairedBootstrap(WrappingMetric):
    """Compare two metrics (typically one model against a reference) on the same bootstrap resamplings.

    Resampling is FuseMedML's (``np.random.RandomState(rnd_seed)``, per stratum in ``np.unique`` order), so
    the results equal FuseMedML's where every resampling is defined. Resamplings where either metric is undefined
    (NaN, e.g. no positive drawn) are left out, with a warning, and counted in ``num_undefined_bootstraps`` (FuseMedML
    counted them as failures of the hypothesis and its mean difference was NaN). Both metrics evaluate whole blocks of resamplings at once where they have a
    vectorised form (AUC, confusion metrics). Returns ``compare_method(key, test_values, reference_values,
    margin=..., margin_type=...)`` — for each of ``metric_keys_to_compare`` when the metrics return dicts.

    :param metric_test: the metric of the model under test.
    :param metric_reference: the metric of the reference model.
    :param stratum: key of the stratum to resample within (e.g. the target), or ``None`` (fixed: FuseMedML raised).
    :param metric_keys_to_compare: keys of dict results to compare; ``None`` for metrics returning a number.
    :param compare_method: ``"superiority"``, ``"non_inferiority"``, ``"equality"`` or a callable with the
        signature of :func:`bootstrap_margin_superiority`.
    :param margin: margin of the comparison; ``margin_type`` ``"abs"`` or ``"rel"`` (times the reference value).
    :param cluster: key of the cluster id of each sample (e.g. the patient), or ``None``: resample whole clusters,
        stratified by a cluster-level stratum, as :class:`fuse.eval.CI` does (where a cluster's samples have different
        strata, the largest: a patient is positive when any of its samples is).

    >>> import pandas as pd
    >>> from fuse.eval import MetricAUCROC
    >>> data = pd.DataFrame({"id": range(8), "target": [0, 0, 0, 0, 1, 1, 1, 1],
    ...                      "a": [.1, .2, .3, .6, .5, .7, .8, .9], "b": [.5, .2, .7, .1, .4, .6, .3, .8]})
    >>> paired = PairedBootstrap(MetricAUCROC(pred="a", target="target"), MetricAUCROC(pred="b", target="target"),
    ...                          stratum="target", num_of_bootstraps=200)
    >>> paired.set(data)
    >>> result = paired.eval()
    >>> result["count"], result["count_superior"], round(result["diff"], 4)
    (200, 159, 0.2169)
    """

    def __init__(
        self,
        metric_test: MetricBase,
        metric_reference: MetricBase,
        stratum: str | None = None,
        metric_keys_to_compare: Sequence[str] | None = None,
        compare_method: str | CompareMethod = "superiority",
        num_of_bootstraps: int = 10000,
        rnd_seed: int = 1234,
        margin: float = 0.0,
        margin_type: str = "abs",
        verbose: bool = False,
        cluster: str | None = None,
        **super_kwargs: Any,
    ) -> None:
        if isinstance(compare_method, str):
            if compare_method not in COMPARE_METHODS:
                raise ValueError(
                    f"compare_method must be one of {list(COMPARE_METHODS)} or a callable, got {compare_method!r}"
                )
            compare_method = COMPARE_METHODS[compare_method]
        if margin_type not in MARGIN_TYPES:
            raise ValueError(f"margin_type must be one of {MARGIN_TYPES}, got {margin_type!r}")
        check_bootstrap_settings(num_of_bootstraps)
        if isinstance(metric_keys_to_compare, str):
            metric_keys_to_compare = [metric_keys_to_compare]
        super().__init__(
            metric_test, also_wrapped=(metric_reference,), stratum=stratum, cluster=cluster, **super_kwargs
        )
        self._reference = metric_reference
        self._keys = list(metric_keys_to_compare) if metric_keys_to_compare is not None else None
        self._compare = compare_method
        self._num_of_bootstraps = num_of_bootstraps
        self._rnd_seed = rnd_seed
        self._margin_value = margin
        self._margin_type = margin_type
        self._verbose = verbose

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        id_array = self._ids_array(ids)
        strata, clusters = strata_and_clusters(self._collector.get(id_array), len(id_array))
        test_results, reference_results = evaluate_bootstraps(
            [self._metric, self._reference],
            results,
            id_array,
            strata,
            self._num_of_bootstraps,
            self._rnd_seed,
            self._verbose,
            name=f"{describe_metric(self._metric)} vs {describe_metric(self._reference)}",
            clusters=clusters,
        )
        if self._keys is None:
            return self._compare_values(None, test_results, reference_results)
        return {
            key: self._compare_values(
                key,
                [self._value(r, key, "test") for r in test_results],
                [self._value(r, key, "reference") for r in reference_results],
            )
            for key in self._keys
        }

    def _compare_values(self, key: str | None, test: list[Any], reference: list[Any]) -> Any:
        if key is None:
            for values, which in ((test, "test"), (reference, "reference")):
                if isinstance(values[0], Mapping):
                    raise TypeError(
                        f"metric_{which} returned a dict with keys {sorted(values[0])}: choose the ones to compare "
                        "with metric_keys_to_compare"
                    )
        options: dict[str, Any] = {"margin": self._margin_value}
        if self._margin_type != "abs":  # user callables written for FuseMedML take margin only
            options["margin_type"] = self._margin_type
        test_values, reference_values = np.asarray(test, dtype=float), np.asarray(reference, dtype=float)
        undefined = np.isnan(test_values) | np.isnan(reference_values)
        count = int(undefined.sum())
        what = f"{key!r} of " if key is not None else ""
        if count == len(undefined):
            warnings.warn(
                f"PairedBootstrap: {what}the compared metrics is undefined (NaN) in all {count} resamplings, so "
                "there is no comparison: the result is NaN. Check that every class is present in the data",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
            return {"count": 0, "diff": float("nan"), "p_value": float("nan"), "num_undefined_bootstraps": count}
        if count:
            # NaN compares False: left in, an undefined resampling would count against the hypothesis
            warnings.warn(
                f"PairedBootstrap: {what}the test or reference metric is undefined (NaN, e.g. a class absent from "
                f"the resampling) in {count} of {len(undefined)} resamplings; they are left out of the comparison "
                "and counted in 'num_undefined_bootstraps'. With a rare class, stratify by the target (stratum=...)",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
        result = self._compare(key, test_values[~undefined], reference_values[~undefined], **options)
        if isinstance(result, dict):
            result["num_undefined_bootstraps"] = count
        return result

    @staticmethod
    def _value(result: Any, key: str, which: str) -> Any:
        if not isinstance(result, Mapping):
            raise TypeError(
                f"metric_{which} returned {type(result).__name__}, not a dict: set metric_keys_to_compare=None to "
                "compare single values"
            )
        if key not in result:
            raise KeyError(f"metric_{which} has no result {key!r}; it has {sorted(result)}")
        return result[key]
