"""Checks every metric of fuse-eval passes, in the style of scikit-learn's ``check_estimator``.

``CASES`` maps every ``Metric*`` name of ``fuse.eval.__all__`` to a small case: how to build the metric, a
well-posed per-sample input for its family, and the input where it is undefined. A new metric without a case fails
``test_every_metric_has_a_case``, naming it. Each check then runs on every case it applies to:

- ``ci``: the metric runs inside the bootstrap ``CI`` and gives finite ``lower <= point <= upper``;
- ``ci_refused``: where ``ci`` does not apply (no number to bound), ``CI`` raises a ``TypeError``/``ValueError`` that
  says why, instead of returning the result without an interval or failing inside;
- ``resampled``: ``eval_resampled`` (the bootstrap's fast path) equals ``eval`` on each resampled row set;
- ``undefined``: on an input where the metric is undefined (one class present, for classification) it returns NaN
  with an ``UndefinedMetricWarning`` (or raises / returns what its documentation states);
- ``order``: shuffling the samples (ids travel with them) leaves the result unchanged.

A case names the checks that do not apply to it, with the reason; a check that fails on a metric is a finding,
recorded as a strict ``xfail`` naming the failure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest

import fuse.eval
from fuse.eval import (
    CI,
    Metric2DHausdorff,
    MetricAccuracy,
    MetricApplyTemperature,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricAUCROC,
    MetricAUCROCMultLabel,
    MetricAverageSurfaceDistance,
    MetricBalAccuracy,
    MetricBase,
    MetricBSS,
    MetricCalibrationStats,
    MetricCIndex,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricContingencyTable,
    MetricCountSeqAndTokens,
    MetricDefault,
    MetricDelongsTest,
    MetricDetectionPrecision,
    MetricDetectionRecall,
    MetricDice,
    MetricECE,
    MetricEnsemble,
    MetricExpectedCIndex,
    MetricFindTemperature,
    MetricHausdorff,
    MetricHausdorff95,
    MetricInstanceIouJaccard,
    MetricIouJaccard,
    MetricMAE,
    MetricMCC,
    MetricMcnemarsTest,
    MetricMRMC,
    MetricMSE,
    MetricMultiClassDefault,
    MetricNetBenefit,
    MetricOperatingPoint,
    MetricOverlap,
    MetricPearsonCorrelation,
    MetricPerBatchDefault,
    MetricPerplexity,
    MetricPerSampleDefault,
    MetricPixelAccuracy,
    MetricPrecisionRecallCurve,
    MetricR2,
    MetricReliabilityDiagram,
    MetricRMSE,
    MetricROCCurve,
    MetricSpearmanCorrelation,
    MetricUniqueValues,
    PerSampleData,
    UndefinedMetricWarning,
)

N = 40  # samples per input: small, so the whole file runs in seconds
Batch = dict[str, Any]
Check = Literal["ci", "ci_refused", "resampled", "undefined", "order"]
CHECKS: tuple[Check, ...] = ("ci", "ci_refused", "resampled", "undefined", "order")


# ---------------------------------------------------------------------------------------------------------------------
# inputs per family: one batch dict, "id" plus one entry per sample in each other key


def _ids(n: int = N) -> list[str]:
    return [f"case-{i:02d}" for i in range(n)]


def _labels(rng: np.random.Generator, n: int = N, classes: int = 2) -> np.ndarray:
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    return labels


def _binary(only: int | None = None) -> Batch:
    """Binary target (``only``: every sample of that class), probabilities of class 1 rounded to 0.05 (ties, the
    usual source of order effects)."""
    rng = np.random.default_rng(0)
    target = _labels(rng) if only is None else np.full(N, only)
    score = 0.35 * _labels(np.random.default_rng(0)) + rng.uniform(0.0, 0.65, N)
    return {"id": _ids(), "pred": np.round(score * 20) / 20, "target": target}


def _multiclass(only: int | None = None) -> Batch:
    rng = np.random.default_rng(1)
    target = _labels(rng, classes=3) if only is None else np.full(N, only)
    logits = rng.normal(0.0, 1.0, (N, 3)) + 1.5 * np.eye(3)[_labels(np.random.default_rng(1), classes=3)]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return {"id": _ids(), "pred": probs, "logits": logits, "target": target}


def _separable_logits() -> Batch:
    """Logits whose largest entry is always the target's: the cross-entropy keeps falling as the temperature goes
    to 0, so no temperature is optimal."""
    batch = _multiclass()
    batch["logits"] = 3.0 * np.eye(3)[batch["target"]] + np.random.default_rng(13).uniform(0, 1, (N, 3))
    return batch


def _multilabel(only: int | None = None) -> Batch:
    rng = np.random.default_rng(2)
    target = rng.integers(0, 2, (N, 3)) if only is None else np.full((N, 3), only)
    return {
        "id": _ids(),
        "pred": np.clip(0.4 * rng.integers(0, 2, (N, 3)) + rng.uniform(0, 0.6, (N, 3)), 0, 1),
        "target": target,
    }


def _class_predictions() -> Batch:
    """Two classifiers' class labels against a binary target (paired comparison)."""
    rng = np.random.default_rng(3)
    target = _labels(rng)
    truth = _labels(np.random.default_rng(3))
    flip1, flip2 = rng.uniform(size=N) < 0.2, rng.uniform(size=N) < 0.35
    return {
        "id": _ids(),
        "pred1": np.where(flip1, 1 - truth, truth),
        "pred2": np.where(flip2, 1 - truth, truth),
        "target": target,
    }


