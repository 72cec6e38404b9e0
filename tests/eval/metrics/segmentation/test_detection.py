"""Instance segmentation / detection metrics: numpy IoU against pycocotools, FuseMedML's aggregation, empty cases."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuse.eval import (
    SEGMENTATION_TYPES,
    EvaluatorDefault,
    MetricDetectionPrecision,
    MetricDetectionRecall,
    MetricInstanceIouJaccard,
    UndefinedMetricWarning,
    box_iou,
    detection_precision,
    detection_recall,
    instance_iou,
    mask_iou,
    matched_iou,
)


def _coco_mask() -> Any:
    return pytest.importorskip("pycocotools.mask")


def _encode(masks: np.ndarray) -> list[Any]:
    mask_utils = _coco_mask()
    return [mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))) for mask in masks]


def _random_masks(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    """Blobs (a random rectangle with holes), some empty, some overlapping."""
    masks = np.zeros((n, *shape), dtype=bool)
    for index in range(n):
        if rng.random() < 0.15:
            continue  # an empty instance
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        masks[index, y : y + rng.integers(1, shape[0]), x : x + rng.integers(1, shape[1])] = True
        masks[index] &= rng.random(shape) > 0.2
    return masks


def _fusemedml_aggregates(matrices: list[np.ndarray], threshold: float) -> tuple[float, float, float]:
    """FuseMedML's three aggregations, written out per image (only for images where they are defined)."""
    ious, precisions, recalls = [], [], []
    for matrix in matrices:
        best = matrix.max(axis=0) if matrix.size else np.zeros(0)
        matched = best[best > threshold]
        if len(matched):
            ious.append(matched.mean())
        if matrix.shape[0]:
            precisions.append(len(matched) / matrix.shape[0])
        if matrix.shape[1]:
            recalls.append(len(matched) / matrix.shape[1])
    return float(np.mean(ious)), float(np.mean(precisions)), float(np.mean(recalls))


# --- IoU matrices against pycocotools --------------------------------------------------------------------------------


def test_mask_iou_equals_pycocotools_on_random_masks() -> None:
    mask_utils = _coco_mask()
    rng = np.random.default_rng(0)
    for n_pred, n_target, shape in [(5, 4, (23, 17)), (1, 1, (8, 8)), (12, 9, (64, 48)), (70, 3, (16, 16))]:
        pred, target = _random_masks(rng, n_pred, shape), _random_masks(rng, n_target, shape)
        expected = mask_utils.iou(_encode(pred), _encode(target), [0] * n_target)
        np.testing.assert_allclose(mask_iou(pred, target), expected, rtol=0, atol=1e-12)
        # a list of masks works as well as an [n, h, w] array
        np.testing.assert_allclose(mask_iou(list(pred), list(target)), expected, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    pred=hnp.arrays(bool, st.tuples(st.integers(0, 4), st.just(5), st.just(6))),
    target=hnp.arrays(bool, st.tuples(st.integers(0, 4), st.just(5), st.just(6))),
)
def test_mask_iou_property_against_pycocotools(pred: np.ndarray, target: np.ndarray) -> None:
    mask_utils = _coco_mask()
    ious = mask_iou(pred, target)
    assert ious.shape == (len(pred), len(target))
    if len(pred) and len(target):
        np.testing.assert_allclose(ious, mask_utils.iou(_encode(pred), _encode(target), [0] * len(target)), atol=1e-12)
    # the definition, pair by pair
    for i, p in enumerate(pred):
        for j, t in enumerate(target):
            union = (p | t).sum()
            assert ious[i, j] == pytest.approx((p & t).sum() / union if union else 0.0)


