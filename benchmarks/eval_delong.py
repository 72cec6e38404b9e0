"""DeLong's test of two paired AUCs: fuse-eval's O(N log N) form (Sun & Xu 2014) against FuseMedML's O(m·n) matrices.

Two correlated models, 30% positives, scores rounded to 3 decimals (ties). The quadratic form is the algorithm of
FuseMedML 0.4.1's ``ModelComparison.delong_auc_test`` (repeated m x n score matrices, ψ matrices, row/column means),
re-typed here so that the benchmark does not need FuseMedML or torch.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from fuse.eval import delong_test
from section import Ratio, Section

N = 100_000
N_QUADRATIC = 4_000
TARGET_SECONDS = 0.2
TARGET_MB = 100.0


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.3).astype(int)
    pred1 = np.round(np.clip(rng.normal(0.4 + 0.2 * target, 0.2), 0, 1), 3)
    pred2 = np.round(np.clip(0.5 * pred1 + rng.normal(0.2 + 0.08 * target, 0.15), 0, 1), 3)
    return pred1, pred2, target


def _quadratic(pred1: np.ndarray, pred2: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """FuseMedML's O(m·n) DeLong: every (positive, negative) pair is materialised, per model."""
    positive, negative = target == 1, target == 0
    m, n = int(positive.sum()), int(negative.sum())
    # as FuseMedML: the four repeated score matrices stay alive while both ψ matrices are built
    xs = [pred[positive][:, np.newaxis].repeat(n, 1) for pred in (pred1, pred2)]
    ys = [pred[negative][np.newaxis, :].repeat(m, 0) for pred in (pred1, pred2)]
    psis = []
    for x, y in zip(xs, ys, strict=True):
        psi = (y < x) * 1.0
        psi[y == x] = 0.5
        psis.append(psi)
    auc = [(1.0 / (m * n)) * psi.sum() for psi in psis]
    v10 = [(1.0 / n) * psi.sum(1) - a for psi, a in zip(psis, auc, strict=True)]
    v01 = [(1.0 / m) * psi.sum(0) - a for psi, a in zip(psis, auc, strict=True)]

    def scatter(d: list[np.ndarray], dof: int) -> np.ndarray:
        return (1.0 / dof) * np.array(
            [[np.linalg.norm(d[0]) ** 2, d[0].dot(d[1])], [d[1].dot(d[0]), np.linalg.norm(d[1]) ** 2]]
        )

    cov = (1.0 / m) * scatter(v10, m - 1) + (1.0 / n) * scatter(v01, n - 1)
    z = (auc[0] - auc[1]) / ((cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]) ** 0.5 + np.finfo(float).eps)
    return {
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "z": float(z),
        "auc1": float(auc[0]),
        "auc2": float(auc[1]),
        "cov11": float(cov[0, 0]),
        "cov12": float(cov[0, 1]),
        "cov22": float(cov[1, 1]),
    }


def _best_of(repeat: int, func: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func(*args)
        best = min(best, time.perf_counter() - start)
    return best, value


def _peak_mb(func: Callable[..., Any], *args: Any) -> float:
    """Peak memory allocated during the call, on top of what existed before (tracemalloc sees numpy's buffers)."""
    tracemalloc.start()
    try:
        func(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def _max_difference(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[key] - b[key]) for key in a)


def run() -> Section:
    big = _data(N)
    delong_test(*big)  # warm-up: imports, first-call allocations
    fast_time, result = _best_of(3, delong_test, *big)
    fast_mb = _peak_mb(delong_test, *big)

    small = _data(N_QUADRATIC, seed=1)
    small_fast_time, small_fast = _best_of(3, delong_test, *small)
    quadratic_time, small_quadratic = _best_of(3, _quadratic, *small)
    quadratic_mb = _peak_mb(_quadratic, *small)
    difference = _max_difference(small_fast, small_quadratic)
    m = int(big[2].sum())
    # FuseMedML holds 6 float64 m x n matrices at its peak (x and y repeated, ψ; per model), plus boolean temporaries
    quadratic_big_gb = 6 * m * (N - m) * 8 / 1e9

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ratios = [
        Ratio(f"DeLong, n = {N:,}: fuse-eval wall time", fast_time, "s", target=TARGET_SECONDS),
        Ratio(f"DeLong, n = {N:,}: fuse-eval peak extra memory", fast_mb, "MB", target=TARGET_MB),
        Ratio(
            f"DeLong, n = {N_QUADRATIC:,}: FuseMedML O(m·n) / fuse-eval time",
            quadratic_time / small_fast_time,
            "x faster",
        ),
    ]
    markdown = "\n".join(
        [
            "## DeLong's test of two paired AUCs (benchmarks/eval_delong.py)",
            "",
            (
                "Two correlated models, 30% positives, scores rounded to 3 decimals (ties). fuse-eval: `delong_test`, "
                "O(N log N) (Sun & Xu 2014: one sort per model gives every placement value). FuseMedML 0.4.1: O(m·n) "
                "matrices of all (positive, negative) pairs. Best wall time of 3 runs; peak memory by tracemalloc."
            ),
            "",
            "| n | form | wall time | peak extra memory | target |",
            "|---:|---|---:|---:|---|",
            (
                f"| {N:,} | fuse-eval O(N log N) | {fast_time * 1e3:.1f} ms | {fast_mb:.1f} MB | "
                f"< {TARGET_SECONDS} s: {verdict(fast_time < TARGET_SECONDS)}; "
                f"< {TARGET_MB:.0f} MB: {verdict(fast_mb < TARGET_MB)} |"
            ),
            f"| {N:,} | FuseMedML O(m·n) | not run | ~{quadratic_big_gb:.0f} GB (6 float64 m x n matrices) | — |",
            f"| {N_QUADRATIC:,} | fuse-eval O(N log N) | {small_fast_time * 1e3:.2f} ms | — | — |",
            f"| {N_QUADRATIC:,} | FuseMedML O(m·n) | {quadratic_time * 1e3:.0f} ms | {quadratic_mb:.0f} MB | — |",
            "",
            (
                f"At n = {N_QUADRATIC:,} the O(N log N) form is {quadratic_time / small_fast_time:.0f}x faster; "
                f"largest difference between the two forms over all 7 outputs: {difference:.1e}. "
                f"At n = {N:,}: p = {result['p_value']:.4g}, z = {result['z']:.4f}, "
                f"AUCs {result['auc1']:.4f} and {result['auc2']:.4f}."
            ),
            "",
        ]
    )
    return Section(markdown, ratios)


if __name__ == "__main__":
    print(run().markdown)