def _paired_scores(only: int | None = None) -> Batch:
    rng = np.random.default_rng(4)
    truth = _labels(np.random.default_rng(4))
    target = truth if only is None else np.full(N, only)
    return {
        "id": _ids(),
        "pred1": np.round(0.4 * truth + rng.uniform(0, 0.6, N), 2),
        "pred2": np.round(0.2 * truth + rng.uniform(0, 0.8, N), 2),
        "target": target,
    }


def _regression(constant_target: bool = False) -> Batch:
    rng = np.random.default_rng(5)
    target = np.full(N, 2.5) if constant_target else rng.normal(0.0, 1.0, N)
    pred = rng.normal(0.0, 1.0, N) + 0.8 * (target if not constant_target else rng.normal(0.0, 1.0, N))
    return {"id": _ids(), "pred": pred, "target": target}


def _survival(censored: bool = False) -> Batch:
    """Risks, integer event times (ties) and event indicators; ``censored``: no event observed, no usable pair."""
    rng = np.random.default_rng(6)
    risk = rng.uniform(0, 1, N)
    times = np.maximum(1, np.round(10 * (1.2 - risk) + rng.normal(0, 2, N))).astype(int)
    events = np.zeros(N, dtype=int) if censored else (rng.uniform(size=N) < 0.7).astype(int)
    bins = 5  # a predicted distribution over time bins, mass early for high risk
    dist = np.exp(-np.abs(np.arange(bins)[None, :] - (1 - risk)[:, None] * (bins - 1)))
    return {"id": _ids(), "risk": risk, "dist": dist / dist.sum(axis=1, keepdims=True), "time": times, "event": events}


def _label_maps(empty_target: bool = False) -> Batch:
    """Small 2-D label maps (labels 1 and 2) per sample."""
    rng = np.random.default_rng(7)
    preds, targets = [], []
    for _ in range(N):
        target = np.zeros((8, 8), dtype=int)
        if not empty_target:
            r, c = rng.integers(0, 4, 2)
            target[r : r + 3, c : c + 3] = 1
            target[5:7, rng.integers(0, 6) :][:, :2] = 2
        noise = rng.uniform(size=(8, 8)) < 0.1
        pred = np.where(noise, rng.integers(0, 3, (8, 8)), target)
        if empty_target:
            pred[0, 0] = 1
        preds.append(pred)
        targets.append(target)
    return {"id": _ids(), "pred": preds, "target": targets}


def _boxes(empty: str | None = None) -> Batch:
    """Per image: target boxes ``[x, y, w, h]`` and predicted boxes near them, some missed, some spurious;
    ``empty``: no box at all under that key (``"pred"`` or ``"target"``) in any image."""
    rng = np.random.default_rng(8)
    preds, targets = [], []
    for _ in range(N):
        boxes = [[int(x), int(y), 4, 4] for x, y in rng.integers(0, 40, (int(rng.integers(1, 4)), 2))]
        found = [[x + int(rng.integers(-1, 2)), y, w, h] for x, y, w, h in boxes if rng.uniform() < 0.75]
        if rng.uniform() < 0.3:
            found.append([int(rng.integers(50, 60)), 50, 3, 3])
        preds.append(found or [[70, 70, 2, 2]])
        targets.append(boxes)
    batch: Batch = {"id": _ids(), "pred": preds, "target": targets}
    if empty is not None:
        batch[empty] = [[] for _ in range(N)]
    return batch


def _tokens() -> Batch:
    """Per sequence: token probabilities ``[length, vocabulary]`` and target tokens, padded with -100."""
    rng = np.random.default_rng(9)
    logits = rng.normal(0, 1, (N, 6, 5))
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    tokens = rng.integers(0, 5, (N, 6))
    tokens[:, 4:][rng.uniform(size=(N, 2)) < 0.5] = -100
    return {"id": _ids(), "probs": probs, "tokens": tokens}


def _readings(only: int | None = None) -> Batch:
    """A fully crossed reader study: 3 readers x 2 tests x 12 cases, one sample per reading."""
    rng = np.random.default_rng(10)
    cases = 12
    truth = np.arange(cases) % 2 if only is None else np.full(cases, only)
    rows = [
        (f"{r}-{t}-{c}", r, t, c, round(float(truth[c] * (1.0 + (t == "AI")) + rng.normal(0, 0.8)), 1), truth[c])
        for r in range(3)
        for t in ("AI", "unaided")
        for c in range(cases)
    ]
    frame = pd.DataFrame(rows, columns=["id", "reader", "test", "case", "rating", "truth"])
    return {key: frame[key].tolist() if key == "id" else frame[key].to_numpy() for key in frame.columns}


