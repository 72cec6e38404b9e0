"""The focal loss (Lin et al., 2017), binary or multi-class, over batch dicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.dl.losses._segmentation import (
    _as_tensor,
    _check_labels,
    _check_number,
    _class_map,
    _class_vector,
    _logits,
    _per_class_vector,
    _resize_nearest,
    _SegmentationLoss,
    _shapes,
)

__all__ = ["FocalLoss"]


class FocalLoss(_SegmentationLoss):
    """Focal loss (Lin et al., 2017), ``mean(-alpha_t * (1 - p_t) ** gamma * log(p_t))``, binary or multi-class.

    - **Binary** (sigmoid) when ``pred`` has one channel (``[B]``, ``[B, 1, *spatial]``) or as many channels as a
      target of the same rank (multi-label: one sigmoid per channel). The target holds 0/1 (or soft) values;
      ``[B, *spatial]`` fits a one-channel ``[B, 1, *spatial]`` prediction. It is
      ``F.binary_cross_entropy_with_logits`` times ``(1 - p_t) ** gamma``, with ``p_t = p*t + (1-p)*(1-t)`` and
      ``alpha_t = alpha*t + (1-alpha)*(1-t)``: ``alpha`` is the weight of the positives.
    - **Multi-class** (softmax over dim 1) when ``pred`` is ``[B, C, *spatial]`` with ``C > 1`` and the target
      holds integer labels ``[B, *spatial]`` or ``[B, 1, *spatial]``. ``alpha`` is a scalar (the same factor for
      every class) or one value per class (``alpha_t = alpha[label]``).
    - ``alpha=None``: no alpha factor; with ``gamma=0`` too the loss is exactly the (binary) cross-entropy.
    - The mean is over all elements (not normalised by the alpha values); a target of another spatial size is
      resized to the prediction's by nearest neighbour.

    :param pred: batch_dict key of the logits.
    :param target: batch_dict key of the target.
    :param alpha: ``None``, a scalar in [0, 1], or (multi-class) one value >= 0 per class.
    :param gamma: the focusing exponent (>= 0; 0 gives the cross-entropy).
    :param weight: scalar multiplier of the loss (``None``: 1).
    :param resize_mode: ``"nearest"``, ``"nearest-exact"`` or ``None`` (raise when the sizes differ).
    :param preprocess_func: ``f(batch_dict) -> batch_dict`` run first.

    >>> import torch
    >>> from fuse.core import NDict
    >>> batch = NDict({"model.logits.cls": torch.tensor([0.0, 2.0]), "data.label": torch.tensor([1.0, 0.0])})
    >>> focal = FocalLoss(pred="model.logits.cls", target="data.label", alpha=0.25, gamma=2.0)
    >>> round(focal(batch).item(), 4)  # (0.25 * 0.5**2 * log(2) + 0.75 * sigmoid(2)**2 * log(1 + e**2)) / 2
    0.6404
    """

    def __init__(
        self,
        *,
        pred: str,
        target: str,
        alpha: float | Sequence[float] | torch.Tensor | None = None,
        gamma: float = 2.0,
        weight: float | None = None,
        resize_mode: str | None = "nearest",
        preprocess_func: Callable[[NDict], NDict] | None = None,
    ) -> None:
        super().__init__(
            pred=pred, target=target, weight=weight, resize_mode=resize_mode, preprocess_func=preprocess_func
        )
        self.gamma = _check_number(gamma, "FocalLoss", "gamma")
        self.alpha_scalar: float | None = None
        per_class = None
        if isinstance(alpha, bool):
            raise TypeError(f"FocalLoss: alpha must be None, a number in [0, 1] or one value per class, got {alpha!r}")
        if isinstance(alpha, (int, float)):
            self.alpha_scalar = _check_number(alpha, "FocalLoss", "alpha", maximum=1.0)
        elif alpha is not None:
            per_class = _per_class_vector(alpha, "FocalLoss", "alpha")
        self.alpha_per_class: torch.Tensor | None
        self.register_buffer("alpha_per_class", per_class, persistent=False)

    def _modulated(self, nll: torch.Tensor, p_t: torch.Tensor) -> torch.Tensor:
        """``nll * (1 - p_t) ** gamma`` (``nll`` itself for ``gamma == 0``; the base is kept above 0 so that the
        gradient stays finite for ``gamma < 1``)."""
        if self.gamma == 0:
            return nll
        return nll * (1 - p_t).clamp_min(torch.finfo(p_t.dtype).tiny) ** self.gamma

    def _compute(self, pred: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        logits = _logits(pred, who, 1, "[B] or [B, C, *spatial]")
        target = _as_tensor(target, who, "target")
        one_channel = logits.ndim == 1 or logits.shape[1] == 1
        if one_channel or (target.ndim == logits.ndim and target.shape[1] == logits.shape[1]):
            return self._binary(logits, target, who)
        return self._multiclass(logits, target, who)

    def _binary(self, logits: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        if self.alpha_per_class is not None:
            raise ValueError(
                f"{who}: a binary focal loss takes a scalar alpha (the weight of the positives), got "
                f"{self.alpha_per_class.numel()} per-class values ({_shapes(logits, target)})"
            )
        targets = target.unsqueeze(1) if logits.ndim >= 2 and target.ndim == logits.ndim - 1 else target
        if targets.ndim != logits.ndim or targets.shape[:2] != logits.shape[:2]:
            raise ValueError(
                f"{who}: the target does not fit the prediction ({_shapes(logits, target)}): a binary focal loss "
                "expects a target of the prediction's shape ([B, *spatial] also fits a [B, 1, *spatial] prediction)"
            )
        if logits.ndim >= 3:
            targets = _resize_nearest(targets, logits.shape[2:], self.resize_mode, who, logits)
        elif targets.shape != logits.shape:
            raise ValueError(f"{who}: the target does not fit the prediction ({_shapes(logits, target)})")
        targets = targets.to(logits.dtype)
        if not bool(((targets >= 0) & (targets <= 1)).all()):
            raise ValueError(
                f"{who}: a binary focal loss needs targets in [0, 1], found values outside ({_shapes(logits, target)});"
                " for integer class labels use a prediction with one channel per class"
            )
        nll = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        probs = torch.sigmoid(logits)
        loss = self._modulated(nll, probs * targets + (1 - probs) * (1 - targets))
        if self.alpha_scalar is not None:
            loss = (self.alpha_scalar * targets + (1 - self.alpha_scalar) * (1 - targets)) * loss
        return loss.mean()

    def _multiclass(self, logits: torch.Tensor, target: torch.Tensor, who: str) -> torch.Tensor:
        labels = _class_map(logits, target, who, self.resize_mode)
        num_classes = logits.shape[1]
        _check_labels(labels, num_classes, who, logits)
        log_p_t = F.log_softmax(logits, dim=1).gather(1, labels.unsqueeze(1)).squeeze(1)
        loss = self._modulated(-log_p_t, log_p_t.exp())
        if self.alpha_per_class is not None:
            loss = _class_vector(self.alpha_per_class, num_classes, logits, who, "alpha")[labels] * loss
        elif self.alpha_scalar is not None:
            loss = self.alpha_scalar * loss
        return loss.mean()