def test_box_iou_equals_pycocotools_on_random_boxes() -> None:
    mask_utils = _coco_mask()
    rng = np.random.default_rng(1)
    pred = np.c_[rng.uniform(0, 50, (40, 2)), rng.uniform(0, 20, (40, 2))]
    target = np.c_[rng.uniform(0, 50, (30, 2)), rng.uniform(0, 20, (30, 2))]
    pred[:3, 2] = 0  # zero-area boxes
    target[0] = pred[5]  # an identical box
    target[1] = [pred[6, 0] + pred[6, 2], pred[6, 1], 3, 3]  # touching: no overlap
    expected = mask_utils.iou(pred, target, [0] * len(target))
    np.testing.assert_allclose(box_iou(pred, target), expected, rtol=0, atol=1e-12)
    assert box_iou(pred, target)[5, 0] == 1.0
    assert box_iou(pred, target)[6, 1] == 0.0


def test_instance_iou_hand_cases() -> None:
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 2, 2]]).tolist() == [[1 / 7]]
    assert box_iou([], [[0, 0, 1, 1]]).shape == (0, 1)
    assert box_iou(np.zeros((2, 4)), []).shape == (2, 0)
    a = np.zeros((3, 4), dtype=int)
    a[0, :2] = 1
    b = np.zeros((3, 4), dtype=int)
    b[0, 1:3] = 7  # any non-zero value is inside
    assert mask_iou([a], [b]).tolist() == [[1 / 3]]
    assert mask_iou([np.zeros((3, 4))], [np.zeros((3, 4))]).tolist() == [[0.0]]  # empty instances match nothing
    assert mask_iou([], [a]).shape == (0, 1)
    # 3-D instance masks (volumes) with numpy
    cube = np.zeros((4, 4, 4), dtype=bool)
    cube[:2, :2, :2] = True
    assert mask_iou([cube], [cube, np.roll(cube, 1, axis=2)]).tolist() == [[1.0, 1 / 3]]


def test_coco_formats_equal_pycocotools() -> None:
    mask_utils = _coco_mask()
    rng = np.random.default_rng(2)
    height, width = 30, 40
    target = _random_masks(rng, 4, (height, width))
    pred = _random_masks(rng, 3, (height, width))
    expected = mask_utils.iou(_encode(pred), _encode(target), [0] * 4)
    compressed = _encode(pred)
    as_str = [{"size": rle["size"], "counts": rle["counts"].decode()} for rle in compressed]
    uncompressed = [_uncompressed_rle(mask) for mask in target]
    np.testing.assert_allclose(instance_iou(compressed, target, "compressed_RLE", "pixel_map"), expected)
    np.testing.assert_allclose(instance_iou(as_str, target, "compressed_RLE", "pixel_map"), expected)
    np.testing.assert_allclose(instance_iou(pred, uncompressed, "pixel_map", "uncompressed_RLE"), expected)
    np.testing.assert_allclose(
        instance_iou(pred, uncompressed, "pixel_map", "uncompressed_RLE", height=height, width=width), expected
    )
    # FuseMedML scored uncompressed-RLE targets as crowd regions (intersection / prediction area): not the IoU
    crowd = mask_utils.iou(_encode(pred), _encode(target), [1] * 4)
    assert not np.allclose(crowd, expected)

    polygons = [[[2, 2, 20, 2, 20, 12, 2, 12]], [[5, 5, 30, 5, 30, 25], [32, 1, 38, 1, 38, 8, 32, 8]]]
    rles = [mask_utils.merge(mask_utils.frPyObjects(polygon, height, width)) for polygon in polygons]
    polygon_expected = mask_utils.iou(rles, _encode(target), [0] * 4)
    np.testing.assert_allclose(
        instance_iou(polygons, target, "polygon", "pixel_map", height=height, width=width), polygon_expected
    )
    flat = [polygons[0][0]]  # one flat polygon per instance is accepted too
    np.testing.assert_allclose(
        instance_iou(flat, target, "polygon", "pixel_map", height=height, width=width), polygon_expected[:1]
    )
    assert instance_iou([], target, "compressed_RLE", "pixel_map").shape == (0, 4)


def _uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE: alternating run lengths of 0s and 1s in column-major order, starting with 0s."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate(([0], flat, [1 - flat[-1]]))))
    counts = np.diff(np.concatenate(([0], changes))).tolist()
    return {"size": list(mask.shape), "counts": counts}


