"""Instance segmentation and detection metrics: matched-instance IoU, detection precision and recall.

FuseMedML's ``MetricInstanceIouJaccard``, ``MetricDetectionPrecision`` and ``MetricDetectionRecall`` with the same
names and arguments. For every image (sample) the IoU matrix between its predicted and target instances is computed
while collecting (``[n_pred, n_target]``), then aggregated:

- **matched IoU**: the mean, over the targets whose best IoU with any prediction is ``> threshold``, of that best
  IoU; then the mean over images. Images where no target is matched (no targets, no predictions, or no overlap
  above the threshold) do not contribute.
- **recall**: ``#targets whose best IoU > threshold / #targets``; an image without targets is undefined and does
  not contribute (an image with targets and no predictions has recall 0).
- **precision**: ``#targets whose best IoU > threshold / #predictions`` (FuseMedML's definition: it counts matched
  *targets*, so duplicate detections of one target lower the precision; with ``threshold < 0.5`` one prediction
  can match several overlapping targets and the ratio can exceed 1). An image without predictions is undefined
  and does not contribute (an image with predictions and no targets has precision 0).

When no image contributes, the result is NaN with an :class:`~fuse.eval.UndefinedMetricWarning`.

Instance formats (``segmentation_pred_type`` / ``segmentation_target_type``), as in COCO:

- ``pixel_map``: one mask per instance (a sequence of equal-shape arrays, or one ``[n, ...]`` array); non-zero
  pixels belong to the instance. Computed with numpy, for masks of any dimension (2-D or 3-D).
- ``bbox``: one ``[x, y, w, h]`` box per instance (a ``[n, 4]`` array or sequence). Computed with numpy.
- ``uncompressed_RLE`` (``{"size": [h, w], "counts": [int, ...]}``), ``compressed_RLE`` (``{"size", "counts":
  bytes | str}``) and ``polygon`` (``[[x0, y0, x1, y1, ...], ...]`` per instance): decoded and compared with
  pycocotools (``pip install "fuse-eval[coco]"``); 2-D only. ``polygon`` needs ``height`` and ``width``.

Boxes cannot be compared with masks. The numpy results equal pycocotools' ``maskUtils.iou``: an empty mask or a
zero-area box has IoU 0 with everything.

Compatibility: FuseMedML's detection metrics, with RLE targets scored by true IoU (not as crowd regions); see
docs/migration.md.
"""

from __future__ import annotations

import functools
import importlib
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._metric_base import MetricPerSampleDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel

__all__ = [
    "MetricInstanceIouJaccard",
    "MetricDetectionPrecision",
    "MetricDetectionRecall",
    "mask_iou",
    "box_iou",
    "instance_iou",
    "matched_iou",
    "detection_precision",
    "detection_recall",
    "SEGMENTATION_TYPES",
]


SEGMENTATION_TYPES: tuple[str, ...] = ("pixel_map", "uncompressed_RLE", "compressed_RLE", "polygon", "bbox")


_COCO_TYPES = ("uncompressed_RLE", "compressed_RLE", "polygon")