def _ensemble_inputs() -> Batch:
    rng = np.random.default_rng(11)
    target = _labels(rng)
    return {
        "id": _ids(),
        "m0": np.round(0.3 * target + rng.uniform(0, 0.7, N), 2),
        "m1": np.round(0.3 * target + rng.uniform(0, 0.7, N), 2),
        "target": target,
    }


def _categories() -> Batch:
    rng = np.random.default_rng(12)
    return {"id": _ids(), "site": rng.choice(np.array(["A", "B", "C"]), N)}


# ---------------------------------------------------------------------------------------------------------------------
# the registry


_NOT_RAISED_OR_WARNED = pytest.fail.Exception  # pytest.raises / pytest.warns: the expected did not happen


@dataclass(frozen=True)
class Finding:
    """A check that fails on a metric: why (the exact failure and where), and the exception it fails with (so that
    the xfail does not hide a different failure)."""

    reason: str
    raises: type[BaseException]


@dataclass(frozen=True)
class Undefined:
    """An input where a metric is undefined, and what the metric must do with it.

    :param label: names the input in the test id (``only-class-0``, ``constant-target``, ...).
    :param data: the input, one batch dict.
    :param expect: ``"nan"``: NaN at ``keys`` with an ``UndefinedMetricWarning``; ``"raises"``: a ``ValueError``
        matching ``match``; ``"documented"``: the value ``value`` at ``keys``, as the metric's documentation states.
    :param keys: paths into the result (``""``: the result itself; ``"Positive/auc"``: nested keys).
    :param xfail: the failure found on this input, if any.
    """

    label: str
    data: Callable[[], Batch]
    expect: Literal["nan", "raises", "documented"] = "nan"
    keys: tuple[str, ...] = ("",)
    value: float | None = None
    match: str = ""
    xfail: Finding | None = None


@dataclass(frozen=True)
class Case:
    """How to check one metric class.

    :param make: a fresh metric (keys name the entries of ``data``).
    :param data: a well-posed input, one batch dict.
    :param undefined: inputs where the metric is undefined (one class present, each class in turn; a constant
        target; no usable pair...).
    :param stratum: the key ``CI`` stratifies by.
    :param canonical: maps a result to what the order check compares (for documented order-dependent layouts).
    :param rtol: tolerance of the order check (summation order changes the last bits of a sum).
    :param resampled_rtol: tolerance of ``eval_resampled`` against ``eval`` (a vectorised form sums differently).
    :param not_applicable: check -> why it does not apply.
    :param xfail: check -> the failure found (strict xfail: it turns into a failure once fixed).
    """

    make: Callable[[], MetricBase]
    data: Callable[[], Batch]
    undefined: tuple[Undefined, ...] = ()
    stratum: str | None = None
    canonical: Callable[[Any], Any] | None = None
    rtol: float = 0.0
    resampled_rtol: float = 1e-12
    not_applicable: Mapping[Check, str] = field(default_factory=dict)
    xfail: Mapping[Check, Finding] = field(default_factory=dict)


def _one_class(inputs: Callable[[int | None], Batch], classes: int = 2, **kwargs: Any) -> tuple[Undefined, ...]:
    """Inputs with one class present, each class in turn, all expected to behave as ``kwargs`` say."""
    return tuple(Undefined(f"only-class-{c}", partial(inputs, c), **kwargs) for c in range(classes))


def _binary_case(make: Callable[[], MetricBase], **kwargs: Any) -> Case:
    kwargs.setdefault("stratum", "target")
    kwargs.setdefault("undefined", _one_class(_binary))
    return Case(make=make, data=_binary, **kwargs)


def _multiclass_case(make: Callable[[], MetricBase], **kwargs: Any) -> Case:
    kwargs.setdefault("stratum", "target")
    kwargs.setdefault("undefined", _one_class(_multiclass, classes=3))
    return Case(make=make, data=_multiclass, **kwargs)


def _regression_case(make: Callable[[], MetricBase], **kwargs: Any) -> Case:
    kwargs.setdefault("undefined", (Undefined("constant-target", partial(_regression, constant_target=True)),))
    return Case(make=make, data=_regression, **kwargs)


def _segmentation_case(make: Callable[[], MetricBase], **kwargs: Any) -> Case:
    empty = Undefined("empty-targets", partial(_label_maps, empty_target=True), keys=("average",))
    return Case(make=make, data=_label_maps, undefined=(empty,), **kwargs)


def _detection_case(make: Callable[[], MetricBase], empty: tuple[str, ...], **kwargs: Any) -> Case:
    """Undefined: no image with a box under each key of ``empty`` (the images the mean is over)."""
    undefined = tuple(Undefined(f"no-{key}-boxes", partial(_boxes, key)) for key in empty)
    return Case(make=make, data=_boxes, undefined=undefined, **kwargs)


_NOT_A_CLASS_METRIC = "not a classification metric: defined on any input of its family"
_PER_SAMPLE_OUTPUT = "returns per-sample data (PerSampleData) for later metrics, not a number to bound"
_CURVE = "returns a curve (arrays of points), not a number to bound"
_PER_BATCH = "aggregates per-batch values, which have no sample ids: cannot be resampled (it raises, documented)"