# --- aggregation ------------------------------------------------------------------------------------------------------


def test_aggregation_hand_cases() -> None:
    matrices = [
        np.array([[0.9, 0.2, 0.0], [0.1, 0.6, 0.0]]),  # 2 preds, 3 targets, 2 matched (0.9, 0.6)
        np.array([[0.7], [0.8]]),  # a duplicate detection: 1 target matched by 2 preds (best 0.8)
        np.array([[0.5]]),  # not above the threshold (strict)
    ]
    assert matched_iou(matrices) == pytest.approx(np.mean([0.75, 0.8]))
    assert detection_precision(matrices) == pytest.approx(np.mean([2 / 2, 1 / 2, 0]))
    assert detection_recall(matrices) == pytest.approx(np.mean([2 / 3, 1 / 1, 0]))
    assert detection_recall(matrices, threshold=0.45) == pytest.approx(np.mean([2 / 3, 1, 1]))
    # FuseMedML's precision counts matched targets: one box over two targets, with a low threshold, exceeds 1
    assert detection_precision([np.array([[0.3, 0.3]])], threshold=0.2) == 2.0


def test_empty_images_are_defined_or_skipped() -> None:
    no_preds, no_targets, nothing = np.zeros((0, 2)), np.zeros((3, 0)), np.zeros((0, 0))
    hit = np.array([[0.8]])
    # an image with targets but no predictions: recall 0, precision undefined (skipped), no matched IoU
    assert detection_recall([no_preds, hit]) == 0.5
    assert detection_precision([no_preds, hit]) == 1.0
    # an image with predictions but no targets: precision 0, recall undefined (skipped)
    assert detection_precision([no_targets, hit]) == 0.5
    assert detection_recall([no_targets, hit]) == 1.0
    assert matched_iou([no_preds, no_targets, nothing, hit]) == 0.8
    for aggregate in (matched_iou, detection_precision, detection_recall):
        with pytest.warns(UndefinedMetricWarning, match="undefined"):
            assert np.isnan(aggregate([nothing]))
        with pytest.warns(UndefinedMetricWarning):
            assert np.isnan(aggregate([]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(matched_iou([np.array([[0.2]])]))  # nothing matched
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(detection_precision([no_preds]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(detection_recall([no_targets]))


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"segmentation_pred_type must be one of \['pixel_map'.*'bbox'\], got 'mask'"):
        instance_iou([], [], "mask", "bbox")
    with pytest.raises(ValueError, match="segmentation_target_type must be one of"):
        MetricInstanceIouJaccard("pred", "target", "bbox", "RLE")
    with pytest.raises(ValueError, match="boxes cannot be compared with masks"):
        MetricDetectionRecall("pred", "target", "bbox", "pixel_map")
    for threshold in (1.5, -0.1, None, "0.5"):
        with pytest.raises(ValueError, match="threshold must be a number in"):
            MetricDetectionPrecision("pred", "target", "bbox", "bbox", threshold=threshold)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="height must be a key"):
        MetricInstanceIouJaccard("pred", "target", "bbox", "bbox", height=-3)
    with pytest.raises(ValueError, match=r"same shape, got \(3, 3\) and \(4, 4\)"):
        mask_iou([np.ones((3, 3))], [np.ones((4, 4))])
    with pytest.raises(ValueError, match=r"got an array of shape \(3, 3\)"):
        mask_iou(np.ones((3, 3)), [np.ones((3, 3))])  # one mask, not a sequence of masks
    with pytest.raises(ValueError, match=r"w, h >= 0, got \[\[0.0, 0.0, -1.0, 2.0\]\]"):
        box_iou([[0, 0, -1, 2]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"\[n, 4\] array\), got shape \(1, 3\)"):
        box_iou([[0, 0, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="matrix, got shape"):
        matched_iou([np.zeros(3)])


def test_coco_format_errors() -> None:
    _coco_mask()
    with pytest.raises(ValueError, match="polygons need the image size"):
        instance_iou([[[0, 0, 4, 0, 4, 4]]], [np.ones((5, 5))], "polygon", "pixel_map")
    with pytest.raises(ValueError, match="at least 3"):
        instance_iou([[[0, 0, 4, 0]]], [np.ones((5, 5))], "polygon", "pixel_map", height=5, width=5)
    with pytest.raises(ValueError, match="dicts with 'size' and 'counts'"):
        instance_iou([[1, 2]], [np.ones((5, 5))], "compressed_RLE", "pixel_map")
    with pytest.raises(ValueError, match=r"same image size.*\(5, 5\), \(6, 6\)"):
        instance_iou(_encode(np.ones((1, 5, 5))), [np.ones((6, 6))], "compressed_RLE", "pixel_map")


def test_missing_pycocotools_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(ImportError, match=r'pip install "fuse-eval\[coco\]"'):
        MetricInstanceIouJaccard("pred", "target", "compressed_RLE", "polygon")
    with pytest.raises(ImportError, match=r'pip install "fuse-eval\[coco\]"'):
        instance_iou([], [], "uncompressed_RLE", "pixel_map")
    # numpy formats need nothing
    assert instance_iou([[0, 0, 1, 1]], [[0, 0, 1, 1]], "bbox", "bbox").tolist() == [[1.0]]
    assert SEGMENTATION_TYPES == ("pixel_map", "uncompressed_RLE", "compressed_RLE", "polygon", "bbox")


# --- metrics through the evaluator -------------------------------------------------------------------------------------


def _fake_coco() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """A COCO-like ground truth (images, annotations with bbox + polygon) and detections, for 2 categories."""
    rng = np.random.default_rng(3)
    images = [{"id": image_id, "height": 60 + 10 * image_id, "width": 80} for image_id in range(1, 7)]
    annotations, detections = [], []
    for image in images:
        for category in (1, 2):
            for _ in range(int(rng.integers(0, 4))):
                x, y = float(rng.uniform(0, 50)), float(rng.uniform(0, 30))
                w, h = float(rng.uniform(5, 25)), float(rng.uniform(5, 25))
                polygon = [x, y, x + w, y, x + w, y + h, x + w / 2, y + h * 1.2]
                annotations.append(
                    {"image_id": image["id"], "category_id": category, "bbox": [x, y, w, h], "segmentation": [polygon]}
                )
                if rng.random() < 0.8:  # detected, shifted a little
                    dx, dy = rng.uniform(-4, 4, 2)
                    shifted = [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(polygon)]
                    detections.append(
                        {
                            "image_id": image["id"],
                            "category_id": category,
                            "bbox": [x + dx, y + dy, w, h],
                            "poly": [shifted],
                        }
                    )
            if rng.random() < 0.5:  # a false positive
                detections.append(
                    {
                        "image_id": image["id"],
                        "category_id": category,
                        "bbox": [70.0, 50.0, 9.0, 9.0],
                        "poly": [[70, 50, 79, 50, 79, 59]],
                    }
                )
    return images, annotations, detections


def _samples(category: int) -> Iterator[dict[str, Any]]:
    """example_seg_4's iterator: one sample per image with its size and per-format instance lists."""
    mask_utils = _coco_mask()
    images, annotations, detections = _fake_coco()
    for image in images:
        height, width = image["height"], image["width"]
        targets = [a for a in annotations if a["image_id"] == image["id"] and a["category_id"] == category]
        preds = [d for d in detections if d["image_id"] == image["id"] and d["category_id"] == category]
        # COCO's loadRes turns result polygons into compressed RLEs (example_seg_4's pred type)
        pred_rles = [mask_utils.merge(mask_utils.frPyObjects(d["poly"], height, width)) for d in preds]
        yield {
            "id": image["id"],
            "height": height,
            "width": width,
            "pred": {"bbox": [d["bbox"] for d in preds], "polygon": pred_rles},
            "label": {"bbox": [a["bbox"] for a in targets], "polygon": [a["segmentation"] for a in targets]},
        }


def test_fake_coco_set_through_the_evaluator() -> None:
    mask_utils = _coco_mask()
    metrics: dict[str, Any] = {}
    for category in (1, 2):
        for kind, pred_type in (("bbox", "bbox"), ("polygon", "compressed_RLE")):
            args = ("pred." + kind, "label." + kind, pred_type, kind, "height", "width")
            metrics[f"iou_{kind}_{category}"] = MetricInstanceIouJaccard(*args)
            metrics[f"recall_{kind}_{category}"] = MetricDetectionRecall(*args)
            metrics[f"precision_{kind}_{category}"] = MetricDetectionPrecision(*args)
    for category in (1, 2):
        data = list(_samples(category))
        category_metrics = {name: metric for name, metric in metrics.items() if name.endswith(f"_{category}")}
        results = EvaluatorDefault().eval(ids=None, data=iter(data), metrics=category_metrics, batch_size=1)
        for kind in ("bbox", "polygon"):
            matrices = []
            for sample in data:
                preds, targets = sample["pred"][kind], sample["label"][kind]
                if kind == "polygon":  # pycocotools directly, as FuseMedML
                    h, w = sample["height"], sample["width"]
                    targets = [mask_utils.merge(mask_utils.frPyObjects(t, h, w)) for t in targets]
                result = mask_utils.iou(preds, targets, [0] * len(targets)) if preds and targets else []
                matrices.append(np.asarray(result, dtype=float).reshape(len(preds), len(targets)))
            iou, precision, recall = _fusemedml_aggregates(matrices, 0.5)
            assert results[f"metrics.iou_{kind}_{category}"] == pytest.approx(iou, abs=1e-12)
            assert results[f"metrics.precision_{kind}_{category}"] == pytest.approx(precision, abs=1e-12)
            assert results[f"metrics.recall_{kind}_{category}"] == pytest.approx(recall, abs=1e-12)
            assert 0 < recall < 1  # the set exercises misses ...
            assert 0 < precision < 1  # ... and false positives


def test_pixel_maps_from_a_dataframe_with_constant_size_and_id_subsets() -> None:
    import pandas as pd

    rng = np.random.default_rng(4)
    rows = []
    for image_id in ["a", "b", "c", "d"]:
        target = _random_masks(rng, int(rng.integers(1, 4)), (20, 20))
        pred = [np.roll(mask, int(rng.integers(0, 3)), axis=1) for mask in target][: int(rng.integers(0, 4))]
        rows.append({"id": image_id, "pred": pred, "target": list(target)})
    rows.append({"id": "e", "pred": [np.ones((20, 20))], "target": []})  # no target: precision 0, recall skipped
    frame = pd.DataFrame(rows)
    metrics = {
        "iou": MetricInstanceIouJaccard("pred", "target", "pixel_map", "pixel_map", height=20, width=20),
        "precision": MetricDetectionPrecision("pred", "target", "pixel_map", "pixel_map", threshold=0.3),
        "recall": MetricDetectionRecall("pred", "target", "pixel_map", "pixel_map", threshold=0.3),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    matrices = {row["id"]: mask_iou(row["pred"], row["target"]) for row in rows}
    iou, _, _ = _fusemedml_aggregates(list(matrices.values()), 0.5)
    _, precision, recall = _fusemedml_aggregates(list(matrices.values()), 0.3)
    assert results["metrics.iou"] == pytest.approx(iou)
    assert results["metrics.precision"] == pytest.approx(precision)
    assert results["metrics.recall"] == pytest.approx(recall)
    # per-image matrices are stored, so subsets and resamples (bootstraps, groups) re-aggregate them
    subset = ["c", "a", "a", "e"]
    _, precision, recall = _fusemedml_aggregates([matrices[i] for i in subset], 0.3)
    assert metrics["precision"].eval(ids=subset) == pytest.approx(precision)
    assert metrics["recall"].eval(ids=subset) == pytest.approx(recall)