def mask_iou(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """IoU matrix ``[n_pred, n_target]`` between instance masks (non-zero = inside), vectorised.

    :param pred: the predicted instances: a sequence of equal-shape masks (2-D or more), or one ``[n, ...]`` array.
    :param target: the target instances, in the same form and with the same mask shape.

    >>> square = np.zeros((4, 4), dtype=bool)
    >>> square[:2, :2] = True
    >>> mask_iou([square, ~square], [np.roll(square, 1, axis=1)]).round(3).tolist()
    [[0.333], [0.143]]
    """
    pred_masks = _as_masks(pred, "pred")
    target_masks = _as_masks(target, "target")
    if len(pred_masks) and len(target_masks) and pred_masks.shape[1:] != target_masks.shape[1:]:
        raise ValueError(
            f"pred and target masks must have the same shape, got {pred_masks.shape[1:]} and {target_masks.shape[1:]}"
        )
    flat_pred = pred_masks.reshape(len(pred_masks), int(np.prod(pred_masks.shape[1:])))
    flat_target = target_masks.reshape(len(target_masks), int(np.prod(target_masks.shape[1:])))
    ious = np.zeros((len(flat_pred), len(flat_target)))
    if not ious.size:
        return ious
    # only pixels inside some prediction and some target can be in an intersection
    overlap = np.flatnonzero(flat_pred.any(axis=0) & flat_target.any(axis=0))
    if not len(overlap):
        return ious
    # pixels with the same instance memberships are counted together: intersection = sum over (pred pattern,
    # target pattern) pairs of count * outer(pred pattern, target pattern)
    pred_ids, pred_patterns = _membership_patterns(flat_pred, overlap)
    target_ids, target_patterns = _membership_patterns(flat_target, overlap)
    n_target_patterns = len(target_patterns)
    pairs, counts = np.unique(pred_ids * n_target_patterns + target_ids, return_counts=True)
    weighted = pred_patterns[pairs // n_target_patterns] * counts[:, None].astype(float)
    intersection = weighted.T @ target_patterns[pairs % n_target_patterns]
    pred_area = flat_pred.sum(axis=1, dtype=np.int64).astype(float)
    target_area = flat_target.sum(axis=1, dtype=np.int64).astype(float)
    union = pred_area[:, None] + target_area[None, :] - intersection
    np.divide(intersection, union, out=ious, where=intersection > 0)
    return ious


def _membership_patterns(masks: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``pixels`` (flat indices), the id of each pixel's instance-membership pattern, and the patterns
    (``[n_patterns, n_instances]`` 0/1 floats). Memberships are packed 64 instances per word, then numbered.
    """
    n_instances = len(masks)
    words = np.zeros(((n_instances + 63) // 64, len(pixels)), dtype=np.uint64)  # memory ~ the overlap only
    for index in range(n_instances):
        words[index // 64] |= masks[index][pixels].astype(np.uint64) << np.uint64(index % 64)
    ids = np.zeros(len(pixels), dtype=np.int64)
    first = np.zeros(1, dtype=np.int64)
    for word in words:
        _, word_ids = np.unique(word, return_inverse=True)
        _, first, ids = np.unique(ids * (int(word_ids.max()) + 1) + word_ids, return_index=True, return_inverse=True)
    patterns: np.ndarray = masks[:, pixels[first]].T.astype(float)
    return ids.reshape(-1), patterns


def box_iou(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """IoU matrix ``[n_pred, n_target]`` between ``[x, y, w, h]`` boxes (COCO ``bbox``), vectorised.

    >>> box_iou([[0, 0, 2, 2], [1, 1, 2, 2]], [[0, 0, 2, 2], [5, 5, 1, 1]]).round(4).tolist()
    [[1.0, 0.0], [0.1429, 0.0]]
    """
    pred_boxes = _as_boxes(pred, "pred")
    target_boxes = _as_boxes(target, "target")
    p, t = pred_boxes[:, None, :], target_boxes[None, :, :]
    width = np.minimum(p[..., 0] + p[..., 2], t[..., 0] + t[..., 2]) - np.maximum(p[..., 0], t[..., 0])
    height = np.minimum(p[..., 1] + p[..., 3], t[..., 1] + t[..., 3]) - np.maximum(p[..., 1], t[..., 1])
    intersection = np.where((width > 0) & (height > 0), width * height, 0.0)
    union = p[..., 2] * p[..., 3] + t[..., 2] * t[..., 3] - intersection
    ious = np.zeros(intersection.shape)
    np.divide(intersection, union, out=ious, where=intersection > 0)
    # the corner arithmetic can round an identical pair to 1 + 1 ulp (pycocotools returns that too)
    clipped: np.ndarray = np.minimum(ious, 1.0)
    return clipped


def instance_iou(
    pred: Any,
    target: Any,
    segmentation_pred_type: str = "pixel_map",
    segmentation_target_type: str = "pixel_map",
    height: int | None = None,
    width: int | None = None,
) -> np.ndarray:
    """IoU matrix ``[n_pred, n_target]`` between the instances of one image, in any of :data:`SEGMENTATION_TYPES`.

    ``pixel_map`` and ``bbox`` pairs are computed with numpy; the RLE and polygon formats need pycocotools.

    :param height: the image height, needed for ``polygon`` (and for ``uncompressed_RLE`` without a ``size``).
    :param width: the image width, likewise.

    >>> instance_iou([[0, 0, 4, 4]], [[2, 0, 4, 4], [0, 0, 4, 2]], "bbox", "bbox").tolist()
    [[0.3333333333333333, 0.5]]
    """
    _check_types(segmentation_pred_type, segmentation_target_type)
    if segmentation_pred_type == segmentation_target_type == "bbox":
        return box_iou(pred, target)
    if segmentation_pred_type == segmentation_target_type == "pixel_map":
        return mask_iou(pred, target)
    mask_utils = _coco_mask()
    pred_rles = _to_rles(mask_utils, pred, segmentation_pred_type, height, width, "pred")
    target_rles = _to_rles(mask_utils, target, segmentation_target_type, height, width, "target")
    if not pred_rles or not target_rles:
        return np.zeros((len(pred_rles), len(target_rles)))
    sizes = {tuple(int(n) for n in rle["size"]) for rle in [*pred_rles, *target_rles]}
    if len(sizes) > 1:
        raise ValueError(
            f"pred and target instances must have the same image size (height, width), got {sorted(sizes)}"
        )
    # iscrowd=0 for every target: the IoU (FuseMedML treated uncompressed RLE targets as crowd regions)
    ious: np.ndarray = np.asarray(mask_utils.iou(pred_rles, target_rles, [0] * len(target_rles)), dtype=float)
    return ious.reshape(len(pred_rles), len(target_rles))


def matched_iou(iou_matrices: Iterable[np.ndarray], threshold: float = 0.5) -> float:
    """FuseMedML's instance IoU: per image, the mean best IoU of the targets matched above ``threshold`` (strict);
    then the mean over the images with a matched target.

    :param iou_matrices: one ``[n_pred, n_target]`` IoU matrix per image (see :func:`instance_iou`).

    >>> matched_iou([np.array([[0.9, 0.2], [0.1, 0.4]]), np.array([[0.6]])])
    0.75
    """
    counts = _match_counts(iou_matrices, threshold)
    defined = counts["matched"] > 0
    return _mean_over_images(counts["matched_iou_sum"][defined] / counts["matched"][defined], "matched IoU")


def detection_precision(iou_matrices: Iterable[np.ndarray], threshold: float = 0.5) -> float:
    """FuseMedML's detection precision: per image ``#targets matched above threshold / #predictions``; then the mean
    over the images with predictions.

    >>> detection_precision([np.array([[0.9, 0.2], [0.1, 0.4]]), np.zeros((3, 0))])
    0.25
    """
    counts = _match_counts(iou_matrices, threshold)
    defined = counts["pred"] > 0
    return _mean_over_images(counts["matched"][defined] / counts["pred"][defined], "detection precision")


def detection_recall(iou_matrices: Iterable[np.ndarray], threshold: float = 0.5) -> float:
    """FuseMedML's detection recall: per image ``#targets matched above threshold / #targets``; then the mean over
    the images with targets.

    >>> detection_recall([np.array([[0.9, 0.2], [0.1, 0.4]]), np.zeros((0, 2))])
    0.25
    """
    counts = _match_counts(iou_matrices, threshold)
    defined = counts["target"] > 0
    return _mean_over_images(counts["matched"][defined] / counts["target"][defined], "detection recall")


def _match_counts(iou_matrices: Iterable[np.ndarray], threshold: float) -> dict[str, np.ndarray]:
    """Per image: #predictions, #targets, #matched targets, and the sum of the matched targets' best IoUs."""
    _check_threshold(threshold)
    rows: list[tuple[int, int, int, float]] = []
    for index, matrix in enumerate(iou_matrices):
        ious = np.asarray(matrix, dtype=float)
        if ious.ndim != 2:
            raise ValueError(f"image {index}: expected a 2-d [n_pred, n_target] IoU matrix, got shape {ious.shape}")
        n_pred, n_target = ious.shape
        best = ious.max(axis=0) if n_pred and n_target else np.zeros(0)
        matched = best[best > threshold]
        rows.append((n_pred, n_target, len(matched), float(matched.sum())))
    table = np.array(rows, dtype=float).reshape(-1, 4)
    return {"pred": table[:, 0], "target": table[:, 1], "matched": table[:, 2], "matched_iou_sum": table[:, 3]}


def _mean_over_images(values: np.ndarray, what: str) -> float:
    if not len(values):
        warnings.warn(
            f"{what} is undefined: no image qualifies; returning NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        return float("nan")
    return float(np.mean(values))


def _as_masks(masks: Any, what: str) -> np.ndarray:
    """Instance masks as one boolean ``[n, ...]`` array (``n`` may be 0)."""
    if isinstance(masks, np.ndarray) and masks.dtype != object:
        array = masks
        if array.size == 0 and array.ndim <= 1:
            return np.zeros((0, 0, 0), dtype=bool)
    else:
        items = list(masks)
        if not items:
            return np.zeros((0, 0, 0), dtype=bool)
        shapes = {np.shape(item) for item in items}
        if len(shapes) > 1:
            raise ValueError(f"{what} instance masks must all have the same shape, got {sorted(shapes)}")
        array = np.stack([np.asarray(item) for item in items])
    if array.ndim < 3:
        raise ValueError(
            f"{what} must be a sequence of instance masks (each 2-D or more) or an [n, height, width(, ...)] array, "
            f"got an array of shape {array.shape}"
        )
    nonzero: np.ndarray = array != 0
    return nonzero


def _as_boxes(boxes: Any, what: str) -> np.ndarray:
    """Boxes as a float ``[n, 4]`` array of ``[x, y, w, h]``."""
    items = boxes if isinstance(boxes, np.ndarray) and boxes.dtype != object else list(boxes)
    array = np.asarray(items, dtype=float)
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what} boxes must be [x, y, w, h] rows (an [n, 4] array), got shape {array.shape}")
    bad = ~np.isfinite(array).all(axis=1) | (array[:, 2] < 0) | (array[:, 3] < 0)
    if bad.any():
        raise ValueError(
            f"{what} boxes must be finite [x, y, w, h] with w, h >= 0, got {array[bad][:3].tolist()}; "
            "COCO boxes are [x, y, width, height], not corner coordinates"
        )
    return array


def _to_rles(mask_utils: ModuleType, objects: Any, kind: str, height: int | None, width: int | None, what: str) -> Any:
    """Instances in ``kind`` format -> a list of COCO compressed RLEs (pycocotools)."""
    items = list(objects)
    if kind == "compressed_RLE":
        for item in items:
            _check_rle(item, what, kind)
        return items
    if kind == "uncompressed_RLE":
        rles = []
        for item in items:
            _check_rle(item, what, kind)
            h, w = (height, width) if height is not None and width is not None else item["size"]
            rles.append(mask_utils.frPyObjects(dict(item), int(h), int(w)))
        return rles
    if kind == "polygon":
        if height is None or width is None:
            raise ValueError(
                f"{what} polygons need the image size: pass height and width (keys or integers), got "
                f"height={height!r}, width={width!r}"
            )
        return [
            mask_utils.merge(mask_utils.frPyObjects(_polygon(item, what), int(height), int(width))) for item in items
        ]
    masks = _as_masks(items, what)  # pixel_map
    if masks.ndim != 3:
        raise ValueError(f"{what} pixel maps compared with COCO formats must be 2-D, got shape {masks.shape[1:]}")
    return [mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))) for mask in masks]


