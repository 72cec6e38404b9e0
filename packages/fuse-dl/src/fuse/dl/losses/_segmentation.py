"""The segmentation losses' shared plumbing, and the cross-entropy of a label map.

The batch-dict losses (:class:`LossSegmentationCrossEntropy`, ``DiceLoss``, ``FocalLoss``) take the keys
of the prediction (logits, ``[B, C, *spatial]``) and of the target, a scalar ``weight`` and a ``preprocess_func``
like :class:`~fuse.dl.LossDefault`; their ``compute(pred, target)`` method gives the same loss (without ``weight``)
from two tensors. A ground-truth map whose spatial size differs from the prediction's is resized to it by nearest
neighbour, so integer labels stay labels. They compute in float32 (float64 for float64 logits), also under
bf16/fp16 autocast.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value
from fuse.dl.losses._base import LossBase, _preprocess, _require_callable, _require_key, _weighted

__all__ = ["LossSegmentationCrossEntropy"]

_RESIZE_MODES = ("nearest", "nearest-exact")
_BAD_LABELS_SHOWN = 5


def _check_resize_mode(resize_mode: str | None, who: str) -> str | None:
    if resize_mode is not None and resize_mode not in _RESIZE_MODES:
        raise ValueError(f"{who}: resize_mode must be one of {_RESIZE_MODES} or None, got {resize_mode!r}")
    return resize_mode


def _check_number(value: object, who: str, name: str, minimum: float = 0.0, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        raise ValueError(f"{who}: {name} must be a number in [{minimum}, {maximum}], got {value!r}")
    return float(value)


def _per_class_vector(values: Sequence[float] | torch.Tensor | None, who: str, name: str) -> torch.Tensor | None:
    """``values`` as a 1-D float64 tensor of finite values >= 0 (on the CPU), or ``None``."""
    if values is None:
        return None
    try:
        vector = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{who}: {name} must be a sequence of numbers (one per class), got {values!r}") from None
    if vector.ndim != 1 or vector.numel() == 0 or not bool(torch.isfinite(vector).all()) or bool((vector < 0).any()):
        raise ValueError(
            f"{who}: {name} must be a non-empty 1-D sequence of finite numbers >= 0 (one per class), got {values!r}"
        )
    return vector


def _as_tensor(value: Any, who: str, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{who}: {name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float32, or float64 for float64 inputs: half-precision logits are upcast before the loss."""
    return torch.promote_types(tensor.dtype, torch.float32) if tensor.is_floating_point() else torch.float32


def _logits(pred: Any, who: str, min_ndim: int, layout: str) -> torch.Tensor:
    """``pred`` checked (a floating-point tensor of at least ``min_ndim`` dims) and upcast to the compute dtype."""
    logits = _as_tensor(pred, who, "pred")
    if not logits.is_floating_point():
        raise TypeError(f"{who}: pred must hold floating-point logits, got dtype {logits.dtype}")
    if logits.ndim < min_ndim:
        raise ValueError(f"{who}: pred must be {layout} logits, got shape {list(logits.shape)}")
    return logits.to(_compute_dtype(logits))


def _shapes(pred: torch.Tensor, target: torch.Tensor) -> str:
    return f"pred shape {list(pred.shape)}, target shape {list(target.shape)}"


def _resize_nearest(
    target: torch.Tensor, size: Sequence[int], resize_mode: str | None, who: str, pred: torch.Tensor
) -> torch.Tensor:
    """``target`` (``[B, K, *spatial]``) resized on its spatial dims to ``size`` by nearest neighbour: values are
    copied, never blended, so labels stay labels (exactly, for labels of magnitude below 2**24)."""
    if tuple(target.shape[2:]) == tuple(size):
        return target
    if resize_mode is None:
        raise ValueError(
            f"{who}: the target's spatial size {list(target.shape[2:])} differs from the prediction's {list(size)} "
            f"({_shapes(pred, target)}) and resize_mode=None; give resize_mode='nearest' or resize the target"
        )
    if len(size) not in (1, 2, 3):
        raise ValueError(
            f"{who}: resizing the target supports 1 to 3 spatial dims, got {len(size)} ({_shapes(pred, target)})"
        )
    work_dtype = target.dtype if target.is_floating_point() else torch.float32
    resized = F.interpolate(target.to(work_dtype), size=tuple(size), mode=resize_mode)
    return resized.to(target.dtype)


