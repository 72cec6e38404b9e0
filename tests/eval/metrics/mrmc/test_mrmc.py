"""MRMC analysis (Obuchowski-Rockette, Hillis's degrees of freedom) against independent computations: AUCs by
scikit-learn, DeLong's covariance by its O(m·n) definition, the jackknife by an explicit leave-one-case-out loop,
the unbiased covariance by its four U-statistic moments, sums of squares by hand, the test statistics re-derived
with scipy from those parts, the one-reader fixed-reader case against DeLong's test, and a null simulation.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from fuse.eval import (
    CI,
    MRMC_COV_METHODS,
    MRMC_READERS,
    EvaluatorDefault,
    MetricMRMC,
    UndefinedMetricWarning,
    delong_test,
    mrmc,
)
from fuse.eval.cli._main import main as cli_main
from fuse.eval.metrics.mrmc._covariance import auc_covariance

COLUMNS: dict[str, Any] = {"rating": "rating", "truth": "truth", "reader": "reader", "test": "test", "case": "case"}


def _study(
    readers: int = 4,
    tests: tuple[str, ...] = ("A", "B"),
    cases: int = 30,
    effect: float = 0.0,
    seed: int = 0,
    ties: bool = False,
) -> pd.DataFrame:
    """A simulated reader study: case difficulty shared by every reading, reader skill, test-by-case,
    reader-by-case and test-by-reader noise (so that every covariance of the OR model is present)."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(cases) % 3 == 0).astype(int)
    case_effect = rng.normal(size=cases)
    skill = rng.normal(1.0, 0.3, size=readers)
    test_case = rng.normal(scale=0.5, size=(len(tests), cases))
    rows = []
    for j in range(readers):
        reader_case = rng.normal(scale=0.5, size=cases)
        for i, test in enumerate(tests):
            separation = skill[j] + effect * i + rng.normal(scale=0.2)
            rating = truth * separation + case_effect + test_case[i] + reader_case + rng.normal(scale=0.5, size=cases)
            if ties:
                rating = np.round(rating)  # a 5-point-like scale: many ties
            rows += [(f"r{j}", test, f"c{k}", rating[k], truth[k]) for k in range(cases)]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["reader", "test", "case", "rating", "truth"])
    return frame


def _matrix(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], list[str], list[str]]:
    """ratings[test, reader, case] (names sorted) and each case's truth, by pandas pivoting."""
    tests, readers = sorted(data.test.unique()), sorted(data.reader.unique())
    cases = sorted(data.case.unique())
    wide = data.pivot_table(index=["test", "reader"], columns="case", values="rating").loc[:, cases]
    ratings = wide.to_numpy().reshape(len(tests), len(readers), len(cases))
    truth = data.drop_duplicates("case").set_index("case").truth.loc[cases].to_numpy().astype(bool)
    return ratings, truth, tests, readers, cases