def _check_rle(item: Any, what: str, kind: str) -> None:
    if not isinstance(item, Mapping) or "size" not in item or "counts" not in item:
        raise ValueError(f"{what} instances of type {kind!r} must be dicts with 'size' and 'counts', got {item!r:.80}")


def _polygon(item: Any, what: str) -> list[list[float]]:
    """One instance's polygons as a list of flat ``[x0, y0, x1, y1, ...]`` lists (a single flat list is accepted)."""
    polygons = [item] if len(item) and isinstance(item[0], numbers.Real) else list(item)
    result = [[float(v) for v in polygon] for polygon in polygons]
    if not result or any(len(polygon) < 6 or len(polygon) % 2 for polygon in result):
        raise ValueError(f"{what} polygons must be lists of at least 3 (x, y) points, got {item!r:.80}")
    return result


def _coco_mask() -> ModuleType:
    try:
        return importlib.import_module("pycocotools.mask")
    except ImportError:
        raise ImportError(
            f'segmentation types {", ".join(_COCO_TYPES)} need pycocotools: pip install "fuse-eval[coco]"'
        ) from None


def _check_types(segmentation_pred_type: str, segmentation_target_type: str) -> None:
    for name, value in (
        ("segmentation_pred_type", segmentation_pred_type),
        ("segmentation_target_type", segmentation_target_type),
    ):
        if value not in SEGMENTATION_TYPES:
            raise ValueError(f"{name} must be one of {list(SEGMENTATION_TYPES)}, got {value!r}")
    if (segmentation_pred_type == "bbox") != (segmentation_target_type == "bbox"):
        raise ValueError(
            f"boxes cannot be compared with masks: segmentation_pred_type={segmentation_pred_type!r}, "
            f"segmentation_target_type={segmentation_target_type!r}; use 'bbox' for both or for neither"
        )