def _accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((pred > 0.5) == target))


def _auc_per_class(pred: np.ndarray, target: np.ndarray, pos_class_index: int) -> float:
    from sklearn.metrics import roc_auc_score

    positive = target == pos_class_index
    if positive.all() or not positive.any():
        warnings.warn("one class present", UndefinedMetricWarning, stacklevel=2)
        return math.nan
    return float(roc_auc_score(positive, pred[:, pos_class_index]))


def _per_batch_mean() -> MetricBase:
    return MetricPerBatchDefault(
        total="total",
        count="count",
        metric_per_batch_func=None,
        metric_per_batch_func_pre_collect=lambda batch: {
            "total": [np.sum(batch["pred"])],
            "count": [len(batch["pred"])],
        },
        result_aggregate_func=lambda total, count: float(np.sum(total) / np.sum(count)),
    )


def _unique_counts(result: Any) -> Any:
    return sorted(result)


CASES: dict[str, Case] = {
    # framework
    "MetricBase": Case(
        make=lambda: MetricDefault(_accuracy, pred="pred", target="target"),
        data=_binary,
        not_applicable=dict.fromkeys(CHECKS, "abstract base class: its concrete metrics have their own cases"),
    ),
    "MetricCollector": Case(
        make=lambda: MetricDefault(_accuracy, pred="pred", target="target"),
        data=_binary,
        not_applicable=dict.fromkeys(CHECKS, "the collector of a metric's inputs, not a metric"),
    ),
    "MetricWithCollectorBase": Case(
        make=lambda: MetricDefault(_accuracy, pred="pred", target="target"),
        data=_binary,
        not_applicable=dict.fromkeys(CHECKS, "abstract base class: MetricDefault is its concrete form"),
    ),
    "MetricDefault": _binary_case(
        lambda: MetricDefault(_accuracy, pred="pred", target="target"),
        not_applicable={"undefined": "wraps any function: undefined inputs are the function's business"},
    ),
    "MetricMultiClassDefault": _multiclass_case(
        lambda: MetricMultiClassDefault(
            pred="pred", target="target", metric_func=_auc_per_class, class_names=["a", "b", "c"]
        ),
        undefined=_one_class(_multiclass, classes=3, keys=("a", "b", "c", "macro_avg")),
    ),
    "MetricPerSampleDefault": _binary_case(
        lambda: MetricPerSampleDefault(
            pred="pred",
            target="target",
            metric_per_sample_func=lambda pred, target: float(abs(pred - target)),
            result_aggregate_func=lambda per_sample: float(np.mean(per_sample)),
        ),
        not_applicable={"undefined": "wraps any function: undefined inputs are the function's business"},
    ),
    "MetricPerBatchDefault": Case(
        make=_per_batch_mean,
        data=_binary,
        rtol=1e-12,
        not_applicable={"ci": _PER_BATCH, "resampled": _PER_BATCH, "undefined": "wraps any function"},
    ),
    # binary and multi-class classification
    "MetricAUCROC": _binary_case(lambda: MetricAUCROC(pred="pred", target="target")),
    "MetricAUCPR": _binary_case(lambda: MetricAUCPR(pred="pred", target="target")),
    "MetricAccuracy": _binary_case(
        lambda: MetricAccuracy(pred="pred", target="target"),
        not_applicable={"undefined": "the share of correct predictions is defined with one class"},
    ),
    "MetricBalAccuracy": _binary_case(lambda: MetricBalAccuracy(pred="pred", target="target")),
    "MetricMCC": _binary_case(lambda: MetricMCC(pred="pred", target="target")),  # 0/0: NaN (sklearn: 0.0)
    "MetricBSS": _binary_case(lambda: MetricBSS(pred="pred", target="target"), rtol=1e-12),
    "MetricConfusion": _binary_case(
        lambda: MetricConfusion(
            pred="pred",
            target="target",
            metrics=("sensitivity", "specificity", "ppv", "npv", "f1"),
            operation_point=0.5,
        ),
        undefined=(
            Undefined("only-class-0", partial(_binary, 0), keys=("sensitivity",)),
            Undefined("only-class-1", partial(_binary, 1), keys=("specificity",)),
        ),
    ),
    "MetricConfusionMatrix": Case(
        make=lambda: MetricConfusionMatrix(cls_pred="pred1", target="target", class_names=["neg", "pos"]),
        data=_class_predictions,
        stratum="target",
        not_applicable={"ci": "returns a table of counts, not a number to bound", "undefined": "counts are defined"},
    ),
    "MetricApplyThresholds": Case(
        make=lambda: MetricApplyThresholds(pred="pred", operation_point=0.5),
        data=_binary,
        not_applicable={"ci": _PER_SAMPLE_OUTPUT, "undefined": "thresholds each sample: no class to be absent"},
    ),
    "MetricOperatingPoint": _binary_case(
        lambda: MetricOperatingPoint(pred="pred", target="target"),
        undefined=_one_class(_binary, keys=("threshold", "sensitivity", "specificity")),
    ),
    "MetricAUCROCMultLabel": Case(
        make=lambda: MetricAUCROCMultLabel(pred="pred", target="target", average="macro"),
        data=_multilabel,
        undefined=_one_class(_multilabel),
    ),
    # curves: one class raises a ValueError naming the class and the missing samples (no curve to draw)
    "MetricROCCurve": _binary_case(
        lambda: MetricROCCurve(pred="pred", target="target"),
        undefined=_one_class(
            _binary, expect="raises", match="the ROC curve of class 'Positive' needs positive and negative samples"
        ),
        not_applicable={"ci": _CURVE},
    ),
    "MetricPrecisionRecallCurve": _binary_case(
        lambda: MetricPrecisionRecallCurve(pred="pred", target="target"),
        undefined=(
            Undefined(
                "only-class-0",
                partial(_binary, 0),
                expect="raises",
                match="the precision-recall curve of class 'Positive' needs positive samples",
            ),
            # the curve exists with only positives (precision 1), but its area is auc_pr's, which is undefined
            Undefined("only-class-1", partial(_binary, 1), keys=("Positive/auc",)),
        ),
        not_applicable={"ci": _CURVE},
    ),
    # calibration and decisions
    "MetricECE": _multiclass_case(
        lambda: MetricECE(pred="pred", target="target", num_bins=5),
        not_applicable={"undefined": "calibration error is defined with one class"},
    ),
    "MetricReliabilityDiagram": _multiclass_case(
        lambda: MetricReliabilityDiagram(pred="pred", target="target", num_bins=5),
        not_applicable={
            "ci": "returns a diagram (per-bin arrays), not a number to bound",
            "ci_refused": "its one number, total_samples, gets a (width-zero, warned) interval; the arrays are kept "
            "as computed, as CI documents for mixed results",
            "undefined": "per-bin accuracy and confidence are defined with one class",
        },
    ),
    "MetricFindTemperature": Case(
        make=lambda: MetricFindTemperature(pred="logits", target="target"),
        data=_multiclass,
        # one class present still has an optimal temperature; undefined (documented): no finite optimum
        undefined=(Undefined("separable-logits", _separable_logits),),
        stratum="target",
        rtol=1e-12,
    ),
    "MetricApplyTemperature": Case(
        make=lambda: MetricApplyTemperature(pred="logits", temperature=1.7),
        data=_multiclass,
        not_applicable={"ci": _PER_SAMPLE_OUTPUT, "undefined": "rescales each sample: no class to be absent"},
    ),
    "MetricCalibrationStats": _binary_case(
        lambda: MetricCalibrationStats(pred="pred", target="target"),
        undefined=_one_class(_binary, keys=("intercept", "slope", "ici", "e50", "e90", "emax")),
        rtol=1e-12,
        resampled_rtol=1e-8,  # a vectorised Newton fit against statsmodels' IRLS (default tolerance 1e-8)
    ),
    "MetricNetBenefit": _binary_case(
        lambda: MetricNetBenefit(pred="pred", target="target", thresholds=0.3),
        stratum=None,  # stratified by the target, treat-all (fixed by the prevalence) has an interval of width 0
        not_applicable={"undefined": "net benefit is defined with one class (prevalence 0 or 1)"},
    ),
    # model comparison
    "MetricDelongsTest": Case(
        make=lambda: MetricDelongsTest(pred1="pred1", pred2="pred2", target="target"),
        data=_paired_scores,
        undefined=_one_class(_paired_scores, keys=("p_value", "z", "auc1", "auc2")),
        stratum="target",
        rtol=1e-12,
    ),
    "MetricMcnemarsTest": Case(
        make=lambda: MetricMcnemarsTest(pred1="pred1", pred2="pred2", target="target"),
        data=_class_predictions,
        stratum="target",
        not_applicable={"undefined": "compares the two classifiers' correctness: defined with one class"},
    ),
    "MetricContingencyTable": Case(
        make=lambda: MetricContingencyTable(var1="pred1", var2="pred2"),
        data=_class_predictions,
        not_applicable={"ci": "returns a 2x2 table of counts, not a number to bound", "undefined": "counts"},
    ),
    "MetricEnsemble": Case(
        make=lambda: MetricEnsemble(pred_keys=["m0", "m1"], target="target"),
        data=_ensemble_inputs,
        not_applicable={"ci": _PER_SAMPLE_OUTPUT, "undefined": "averages per sample: no class to be absent"},
    ),
    # reader studies
    "MetricMRMC": Case(
        make=lambda: MetricMRMC(rating="rating", truth="truth", reader="reader", test="test", case="case"),
        data=_readings,
        # the README: fewer than 2 positive or negative cases raise, naming them
        undefined=_one_class(_readings, expect="raises", match="needs at least 2 positive and 2 negative cases"),
        not_applicable={
            "ci": "its intervals are analytic; resampling readings breaks the fully crossed design (documented)",
            "resampled": "resampled readings are not a fully crossed design: every resampling raises (documented)",
        },
    ),
    # regression
    "MetricMAE": _regression_case(
        lambda: MetricMAE(pred="pred", target="target"), rtol=1e-12, not_applicable={"undefined": _NOT_A_CLASS_METRIC}
    ),
    "MetricMSE": _regression_case(
        lambda: MetricMSE(pred="pred", target="target"), rtol=1e-12, not_applicable={"undefined": _NOT_A_CLASS_METRIC}
    ),
    "MetricRMSE": _regression_case(
        lambda: MetricRMSE(pred="pred", target="target"), rtol=1e-12, not_applicable={"undefined": _NOT_A_CLASS_METRIC}
    ),
    # a constant target has no variance to explain: NaN (sklearn: 1.0 for a perfect prediction, else 0.0)
    "MetricR2": _regression_case(lambda: MetricR2(pred="pred", target="target"), rtol=1e-12),
    "MetricPearsonCorrelation": _regression_case(
        lambda: MetricPearsonCorrelation(pred="pred", target="target"),
        rtol=1e-12,
        undefined=(
            Undefined("constant-target", partial(_regression, constant_target=True), keys=("statistic", "p_value")),
        ),
    ),
    "MetricSpearmanCorrelation": _regression_case(
        lambda: MetricSpearmanCorrelation(pred="pred", target="target"),
        rtol=1e-12,
        undefined=(
            Undefined("constant-target", partial(_regression, constant_target=True), keys=("statistic", "p_value")),
        ),
    ),
    # survival (undefined: every sample censored, no comparable pair)
    "MetricCIndex": Case(
        make=lambda: MetricCIndex(pred="risk", event_times="time", event_observed="event"),
        data=_survival,
        undefined=(Undefined("all-censored", partial(_survival, censored=True)),),
    ),
    "MetricExpectedCIndex": Case(
        make=lambda: MetricExpectedCIndex(pred="dist", event_times="time", event_observed="event"),
        data=_survival,
        undefined=(Undefined("all-censored", partial(_survival, censored=True)),),
    ),
    # segmentation
    "MetricDice": _segmentation_case(lambda: MetricDice(pred="pred", target="target"), rtol=1e-12),
    "MetricIouJaccard": _segmentation_case(lambda: MetricIouJaccard(pred="pred", target="target"), rtol=1e-12),
    "MetricOverlap": _segmentation_case(lambda: MetricOverlap(pred="pred", target="target"), rtol=1e-12),
    "MetricPixelAccuracy": _segmentation_case(lambda: MetricPixelAccuracy(pred="pred", target="target"), rtol=1e-12),
    "MetricHausdorff": _segmentation_case(lambda: MetricHausdorff(pred="pred", target="target"), rtol=1e-12),
    "Metric2DHausdorff": _segmentation_case(lambda: Metric2DHausdorff(pred="pred", target="target"), rtol=1e-12),
    "MetricHausdorff95": _segmentation_case(lambda: MetricHausdorff95(pred="pred", target="target"), rtol=1e-12),
    "MetricAverageSurfaceDistance": _segmentation_case(
        lambda: MetricAverageSurfaceDistance(pred="pred", target="target"), rtol=1e-12
    ),
    # detection
    "MetricInstanceIouJaccard": _detection_case(
        lambda: MetricInstanceIouJaccard("pred", "target", "bbox", "bbox"), empty=("pred", "target"), rtol=1e-12
    ),
    "MetricDetectionPrecision": _detection_case(
        lambda: MetricDetectionPrecision("pred", "target", "bbox", "bbox"), empty=("pred",), rtol=1e-12
    ),
    "MetricDetectionRecall": _detection_case(
        lambda: MetricDetectionRecall("pred", "target", "bbox", "bbox"), empty=("target",), rtol=1e-12
    ),
    # sequences
    "MetricPerplexity": Case(
        make=lambda: MetricPerplexity(preds="probs", target="tokens", ignore_index=-100),
        data=_tokens,
        rtol=1e-12,
        not_applicable={"ci": _PER_BATCH, "resampled": _PER_BATCH, "undefined": "token likelihoods: no classes"},
    ),
    "MetricCountSeqAndTokens": Case(
        make=lambda: MetricCountSeqAndTokens(encoder_input="tokens", ignore_index=-100),
        data=_tokens,
        not_applicable={"ci": _PER_BATCH, "resampled": _PER_BATCH, "undefined": "counts are defined"},
    ),
    # statistics
    "MetricUniqueValues": Case(
        make=lambda: MetricUniqueValues(key="site"),
        data=_categories,
        canonical=_unique_counts,  # documented: pairs in order of first appearance
        not_applicable={"ci": "returns (value, count) pairs, not a number to bound", "undefined": "counts"},
    ),
}