def _psi(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """DeLong's kernel matrix ψ[i, k] by explicit loops over (positive i, negative k)."""
    positives, negatives = scores[truth], scores[~truth]
    psi = np.empty((len(positives), len(negatives)))
    for i, x in enumerate(positives):
        for k, y in enumerate(negatives):
            psi[i, k] = 1.0 if x > y else (0.5 if x == y else 0.0)
    return psi


def _averages(cov: np.ndarray, t: int, r: int) -> tuple[float, float, float, float]:
    """Var, Cov1, Cov2, Cov3 by looping over every ordered pair of (test, reader) readings."""
    groups: dict[str, list[float]] = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for (i, j), (k, l) in itertools.product(itertools.product(range(t), range(r)), repeat=2):
        value = cov[i * r + j, k * r + l]
        if i == k and j == l:
            groups["var"].append(value)
        elif j == l:
            groups["cov1"].append(value)
        elif i == k:
            groups["cov2"].append(value)
        else:
            groups["cov3"].append(value)
    return tuple(float(np.mean(v)) if v else math.nan for v in groups.values())  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------------------------
# AUCs and covariances


@pytest.mark.parametrize("ties", [False, True])
def test_reader_aucs_equal_sklearn(ties: bool) -> None:
    data = _study(ties=ties, seed=3)
    result = mrmc(data, **COLUMNS)
    for (test, reader), group in data.groupby(["test", "reader"]):
        assert result["reader_aucs"][test][reader] == pytest.approx(roc_auc_score(group.truth, group.rating), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_delong_covariance_equals_its_quadratic_definition(ties: bool) -> None:
    ratings, truth, *_ = _matrix(_study(readers=3, cases=25, ties=ties, seed=5))
    rows = ratings.reshape(-1, ratings.shape[-1])
    m, n = int(truth.sum()), int((~truth).sum())
    psis = [_psi(row, truth) for row in rows]
    v10 = np.stack([psi.mean(axis=1) for psi in psis])
    v01 = np.stack([psi.mean(axis=0) for psi in psis])
    expected = np.cov(v10) / m + np.cov(v01) / n
    aucs, cov = auc_covariance(rows, truth, "delong")
    np.testing.assert_allclose(aucs, [psi.mean() for psi in psis], atol=1e-14)
    np.testing.assert_allclose(cov, expected, atol=1e-15)
    # and the 2 x 2 blocks are delong_test's covariance
    pair = delong_test(rows[0], rows[1], truth.astype(int))
    assert cov[0, 1] == pytest.approx(pair["cov12"], abs=1e-15)
    assert cov[0, 0] == pytest.approx(pair["cov11"], abs=1e-15)


@pytest.mark.parametrize("ties", [False, True])
def test_jackknife_equals_a_leave_one_case_out_loop(ties: bool) -> None:
    data = _study(readers=3, cases=24, ties=ties, seed=11)
    tests, readers, cases = sorted(data.test.unique()), sorted(data.reader.unique()), sorted(data.case.unique())
    leave_one_out = np.empty((len(cases), len(tests) * len(readers)))
    for position, left_out in enumerate(cases):
        kept = data[data.case != left_out]
        for column, (test, reader) in enumerate(itertools.product(tests, readers)):
            reading = kept[(kept.test == test) & (kept.reader == reader)]
            leave_one_out[position, column] = roc_auc_score(reading.truth, reading.rating)
    c = len(cases)
    deviations = leave_one_out - leave_one_out.mean(axis=0)
    expected = (c - 1) / c * deviations.T @ deviations
    ratings, truth, *_ = _matrix(data)
    _, cov = auc_covariance(ratings.reshape(-1, c), truth, "jackknife")
    np.testing.assert_allclose(cov, expected, atol=1e-15)
    var, cov1, cov2, cov3 = _averages(expected, len(tests), len(readers))
    components = mrmc(data, **COLUMNS)["var_components"]
    assert [components[k] for k in ("error", "cov1", "cov2", "cov3")] == pytest.approx([var, cov1, cov2, cov3])


def test_unbiased_covariance_equals_its_u_statistic_moments() -> None:
    """Each moment averaged by brute force over distinct cases (a quadruple loop)."""
    rng = np.random.default_rng(2)
    truth = np.array([True] * 4 + [False] * 5)
    rows = np.round(rng.normal(size=(3, 9)) + truth, 1)  # rounding: some ties
    m, n = 4, 5
    psis = [_psi(row, truth) for row in rows]
    expected = np.empty((3, 3))
    for a, b in itertools.product(range(3), repeat=2):
        moments: dict[str, list[float]] = {"same": [], "same_positive": [], "same_negative": [], "neither": []}
        for i, i2, k, k2 in itertools.product(range(m), range(m), range(n), range(n)):
            key = {
                (True, True): "same",
                (True, False): "same_positive",
                (False, True): "same_negative",
                (False, False): "neither",
            }[(i == i2, k == k2)]
            moments[key].append(psis[a][i, k] * psis[b][i2, k2])
        m1, m2, m3, m4 = (float(np.mean(v)) for v in moments.values())
        # Cov = E[θa θb] - E[θa] E[θb], expanded over the four kinds of index pairs
        expected[a, b] = (m1 + (n - 1) * m2 + (m - 1) * m3 + (m - 1) * (n - 1) * m4) / (m * n) - m4
    _, cov = auc_covariance(rows, truth, "unbiased")
    np.testing.assert_allclose(cov, expected, atol=1e-15)


def test_unbiased_variance_is_unbiased_by_simulation() -> None:
    """The mean estimate over many samples matches the AUC's variance across them (DeLong's is biased upwards)."""
    rng = np.random.default_rng(0)
    truth = np.array([True] * 6 + [False] * 6)
    aucs, unbiased, delong = [], [], []
    for _ in range(3000):
        scores = rng.normal(size=(1, 12)) + 0.8 * truth
        auc, cov = auc_covariance(scores, truth, "unbiased")
        aucs.append(auc[0])
        unbiased.append(cov[0, 0])
        delong.append(auc_covariance(scores, truth, "delong")[1][0, 0])
    true_variance = np.var(aucs, ddof=1)
    assert np.mean(unbiased) == pytest.approx(true_variance, rel=0.08)
    assert np.mean(delong) > np.mean(unbiased)


def test_kernel_products_are_blocked_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unbiased estimator's blocks over positives add up to the unblocked sum."""
    from fuse.eval.metrics.mrmc import _covariance

    ratings, truth, *_ = _matrix(_study(readers=2, cases=30, ties=True, seed=4))
    rows = ratings.reshape(-1, 30)
    _, whole = auc_covariance(rows, truth, "unbiased")
    monkeypatch.setattr(_covariance, "_BLOCK_ENTRIES", 7)
    _, blocked = auc_covariance(rows, truth, "unbiased")
    np.testing.assert_allclose(blocked, whole, atol=1e-16)


# ---------------------------------------------------------------------------------------------------------------------
# the analysis


def _tiny_design() -> pd.DataFrame:
    """2 tests x 3 readers x 4 cases (cases 0, 1 positive) whose AUCs are [[1, 3/4, 1/2], [3/4, 1/2, 1/2]]."""
    positive_ratings = {1.0: (3, 4), 0.75: (3, 1.5), 0.5: (3, 0)}  # negatives are rated 1 and 2
    aucs = {"A": (1.0, 0.75, 0.5), "B": (0.75, 0.5, 0.5)}
    rows = []
    for test, per_reader in aucs.items():
        for j, auc in enumerate(per_reader):
            for k, rating in enumerate((*positive_ratings[auc], 1, 2)):
                rows.append((f"r{j}", test, k, rating, int(k < 2)))
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["reader", "test", "case", "rating", "truth"])
    return frame


def test_sums_of_squares_by_hand_on_a_tiny_design() -> None:
    result = mrmc(_tiny_design(), **COLUMNS)
    assert result["reader_aucs"] == {"A": {"r0": 1.0, "r1": 0.75, "r2": 0.5}, "B": {"r0": 0.75, "r1": 0.5, "r2": 0.5}}
    # test means 3/4 and 7/12, grand mean 2/3: MS(T) = 3 (1/12² + 1/12²) = 1/24; reader means 7/8, 5/8, 1/2:
    # MS(R) = 2/2 ((5/24)² + (1/24)² + (1/6)²) = 7/96; interactions ±1/24, ±1/24, ∓1/12: MS(T*R) = (1/48)/2
    assert result["mean_squares"]["test"] == pytest.approx(1 / 24, abs=1e-15)
    assert result["mean_squares"]["reader"] == pytest.approx(7 / 96, abs=1e-15)
    assert result["mean_squares"]["test_reader"] == pytest.approx(1 / 96, abs=1e-15)
    assert result["tests"]["A"]["estimate"] == pytest.approx(3 / 4)
    assert result["comparisons"]["A - B"]["estimate"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("cov", MRMC_COV_METHODS)
def test_random_reader_statistics_from_independent_parts(cov: str) -> None:
    """F, Hillis's df, p-values and intervals re-derived with scipy from loop-computed mean squares and covariances."""
    data = _study(readers=5, tests=("A", "B", "C"), cases=36, effect=0.3, seed=8)
    result = mrmc(data, **COLUMNS, cov=cov, alpha=0.1)
    ratings, truth, tests, readers, _ = _matrix(data)
    t, r = len(tests), len(readers)
    theta = np.array([[roc_auc_score(truth, ratings[i, j]) for j in range(r)] for i in range(t)])
    _, covariance = auc_covariance(ratings.reshape(t * r, -1), truth, cov)
    var, cov1, cov2, cov3 = _averages(covariance, t, r)
    grand = theta.mean()
    ms_t = r * sum((theta[i].mean() - grand) ** 2 for i in range(t)) / (t - 1)
    ms_r = t * sum((theta[:, j].mean() - grand) ** 2 for j in range(r)) / (r - 1)
    ms_tr = sum(
        (theta[i, j] - theta[i].mean() - theta[:, j].mean() + grand) ** 2 for i in range(t) for j in range(r)
    ) / ((t - 1) * (r - 1))
    denominator = ms_tr + r * max(cov2 - cov3, 0)
    df2 = denominator**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    assert result["f"] == pytest.approx(ms_t / denominator, rel=1e-10)
    assert (result["df1"], result["df2"]) == (t - 1, pytest.approx(df2, rel=1e-10))
    assert result["p_value"] == pytest.approx(stats.f.sf(ms_t / denominator, t - 1, df2), rel=1e-8)
    components = result["var_components"]
    assert components["test_reader"] == pytest.approx(ms_tr - var + cov1 + cov2 - cov3, rel=1e-10)
    assert components["reader"] == pytest.approx((ms_r - ms_tr) / t - cov1 + cov3, rel=1e-10)
    assert list(result["comparisons"]) == ["A - B", "A - C", "B - C"]
    quantile = stats.t.ppf(0.95, df2)
    for (a, first), (b, second) in itertools.combinations(enumerate(tests), 2):
        comparison = result["comparisons"][f"{first} - {second}"]
        difference = theta[a].mean() - theta[b].mean()
        std_err = math.sqrt(2 / r * denominator)
        assert comparison["estimate"] == pytest.approx(difference, abs=1e-14)
        assert comparison["std_err"] == pytest.approx(std_err, rel=1e-10)
        assert comparison["ci_lower"] == pytest.approx(difference - quantile * std_err, rel=1e-9)
        assert comparison["ci_upper"] == pytest.approx(difference + quantile * std_err, rel=1e-9)
        assert comparison["p_value"] == pytest.approx(2 * stats.t.sf(abs(difference / std_err), df2), rel=1e-8)
    for i, name in enumerate(tests):  # each test from its own readers' AUCs and covariance block
        ms_r_i = np.var(theta[i], ddof=1)
        block = covariance[i * r : (i + 1) * r, i * r : (i + 1) * r]
        cov2_i = block[~np.eye(r, dtype=bool)].mean()
        term = ms_r_i + r * max(cov2_i, 0)
        df_i = term**2 / (ms_r_i**2 / (r - 1))
        single = result["tests"][name]
        assert single["std_err"] == pytest.approx(math.sqrt(term / r), rel=1e-10)
        assert single["df"] == pytest.approx(df_i, rel=1e-10)
        assert single["ci_upper"] == pytest.approx(theta[i].mean() + stats.t.ppf(0.95, df_i) * math.sqrt(term / r))


def test_jackknife_analysis_equals_dbm_on_pseudovalues() -> None:
    """Hillis et al. (2005, Stat Med 24:1579): OR with the jackknife covariance is the Dorfman-Berbaum-Metz analysis
    of the (normalised) jackknife pseudovalues, a three-way ANOVA (test x reader x case) with Hillis's error term
    ``MS(T*R) + max(MS(T*C) - MS(T*R*C), 0)`` and the same degrees of freedom."""
    data = _study(readers=4, tests=("A", "B", "C"), cases=27, effect=0.3, seed=19)
    ratings, truth, tests, readers, cases = _matrix(data)
    t, r, c = len(tests), len(readers), len(cases)
    theta = np.empty((t, r))
    pseudo = np.empty((t, r, c))
    for i, j in itertools.product(range(t), range(r)):
        theta[i, j] = roc_auc_score(truth, ratings[i, j])
        for k in range(c):
            keep = np.arange(c) != k
            pseudo[i, j, k] = c * theta[i, j] - (c - 1) * roc_auc_score(truth[keep], ratings[i, j, keep])
    pseudo += (theta - pseudo.mean(axis=2))[:, :, None]  # normalised: the pseudovalues' means are the AUCs
    mean = pseudo.mean()
    m_i, m_j, m_k = pseudo.mean(axis=(1, 2)), pseudo.mean(axis=(0, 2)), pseudo.mean(axis=(0, 1))
    m_ij, m_ik, m_jk = pseudo.mean(axis=2), pseudo.mean(axis=1), pseudo.mean(axis=0)
    ms_t = r * c * np.sum((m_i - mean) ** 2) / (t - 1)
    ms_tr = c * np.sum((m_ij - m_i[:, None] - m_j[None, :] + mean) ** 2) / ((t - 1) * (r - 1))
    ms_tc = r * np.sum((m_ik - m_i[:, None] - m_k[None, :] + mean) ** 2) / ((t - 1) * (c - 1))
    residual = (
        pseudo - m_ij[:, :, None] - m_ik[:, None, :] - m_jk[None, :, :]
        + m_i[:, None, None] + m_j[None, :, None] + m_k[None, None, :] - mean
    )  # fmt: skip
    ms_trc = np.sum(residual**2) / ((t - 1) * (r - 1) * (c - 1))
    assert ms_tc > ms_trc  # the case term counts
    error = ms_tr + max(ms_tc - ms_trc, 0)
    df2 = error**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    result = mrmc(data, **COLUMNS, cov="jackknife")
    assert result["f"] == pytest.approx(ms_t / error, rel=1e-9)
    assert result["df2"] == pytest.approx(df2, rel=1e-9)
    assert result["p_value"] == pytest.approx(stats.f.sf(ms_t / error, t - 1, df2), rel=1e-8)
    assert result["comparisons"]["A - B"]["std_err"] == pytest.approx(math.sqrt(2 * error / (r * c)), rel=1e-9)


def test_two_tests_f_is_the_square_of_the_difference_t() -> None:
    result = mrmc(_study(effect=0.4, seed=21), **COLUMNS)
    comparison = result["comparisons"]["A - B"]
    assert result["f"] == pytest.approx(comparison["t"] ** 2, rel=1e-10)
    assert result["p_value"] == pytest.approx(comparison["p_value"], rel=1e-8)
    assert comparison["df"] == result["df2"]


def test_fixed_readers_with_one_reader_is_delongs_test() -> None:
    """The documented special case: one reader, two tests, DeLong covariance, fixed readers = DeLong's test."""
    data = _study(readers=1, cases=40, seed=13)
    result = mrmc(data, **COLUMNS, cov="delong", readers="fixed")
    a, b = (data[data.test == t].sort_values("case") for t in ("A", "B"))
    reference = delong_test(a.rating.to_numpy(), b.rating.to_numpy(), a.truth.to_numpy())
    comparison = result["comparisons"]["A - B"]
    assert comparison["estimate"] == pytest.approx(reference["auc1"] - reference["auc2"], abs=1e-14)
    assert comparison["std_err"] ** 2 == pytest.approx(
        reference["cov11"] + reference["cov22"] - 2 * reference["cov12"], rel=1e-10
    )
    assert comparison["t"] == pytest.approx(reference["z"], rel=1e-8)
    assert comparison["p_value"] == pytest.approx(reference["p_value"], rel=1e-8)
    assert result["p_value"] == pytest.approx(reference["p_value"], rel=1e-8)
    assert (result["df1"], result["df2"], comparison["df"]) == (1, math.inf, math.inf)
    assert math.isnan(result["var_components"]["cov2"])  # no two readers: undefined, not 0
    single = result["tests"]["A"]
    assert single["std_err"] ** 2 == pytest.approx(reference["cov11"], rel=1e-10)


def test_identical_readers_give_infinite_df_and_delongs_test() -> None:
    """Clones of one reader: MS(T*R) = 0, so Hillis's df2 is infinite and the random-reader test is DeLong's."""
    one = _study(readers=1, cases=40, seed=13)
    clones = pd.concat([one.assign(reader=f"clone{j}") for j in range(3)], ignore_index=True)
    result = mrmc(clones, **COLUMNS, cov="delong")
    a, b = (one[one.test == t].sort_values("case") for t in ("A", "B"))
    reference = delong_test(a.rating.to_numpy(), b.rating.to_numpy(), a.truth.to_numpy())
    assert result["mean_squares"]["test_reader"] == pytest.approx(0, abs=1e-15)
    assert result["df2"] > 1e12  # infinite, or nearly so after rounding
    assert result["p_value"] == pytest.approx(reference["p_value"], rel=1e-8)
    assert result["comparisons"]["A - B"]["p_value"] == pytest.approx(reference["p_value"], rel=1e-8)
    assert result["tests"]["A"]["df"] > 1e12
    assert result["tests"]["A"]["std_err"] ** 2 == pytest.approx(reference["cov11"], rel=1e-10)


def test_fixed_readers_statistic() -> None:
    data = _study(readers=4, tests=("A", "B", "C"), effect=0.3, seed=17)
    result = mrmc(data, **COLUMNS, readers="fixed")
    components, r, t = result["var_components"], 4, 3
    assert components["cov2"] > components["cov3"]  # so that the (r - 1) max(Cov2 - Cov3, 0) term counts
    error = components["error"] - components["cov1"] + (r - 1) * max(components["cov2"] - components["cov3"], 0)
    chi_square = (t - 1) * result["mean_squares"]["test"] / error
    assert result["f"] * result["df1"] == pytest.approx(chi_square, rel=1e-10)
    assert result["p_value"] == pytest.approx(stats.chi2.sf(chi_square, t - 1), rel=1e-8)
    comparison = result["comparisons"]["A - C"]
    assert comparison["std_err"] == pytest.approx(math.sqrt(2 * error / r), rel=1e-10)
    assert comparison["ci_upper"] - comparison["estimate"] == pytest.approx(
        stats.norm.ppf(0.975) * comparison["std_err"], rel=1e-9
    )
    ratings, truth, *_ = _matrix(data)
    _, covariance = auc_covariance(ratings[1], truth, "jackknife")  # test B's readers alone
    var_b, _, cov2_b, _ = _averages(covariance, 1, r)
    assert cov2_b > 0
    single = result["tests"]["B"]
    assert single["std_err"] == pytest.approx(math.sqrt((var_b + (r - 1) * cov2_b) / r), rel=1e-10)
    assert single["df"] == math.inf
    assert single["ci_lower"] == pytest.approx(single["estimate"] - stats.norm.ppf(0.975) * single["std_err"])


@pytest.mark.parametrize("readers", MRMC_READERS)
def test_every_interval_covers_its_estimate(readers: str) -> None:
    result = mrmc(_study(readers=3, tests=("A", "B", "C"), effect=0.2, seed=23), **COLUMNS, readers=readers)
    for stat in [*result["tests"].values(), *result["comparisons"].values()]:
        assert stat["ci_lower"] < stat["estimate"] < stat["ci_upper"]
        assert 0 < stat["std_err"] < 0.5
    assert 0 <= result["p_value"] <= 1
    assert result["method"]["readers"] == readers


def test_null_p_values_are_roughly_uniform() -> None:
    p_values = [mrmc(_study(readers=4, cases=30, seed=seed), **COLUMNS)["p_value"] for seed in range(60)]
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
    assert stats.kstest(p_values, "uniform").pvalue > 0.001


def test_a_true_difference_is_detected() -> None:
    result = mrmc(_study(readers=6, cases=90, effect=1.5, seed=1), **COLUMNS)
    assert result["p_value"] < 0.01
    assert result["comparisons"]["A - B"]["estimate"] < 0


def test_row_order_and_label_types_do_not_matter() -> None:
    data = _study(seed=9)
    shuffled = data.sample(frac=1.0, random_state=0)
    shuffled["case"] = shuffled.case.str[1:].astype(int)
    assert mrmc(shuffled, **COLUMNS)["p_value"] == pytest.approx(mrmc(data, **COLUMNS)["p_value"], rel=1e-12)


def test_perfect_readers_give_nan_with_a_warning() -> None:
    data = _study(seed=2)
    data["rating"] = data.truth + 0.01 * (data.reader.str[1:].astype(int))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mrmc(data, **COLUMNS)
    messages = [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert len(messages) == 3
    assert "error term" in messages[0]
    assert "mean AUC of test 'B'" in messages[2]
    assert np.isnan([result["f"], result["p_value"], result["comparisons"]["A - B"]["ci_lower"]]).all()
    assert math.isnan(result["tests"]["A"]["std_err"])
    assert result["tests"]["A"]["estimate"] == 1.0


# ---------------------------------------------------------------------------------------------------------------------
# malformed input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(index=5), r"not fully crossed: 1 of the .* missing, e.g. \(reader, test, case\) \[\('r0'"),
        (lambda d: pd.concat([d, d.iloc[[3]]]), r"appear more than once, e.g. \[\('r0', 'A', 'c3'\)\]"),
        (lambda d: d.assign(rating=d.rating.where(d.index != 7)), r"rating column 'rating' has 1 missing"),
        (
            lambda d: d.assign(rating=d.rating.astype(object).where(d.index != 7, "high")),
            r"1 text, missing or infinite values",
        ),
        (lambda d: d.assign(truth=d.truth.where(d.index != 30, 1 - d.truth)), r"differs between readings .*'c0'"),
        (lambda d: d.assign(truth=d.truth * 2), r"truth column 'truth' holds the labels \[0, 2\].*pos_label"),
        (lambda d: d[d.test == "A"], r"at least 2 tests"),
        (lambda d: d[d.reader == "r0"], r"random readers need at least 2 readers.*readers='fixed'"),
        (lambda d: d.assign(truth=(d.case == "c0").astype(int)), r"at least 2 positive and 2 negative .* got 1"),
        (lambda d: d.drop(columns="case"), r"no column case='case'"),
        (lambda d: d.assign(reader=d.reader.where(d.index != 2)), r"reader column 'reader' has 1 missing"),
        (lambda d: d.iloc[:0], r"no rows"),
        (lambda d: d.assign(test=d.test.map({"A": 1, "B": "1"})), r"same text, \[1, '1'\]"),
        (
            lambda d: d.assign(truth=d.truth.where(d.index != 4)),
            r"truth column 'truth' has 1 missing .* every case needs its truth",
        ),
    ],
)
def test_malformed_input_raises_naming_the_problem(change, message) -> None:  # type: ignore[no-untyped-def]
    data = _study(readers=2, cases=30)
    with pytest.raises(ValueError, match=message):
        mrmc(change(data), **COLUMNS)


@pytest.mark.parametrize(
    ("argument", "message"),
    [({"cov": "bootstrap"}, "cov must be one of"), ({"readers": "mixed"}, "readers must be"), ({"alpha": 5}, "alpha")],
)
def test_bad_arguments_raise(argument: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mrmc(_study(), **COLUMNS, **argument)  # type: ignore[arg-type]


def test_text_truth_with_pos_label() -> None:
    data = _study(seed=4)
    labelled = data.assign(truth=data.truth.map({0: "benign", 1: "malignant"}))
    result = mrmc(labelled, **COLUMNS, pos_label="malignant")
    assert result["p_value"] == pytest.approx(mrmc(data, **COLUMNS)["p_value"])


# ---------------------------------------------------------------------------------------------------------------------
# the metric and the command line


def test_metric_through_the_evaluator(tmp_path: Path) -> None:
    data = _study(seed=6).assign(reader=lambda d: d.reader.str[1:].astype(int))
    data["id"] = [f"reading-{i}" for i in range(len(data))]
    metric = MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case", cov="delong")
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"mrmc": metric}, output_dir=tmp_path)
    expected = mrmc(data, **COLUMNS, cov="delong")
    assert results["metrics.mrmc.p_value"] == expected["p_value"]
    assert results["metrics.mrmc.comparisons.A - B.ci_upper"] == expected["comparisons"]["A - B"]["ci_upper"]
    assert results["metrics.mrmc.reader_aucs.A.0"] == expected["reader_aucs"]["A"][0]
    assert "| metrics.mrmc.tests.B.std_err |" in (tmp_path / "results.md").read_text()


