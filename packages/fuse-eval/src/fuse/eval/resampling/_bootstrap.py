"""Bootstrap resampling: stratified (and clustered) resampling rows, block-wise evaluation of a metric on all of them,
and jackknife values.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import progress
from fuse.eval.framework._metric_base import MetricBase
from fuse.eval.framework._warnings import UndefinedMetricWarning
from fuse.eval.resampling._cluster import (
    ClusterLayout,
    cluster_layout,
    evaluate_ragged,
    expand_clusters,
    leave_one_out_rows,
)

__all__ = [
    "bootstrap_rows",
    "check_bootstrap_settings",
    "evaluate_bootstraps",
    "jackknife_values",
    "strata_and_clusters",
]


_ROWS_PER_BLOCK_ENTRIES = 1 << 22


def check_bootstrap_settings(
    num_of_bootstraps: int, conf_interval: float = 95, num_name: str = "num_of_bootstraps"
) -> None:
    """Raise ``ValueError`` naming the argument unless there is at least one resampling (``num_name`` is what the
    caller calls the number) and ``conf_interval`` is a percentage in (0, 100)."""
    if num_of_bootstraps < 1:
        raise ValueError(f"{num_name} must be >= 1, got {num_of_bootstraps!r}")
    if not 0 < conf_interval < 100:
        raise ValueError(f"conf_interval is a percentage in (0, 100), got {conf_interval!r}")


def bootstrap_rows(
    strata: np.ndarray, num_of_bootstraps: int, rnd_seed: int, block: int | None = None
) -> Iterator[np.ndarray]:
    """Blocks of resampling rows (positions into the evaluated ids), drawn exactly as FuseMedML draws them.

    ``np.random.RandomState(rnd_seed)``; for each bootstrap, for each stratum in ``np.unique`` order:
    ``randint(0, n_s, size=n_s)`` picks positions within the stratum (with replacement). A row holds the
    same multiset of positions as FuseMedML's resampled ids, stratum after stratum (FuseMedML interleaves
    them in the original order; no metric of a resample depends on that order). Blocks keep memory bounded;
    ``block`` (resamplings per block) defaults to :func:`rows_per_block`.
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
    block = block or rows_per_block(n, num_of_bootstraps)
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


def strata_and_clusters(collected: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The strata and clusters of the ``n`` evaluated samples from what a resampling wrapper collected under
    ``"stratum"`` (not collected: one stratum) and ``"cluster"`` (not collected: ``None``); missing strata raise."""
    strata = np.asarray(collected["stratum"]) if "stratum" in collected else np.ones(n)
    _check_strata(strata)
    return strata, np.asarray(collected["cluster"]) if "cluster" in collected else None


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
    name: str | None = None,
    clusters: np.ndarray | None = None,
) -> list[list[Any]]:
    """Every metric evaluated on the same ``num_of_bootstraps`` resamplings of ``ids`` (see :func:`bootstrap_rows`).

    Returns one list of per-resampling results per metric. Each metric evaluates a whole block of resamplings at
    once through ``eval_resampled`` (vectorised where the metric supports it). Errors propagate. ``name`` (what
    is bootstrapped) is shown in the progress line.

    With ``clusters`` (one cluster id per sample, e.g. the patient), whole clusters are resampled, stratified by
    their cluster-level stratum (see :func:`fuse.eval.resampling._cluster.cluster_layout`): the same ``RandomState`` draws
    as :func:`bootstrap_rows`, over clusters instead of samples, so one sample per cluster gives exactly the
    unclustered resamplings. Resamplings then differ in length; each block is evaluated grouped by length.
    """
    samples: list[list[Any]] = [[] for _ in metrics]
    _check_strata(strata)
    block = rows_per_block(len(ids), num_of_bootstraps)
    description = f"bootstraps of {name} ({block} per step)" if name else f"bootstraps ({block} per step)"
    if clusters is None:
        # evaluate on the ids grouped by stratum (stable, so each stratum keeps its order and every draw picks the
        # same sample as FuseMedML's): draws become offsets instead of gathers
        order = np.argsort(strata, kind="stable")
        ids = ids[order]
        blocks = bootstrap_rows(strata[order], num_of_bootstraps, rnd_seed)
    else:
        layout = cluster_layout(clusters, strata)
        ids = ids[layout.order]
        blocks = bootstrap_rows(layout.strata, num_of_bootstraps, rnd_seed, block=block)
    with ExitStack() as scopes:
        for metric in metrics:
            scopes.enter_context(metric.resampling())
        for rows in progress(blocks, total=-(-num_of_bootstraps // block), desc=description, enabled=verbose):
            if clusters is None:
                for metric, collected in zip(metrics, samples, strict=True):
                    collected.extend(metric.eval_resampled(results, ids, rows))
                continue
            flat, lengths = expand_clusters(rows, layout.starts, layout.sizes)
            for metric, collected in zip(metrics, samples, strict=True):
                collected.extend(_ragged(metric, results, ids, flat, lengths))
    return samples


def _ragged(
    metric: MetricBase, results: Mapping[str, Any] | None, ids: np.ndarray, flat: np.ndarray, lengths: np.ndarray
) -> list[Any]:
    """The metric on resamplings of different lengths (see :func:`evaluate_ragged`), in resampling order.

    A block is evaluated in many groups of equal length: a metric's warning about undefined resamplings is passed on
    once per block, as for an unclustered block, not once per group (the caller counts the undefined ones).
    """
    out: list[Any] = [None] * len(lengths)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for chosen, values in evaluate_ragged(lambda rows: metric.eval_resampled(results, ids, rows), flat, lengths):
            for index, value in zip(chosen.tolist(), values, strict=True):
                out[index] = value
    first_undefined = True
    for warning in caught:
        if issubclass(warning.category, UndefinedMetricWarning):
            if not first_undefined:
                continue
            first_undefined = False
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return out


def jackknife_values(
    metric: MetricBase, results: Mapping[str, Any] | None, ids: np.ndarray, layout: ClusterLayout | None = None
) -> list[Any]:
    """The metric with each sample (each cluster of ``layout``) left out in turn: one result per sample (cluster,
    in layout order). ``n`` evaluations of ``n - 1`` samples, in fixed-length blocks through ``eval_resampled``
    (vectorised where the metric is): O(n^2) work.
    """
    if layout is None:
        starts, sizes = np.arange(len(ids), dtype=np.int64), np.ones(len(ids), dtype=np.int64)
    else:
        ids, starts, sizes = ids[layout.order], layout.starts, layout.sizes
    out: list[Any] = [None] * len(sizes)
    with metric.resampling():
        for units, rows in leave_one_out_rows(starts, sizes, len(ids)):
            for unit, value in zip(units.tolist(), metric.eval_resampled(results, ids, rows), strict=True):
                out[unit] = value
    return out