# ---------------------------------------------------------------------------------------------------------------------
# helpers


def _fed(case: Case, batch: Batch | None = None) -> MetricBase:
    metric = case.make()
    metric.collect(case.data() if batch is None else batch)
    return metric


def _id_array(batch: Batch) -> np.ndarray:
    ids = np.empty(len(batch["id"]), dtype=object)
    ids[:] = list(batch["id"])
    return ids


def _take(batch: Batch, order: np.ndarray) -> Batch:
    """The batch with its samples in ``order`` (every per-sample entry moves together)."""
    return {
        key: value[order] if isinstance(value, np.ndarray) else [value[i] for i in order]
        for key, value in batch.items()
    }


def _comparable(value: Any, ids: np.ndarray | None) -> Any:
    """A result in plain values: per-sample data read out in ``ids`` order, tables as arrays with their labels."""
    if isinstance(value, PerSampleData):
        return _comparable(value(ids), ids)
    if isinstance(value, Mapping):
        return {key: _comparable(item, ids) for key, item in value.items()}
    if isinstance(value, pd.DataFrame):
        return {"columns": list(value.columns), "index": list(value.index), "values": value.to_numpy()}
    if isinstance(value, pd.Series):
        return {"index": list(value.index), "values": value.to_numpy()}
    if isinstance(value, (list, tuple)):
        return [_comparable(item, ids) for item in value]
    return value


