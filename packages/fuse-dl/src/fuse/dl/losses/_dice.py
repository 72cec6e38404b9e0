"""Dice losses: :class:`DiceLoss` of logits against a label map (a batch-dict loss), and the plain
``BinaryDiceLoss(predict, target)`` callable of probabilities, as in FuseMedML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from fuse.core import NDict
from fuse.dl.losses._segmentation import (
    _as_tensor,
    _check_labels,
    _check_number,
    _class_map,
    _class_vector,
    _compute_dtype,
    _logits,
    _one_hot,
    _safe_ratio,
    _SegmentationLoss,
)

__all__ = ["BinaryDiceLoss", "DiceLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _soft_dice(probs: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """``(2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps)`` per sample and channel, sums over the spatial dims.

    >>> _soft_dice(torch.tensor([[[0.5, 0.5]]]), torch.tensor([[[1.0, 0.0]]]), eps=0.0)
    tensor([[0.5000]])
    """
    spatial = tuple(range(2, probs.ndim))
    return (2 * (probs * target).sum(spatial) + eps) / (probs.sum(spatial) + target.sum(spatial) + eps)


class DiceLoss(_SegmentationLoss):
    """Multi-class soft Dice loss of logits ``[B, C, *spatial]`` against an integer label map.

    - Probabilities: softmax over the C channels; with one channel (binary segmentation), the sigmoid, and the
      Dice of the foreground (labels 0/1) only.
    - Per sample ``b`` and class ``c``: ``dice = (2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps)``, sums over the
      spatial positions, ``t`` the one-hot target.
    - Loss: the ``class_weights``-weighted mean of ``1 - dice`` over samples and classes (``None``: uniform).
    - ``ignore_absent_classes=True`` leaves out each (sample, class) whose class is absent from the sample's target.
      Otherwise (default) such a pair still counts: its loss is close to 1 and falls only as the class's predicted
      probabilities go to 0. When every pair is left out the loss is 0.
    - A label map of another spatial size is resized to the prediction's by nearest neighbour.

    ``pred`` must be logits (e.g. ``model.logits.<head>``), not probabilities. For probabilities, see
    :class:`BinaryDiceLoss`.

    :param pred: batch_dict key of the logits ``[B, C, *spatial]``.
    :param target: batch_dict key of the integer labels ``[B, *spatial]`` or ``[B, 1, *spatial]``.
    :param weight: scalar multiplier of the loss (``None``: 1).
    :param class_weights: one weight per channel of ``pred`` (``None``: uniform).
    :param eps: smoothing added to the numerator and the denominator.
    :param ignore_absent_classes: see above.
    :param resize_mode: ``"nearest"``, ``"nearest-exact"`` or ``None`` (raise when the sizes differ).
    :param preprocess_func: ``f(batch_dict) -> batch_dict`` run first.

    >>> import torch
    >>> from fuse.core import NDict
    >>> logits = torch.tensor([[[[9.0, 9.0]], [[-9.0, -9.0]]]])  # [B=1, C=2, 1, 2]: class 0 everywhere
    >>> batch = NDict({"model.logits.seg": logits, "data.gt.seg": torch.tensor([[[0, 1]]])})
    >>> dice = DiceLoss(pred="model.logits.seg", target="data.gt.seg")
    >>> round(dice(batch).item(), 4)  # class 0: 1 - 2/3, class 1: 1 - 0: mean 2/3
    0.6667
    """

    def __init__(
        self,
        *,
        pred: str,
        target: str,
        weight: float | None = None,
        class_weights: Sequence[float] | torch.Tensor | None = None,
        eps: float = 1e-5,
        ignore_absent_classes: bool = False,
        resize_mode: str | None = "nearest",
        preprocess_func: Callable[[NDict], NDict] | None = None,
    ) -> None:
        super().__init__(
            pred=pred, target=target, weight=weight, resize_mode=resize_mode, preprocess_func=preprocess_func
        )
        self.eps = _check_number(eps, "DiceLoss", "eps")
        self.ignore_absent_classes = bool(ignore_absent_classes)
        self._set_class_weights(class_weights)

    def _compute(self, pred: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        logits = _logits(pred, who, 3, "[B, C, *spatial]")
        labels = _class_map(logits, target, who, self.resize_mode)
        num_classes = logits.shape[1]
        if num_classes == 1:
            _check_labels(labels, 2, who, logits)
            probs = torch.sigmoid(logits)
            one_hot = labels.unsqueeze(1).to(logits.dtype)
        else:
            _check_labels(labels, num_classes, who, logits)
            probs = torch.softmax(logits, dim=1)
            one_hot = _one_hot(labels, num_classes, logits.dtype)
        dice = _soft_dice(probs, one_hot, self.eps)
        target_sums = one_hot.sum(tuple(range(2, logits.ndim)))
        pair_weights = _class_vector(self.class_weights, num_classes, logits, who, "class_weights").expand_as(dice)
        if self.ignore_absent_classes:
            pair_weights = pair_weights * (target_sums > 0)
        return _safe_ratio(((1 - dice) * pair_weights).sum(), pair_weights.sum())


class BinaryDiceLoss(nn.Module):
    """Soft Dice loss of probabilities: ``1 - (2 * sum(t * p) + eps) / (sum(t) + sum(p) + eps)`` per sample and
    channel (sums over the spatial dims), then reduced. A plain callable ``loss(predict, target)``, as in FuseMedML.

    :param eps: smoothing added to the numerator and the denominator.
    :param reduction: ``"mean"`` or ``"sum"`` over the ``[B, C]`` values, or ``"none"`` to return them.

    ``predict`` holds probabilities (apply the sigmoid first) ``[B, C, *spatial]``; ``target`` has the same shape
    (0/1, any numeric dtype). On a batch dict, wrap it:
    ``LossDefault(pred=..., target=..., callable=BinaryDiceLoss())``.

    >>> import torch
    >>> from fuse.core import NDict
    >>> from fuse.dl import LossDefault
    >>> predict = torch.tensor([[[0.9, 0.1, 0.8]]])  # [B=1, C=1, 3]
    >>> target = torch.tensor([[[1, 0, 1]]])
    >>> round(BinaryDiceLoss()(predict, target).item(), 4)  # 1 - 2 * 1.7 / (2 + 1.8)
    0.1053
    >>> loss = LossDefault(pred="model.output.seg", target="data.gt.seg", callable=BinaryDiceLoss())
    >>> round(loss(NDict({"model.output.seg": predict, "data.gt.seg": target})).item(), 4)
    0.1053
    """

    def __init__(self, eps: float = 1e-5, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"BinaryDiceLoss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.eps = _check_number(eps, "BinaryDiceLoss", "eps")
        self.reduction = reduction

    def forward(self, predict: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``predict`` against ``target``: a scalar, or ``[B, C]`` with ``reduction="none"``."""
        predict = _as_tensor(predict, "BinaryDiceLoss", "predict")
        target = _as_tensor(target, "BinaryDiceLoss", "target")
        if not predict.is_floating_point():
            raise TypeError(f"BinaryDiceLoss: predict must hold probabilities (floating point), got {predict.dtype}")
        if predict.shape != target.shape or predict.ndim < 3:
            raise ValueError(
                f"BinaryDiceLoss: predict and target must have the same shape [B, C, *spatial]; got predict shape "
                f"{list(predict.shape)}, target shape {list(target.shape)}"
            )
        dtype = _compute_dtype(predict)
        predict, target = predict.to(dtype), target.to(dtype)
        loss = 1 - _soft_dice(predict, target, self.eps)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