def _check_threshold(threshold: Any) -> None:
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool) or not 0 <= float(threshold) <= 1:
        raise ValueError(f"threshold must be a number in [0, 1] (IoU above it is a match), got {threshold!r}")


class _MetricInstanceBase(MetricPerSampleDefault):
    """Computes each image's IoU matrix while collecting, and aggregates the matrices with ``aggregate``."""

    _aggregate: ClassVar[Callable[..., Any]]  # per-image IoU matrices -> the metric (set by each subclass)

    def __init__(
        self,
        pred: str,
        target: str,
        segmentation_pred_type: str,
        segmentation_target_type: str,
        height: str | int | None = None,
        width: str | int | None = None,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        _check_types(segmentation_pred_type, segmentation_target_type)
        _check_threshold(threshold)
        if segmentation_pred_type in _COCO_TYPES or segmentation_target_type in _COCO_TYPES:
            _coco_mask()  # fail now, not while collecting
        size_keys: dict[str, str] = {}
        size_constants: dict[str, int] = {}
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, str):
                size_keys[name] = value
            elif isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0:
                size_constants[name] = int(value)
            elif value is not None:
                raise ValueError(f"{name} must be a key (str), a positive integer or None, got {value!r}")
        per_sample = functools.partial(
            instance_iou,
            segmentation_pred_type=segmentation_pred_type,
            segmentation_target_type=segmentation_target_type,
            **size_constants,
        )
        super().__init__(
            pred=pred,
            target=target,
            metric_per_sample_func=per_sample,
            result_aggregate_func=functools.partial(type(self)._aggregate, threshold=threshold),
            **size_keys,
            **kwargs,
        )