def _assert_same(actual: Any, expected: Any, rtol: float, where: str = "result") -> None:
    """Equal (NaN equal to NaN), numbers to ``rtol``; names the first place they differ."""
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{where}: {type(actual).__name__} instead of a mapping"
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            _assert_same(actual[key], expected[key], rtol, f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {type(actual).__name__} instead of a list"
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, rtol, f"{where}[{index}]")
    elif isinstance(expected, np.ndarray) and expected.dtype.kind in "biuf":
        np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=0, equal_nan=True, err_msg=where)
        assert np.asarray(actual).shape == expected.shape, where
    elif isinstance(expected, np.ndarray):
        _assert_same(list(np.asarray(actual)), list(expected), rtol, where)
    elif isinstance(expected, (float, np.floating)) and not isinstance(actual, (bool, str)):
        a, e = float(actual), float(expected)
        assert (math.isnan(a) and math.isnan(e)) or a == pytest.approx(e, rel=rtol, abs=0), f"{where}: {a!r} != {e!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _value_at(result: Any, path: str) -> Any:
    """``result`` at ``path`` (``""``: itself; ``"a/b"``: ``result["a"]["b"]``)."""
    for key in path.split("/") if path else ():
        result = result[key]
    return result


def _params(check: Check) -> list[Any]:
    """The cases a check applies to, each named by its metric class; found failures as strict xfails."""
    params = []
    for name, case in CASES.items():
        if check in case.not_applicable or (check == "ci_refused" and "ci" not in case.not_applicable):
            continue
        finding = case.xfail.get(check)
        marks = [pytest.mark.xfail(strict=True, reason=finding.reason, raises=finding.raises)] if finding else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