def test_metric_refuses_dotted_names_and_bad_options() -> None:
    data = _study(seed=6).assign(test=lambda d: d.test.map({"A": "v1.0", "B": "v2.0"}))
    data["id"] = range(len(data))
    metric = MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case")
    with pytest.raises(ValueError, match=r"contain '\.'"):
        EvaluatorDefault().eval(ids=None, data=data, metrics={"mrmc": metric})
    with pytest.raises(ValueError, match="cov must be one of"):
        MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case", cov="DeLong")


def test_metric_inside_ci_is_refused() -> None:
    data = _study(seed=1).assign(id=lambda d: range(len(d)))
    metric = CI(MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case"), stratum=None)
    with pytest.raises(ValueError, match="cannot be bootstrapped over readings"):
        EvaluatorDefault().eval(ids=None, data=data, metrics={"mrmc": metric})


def test_command_line_mrmc_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _study(seed=12).rename(columns={"rating": "score", "reader": "radiologist"})
    data.to_csv(tmp_path / "readings.csv", index=False)
    argv = ["--mrmc", str(tmp_path / "readings.csv"), "--rating-col", "score", "--reader-col", "radiologist"]
    assert cli_main([*argv, "--out", str(tmp_path / "out"), "--cov", "delong"]) == 0
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    expected = mrmc(data, **(COLUMNS | {"rating": "score", "reader": "radiologist"}), cov="delong")
    assert written["result"]["p_value"] == pytest.approx(expected["p_value"], rel=1e-12)
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "## Differences between tests" in markdown
    assert "| A - B |" in markdown
    assert "<table" in (tmp_path / "out" / "report.html").read_text()
    assert "global test: F =" in capsys.readouterr().out


def test_command_line_mrmc_malformed_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _study(seed=12).drop(index=3)
    data.to_csv(tmp_path / "readings.csv", index=False)
    assert cli_main(["--mrmc", str(tmp_path / "readings.csv"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "fuse-eval: error: readings file" in error
    assert "not fully crossed" in error
    assert not (tmp_path / "out").exists()
    assert cli_main(["--mrmc", str(tmp_path / "readings.csv"), "--truth-col", "label"]) == 2
    assert "no truth column 'label' (--truth-col)" in capsys.readouterr().err
    assert cli_main(["--mrmc", str(tmp_path / "missing.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main(["--mrmc", str(tmp_path / "readings.csv"), "--pred", "p.csv"]) == 2  # the other mode's option
    assert "unrecognized arguments: --pred" in capsys.readouterr().err
    assert cli_main(["--mrmc", "--help"]) == 0
    assert "--reader-col COL" in capsys.readouterr().out


def test_command_line_mrmc_text_truth(tmp_path: Path) -> None:
    data = _study(seed=12)
    data.assign(truth=data.truth.map({0: "benign", 1: "malignant"})).to_csv(tmp_path / "readings.csv", index=False)
    argv = ["--mrmc", str(tmp_path / "readings.csv"), "--out", str(tmp_path / "out"), "--quiet"]
    assert cli_main(argv) == 2  # text truth without --pos-label
    assert cli_main([*argv, "--pos-label", "malignant", "--readers", "fixed", "--confidence", "90"]) == 0
    written = json.loads((tmp_path / "out" / "results.json").read_text())["result"]
    expected = mrmc(data, **COLUMNS, readers="fixed", alpha=0.1)
    assert written["comparisons"]["A - B"]["ci_lower"] == pytest.approx(expected["comparisons"]["A - B"]["ci_lower"])
    assert written["df2"] is None  # inf: JSON has none


def test_the_readme_example_runs() -> None:
    readme = Path(__file__).resolve().parents[4] / "packages" / "fuse-eval" / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Reader studies", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match is not None
    readings = _study(readers=3, seed=5).rename(
        columns={"rating": "score", "truth": "cancer", "reader": "radiologist", "test": "arm", "case": "case_id"}
    )
    readings["arm"] = readings.arm.map({"A": "AI-aided", "B": "unaided"})
    namespace: dict[str, Any] = {"readings": readings}
    exec(match.group(1), namespace)  # noqa: S102 -- the README's own code, run as a reader would
    assert set(namespace["result"]["comparisons"]) == {"AI-aided - unaided"}


def test_command_line_mrmc_notes_undefined_statistics(tmp_path: Path) -> None:
    data = _study(seed=2)
    data["rating"] = data.truth + 0.01 * data.reader.str[1:].astype(int)
    data.to_csv(tmp_path / "readings.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the command records the warnings as notes instead of printing them
        assert cli_main(["--mrmc", str(tmp_path / "readings.csv"), "--out", str(tmp_path), "--quiet"]) == 0
    assert "## Notes" in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["result"]["f"] is None