class MetricInstanceIouJaccard(_MetricInstanceBase):
    """Mean IoU of the matched target instances (see :func:`matched_iou`), FuseMedML's ``MetricInstanceIouJaccard``.

    :param pred: key of each image's predicted instances.
    :param target: key of each image's target instances.
    :param segmentation_pred_type: the format of ``pred``, one of :data:`SEGMENTATION_TYPES`.
    :param segmentation_target_type: the format of ``target``.
    :param height: key (or constant) of the image height; needed for ``polygon``.
    :param width: key (or constant) of the image width; needed for ``polygon``.
    :param threshold: a target is matched when its best IoU is above it (strict).

    >>> metric = MetricInstanceIouJaccard("pred", "target", "bbox", "bbox")
    >>> metric.collect({"id": [0, 1], "pred": [[[0, 0, 4, 4]], [[0, 0, 2, 2]]], "target": [[[0, 0, 4, 3]], [[9, 9, 1, 1]]]})
    >>> metric.eval()
    0.75
    """

    _aggregate = staticmethod(matched_iou)


class MetricDetectionPrecision(_MetricInstanceBase):
    """Detection precision (see :func:`detection_precision`), FuseMedML's ``MetricDetectionPrecision``. Arguments as
    :class:`MetricInstanceIouJaccard`.

    >>> metric = MetricDetectionPrecision("pred", "target", "bbox", "bbox")
    >>> metric.collect({"id": [0], "pred": [[[0, 0, 4, 4], [8, 8, 2, 2]]], "target": [[[0, 0, 4, 3]]]})
    >>> metric.eval()
    0.5
    """

    _aggregate = staticmethod(detection_precision)


class MetricDetectionRecall(_MetricInstanceBase):
    """Detection recall (see :func:`detection_recall`), FuseMedML's ``MetricDetectionRecall``. Arguments as
    :class:`MetricInstanceIouJaccard`.

    >>> metric = MetricDetectionRecall("pred", "target", "bbox", "bbox")
    >>> metric.collect({"id": [0], "pred": [[[0, 0, 4, 4]]], "target": [[[0, 0, 4, 3], [8, 8, 2, 2]]]})
    >>> metric.eval()
    0.5
    """

    _aggregate = staticmethod(detection_recall)