def _class_map(pred: torch.Tensor, target: Any, who: str, resize_mode: str | None) -> torch.Tensor:
    """The target as a long class map ``[B, *pred.shape[2:]]`` (from ``[B, *spatial]`` or ``[B, 1, *spatial]``
    integer labels, resized to the prediction when its spatial size differs)."""
    target = _as_tensor(target, who, "target")
    if target.is_floating_point() or target.is_complex():
        raise TypeError(
            f"{who}: target must hold integer class labels, got dtype {target.dtype} ({_shapes(pred, target)}); "
            "cast it with .long() if it holds whole numbers"
        )
    labels = target.squeeze(1) if target.ndim == pred.ndim and target.ndim >= 2 and target.shape[1] == 1 else target
    if labels.ndim != pred.ndim - 1 or labels.shape[0] != pred.shape[0]:
        raise ValueError(
            f"{who}: the target does not fit the prediction ({_shapes(pred, target)}): expected logits "
            "[B, C, *spatial] and integer labels [B, *spatial] or [B, 1, *spatial] with the same batch size B"
        )
    labels = _resize_nearest(labels.unsqueeze(1), pred.shape[2:], resize_mode, who, pred).squeeze(1)
    return labels.long()


def _check_labels(
    labels: torch.Tensor, num_classes: int, who: str, pred: torch.Tensor, ignore_index: int | None = None
) -> None:
    """Raise a ``ValueError`` listing the labels outside ``[0, num_classes)`` (other than ``ignore_index``)."""
    valid = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        valid |= labels == ignore_index
    if not bool(valid.all()):
        bad = torch.unique(labels[~valid]).tolist()[:_BAD_LABELS_SHOWN]
        ignored = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{who}: target labels must be in 0..{num_classes - 1}{ignored} for a prediction of shape "
            f"{list(pred.shape)}; found {bad}"
        )


def _one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``[B, *spatial]`` labels -> ``[B, C, *spatial]`` one-hot (by comparison: no host sync, unlike F.one_hot)."""
    classes = torch.arange(num_classes, device=labels.device).view(1, num_classes, *([1] * (labels.ndim - 1)))
    return (labels.unsqueeze(1) == classes).to(dtype)


def _safe_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, 0 (still connected to the graph) where both are 0."""
    return numerator / denominator.clamp_min(torch.finfo(numerator.dtype).tiny)


def _class_vector(
    vector: torch.Tensor | None, num_classes: int, pred: torch.Tensor, who: str, name: str
) -> torch.Tensor:
    """The per-class ``vector`` on ``pred``'s device and dtype (ones when ``None``), checked to have one value per
    channel of ``pred``."""
    if vector is None:
        return torch.ones(num_classes, dtype=pred.dtype, device=pred.device)
    if vector.numel() != num_classes:
        raise ValueError(
            f"{who}: {name} has {vector.numel()} values but the prediction has {num_classes} classes "
            f"(pred shape {list(pred.shape)})"
        )
    return vector.to(device=pred.device, dtype=pred.dtype)


