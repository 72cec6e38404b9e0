"""MRMC analysis of a reader study: fuse-eval's ``mrmc`` against the direct computations it replaces.

10 readers x 2 tests x 1,000 cases (one third positive), ratings on a continuous scale with shared case difficulty.
``mrmc`` gets every AUC covariance from one sort per reading (placement values). The naive forms compute the same
covariances directly: DeLong's from the m x n kernel matrix of every reading, the jackknife by recomputing all 20
AUCs (Mann-Whitney from ranks, vectorised over the readings) for each of the 1,000 left-out cases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fuse.eval import mrmc
from section import Ratio, Section

READERS, TESTS, CASES = 10, ("unaided", "AI"), 1_000
TARGET_SECONDS = 0.25
COLUMNS: dict[str, Any] = {"rating": "rating", "truth": "truth", "reader": "reader", "test": "test", "case": "case"}


def _data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = (np.arange(CASES) % 3 == 0).astype(int)
    case_effect = rng.normal(size=CASES)
    test_case = rng.normal(scale=0.5, size=(len(TESTS), CASES))
    frames = []
    for reader in range(READERS):
        skill, reader_case = rng.normal(1.0, 0.3), rng.normal(scale=0.5, size=CASES)
        for i, test in enumerate(TESTS):
            rating = truth * (skill + 0.2 * i) + case_effect + test_case[i] + reader_case + rng.normal(size=CASES)
            frames.append(
                pd.DataFrame(
                    {"reader": reader, "test": test, "case": np.arange(CASES), "rating": rating, "truth": truth}
                )
            )
    data: pd.DataFrame = pd.concat(frames, ignore_index=True)
    return data


def _readings(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(readings x cases) ratings, rows in (test, reader) order, and the cases' truth."""
    ordered = data.sort_values(["test", "reader", "case"])
    ratings = ordered["rating"].to_numpy().reshape(-1, CASES)
    return ratings, ordered["truth"].to_numpy()[:CASES].astype(bool)


def _naive_delong(ratings: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """DeLong's covariance from the full m x n kernel matrix of every reading."""
    m, n = int(positive.sum()), int((~positive).sum())
    v10, v01 = [], []
    for row in ratings:
        x, y = row[positive][:, None], row[~positive][None, :]
        psi = (x > y) + 0.5 * (x == y)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    cov: np.ndarray = np.cov(np.stack(v10)) / m + np.cov(np.stack(v01)) / n
    return cov


def _naive_jackknife(ratings: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The jackknife covariance by recomputing every AUC without each case in turn."""
    cases = ratings.shape[1]
    leave_one_out = np.empty((cases, len(ratings)))
    for left_out in range(cases):
        keep = np.arange(cases) != left_out
        kept, truth = ratings[:, keep], positive[keep]
        m, n = int(truth.sum()), int((~truth).sum())
        ranks = stats.rankdata(kept, axis=1)
        leave_one_out[left_out] = (ranks[:, truth].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    deviations = leave_one_out - leave_one_out.mean(axis=0)
    cov: np.ndarray = (cases - 1) / cases * deviations.T @ deviations
    return cov


def _best_of(repeat: int, func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, value


def _averaged(cov: np.ndarray) -> list[float]:
    """Var, Cov1, Cov2, Cov3 of a covariance matrix whose rows are in (test, reader) order."""
    test_of, reader_of = np.repeat(np.arange(len(TESTS)), READERS), np.tile(np.arange(READERS), len(TESTS))
    same_test, same_reader = test_of[:, None] == test_of, reader_of[:, None] == reader_of
    masks = [same_test & same_reader, ~same_test & same_reader, same_test & ~same_reader, ~same_test & ~same_reader]
    return [float(cov[mask].mean()) for mask in masks]


def run() -> Section:
    data = _data()
    ratings, positive = _readings(data)
    mrmc(data, **COLUMNS)  # warm-up: imports, first-call allocations
    times, results = {}, {}
    for cov in ("delong", "jackknife", "unbiased"):
        times[cov], results[cov] = _best_of(3, mrmc, data, **COLUMNS, cov=cov)
    naive_delong_time, naive_delong = _best_of(3, _naive_delong, ratings, positive)
    naive_jackknife_time, naive_jackknife = _best_of(1, _naive_jackknife, ratings, positive)
    difference = 0.0
    for cov, naive in (("delong", naive_delong), ("jackknife", naive_jackknife)):
        components = results[cov]["var_components"]
        ours = [components[key] for key in ("error", "cov1", "cov2", "cov3")]
        difference = max(difference, *(abs(a - b) for a, b in zip(ours, _averaged(naive), strict=True)))

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    design = f"{READERS} readers x {len(TESTS)} tests x {CASES:,} cases"
    ratios = [
        Ratio(f"MRMC, {design}: mrmc(cov='delong') wall time", times["delong"], "s", target=TARGET_SECONDS),
        Ratio(
            f"MRMC, {design}: leave-one-case-out loop / mrmc(cov='jackknife') time",
            naive_jackknife_time / times["jackknife"],
            "x faster",
        ),
    ]
    result = results["jackknife"]
    comparison = result["comparisons"]["AI - unaided"]
    markdown = "\n".join(
        [
            "## MRMC analysis of a reader study (benchmarks/eval_mrmc.py)",
            "",
            (
                f"{design} (one third positive), continuous ratings. `mrmc`: Obuchowski-Rockette with Hillis's "
                "degrees of freedom, the whole analysis from the long DataFrame (validation, AUCs, covariance, "
                "statistics). Naive forms compute only the covariance matrix: DeLong's from the m x n kernel matrix "
                "of each reading, the jackknife by recomputing the 20 AUCs (ranks, vectorised over readings) for "
                "each left-out case. Best wall time of 3 runs (the jackknife loop: 1 run)."
            ),
            "",
            "| computation | wall time | target |",
            "|---|---:|---|",
            (
                f"| `mrmc(cov='delong')` | {times['delong'] * 1e3:.1f} ms | < {TARGET_SECONDS} s: "
                f"{verdict(times['delong'] < TARGET_SECONDS)} |"
            ),
            f"| `mrmc(cov='jackknife')` | {times['jackknife'] * 1e3:.1f} ms | — |",
            f"| `mrmc(cov='unbiased')` (O(m·n) kernel products) | {times['unbiased'] * 1e3:.1f} ms | — |",
            f"| naive DeLong covariance (m x n kernel matrices) | {naive_delong_time * 1e3:.1f} ms | — |",
            f"| naive jackknife covariance (leave-one-case-out loop) | {naive_jackknife_time * 1e3:.0f} ms | — |",
            "",
            (
                f"Largest difference of Var, Cov1, Cov2, Cov3 between `mrmc` and the naive forms: {difference:.1e}. "
                f"Jackknife analysis: F = {result['f']:.3f} on {result['df1']} and {result['df2']:.1f} df, "
                f"p = {result['p_value']:.3g}; AI - unaided = {comparison['estimate']:.4f} "
                f"({comparison['ci_lower']:.4f} to {comparison['ci_upper']:.4f})."
            ),
            "",
        ]
    )
    return Section(markdown, ratios)


if __name__ == "__main__":
    print(run().markdown)
