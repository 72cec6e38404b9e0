"""Overlap metrics (Dice, IoU, overlap, pixel accuracy) against numpy per label, pixel weights, label forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuse.eval import (
    UndefinedMetricWarning,
    dice,
    hausdorff_distance,
    iou_jaccard,
    overlap,
    pixel_accuracy,
)

OVERLAP_FUNCS = {"dice": dice, "iou_jaccard": iou_jaccard, "overlap": overlap, "pixel_accuracy": pixel_accuracy}


def test_multi_label_maps_use_the_labels_masks(np_score: Any) -> None:
    pred = np.array([[1, 1, 2, 2], [0, 2, 2, 3]])
    target = np.array([[1, 2, 2, 2], [0, 0, 2, 3]])
    for name, func in OVERLAP_FUNCS.items():
        scores = func(pred, target)
        assert list(scores) == ["1", "2", "3"]
        for label in (1, 2, 3):
            assert scores[str(label)] == pytest.approx(np_score(name, pred == label, target == label), rel=1e-12)
    # FuseMedML computed IoU, overlap and pixel accuracy on the whole maps (non-zero = foreground) for every label
    fusemedml_iou = np.sum(np.logical_and(pred, target)) / np.sum(np.logical_or(pred, target))
    fusemedml_pixel_accuracy = np.sum(np.logical_and(pred, target)) / np.sum(target)
    assert (fusemedml_iou, fusemedml_pixel_accuracy) == (6 / 7, 6 / 12)  # and divided by the sum of the labels
    assert iou_jaccard(pred, target) == {"1": 0.5, "2": 0.6, "3": 1.0}
    assert pixel_accuracy(pred, target) == {"1": 1.0, "2": 0.75, "3": 1.0}


@settings(max_examples=40, deadline=None)
@given(
    maps=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), elements=st.integers(0, 3)
    ),
    seed=st.integers(0, 2**16),
)
def test_overlap_scores_match_numpy_per_label(np_score: Any, maps: np.ndarray, seed: int) -> None:
    target = maps
    pred = np.random.default_rng(seed).integers(0, 4, size=maps.shape)
    weight = np.random.default_rng(seed + 1).random(maps.shape) + 0.01
    for name, func in OVERLAP_FUNCS.items():
        scores, weighted = func(pred, target), func(pred, target, pixel_weight=weight)
        expected_labels = [str(v) for v in np.unique(target) if v != 0]
        assert list(scores) == expected_labels == list(weighted)
        for label in expected_labels:
            x, y = pred == int(label), target == int(label)
            assert scores[label] == pytest.approx(np_score(name, x, y), rel=1e-12)
            assert weighted[label] == pytest.approx(np_score(name, x, y, weight), rel=1e-9)


def test_pixel_weight_forms() -> None:
    pred = np.array([[1, 1, 2], [2, 2, 0]])
    target = np.array([[1, 0, 2], [2, 0, 0]])
    weight_1, weight_2 = np.array([[1.0, 3.0, 1.0], [1.0, 1.0, 1.0]]), np.array([[1.0, 1.0, 2.0], [0.5, 4.0, 1.0]])
    by_str = dice(pred, target, pixel_weight={"1": weight_1, "2": weight_2})
    by_int = dice(pred, target, pixel_weight={1: weight_1, 2: weight_2})
    assert by_str == by_int
    assert by_str["1"] == pytest.approx(2 * 1 / (4 + 1))
    assert by_str["2"] == pytest.approx(2 * 2.5 / (6.5 + 2.5))
    # one map for every label; None in the mapping means unweighted
    assert dice(pred, target, pixel_weight=weight_2) == {
        "1": pytest.approx(2 * 1 / (2 + 1)),
        "2": pytest.approx(2 * 2.5 / (6.5 + 2.5)),
    }
    assert dice(pred, target, pixel_weight={"1": None, "2": weight_2})["1"] == dice(pred, target)["1"]
    with pytest.raises(ValueError, match=r"no weight map for label '2'.*\['1'\]"):
        dice(pred, target, pixel_weight={"1": weight_1})
    with pytest.raises(ValueError, match="shape"):
        dice(pred, target, pixel_weight=np.ones(6))
    with pytest.raises(ValueError, match="non-negative"):
        dice(pred, target, pixel_weight=-weight_1)
    with pytest.warns(UndefinedMetricWarning, match="zero pixel weights"):
        assert np.isnan(dice(pred, target, pixel_weight=np.zeros((2, 3)))["1"])


def test_explicit_labels_and_empty_masks() -> None:
    pred = np.array([[0, 2], [2, 0]])
    target = np.array([[0, 0], [1, 0]])
    labels = [1, 2, 3]  # 1: target only, 2: pred only, 3: neither
    assert dice(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    assert iou_jaccard(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    assert overlap(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    with pytest.warns(UndefinedMetricWarning, match="pixel_accuracy of label 2"):
        accuracy = pixel_accuracy(pred, target, labels=labels)
    assert accuracy["1"] == 0.0
    assert np.isnan(accuracy["2"])
    assert accuracy["3"] == 1.0
    # default labels: only those in the target; an empty target scores nothing
    assert dice(pred, target) == {"1": 0.0}
    assert dice(pred, np.zeros((2, 2), dtype=int)) == {}
    assert dice(np.zeros(0), np.zeros(0)) == {}
    # distances: both empty 0.0, one empty undefined
    with pytest.warns(UndefinedMetricWarning) as caught:
        distances = hausdorff_distance(pred, target, labels=labels)
    assert [str(w.message).split(":")[1].strip() for w in caught] == [
        "its prediction mask is empty; returning NaN",
        "its target mask is empty; returning NaN",
    ]
    assert np.isnan(distances["1"])
    assert np.isnan(distances["2"])
    assert distances["3"] == 0.0


def test_bool_integer_and_float_label_maps() -> None:
    x = np.array([[True, False], [True, True]])
    y = np.array([[True, True], [False, True]])
    assert dice(x, y) == dice(x.astype(np.uint8), y.astype(np.int32)) == dice(x.astype(float), y.astype(float))
    assert dice(x, y) == {"1": pytest.approx(2 / 3)}
    # negative labels are labels; far-apart labels take the np.unique path
    assert list(dice(np.array([-1, 0, 500]), np.array([-1, 7, 500]))) == ["-1", "7", "500"]