# ---------------------------------------------------------------------------------------------------------------------
# the registry itself


def test_every_metric_has_a_case() -> None:
    metrics = {name for name in fuse.eval.__all__ if name.startswith("Metric")}
    missing = sorted(metrics - CASES.keys())
    assert not missing, f"metrics without a case in CASES (add one, with its input family): {missing}"
    stale = sorted(CASES.keys() - metrics)
    assert not stale, f"cases of names that fuse.eval no longer exports: {stale}"


def test_every_case_builds_its_metric_and_names_its_exceptions() -> None:
    for name, case in CASES.items():
        assert set(case.not_applicable) <= set(CHECKS), name
        assert all(reason.strip() for reason in case.not_applicable.values()), f"{name}: a check skipped without reason"
        assert not set(case.xfail) & set(case.not_applicable), f"{name}: a check both not applicable and xfail"
        metric = case.make()
        if name in ("MetricBase", "MetricCollector", "MetricWithCollectorBase"):
            continue  # stands for its concrete subclasses
        assert type(metric).__name__ == name or isinstance(metric, getattr(fuse.eval, name)), name
        if "undefined" not in case.not_applicable:
            assert case.undefined, f"{name}: the undefined check applies, so give an undefined input"


# ---------------------------------------------------------------------------------------------------------------------
# the checks


def _fusemedml_draws(strata: np.ndarray, num: int, seed: int) -> list[np.ndarray]:
    """Bootstrap rows drawn as ``CI`` documents it (FuseMedML's draws): ``np.random.RandomState(seed)``; per
    resampling, per stratum in ``np.unique`` order, ``randint(0, n_s, size=n_s)`` positions within the stratum."""
    rnd = np.random.RandomState(seed)
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    return [np.concatenate([m[rnd.randint(0, len(m), size=len(m))] for m in members]) for _ in range(num)]


