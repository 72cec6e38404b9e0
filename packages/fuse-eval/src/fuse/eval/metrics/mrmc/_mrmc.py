"""Multi-reader multi-case (MRMC) analysis of a reader study: the Obuchowski-Rockette method with Hillis's degrees of
freedom, on the empirical ROC AUC.

Every reader rates every case under every test (modality, or unaided vs AI-aided). With ``t`` tests, ``r`` readers
and ``c`` cases, θ_ij is the AUC of reader j under test i. The Obuchowski-Rockette (OR) model (Obuchowski &
Rockette 1995, Commun Stat Simul Comput 24:285) is

    θ_ij = μ + τ_i + R_j + (τR)_ij + ε_ij,

with random reader and test-by-reader effects (variances σ²_R, σ²_TR) and errors ε over cases with variance
``Var`` and covariances ``Cov1`` (same reader, different tests), ``Cov2`` (different readers, same test) and
``Cov3`` (different readers, different tests), estimated as the averages of the corresponding entries of the
covariance matrix of the θ_ij (jackknife, DeLong or unbiased: :mod:`fuse.eval.metrics.mrmc._covariance`).

Mean squares (θ_i. test means, θ_.j reader means, θ.. the grand mean):

- ``MS(T) = r / (t-1) Σ_i (θ_i. - θ..)²``, ``MS(R) = t / (r-1) Σ_j (θ_.j - θ..)²``,
- ``MS(T*R) = 1 / ((t-1)(r-1)) Σ_ij (θ_ij - θ_i. - θ_.j + θ..)²``.

Random readers (Hillis 2007, Stat Med 26:596; Hillis, Berbaum & Metz 2008, Acad Radiol 15:647), with
``D = MS(T*R) + r max(Cov2 - Cov3, 0)``:

- global test: ``F = MS(T) / D`` on ``t - 1`` and ``ddf_H = D² / (MS(T*R)² / ((t-1)(r-1)))`` degrees of freedom;
- difference of two tests: ``θ_i. - θ_i'. ± t(1 - alpha/2; ddf_H) sqrt(2 D / r)``, with the global ``D`` and ``ddf_H``
  for every pair (Hillis et al. 2008); a pair analysed on its own data alone is ``mrmc`` of the rows of those two
  tests;
- one test from its own data: ``θ_i. ± t(1 - alpha/2; df_i) sqrt(D_i / r)``, ``D_i = MS(R)_i + r max(Cov2_i, 0)``,
  ``df_i = D_i² / (MS(R)_i² / (r-1))``, with ``MS(R)_i = 1/(r-1) Σ_j (θ_ij - θ_i.)²`` and ``Cov2_i`` test i's
  average covariance between different readers.

Fixed readers (Hillis 2008; the conclusions hold for these readers only), with
``E = Var - Cov1 + (r-1) max(Cov2 - Cov3, 0)``:

- global test: ``X² = (t-1) MS(T) / E`` against chi-square on ``t - 1`` degrees of freedom, reported as
  ``f = X² / (t-1)`` with ``df2 = inf`` (the same distribution);
- difference: ``θ_i. - θ_i'. ± z(1 - alpha/2) sqrt(2 E / r)`` (normal, ``df = inf``); one test:
  ``θ_i. ± z(1 - alpha/2) sqrt((Var_i + (r-1) max(Cov2_i, 0)) / r)``. With one reader and two tests this is DeLong's
  test of two paired AUCs.

Variance components, by the method of moments from the expected mean squares of the OR model
(``E[MS(R)] = t σ²_R + σ²_TR + Var + (t-1) Cov1 - Cov2 - (t-1) Cov3``,
``E[MS(T*R)] = σ²_TR + Var - Cov1 - Cov2 + Cov3``):
``test_reader = MS(T*R) - Var + Cov1 + Cov2 - Cov3`` and ``reader = (MS(R) - MS(T*R)) / t - Cov1 + Cov3``. Like
every moment estimate they can be negative when the true component is small; they are reported as computed.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._lazy import scipy_stats as stats
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.metrics.mrmc._covariance import COV_METHODS, auc_covariance
from fuse.eval.metrics.mrmc._design import _EXAMPLES, _Design

__all__ = ["MRMC_COV_METHODS", "MRMC_READERS", "MetricMRMC", "mrmc"]


MRMC_COV_METHODS = COV_METHODS


MRMC_READERS = ("random", "fixed")


def mrmc(
    data: pd.DataFrame,
    *,
    rating: str,
    truth: str,
    reader: str,
    test: str,
    case: str,
    cov: str = "jackknife",
    readers: str = "random",
    alpha: float = 0.05,
    pos_label: Any = None,
) -> dict[str, Any]:
    """Obuchowski-Rockette MRMC analysis of the empirical ROC AUC with Hillis's degrees of freedom.

    ``data`` is long: one row per reading (reader x test x case), the design fully crossed (every reader rates
    every case under every test, once). ``rating`` is the column of the readers' ratings (higher = more likely
    positive; any numbers, e.g. a 1-5 scale or a probability), ``truth`` the case's truth (0/1 or booleans, or two
    labels with ``pos_label`` naming the positive one; the same for every reading of a case). ``cov`` estimates
    the covariance of the AUCs over cases (``"jackknife"``, ``"delong"`` or ``"unbiased"``); ``readers="random"``
    generalises to the population of readers, ``"fixed"`` to these readers only. The formulas are in this
    module's docstring (Obuchowski & Rockette 1995; Hillis 2007; Hillis et al. 2008).

    Returns a dict:

    - ``f``, ``df1``, ``df2``, ``p_value``: the global test that all tests have the same mean AUC (fixed readers:
      ``f`` is the chi-square statistic over ``df1``, ``df2`` is ``inf``);
    - ``var_components``: ``reader``, ``test_reader``, ``error`` (``Var``), ``cov1``, ``cov2``, ``cov3``;
    - ``mean_squares``: ``test``, ``reader``, ``test_reader``;
    - ``tests``: per test (sorted): ``estimate`` (mean AUC over readers), ``std_err``, ``df``, ``ci_lower``,
      ``ci_upper``, each from that test's data alone;
    - ``comparisons``: per pair ``"A - B"`` (A before B in sorted order): ``estimate``, ``std_err``, ``df``,
      ``ci_lower``, ``ci_upper``, ``t`` and the two-sided ``p_value``;
    - ``reader_aucs``: ``{test: {reader: AUC}}``; ``design``: the numbers of tests, readers, cases, positive and
      negative cases and the test and reader names; ``method``: ``cov``, ``readers`` and ``alpha``.

    Malformed input (missing or repeated readings, a case with two truths, missing ratings, fewer than 2 tests, 2
    positive or 2 negative cases, or 2 readers with random readers) raises naming the rows. A statistic that is
    undefined (e.g. every reader perfect under every test, so that the error term is 0) is NaN, with a warning.

    >>> rng = np.random.default_rng(0)
    >>> truth, case_effect = np.repeat([0, 1], 30), rng.normal(size=60)  # 30 negative then 30 positive cases
    >>> rows = [(reader, test, case, truth[case] * (1 + (test == "AI")) + case_effect[case] + rng.normal(), truth[case])
    ...         for reader in range(5) for test in ("AI", "unaided") for case in range(60)]
    >>> data = pd.DataFrame(rows, columns=["reader", "test", "case", "rating", "truth"])
    >>> result = mrmc(data, rating="rating", truth="truth", reader="reader", test="test", case="case")
    >>> round(result["f"], 2), result["df1"], round(result["df2"], 1), round(result["p_value"], 4)
    (34.39, 1, 10.2, 0.0001)
    >>> difference = result["comparisons"]["AI - unaided"]
    >>> [round(difference[key], 3) for key in ("estimate", "ci_lower", "ci_upper")]
    [0.119, 0.074, 0.165]
    """
    if cov not in COV_METHODS:
        raise ValueError(f"cov must be one of {list(COV_METHODS)}, got {cov!r}")
    if readers not in MRMC_READERS:
        raise ValueError(f"readers must be one of {list(MRMC_READERS)}, got {readers!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), e.g. 0.05 for 95% intervals, got {alpha!r}")
    design = _Design.from_frame(data, rating, truth, reader, test, case, pos_label)
    if readers == "random" and len(design.readers) < 2:
        raise ValueError(
            f"random readers need at least 2 readers (column {reader!r} holds only {design.readers}); use "
            "readers='fixed' to analyse one reader"
        )
    aucs, covariance = auc_covariance(design.ratings.reshape(-1, design.ratings.shape[-1]), design.positive, cov)
    analysis = _Analysis(aucs.reshape(len(design.tests), len(design.readers)), covariance, readers == "random", alpha)
    return analysis.result(design, cov, readers)


class _Analysis:
    """The OR analysis of the AUCs ``theta`` (``(t, r)``) and their covariance (``(t r, t r)``, reader fastest)."""

    def __init__(self, theta: np.ndarray, covariance: np.ndarray, random_readers: bool, alpha: float) -> None:
        self.theta = theta
        self.covariance = covariance
        self.random = random_readers
        self.alpha = alpha
        t, r = theta.shape
        self.t, self.r = t, r
        test_of = np.repeat(np.arange(t), r)
        reader_of = np.tile(np.arange(r), t)
        same_test = test_of[:, None] == test_of[None, :]
        same_reader = reader_of[:, None] == reader_of[None, :]
        self.var = float(np.mean(np.diag(covariance)))
        self.cov1 = _mean(covariance[~same_test & same_reader])
        self.cov2 = _mean(covariance[same_test & ~same_reader])
        self.cov3 = _mean(covariance[~same_test & ~same_reader])
        test_means, reader_means, grand = theta.mean(axis=1), theta.mean(axis=0), float(theta.mean())
        self.test_means = test_means
        self.ms_t = r / (t - 1) * float(np.sum((test_means - grand) ** 2))
        self.ms_r = t / (r - 1) * float(np.sum((reader_means - grand) ** 2)) if r > 1 else math.nan
        interaction = theta - test_means[:, None] - reader_means[None, :] + grand
        self.ms_tr = float(np.sum(interaction**2)) / ((t - 1) * (r - 1)) if r > 1 else math.nan
        # (r - 1) max(Cov2 - Cov3, 0) is 0 with one reader, where Cov2 and Cov3 do not exist
        self.reader_excess = max(self.cov2 - self.cov3, 0.0) if r > 1 else 0.0

    def result(self, design: _Design, cov: str, readers: str) -> dict[str, Any]:
        term, df = self._error_term()
        f, df1, df2, p_value = self._global_test(term, df)
        tests = {}
        for i, name in enumerate(design.tests):  # a loop, not a comprehension: warnings point at mrmc's caller
            tests[name] = self._single_test(i, name)
        return {
            "f": f,
            "df1": df1,
            "df2": df2,
            "p_value": p_value,
            "var_components": self._var_components(),
            "mean_squares": {"test": self.ms_t, "reader": self.ms_r, "test_reader": self.ms_tr},
            "tests": tests,
            "comparisons": self._comparisons(design.tests, term, df),
            "reader_aucs": {
                name: {reader: float(self.theta[i, j]) for j, reader in enumerate(design.readers)}
                for i, name in enumerate(design.tests)
            },
            "design": {
                "tests": list(design.tests),
                "readers": list(design.readers),
                "cases": design.cases,
                "positive_cases": int(design.positive.sum()),
                "negative_cases": int((~design.positive).sum()),
            },
            "method": {"cov": cov, "readers": readers, "alpha": float(self.alpha)},
        }

    def _var_components(self) -> dict[str, float]:
        return {
            "reader": (self.ms_r - self.ms_tr) / self.t - self.cov1 + self.cov3,
            "test_reader": self.ms_tr - self.var + self.cov1 + self.cov2 - self.cov3,
            "error": self.var,
            "cov1": self.cov1,
            "cov2": self.cov2,
            "cov3": self.cov3,
        }

    def _error_term(self) -> tuple[float, float]:
        """The variance term of a test difference (``D`` or ``E`` of the module docstring) and its degrees of
        freedom (``ddf_H``, or ``inf`` with fixed readers); NaN with a warning when it is not positive."""
        if self.random:
            term = self.ms_tr + self.r * self.reader_excess
            df = _satterthwaite(term, self.ms_tr, (self.t - 1) * (self.r - 1))
        else:
            term = self.var - self.cov1 + (self.r - 1) * self.reader_excess
            df = math.inf
        if not term > 0:
            what = "MS(T*R) + r max(Cov2 - Cov3, 0)" if self.random else "Var - Cov1 + (r-1) max(Cov2 - Cov3, 0)"
            warnings.warn(
                f"the MRMC error term {what} is {term:.3g}, not positive (e.g. every reader's AUCs differ between "
                "the tests by the same amount, or the covariance estimate is degenerate): the F test, standard errors "
                "and intervals of the test differences are undefined (NaN)",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
            return math.nan, math.nan
        return term, df

    def _global_test(self, term: float, df2: float) -> tuple[float, int, float, float]:
        df1 = self.t - 1
        f = self.ms_t / term
        if math.isnan(f):
            return math.nan, df1, df2, math.nan
        p_value = float(stats.f.sf(f, df1, df2)) if math.isfinite(df2) else float(stats.chi2.sf(f * df1, df1))
        return float(f), df1, float(df2), p_value

    def _comparisons(self, tests: Sequence[Hashable], term: float, df: float) -> dict[str, dict[str, float]]:
        std_err = math.sqrt(2 * term / self.r)
        comparisons = {}
        for (i, first), (k, second) in itertools.combinations(enumerate(tests), 2):
            estimate = float(self.test_means[i] - self.test_means[k])
            statistic = estimate / std_err
            comparisons[f"{first} - {second}"] = {
                "estimate": estimate,
                "std_err": std_err,
                "df": df,
                **self._interval(estimate, std_err, df),
                "t": statistic,
                "p_value": float(2 * stats.t.sf(abs(statistic), df)) if not math.isnan(statistic) else math.nan,
            }
        return comparisons

    def _single_test(self, i: int, name: Hashable) -> dict[str, float]:
        """Test i from its own data: its readers' AUCs and their covariance block."""
        r = self.r
        block = self.covariance[i * r : (i + 1) * r, i * r : (i + 1) * r]
        between_readers = _mean(block[~np.eye(r, dtype=bool)]) if r > 1 else math.nan
        excess = max(between_readers, 0.0) if r > 1 else 0.0
        estimate = float(self.test_means[i])
        if self.random:
            ms_r = float(np.sum((self.theta[i] - estimate) ** 2)) / (r - 1)
            term = ms_r + r * excess
            df = _satterthwaite(term, ms_r, r - 1)
        else:
            term = float(np.mean(np.diag(block))) + (r - 1) * excess
            df = math.inf
        if not term > 0:
            warnings.warn(
                f"the variance of the mean AUC of test {name!r} is estimated as {term:.3g}, not positive (every reader has the "
                "same AUC and the covariance estimate is not positive): its standard error and interval are NaN",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
            term, df = math.nan, math.nan
        std_err = math.sqrt(term / r)
        return {"estimate": estimate, "std_err": std_err, "df": df, **self._interval(estimate, std_err, df)}

    def _interval(self, estimate: float, std_err: float, df: float) -> dict[str, float]:
        if math.isnan(std_err):
            return {"ci_lower": math.nan, "ci_upper": math.nan}
        half = float(stats.t.ppf(1 - self.alpha / 2, df)) * std_err
        return {"ci_lower": estimate - half, "ci_upper": estimate + half}


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def _satterthwaite(term: float, mean_square: float, df: int) -> float:
    """``term² / (mean_square² / df)``: Hillis's degrees of freedom (``inf`` when the mean square is 0)."""
    if mean_square == 0:
        return math.inf
    return term**2 / (mean_square**2 / df)


def _mrmc_of_columns(
    rating: np.ndarray,
    truth: np.ndarray,
    reader: np.ndarray,
    test: np.ndarray,
    case: np.ndarray,
    *,
    cov: str,
    readers: str,
    alpha: float,
    pos_label: Any,
) -> dict[str, Any]:
    frame = pd.DataFrame({"rating": rating, "truth": truth, "reader": reader, "test": test, "case": case})
    result = mrmc(
        frame,
        rating="rating",
        truth="truth",
        reader="reader",
        test="test",
        case="case",
        cov=cov,
        readers=readers,
        alpha=alpha,
        pos_label=pos_label,
    )
    names = [str(name) for name in result["design"]["tests"] + result["design"]["readers"]]
    dotted = [name for name in names if "." in name]
    if dotted:
        raise ValueError(
            f"test or reader names {dotted[:_EXAMPLES]} contain '.', which splits result keypaths; rename them "
            "(or call fuse.eval.mrmc directly)"
        )
    as_text = [str(name) for name in result["design"]["readers"]]
    if len(set(as_text)) < len(as_text):
        raise ValueError(
            f"the readers {result['design']['readers']} are different values with the same text, which result keys "
            "cannot tell apart; give them distinct names"
        )
    keyed: dict[str, Any] = _text_keys(result)
    return keyed


def _text_keys(tree: Any) -> Any:
    """Every mapping key as text (result keypaths are text); values unchanged."""
    if isinstance(tree, Mapping):
        return {str(key): _text_keys(value) for key, value in tree.items()}
    return tree


class MetricMRMC(MetricDefault):
    """The MRMC analysis of a reader study (:func:`mrmc`) as a metric: one sample per reading.

    The keys name the rating, truth, reader, test and case of each reading (sample); the result is :func:`mrmc`'s
    dict, which :class:`fuse.eval.EvaluatorDefault` writes as ``metrics.<name>.f``,
    ``metrics.<name>.comparisons.<A - B>.p_value``, ... in its results and results table. Every reading must be
    present once: the analysis cannot run inside ``CI`` (which resamples readings); its intervals are analytic.
    Test and reader names must not contain ``.``.

    >>> import pandas as pd
    >>> from fuse.eval import EvaluatorDefault
    >>> rows = [(f"{r}-{t}-{c}", r, t, c, (c % 2) * (1 + (t == "AI")) + (c * r) % 3, c % 2)
    ...         for r in range(3) for t in ("AI", "unaided") for c in range(8)]
    >>> data = pd.DataFrame(rows, columns=["id", "reader", "test", "case", "rating", "truth"])
    >>> metric = MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case")
    >>> results = EvaluatorDefault().eval(ids=None, data=data, metrics={"mrmc": metric})
    >>> round(results["metrics.mrmc.comparisons.AI - unaided.estimate"], 4), round(results["metrics.mrmc.p_value"], 3)
    (0.0729, 0.212)
    """

    def __init__(
        self,
        rating: str,
        truth: str,
        reader: str,
        test: str,
        case: str,
        cov: str = "jackknife",
        readers: str = "random",
        alpha: float = 0.05,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        if cov not in COV_METHODS:
            raise ValueError(f"cov must be one of {list(COV_METHODS)}, got {cov!r}")
        if readers not in MRMC_READERS:
            raise ValueError(f"readers must be one of {list(MRMC_READERS)}, got {readers!r}")
        # bound, not routed: text arguments would otherwise be read as keys to collect
        metric_func = functools.partial(_mrmc_of_columns, cov=cov, readers=readers, alpha=alpha, pos_label=pos_label)
        super().__init__(
            metric_func, pred=None, target=None, rating=rating, truth=truth, reader=reader, test=test, case=case,
            **kwargs,
        )  # fmt: skip
