"""``CI``: a metric with its bootstrap (or analytic) confidence interval."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import Ids
from fuse.eval.framework._inputs import is_number
from fuse.eval.framework._metric_base import MetricBase, WrappingMetric
from fuse.eval.framework._multiclass import MetricMultiClassDefault
from fuse.eval.framework._per_sample import PerSampleData
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.metrics.classification._brier import MetricBSS
from fuse.eval.metrics.classification._labels import MetricAccuracy, MetricBalAccuracy, MetricMCC
from fuse.eval.resampling._bootstrap import (
    check_bootstrap_settings,
    evaluate_bootstraps,
    jackknife_values,
    strata_and_clusters,
)
from fuse.eval.resampling._cluster import (
    ClusterLayout,
    cluster_layout,
)
from fuse.eval.resampling._intervals import (
    ANALYTIC_CI_METHODS,
    BOOTSTRAP_CI_METHODS,
    CI_METHODS,
    bca_interval,
    confidence_interval,
)
from fuse.eval.resampling._proportion import ProportionCounts, proportion_ci

__all__ = ["CI", "describe_metric"]


# metrics whose target holds class labels: a class with a single case makes their intervals unreliable
_CLASSIFICATION_METRICS = (MetricMultiClassDefault, MetricAccuracy, MetricBalAccuracy, MetricBSS, MetricMCC)


def describe_metric(metric: MetricBase) -> str:
    """A short description of a metric for messages: its class and the keys it reads, e.g.
    ``MetricAUCROC(pred=pred, target=target)``.
    """
    keys = getattr(metric, "_keys_to_collect", None) or {}
    return f"{type(metric).__name__}({', '.join(f'{name}={key}' for name, key in keys.items())})"


class CI(WrappingMetric):
    """Confidence interval of another metric: FuseMedML's bootstrap ``CI`` (same resampling, same numbers), or an
    analytic interval for metrics that are proportions of counts.

    Bootstrap (``ci_method`` ``"PERCENTILE"``, ``"NORMAL"``, ``"PIVOTAL"`` or ``"BCA"``): the result (per key for
    dict results) is ``{"org", "mean", "std", "conf_interval", "conf_lower", "conf_upper",
    "num_undefined_bootstraps"}``. Resampling is stratified by the collected ``stratum`` key when given. Metrics
    with a vectorised form (e.g. ``MetricAUCROC``) evaluate all resamplings at once; others one at a time; an
    error in any resampling raises. The numbers of a dict result get an interval each, its other values (arrays)
    are kept as computed; a result without a number (a curve, a table, per-sample outputs for later metrics) raises
    a ``TypeError`` before any resampling. Resamplings where the metric is undefined (NaN, e.g. no positive sample drawn)
    are left out of the bounds, mean and std, counted in ``num_undefined_bootstraps``, and warned about (FuseMedML
    let NaN sort last, which pushed the upper bound to the largest defined value). A warning also says when a
    stratum holds a single sample or a class of the target a single case, and when an interval has width zero:
    the percentile bootstrap of a proportion that is 0 or 1 in every resampling (e.g. 42 of 42 positives
    detected) is degenerate, not certain — use an analytic interval for it.

    Clustered (``cluster``: the key of a cluster id such as the patient, when a patient has several images, lesions
    or visits): whole clusters are resampled, so that correlated samples move together (resampling samples would
    make the interval too narrow). With ``stratum``, clusters are stratified by a cluster-level stratum: the
    stratum of its samples, and where they differ the largest value (with a 0/1 target a patient is positive
    when any of its samples is, Rutter 2000; with class indices, the highest class); text strata that differ
    within a cluster raise. One sample per cluster gives exactly the unclustered resamplings.

    BCa (``ci_method="BCA"``): the bias-corrected and accelerated percentile interval (see :func:`bca_interval`),
    as ``scipy.stats.bootstrap(method="BCa")`` computes it; the acceleration comes from the jackknife, leaving out
    each sample (each cluster with ``cluster``) in turn: ``n`` more evaluations of the metric (vectorised where
    the metric is, so O(n^2) work: about as much as 10,000 bootstraps at n = 10,000). The result also holds
    ``"bca_z0"`` and ``"bca_acceleration"``. Where BCa is undefined (an undefined leave-one-out value, a metric that
    no single sample changes, every resampling on one side of the value) the bounds are NaN, with a warning.

    Analytic (``ci_method`` ``"WILSON"`` or ``"CLOPPER-PEARSON"``, see :func:`fuse.eval.proportion_ci`): for
    metrics that give the counts behind their values (:class:`MetricConfusion`: sensitivity, specificity,
    PPV, NPV, accuracy; :class:`MetricAccuracy`), each proportion gets ``{"org", "conf_interval", "conf_lower",
    "conf_upper", "ci_method", "successes", "n"}``, equal to statsmodels' ``proportion_confint(successes, n)``; nothing is
    resampled (``stratum``, ``num_of_bootstraps`` and ``rnd_seed`` are unused). Counts (``tp``...) stay as they
    are; other values (f1, macro averages) are returned without an interval, with a warning.

    >>> import numpy as np
    >>> from fuse.eval import MetricConfusion
    >>> sens_spec = MetricConfusion(pred="pred", target="target", metrics=("sensitivity", "specificity"))
    >>> metric = CI(sens_spec, ci_method="WILSON")
    >>> metric.collect({"id": np.arange(50), "pred": np.r_[np.full(42, 0.9), np.full(8, 0.2)], "target": np.r_[np.ones(42), np.zeros(8)]})
    >>> sensitivity = metric.eval()["sensitivity"]
    >>> sensitivity["org"], round(sensitivity["conf_lower"], 4), sensitivity["conf_upper"], sensitivity["n"]
    (1.0, 0.9162, 1.0, 42)

    :param metric: the metric to bootstrap.
    :param stratum: key holding the stratum of each sample (e.g. the target), or ``None``.
    :param num_of_bootstraps: number of resamplings.
    :param rnd_seed: seed of the ``np.random.RandomState`` that draws them.
    :param conf_interval: confidence level in percent.
    :param ci_method: ``"PERCENTILE"``, ``"NORMAL"``, ``"PIVOTAL"``, ``"WILSON"`` or ``"CLOPPER-PEARSON"``
        (case-insensitive).
    :param verbose: show a progress bar.
    :param name: what the progress line and warnings call the metric; by default its class and keys.
    :param cluster: key holding the cluster id of each sample (e.g. the patient), or ``None``: resample whole
        clusters.

    >>> import pandas as pd
    >>> from fuse.eval import MetricAUCROC
    >>> rng = np.random.default_rng(0)
    >>> patients = pd.DataFrame({"patient": np.arange(60), "target": np.arange(60) % 2})
    >>> patients["score"] = 0.3 * patients["target"] + rng.uniform(0, 1, 60)
    >>> images = patients.loc[patients.index.repeat(3)].reset_index(drop=True)  # 3 alike images per patient
    >>> images["id"], images["pred"] = np.arange(180), images["score"] + rng.normal(0, 0.05, 180)
    >>> per_image = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=500)
    >>> per_patient = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", cluster="patient",
    ...                  num_of_bootstraps=500, ci_method="BCA")
    >>> per_image.set(images); per_patient.set(images)
    >>> width = lambda r: r["conf_upper"] - r["conf_lower"]
    >>> round(width(per_patient.eval()) / width(per_image.eval()), 1)  # images resampled one by one: too narrow
    1.6
    """

    def __init__(
        self,
        metric: MetricBase,
        stratum: str | None = None,
        num_of_bootstraps: int = 10000,
        rnd_seed: int = 1234,
        conf_interval: float = 95,
        ci_method: str = "PERCENTILE",
        verbose: bool = False,
        name: str | None = None,
        cluster: str | None = None,
        **super_kwargs: Any,
    ) -> None:
        method = ci_method.upper() if isinstance(ci_method, str) else ci_method
        if method not in CI_METHODS:
            raise ValueError(f"ci_method must be one of {CI_METHODS} (any case), got {ci_method!r}")
        check_bootstrap_settings(num_of_bootstraps, conf_interval)
        if method in ANALYTIC_CI_METHODS and not isinstance(metric, ProportionCounts):
            raise TypeError(
                f"ci_method={ci_method!r} is an analytic interval of a proportion of counts, which "
                f"{type(metric).__name__} does not provide; use it with MetricConfusion or MetricAccuracy, or use a "
                f"bootstrap ci_method {BOOTSTRAP_CI_METHODS}"
            )
        if method in ANALYTIC_CI_METHODS and cluster is not None:
            raise ValueError(
                f"ci_method={ci_method!r} treats every sample as independent, which samples of one cluster "
                f"({cluster!r}) are not: use a bootstrap ci_method {BOOTSTRAP_CI_METHODS} with cluster={cluster!r}"
            )
        super().__init__(metric, stratum=stratum, cluster=cluster, **super_kwargs)
        self._stratum_key = stratum
        self._cluster_key = cluster
        self._num_of_bootstraps = num_of_bootstraps
        self._rnd_seed = rnd_seed
        self._conf_interval = conf_interval
        self._ci_method = method
        self._verbose = verbose
        self._name = name

    @staticmethod
    def compute_confidence_interval(
        method: str, org_statistic: float, bootstrap_statistics: Any, confidence: float
    ) -> tuple[float, float]:
        """(lower, upper) of a bootstrap interval from a statistic's resampled values, FuseMedML's formulas
        (FuseMedML's ``CI.compute_confidence_interval``): ``method`` is ``"PERCENTILE"``, ``"NORMAL"`` or
        ``"PIVOTAL"``, ``confidence`` a percentage. NaN resampled values (undefined on some resamplings) raise:
        FuseMedML sorted them last, which moved the upper bound; drop them, and say how many, before calling.

        >>> CI.compute_confidence_interval("PERCENTILE", 0.5, np.arange(1000) / 1000, 95)  # sorted values 25 and 975
        (0.025, 0.975)
        """
        name = method.upper() if isinstance(method, str) else method
        if name not in ("PERCENTILE", "NORMAL", "PIVOTAL"):
            raise ValueError(f"method must be 'PERCENTILE', 'NORMAL' or 'PIVOTAL', got {method!r}")
        samples = np.asarray(bootstrap_statistics, dtype=float).reshape(-1)
        check_bootstrap_settings(len(samples), confidence, num_name="len(bootstrap_statistics)")
        undefined_count = int(np.isnan(samples).sum())
        if undefined_count:
            raise ValueError(
                f"{undefined_count} of {len(samples)} bootstrap_statistics are NaN (the statistic is undefined on "
                "those resamplings): drop them and report how many, then call again"
            )
        return confidence_interval(name, float(org_statistic), samples, confidence)

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, Any]:
        id_array = self._ids_array(ids)
        original = self._metric.eval(results, id_array)
        self._check_boundable(original)
        if self._ci_method in ANALYTIC_CI_METHODS:
            return self._analytic(original, results, id_array)

        strata, clusters = strata_and_clusters(self._collector.get(id_array), len(id_array))
        layout = cluster_layout(clusters, strata, self._stratum_key) if clusters is not None else None
        self._warn_single_cases(id_array, strata, layout)
        (samples,) = evaluate_bootstraps(
            [self._metric],
            results,
            id_array,
            strata,
            self._num_of_bootstraps,
            self._rnd_seed,
            self._verbose,
            name=self._label(),
            clusters=clusters,
        )
        jackknife = jackknife_values(self._metric, results, id_array, layout) if self._ci_method == "BCA" else None
        if isinstance(original, Mapping):
            keyed = {
                key: self._stats(
                    value, [s[key] for s in samples], None if jackknife is None else [j[key] for j in jackknife]
                )
                for key, value in original.items()
            }
        else:
            keyed = {"": self._stats(original, samples, jackknife)}
        for key, value in keyed.items():
            problem = value.pop("bca_problem", None) if isinstance(value, dict) else None
            if problem is not None:
                warnings.warn(
                    f"CI of {self._label()}{f' [{key}]' if key else ''}: no BCa interval (NaN bounds) because "
                    f"{problem}; use ci_method='PERCENTILE'",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
        self._warn_undefined_and_degenerate({key: keyed[key] for key in keyed if is_number(_unkeyed(original, key))})
        return keyed if isinstance(original, Mapping) else keyed[""]

    def _check_boundable(self, original: Any) -> None:
        """Refuse, before any resampling, a result without a number to bound: per-sample outputs, curves, tables
        (a dict result keeps its other values as computed, beside the intervals of its numbers)."""
        if is_number(original) or (isinstance(original, Mapping) and any(is_number(v) for v in original.values())):
            return
        values = original.values() if isinstance(original, Mapping) else [original]
        if any(isinstance(value, PerSampleData) for value in values):
            why = (
                "per-sample outputs (PerSampleData) for later metrics; wrap the metric that reads them "
                '("results:metrics.<name>...") in CI instead'
            )
        elif isinstance(original, Mapping):
            kinds = sorted({type(value).__name__ for value in values})
            why = (
                f"{'no value' if not original else 'only ' + ', '.join(kinds) + ' values'} (curves or tables), not "
                "numbers; bound a metric of one number instead (e.g. MetricAUCROC for a curve's area; "
                "MetricROCCurve(ci_bootstraps=...) draws a bootstrap band)"
            )
        else:
            why = f"a result of type {type(original).__name__}, not a number or a dict of numbers"
        raise TypeError(f"CI cannot bound {self._label()}: it returns {why}")

    def _label(self) -> str:
        return self._name if self._name is not None else describe_metric(self._metric)

    def _stats(self, original: Any, samples: list[Any], jackknife: list[Any] | None = None) -> Any:
        if not is_number(original):
            return original  # e.g. a curve or a count table inside a dict result: kept as computed
        values = np.asarray(samples, dtype=float)
        defined = values[~np.isnan(values)]
        extra: dict[str, Any] = {}
        if not len(defined):
            lower = upper = mean = std = float("nan")
        else:
            mean, std = float(np.mean(defined)), float(np.std(defined))
            if jackknife is None:
                lower, upper = confidence_interval(self._ci_method, float(original), defined, self._conf_interval)
            else:
                bca = bca_interval(float(original), defined, np.asarray(jackknife, dtype=float), self._conf_interval)
                lower, upper = bca.lower, bca.upper
                extra = {"bca_z0": bca.z0, "bca_acceleration": bca.acceleration}
                if bca.problem is not None:
                    extra["bca_problem"] = bca.problem
        return {
            "org": original,
            "mean": mean,
            "std": std,
            "conf_interval": self._conf_interval,
            "conf_lower": lower,
            "conf_upper": upper,
            "num_undefined_bootstraps": len(values) - len(defined),
            **extra,
        }

    def _warn_undefined_and_degenerate(self, intervals: Mapping[str, Mapping[str, Any]]) -> None:
        """``intervals``: the bootstrap interval of each number of the result (``""``: the result itself)."""
        shown = {key: f"[{key}]" if key else "" for key in intervals}
        undefined = {key: value["num_undefined_bootstraps"] for key, value in intervals.items()}
        if any(undefined.values()):
            counts = ", ".join(f"{shown[key] or 'value'}: {count}" for key, count in undefined.items() if count)
            warnings.warn(
                f"CI of {self._label()}: undefined (NaN, e.g. a class absent from the resampling) in some of "
                f"{self._num_of_bootstraps} resamplings ({counts}); the bounds, mean and std are over the defined "
                "ones only and the count is in 'num_undefined_bootstraps'. With a rare class, stratify by the "
                "target (stratum=...) so that every resampling holds it",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
        degenerate = [
            key
            for key, value in intervals.items()
            if undefined[key] < self._num_of_bootstraps and value["conf_lower"] == value["conf_upper"]
        ]
        if degenerate:
            at_boundary = all(intervals[key]["conf_lower"] in (0, 1) for key in degenerate)
            why = (
                "it is 0 or 1 in every resampling (or all but a few): the percentile bootstrap of a proportion at the boundary is "
                "degenerate (e.g. 42 of 42 positives detected give [1, 1]), not certain. For sensitivity, "
                "specificity, PPV, NPV or accuracy use an analytic interval: CI(MetricConfusion(...), "
                "ci_method='WILSON') or fuse.eval.proportion_ci(successes, n)"
                if at_boundary
                else "it takes the same value in every resampling (or all but a few): a quantity fixed by the number of samples "
                "(such as a total count), or too few distinct samples to resample; the interval says nothing about "
                "its uncertainty"
            )
            keys = ", ".join(shown[key] for key in degenerate if shown[key])
            warnings.warn(
                f"CI of {self._label()}{' ' + keys if keys else ''}: the {self._conf_interval}% bootstrap interval "
                f"has width zero because {why}",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    def _warn_single_cases(self, ids: np.ndarray, strata: np.ndarray, layout: ClusterLayout | None) -> None:
        """A stratum of one sample, or a class with one case, is the same in every resampling or absent from it."""
        if self._stratum_key is not None:
            unit = "sample" if layout is None else f"cluster ({self._cluster_key!r})"
            values, counts = np.unique(strata if layout is None else layout.strata, return_counts=True)
            single = [v.item() if isinstance(v, np.generic) else v for v in values[counts == 1]]
            if single:
                warnings.warn(
                    f"CI of {self._label()}: stratum {self._stratum_key!r} has a single {unit} for value(s) "
                    f"{single[:5]!r} (e.g. a class with one case): every resampling holds that {unit} once, so it "
                    "adds no variability and the interval is too narrow; collect more cases or merge strata",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
                return
        for label, count in _single_case_classes(self._metric, ids).items():
            warnings.warn(
                f"CI of {self._label()}: class {label!r} of the target has a single case among {count} samples: "
                "the metric on a resampling rests on that one case or is undefined without it; the interval is "
                "unreliable",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    def _analytic(self, original: Any, results: Mapping[str, Any] | None, ids: np.ndarray) -> dict[str, Any]:
        assert isinstance(self._metric, ProportionCounts)
        counts = self._metric.proportion_counts(results, ids)
        values = dict(original) if isinstance(original, Mapping) else {"": original}
        out: dict[str, Any] = {}
        missing = []
        for key, value in values.items():
            if key not in counts or not is_number(value):
                if is_number(value):
                    missing.append(key)
                out[key] = value
                continue
            pair = counts[key]
            if pair is None:  # a count, not an estimate
                out[key] = value
                continue
            successes, n = pair
            if n > 0 and abs(float(value) - successes / n) > 1e-9:
                raise RuntimeError(
                    f"{type(self._metric).__name__}[{key}] is {value} but its counts give {successes}/{n}: the "
                    "metric's proportion_counts do not match its values"
                )
            lower, upper = proportion_ci(
                successes, n, ANALYTIC_CI_METHODS[self._ci_method], alpha=1 - self._conf_interval / 100.0
            )
            out[key] = {
                "org": value,
                "conf_interval": self._conf_interval,
                "conf_lower": lower,
                "conf_upper": upper,
                "ci_method": self._ci_method,
                "successes": successes,
                "n": n,
            }
        if missing:
            warnings.warn(
                f"CI of {self._label()}: {', '.join(k or 'the value' for k in missing)} not a proportion of counts "
                f"(e.g. f1, a macro average): no {self._ci_method} interval, reported as is; use a bootstrap "
                f"ci_method {BOOTSTRAP_CI_METHODS} for them",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return out if isinstance(original, Mapping) else out[""]


def _unkeyed(original: Any, key: str) -> Any:
    """The value under ``key`` of a dict result; the result itself for ``""`` (a number)."""
    return original[key] if isinstance(original, Mapping) else original


def _single_case_classes(metric: MetricBase, ids: np.ndarray) -> dict[Any, int]:
    """Classes of a classification metric's target that have exactly one case among ``ids`` -> the sample count."""
    keys = getattr(metric, "_keys_to_collect", None) or {}
    if not isinstance(metric, _CLASSIFICATION_METRICS) or "target" not in keys:
        return {}
    target = metric._collector.get(ids).get("target")
    if target is None:
        return {}
    try:
        array = np.asarray(target)
    except ValueError:  # ragged: not class labels
        return {}
    if array.ndim == 2:  # one-hot targets
        array = array.argmax(axis=1)
    if array.ndim != 1 or array.dtype.kind not in "biufUSO":
        return {}
    labels = pd.Series(array).dropna()
    counts = labels.value_counts()
    return {(k.item() if isinstance(k, np.generic) else k): len(array) for k in counts.index[counts == 1]}