@pytest.mark.parametrize("name", _params("ci"))
def test_wrappable_by_ci(name: str) -> None:
    case, num, seed = CASES[name], 30, 0
    batch = case.data()
    metric = CI(case.make(), stratum=case.stratum, num_of_bootstraps=num, rnd_seed=seed)
    metric.collect(batch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)  # a well-posed input: no resampling is undefined
        result = metric.eval()
    intervals = {"": result} if "conf_lower" in result else {k: v for k, v in result.items() if isinstance(v, Mapping)}
    assert intervals, f"CI of {name} gave no interval: {result!r}"
    for key, interval in intervals.items():
        lower, point, upper = interval["conf_lower"], interval["org"], interval["conf_upper"]
        assert all(math.isfinite(v) for v in (lower, point, upper)), f"{name}[{key}]: {interval}"
        assert lower <= point + 1e-12, f"{name}[{key}]: lower bound {lower} above the value {point}"
        assert point <= upper + 1e-12, f"{name}[{key}]: upper bound {upper} below the value {point}"

    # the same numbers by brute force: plain eval on each resampling, the documented percentile formula
    ids = _id_array(batch)
    strata = np.asarray(batch[case.stratum]) if case.stratum else np.zeros(len(ids))
    plain = _fed(case, batch)
    draws = [plain.eval(None, ids[row]) for row in _fusemedml_draws(strata, num, seed)]
    for key, interval in intervals.items():
        values = np.sort([float(_value_at(draw, key)) for draw in draws])
        expected = {
            "mean": np.mean(values),
            "std": np.std(values),
            "conf_lower": values[int(np.floor(0.025 * num))],
            "conf_upper": values[min(int(np.floor(0.975 * num)), num - 1)],
        }
        for stat, value in expected.items():
            assert interval[stat] == pytest.approx(value, rel=case.resampled_rtol, abs=1e-12), f"{name}[{key}] {stat}"


@pytest.mark.parametrize("name", _params("ci_refused"))
def test_ci_refuses_what_it_cannot_bound(name: str) -> None:
    case = CASES[name]
    metric = CI(case.make(), num_of_bootstraps=5, rnd_seed=0)
    metric.collect(case.data())
    with pytest.raises((TypeError, ValueError), match=r"(?i)\bCI\b|bootstrap"):
        metric.eval()


@pytest.mark.parametrize("name", _params("resampled"))
def test_eval_resampled_equals_eval_per_row(name: str) -> None:
    case = CASES[name]
    batch = case.data()
    ids = _id_array(batch)
    rng = np.random.default_rng(1234)
    blocks = [rng.integers(0, len(ids), (3, len(ids))), rng.integers(0, len(ids), (2, len(ids)))]
    metric = _fed(case, batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # a resampling may lack a class: NaN on both paths
        expected = [metric.eval(None, ids[row]) for rows in blocks for row in rows]
        with metric.resampling():  # as a bootstrap runs it: blocks one after the other in one scope
            resampled = [value for rows in blocks for value in metric.eval_resampled(None, ids, rows)]
    assert len(resampled) == len(expected)
    for index, (value, reference) in enumerate(zip(resampled, expected, strict=True)):
        row_ids = ids[np.concatenate(blocks)[index]]
        _assert_same(
            _comparable(value, row_ids),
            _comparable(reference, row_ids),
            case.resampled_rtol,
            f"{name} resampling {index}",
        )


def _undefined_params() -> list[Any]:
    """One test per undefined input of every case the check applies to, its finding as a strict xfail."""
    params = []
    for name, case in CASES.items():
        if "undefined" in case.not_applicable:
            continue
        for undefined in case.undefined:
            finding = undefined.xfail
            marks = [pytest.mark.xfail(strict=True, reason=finding.reason, raises=finding.raises)] if finding else []
            params.append(pytest.param(name, undefined, id=f"{name}-{undefined.label}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "undefined"), _undefined_params())
def test_undefined_input_gives_nan_and_warns(name: str, undefined: Undefined) -> None:
    metric = _fed(CASES[name], undefined.data())
    if undefined.expect == "raises":
        with pytest.raises(ValueError, match=undefined.match):
            metric.eval()
        return
    if undefined.expect == "documented":
        result = metric.eval()
        for key in undefined.keys:
            assert _value_at(result, key) == undefined.value, f"{name}[{key}]: {result!r}"
        return
    with pytest.warns(UndefinedMetricWarning):
        result = metric.eval()
    for key in undefined.keys:
        value = _value_at(result, key)
        assert isinstance(value, (float, np.floating)), f"{name}[{key!r}] = {value!r}, not a float"
        assert math.isnan(value), f"{name}[{key!r}] = {value!r}, not NaN"


@pytest.mark.parametrize("name", _params("order"))
def test_invariant_to_sample_order(name: str) -> None:
    case = CASES[name]
    batch = case.data()
    order = np.random.default_rng(99).permutation(len(batch["id"]))
    ids = np.sort(_id_array(batch))

    def canonical(result: Any) -> Any:
        value = _comparable(result, ids)
        return case.canonical(value) if case.canonical is not None else value

    reference = canonical(_fed(case, batch).eval())
    shuffled = canonical(_fed(case, _take(batch, order)).eval())
    _assert_same(shuffled, reference, case.rtol, f"{name} on shuffled samples")
    if not isinstance(case.make(), MetricPerBatchDefault):  # the ids in another order, on the same collected data
        reordered = canonical(_fed(case, batch).eval(ids=_id_array(batch)[order]))
        _assert_same(reordered, reference, case.rtol, f"{name} on ids in another order")
