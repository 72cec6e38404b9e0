"""Clustered resampling: whole clusters (patients) are drawn, never single rows (images, lesions, visits).

Several rows of one patient are not independent: resampling rows makes bootstrap intervals too narrow. Here the
unit of resampling is the cluster; its rows follow it. Clusters are stratified by a cluster-level stratum (see
:func:`cluster_layout`), as in Rutter (2000), Acad Radiol 7:413.

Resamplings of clusters hold different numbers of rows. Metrics evaluate blocks of equal-length resamplings
(``MetricBase.eval_resampled`` takes a 2-D array of positions), so each block of resamplings is grouped by length:
vectorised metrics stay vectorised, and no metric needs to know about clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ClusterLayout", "cluster_layout", "evaluate_ragged", "expand_clusters", "leave_one_out_rows"]


_EXAMPLES = 5


@dataclass(frozen=True)
class ClusterLayout:
    """Rows grouped by cluster, clusters grouped by their stratum (in ``np.unique`` order of the strata).

    ``order`` maps the grouped rows to positions in the evaluated ids; cluster ``c`` holds grouped rows
    ``starts[c]:starts[c] + sizes[c]``; ``strata`` is each cluster's stratum and ``labels`` its id.
    """

    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    strata: np.ndarray
    labels: np.ndarray

    @property
    def num_clusters(self) -> int:
        return len(self.sizes)


def cluster_layout(clusters: np.ndarray, strata: np.ndarray, stratum_name: str | None = None) -> ClusterLayout:
    """Group the rows of ``clusters`` (one id per row) and give every cluster a stratum.

    A cluster's stratum is that of its rows when they agree. When they differ, numeric (or boolean) strata give
    the cluster the **largest** value of its rows: with a 0/1 target a patient is positive when any of its
    images or lesions is (Rutter 2000); with class indices, the highest class. Text strata that differ within a
    cluster have no such order and raise: pass a stratum that is constant within each cluster (e.g. a
    patient-level label). Clusters keep the order of their first row within their stratum, so with one row per
    cluster the layout is the rows sorted (stably) by stratum, exactly as the unclustered bootstrap orders them.

    >>> layout = cluster_layout(np.array(["p1", "p2", "p1", "p3"]), np.array([0, 0, 1, 0]))
    >>> layout.labels.tolist(), layout.strata.tolist(), layout.sizes.tolist(), layout.order.tolist()
    (['p2', 'p3', 'p1'], [0, 0, 1], [1, 1, 2], [1, 3, 0, 2])
    """
    clusters, strata = np.asarray(clusters), np.asarray(strata)
    if clusters.ndim != 1 or len(clusters) != len(strata):
        raise ValueError(f"cluster ids must be one per sample: got shape {clusters.shape} for {len(strata)} samples")
    codes, labels = pd.factorize(pd.Series(clusters, dtype=object), use_na_sentinel=True)
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        raise ValueError(
            f"the cluster id of {len(missing)} of {len(codes)} samples is missing (NaN/None), e.g. at positions "
            f"{missing[:_EXAMPLES].tolist()}: fill it (e.g. with the sample's own id for a patient with one sample), "
            "or drop those samples"
        )
    values, stratum_codes = np.unique(strata, return_inverse=True)
    stratum_codes = stratum_codes.reshape(-1)
    count = len(labels)
    highest = np.full(count, -1, dtype=np.int64)
    np.maximum.at(highest, codes, stratum_codes)
    lowest = np.full(count, len(values), dtype=np.int64)
    np.minimum.at(lowest, codes, stratum_codes)
    mixed = np.flatnonzero(highest != lowest)
    if len(mixed) and values.dtype.kind not in "biuf":
        examples = ", ".join(
            f"{labels[c]!r}: {sorted({str(v) for v in strata[codes == c]})}" for c in mixed[:_EXAMPLES]
        )
        raise ValueError(
            f"the rows of {len(mixed)} clusters have different values of "
            f"{f'stratum {stratum_name!r}' if stratum_name else 'the stratum'} ({examples}); "
            "text strata have no order to pick the cluster's stratum from: pass a stratum that is constant within "
            "each cluster (e.g. the patient-level label), or a 0/1 stratum (a cluster is positive when any row is)"
        )
    # clusters by stratum, then first appearance (pd.factorize numbers them in that order)
    cluster_order = np.argsort(highest, kind="stable")
    rank = np.empty(count, dtype=np.int64)
    rank[cluster_order] = np.arange(count)
    order = np.argsort(rank[codes], kind="stable")
    sizes = np.bincount(codes, minlength=count)[cluster_order]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    label_array = np.empty(count, dtype=object)
    label_array[:] = list(labels)
    return ClusterLayout(
        order=order,
        starts=starts,
        sizes=sizes.astype(np.int64),
        strata=values[highest[cluster_order]],
        labels=label_array[cluster_order],
    )


def expand_clusters(draws: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of resampled clusters: ``draws[r]`` holds cluster indices; returns all resamplings' rows
    one after the other (CSR-style, vectorised with ``np.repeat``) and the number of rows of each resampling.

    >>> flat, lengths = expand_clusters(np.array([[0, 2, 2], [1, 1, 0]]), np.array([0, 1, 3]), np.array([1, 2, 1]))
    >>> flat.tolist(), lengths.tolist()
    ([0, 3, 3, 1, 2, 1, 2, 0], [3, 5])
    """
    repeats = sizes[draws]
    lengths = repeats.sum(axis=1)
    repeats = repeats.ravel()
    # row j of a drawn cluster sits at output position (its first output position) + j: one repeat of the shift
    # from output positions to rows, plus a running index
    shift = starts[draws].ravel() - (np.cumsum(repeats) - repeats)
    flat = np.repeat(shift, repeats)
    flat += np.arange(len(flat), dtype=np.int64)
    return flat, lengths


def evaluate_ragged(
    evaluate: Callable[[np.ndarray], list[Any]], flat: np.ndarray, lengths: np.ndarray
) -> Iterator[tuple[np.ndarray, list[Any]]]:
    """``evaluate(rows)`` on resamplings of different lengths, one 2-D block per length.

    ``flat`` holds every resampling's positions one after the other, ``lengths`` how many each has. Yields the
    indices of the resamplings of each block and their results (in that order).
    """
    ends = np.cumsum(lengths)
    begins = ends - lengths
    for length in np.unique(lengths):
        chosen = np.flatnonzero(lengths == length)
        rows = flat[begins[chosen][:, None] + np.arange(length, dtype=np.int64)]
        yield chosen, evaluate(rows)


def leave_one_out_rows(starts: np.ndarray, sizes: np.ndarray, total: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Jackknife resamplings: every unit (a row, or a cluster of ``sizes[u]`` rows from ``starts[u]``) left out in
    turn. Yields ``(units, rows)``, ``rows[i]`` the positions of all rows but those of ``units[i]``; units of one size
    come together (fixed-length blocks) and blocks stay below ~4M positions.

    >>> [(units.tolist(), rows.tolist()) for units, rows in leave_one_out_rows(np.array([0, 1, 3]), np.array([1, 2, 1]), 4)]
    [([0, 2], [[1, 2, 3], [0, 1, 2]]), ([1], [[0, 3]])]
    """
    for size in np.unique(sizes):
        units = np.flatnonzero(sizes == size)
        kept = np.arange(total - size, dtype=np.int64)
        block = max(1, (1 << 22) // max(len(kept), 1))
        for first in range(0, len(units), block):
            chunk = units[first : first + block]
            yield chunk, kept + size * (kept >= starts[chunk][:, None])