class _SegmentationLoss(LossBase):
    """Shared batch-dict plumbing: keys, weight, preprocessing; subclasses implement ``_compute``."""

    def __init__(
        self,
        *,
        pred: str,
        target: str,
        weight: float | None,
        resize_mode: str | None,
        preprocess_func: Callable[[NDict], NDict] | None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.pred = _require_key(pred, name, "pred")
        self.target = _require_key(target, name, "target")
        if preprocess_func is not None:
            _require_callable(preprocess_func, name, "preprocess_func")
        self.weight = weight
        self.resize_mode = _check_resize_mode(resize_mode, name)
        self.preprocess_func = preprocess_func

    def _set_class_weights(self, class_weights: Sequence[float] | torch.Tensor | None) -> None:
        """Keep one weight per class (``None``: uniform) as a buffer: it follows the module's device."""
        self.class_weights: torch.Tensor | None
        vector = _per_class_vector(class_weights, type(self).__name__, "class_weights")
        self.register_buffer("class_weights", vector, persistent=False)

    @abstractmethod
    def _compute(self, pred: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        """The unweighted loss; ``who`` starts the error messages."""

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of two tensors (logits and target), without ``weight``: what ``forward`` computes from the
        batch dict."""
        return self._compute(pred, target, type(self).__name__)

    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """``compute(batch_dict[pred], batch_dict[target])`` after ``preprocess_func``, times ``weight``."""
        who = f"{type(self).__name__}(pred={self.pred!r}, target={self.target!r})"
        batch_dict = _preprocess(batch_dict, self.preprocess_func, who)
        pred = batch_value(batch_dict, self.pred, who, "pred")
        target = batch_value(batch_dict, self.target, who, "target")
        return _weighted(self._compute(pred, target, who), self.weight)


class LossSegmentationCrossEntropy(_SegmentationLoss):
    """Cross-entropy of logits ``[B, C, *spatial]`` against an integer label map ``[B, *spatial]`` (or
    ``[B, 1, *spatial]``), as ``F.cross_entropy(logits, labels, weight=class_weights, ignore_index=...)``.

    A label map of another spatial size is resized to the prediction's by nearest neighbour. The mean is weighted
    like ``F.cross_entropy``'s (``sum(w[y] * loss) / sum(w[y])`` over the pixels not ignored); a batch whose
    pixels are all ignored gives 0 instead of ``F.cross_entropy``'s NaN.

    :param pred: batch_dict key of the logits (``[B, C, *spatial]``; ``[B, C]`` works too).
    :param target: batch_dict key of the integer label map.
    :param weight: scalar multiplier of the loss (``None``: 1).
    :param class_weights: one weight per class (``None``: uniform).
    :param ignore_index: a label value whose pixels do not count (default ``-100``, like ``F.cross_entropy``).
    :param resize_mode: ``"nearest"`` or ``"nearest-exact"`` (``F.interpolate`` modes) to resize a label map of
        another size, or ``None`` to raise instead.
    :param preprocess_func: ``f(batch_dict) -> batch_dict`` run first.

    >>> import torch
    >>> from fuse.core import NDict
    >>> logits = torch.zeros(1, 3, 4, 4)
    >>> logits[:, 1] = 2.0
    >>> batch = NDict({"model.logits.seg": logits, "data.gt.seg": torch.ones(1, 2, 2, dtype=torch.long)})
    >>> loss = LossSegmentationCrossEntropy(pred="model.logits.seg", target="data.gt.seg")
    >>> round(loss(batch).item(), 4)  # the 2x2 map is resized to 4x4: -log(e^2 / (e^2 + 2))
    0.2395
    """

    def __init__(
        self,
        *,
        pred: str,
        target: str,
        weight: float | None = None,
        class_weights: Sequence[float] | torch.Tensor | None = None,
        ignore_index: int = -100,
        resize_mode: str | None = "nearest",
        preprocess_func: Callable[[NDict], NDict] | None = None,
    ) -> None:
        super().__init__(
            pred=pred, target=target, weight=weight, resize_mode=resize_mode, preprocess_func=preprocess_func
        )
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f"LossSegmentationCrossEntropy: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = ignore_index
        self._set_class_weights(class_weights)

    def _compute(self, pred: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        logits = _logits(pred, who, 2, "[B, C, *spatial]")
        labels = _class_map(logits, target, who, self.resize_mode)
        num_classes = logits.shape[1]
        _check_labels(labels, num_classes, who, logits, self.ignore_index)
        class_weights = _class_vector(self.class_weights, num_classes, logits, who, "class_weights")
        per_pixel = F.cross_entropy(
            logits, labels, weight=class_weights, ignore_index=self.ignore_index, reduction="none"
        )
        counted = labels != self.ignore_index
        pixel_weights = class_weights[labels.clamp(0, num_classes - 1)] * counted
        return _safe_ratio(per_pixel.sum(), pixel_weights.sum())
