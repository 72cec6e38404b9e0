"""Bootstrap confidence intervals (``CI``), drawing exactly FuseMedML's resampling indices."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import progress
from fuse.eval._lazy import scipy_stats as stats
from fuse.eval._metric_base import Ids, MetricBase, WrappingMetric

__all__ = ["CI", "bootstrap_rows", "confidence_interval", "evaluate_bootstraps"]

CI_METHODS = ("PERCENTILE", "NORMAL", "PIVOTAL")
_ROWS_PER_BLOCK_ENTRIES = 1 << 22


def bootstrap_rows(strata: np.ndarray, num_of_bootstraps: int, rnd_seed: int) -> Iterator[np.ndarray]:
    """Blocks of resampling rows (positions into the evaluated ids), drawn exactly as FuseMedML draws them.

    ``np.random.RandomState(rnd_seed)``; for each bootstrap, for each stratum in ``np.unique`` order:
    ``randint(0, n_s, size=n_s)`` picks positions within the stratum (with replacement). A row holds the
    same multiset of positions as FuseMedML's resampled ids, stratum after stratum (FuseMedML interleaves
    them in the original order; no metric of a resample depends on that order). Blocks keep memory bounded.
    """
    rnd = np.random.RandomState(rnd_seed)
    n = len(strata)
    _check_strata(strata)
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    slices = np.cumsum([0] + [len(m) for m in members])
    # strata stored one after the other (see evaluate_bootstraps): a draw is an offset, no gather needed;
    # randint(start, end) gives exactly start + randint(0, end - start)
    contiguous = all(m[0] == start for m, start in zip(members, slices, strict=False) if len(m)) and all(
        len(m) == 0 or m[-1] - m[0] == len(m) - 1 for m in members
    )
    block = rows_per_block(n, num_of_bootstraps)
    done = 0
    while done < num_of_bootstraps:
        size = min(block, num_of_bootstraps - done)
        rows = np.empty((size, n), dtype=np.int64)
        for row in rows:
            for positions, start, end in zip(members, slices[:-1], slices[1:], strict=True):
                if contiguous:
                    row[start:end] = rnd.randint(start, end, size=end - start)
                else:
                    np.take(positions, rnd.randint(0, end - start, size=end - start), out=row[start:end])
        yield rows
        done += size


def _check_strata(strata: np.ndarray) -> None:
    missing = np.flatnonzero(pd.isna(strata))
    if len(missing):  # NaN never equals itself: such samples would belong to no stratum
        raise ValueError(
            f"the stratum of {len(missing)} of {len(strata)} samples is missing (NaN/None), e.g. at positions "
            f"{missing[:5].tolist()}: fill it, or drop those samples, or pass stratum=None"
        )


def rows_per_block(samples: int, num_of_bootstraps: int) -> int:
    """Resamplings per block: at most ~4M positions in memory, and at least 20 blocks (a progress bar that moves)."""
    return max(1, min(_ROWS_PER_BLOCK_ENTRIES // max(samples, 1), -(-num_of_bootstraps // 20)))


def evaluate_bootstraps(
    metrics: Sequence[MetricBase],
    results: Mapping[str, Any] | None,
    ids: np.ndarray,
    strata: np.ndarray,
    num_of_bootstraps: int,
    rnd_seed: int,
    verbose: bool = False,
) -> list[list[Any]]:
    """Every metric evaluated on the same ``num_of_bootstraps`` resamplings of ``ids`` (see :func:`bootstrap_rows`).

    Returns one list of per-resampling results per metric. Each metric evaluates a whole block of resamplings at
    once through ``eval_resampled`` (vectorised where the metric supports it). Errors propagate.
    """
    samples: list[list[Any]] = [[] for _ in metrics]
    _check_strata(strata)
    # evaluate on the ids grouped by stratum (stable, so each stratum keeps its order and every draw picks the
    # same sample as FuseMedML's): draws become offsets instead of gathers
    order = np.argsort(strata, kind="stable")
    ids, strata = ids[order], strata[order]
    blocks = bootstrap_rows(strata, num_of_bootstraps, rnd_seed)
    block = rows_per_block(len(ids), num_of_bootstraps)
    description = f"bootstraps ({block} per step)"
    with ExitStack() as scopes:
        for metric in metrics:
            scopes.enter_context(metric.resampling())
        for rows in progress(blocks, total=-(-num_of_bootstraps // block), desc=description, enabled=verbose):
            for metric, collected in zip(metrics, samples, strict=True):
                collected.extend(metric.eval_resampled(results, ids, rows))
    return samples


def confidence_interval(method: str, original: float, samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """(lower, upper) bounds of a bootstrap confidence interval, with FuseMedML's formulas.

    PERCENTILE: the sorted samples at ``floor(a*n)`` and ``floor((1-a)*n)``, ``a = (1 - confidence/100) / 2``;
    NORMAL: ``original -/+ z(a) * std``; PIVOTAL: ``2*original - upper``, ``2*original - lower``.
    """
    alpha = (1 - confidence / 100.0) / 2.0
    if method == "NORMAL":
        spread = float(stats.norm.isf(alpha) * np.std(samples))
        return original - spread, original + spread
    ordered = np.sort(samples)
    n = len(ordered)
    low = float(ordered[int(np.floor(alpha * n))])
    high = float(ordered[min(int(np.floor((1 - alpha) * n)), n - 1)])
    if method == "PERCENTILE":
        return low, high
    return 2 * original - high, 2 * original - low


class CI(WrappingMetric):
    """Bootstrap confidence interval of another metric (FuseMedML's ``CI``, same resampling, same numbers).

    The result (per key for dict results) is ``{"org", "mean", "std", "conf_interval", "conf_lower",
    "conf_upper"}``. Resampling is stratified by the collected ``stratum`` key when given. Metrics with a
    vectorised form (e.g. ``MetricAUCROC``) evaluate all resamplings at once; others are evaluated one
    resampling at a time. An error in any resampling raises.

    :param metric: the metric to bootstrap.
    :param stratum: key holding the stratum of each sample (e.g. the target), or ``None``.
    :param num_of_bootstraps: number of resamplings.
    :param rnd_seed: seed of the ``np.random.RandomState`` that draws them.
    :param conf_interval: confidence level in percent.
    :param ci_method: ``"PERCENTILE"``, ``"NORMAL"`` or ``"PIVOTAL"``.
    :param verbose: show a progress bar.
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
        **super_kwargs: Any,
    ) -> None:
        if ci_method not in CI_METHODS:
            raise ValueError(f"ci_method must be one of {CI_METHODS}, got {ci_method!r}")
        if not 0 < conf_interval < 100:
            raise ValueError(f"conf_interval is a percentage in (0, 100), got {conf_interval!r}")
        if num_of_bootstraps < 1:
            raise ValueError(f"num_of_bootstraps must be >= 1, got {num_of_bootstraps!r}")
        super().__init__(metric, stratum=stratum, **super_kwargs)
        self._num_of_bootstraps = num_of_bootstraps
        self._rnd_seed = rnd_seed
        self._conf_interval = conf_interval
        self._ci_method = ci_method
        self._verbose = verbose

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, Any]:
        id_array = self._ids_array(ids)
        data = self._collector.get(id_array)
        strata = np.asarray(data["stratum"]) if "stratum" in data else np.ones(len(id_array))
        original = self._metric.eval(results, id_array)

        (samples,) = evaluate_bootstraps(
            [self._metric], results, id_array, strata, self._num_of_bootstraps, self._rnd_seed, self._verbose
        )

        if isinstance(original, Mapping):
            return {key: self._stats(value, [s[key] for s in samples]) for key, value in original.items()}
        if _is_number(original):
            stats_of_value: dict[str, Any] = self._stats(original, samples)
            return stats_of_value
        raise TypeError(
            f"CI needs a metric returning a number or a dict of numbers; {type(self._metric).__name__} returned "
            f"{type(original).__name__}"
        )

    def _stats(self, original: Any, samples: list[Any]) -> Any:
        if not _is_number(original):
            return original  # e.g. a curve or a count table inside a dict result: kept as computed
        values = np.asarray(samples, dtype=float)
        lower, upper = confidence_interval(self._ci_method, float(original), values, self._conf_interval)
        return {
            "org": original,
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "conf_interval": self._conf_interval,
            "conf_lower": lower,
            "conf_upper": upper,
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
