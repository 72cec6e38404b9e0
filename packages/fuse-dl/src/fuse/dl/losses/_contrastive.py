"""Supervised contrastive loss (Khosla et al., 2020, arXiv 2004.11362, ``L_out``) over batch dicts."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value
from fuse.dl.losses._base import LossBase, _preprocess, _require_callable, _require_key, _weighted

__all__ = ["SupervisedContrastiveLoss", "softcrossentropyloss", "supervised_contrastive_loss"]

_DEFAULT_TEMPERATURE = 0.2


def softcrossentropyloss(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets, normalised by the total target mass:
    ``-(target * log_softmax(logits, dim=1)).sum() / target.sum()`` (FuseMedML's helper, unchanged).

    :param target: non-negative target weights, the shape of ``logits``.
    :param logits: ``[N, K]`` scores.

    >>> import torch
    >>> round(softcrossentropyloss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]])).item(), 4)  # log 2
    0.6931
    """
    if target.shape != logits.shape or logits.ndim < 2:
        raise ValueError(
            f"softcrossentropyloss: target and logits must have the same shape [N, K, ...], got target shape "
            f"{list(target.shape)}, logits shape {list(logits.shape)}"
        )
    log_probs = F.log_softmax(logits, dim=1)
    return -(target * log_probs).sum() / target.sum()


def _check_features(feat: Any, labels: Any, who: str, name: str, label_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The features ``[N, D]`` and labels ``[N]`` (``[N, 1]`` is flattened), checked."""
    if not isinstance(feat, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{who}: {name} and {label_name} must be torch tensors, got {type(feat).__name__} and "
            f"{type(labels).__name__}"
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if feat.ndim != 2 or not feat.is_floating_point() or labels.ndim != 1 or labels.shape[0] != feat.shape[0]:
        raise ValueError(
            f"{who}: expected floating-point features {name} [N, D] and labels {label_name} [N]; got {name} shape "
            f"{list(feat.shape)} {feat.dtype}, {label_name} shape {list(labels.shape)}"
        )
    if not bool(torch.isfinite(feat).all()):
        raise ValueError(f"{who}: {name} contains NaN or infinite values")
    return feat, labels


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Autocast switched off on ``device`` (so that the similarities are computed in the features' dtype)."""
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _anchor_mean_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """``L_out`` for the anchors in the rows of ``logits``: for each anchor with at least one positive,
    ``-1/|P(a)| * sum_{p in P(a)} log_softmax(logits[a])[p]``, averaged over those anchors (0 when there is none,
    still connected to the graph)."""
    log_probs = F.log_softmax(logits, dim=1)
    num_positives = positives.sum(dim=1)
    per_anchor = -(positives * log_probs).sum(dim=1) / num_positives.clamp_min(1)
    num_anchors = (num_positives > 0).sum().to(logits.dtype)
    return per_anchor.sum() / num_anchors.clamp_min(1)


def supervised_contrastive_loss(
    feat_xi: torch.Tensor,
    feat_xj: torch.Tensor,
    yi: torch.Tensor,
    yj: torch.Tensor,
    symm: bool = False,
    alpha: float = 0.5,
    temp: float = _DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """Supervised contrastive loss ``L_out`` of arXiv 2004.11362 between two sets of features.

    Each row ``a`` of ``feat_xi`` is an anchor, contrasted with every row of ``feat_xj``: the features are
    L2-normalised, ``s(a, k) = <z_a, z_k> / temp``, the positives ``P(a)`` are the rows ``k`` with ``yj[k] == yi[a]``,
    and ``L_a = -1/|P(a)| * sum_{p in P(a)} log(exp(s(a, p)) / sum_k exp(s(a, k)))``. The loss is the mean of ``L_a``
    over the anchors that have at least one positive; 0 (connected to the graph) when none has.

    With ``symm=True`` the roles are swapped too (anchors from ``feat_xj``, contrasted with ``feat_xi``) and the
    result is ``alpha * L_i + (1 - alpha) * L_j``.

    :param feat_xi: anchor features ``[N, D]``.
    :param feat_xj: contrast features ``[M, D]`` (e.g. another view of the same samples).
    :param yi: labels of ``feat_xi``, ``[N]``.
    :param yj: labels of ``feat_xj``, ``[M]``.
    :param symm: also compute the loss with the roles swapped.
    :param alpha: with ``symm``, the weight of the ``feat_xi``-anchored part.
    :param temp: the temperature (> 0).

    Computed in float32 (float64 for float64 features), also under autocast.

    >>> import torch
    >>> feat = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> labels = torch.tensor([0, 1])
    >>> round(supervised_contrastive_loss(feat, feat, labels, labels, temp=1.0).item(), 4)  # log(1 + e^-1)
    0.3133
    """
    return _supervised_contrastive_loss(
        feat_xi, feat_xj, yi, yj, symm, alpha, temp, "supervised_contrastive_loss", ("feat_xi", "feat_xj", "yi", "yj")
    )


def _supervised_contrastive_loss(
    feat_xi: torch.Tensor,
    feat_xj: torch.Tensor,
    yi: torch.Tensor,
    yj: torch.Tensor,
    symm: bool,
    alpha: float,
    temp: float,
    who: str,
    names: tuple[str, str, str, str],
) -> torch.Tensor:
    """:func:`supervised_contrastive_loss`, with errors naming ``who`` and the inputs' ``names``."""
    feat_xi, yi = _check_features(feat_xi, yi, who, names[0], names[2])
    feat_xj, yj = _check_features(feat_xj, yj, who, names[1], names[3])
    if feat_xi.shape[1] != feat_xj.shape[1]:
        raise ValueError(
            f"{who}: {names[0]} and {names[1]} must have the same feature size, got shapes {list(feat_xi.shape)} "
            f"and {list(feat_xj.shape)}"
        )
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not 0 < temp < math.inf:
        raise ValueError(f"{who}: the temperature must be a number > 0, got {temp!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"{who}: alpha must be a number in [0, 1], got {alpha!r}")
    dtype = torch.promote_types(torch.promote_types(feat_xi.dtype, feat_xj.dtype), torch.float32)
    with _no_autocast(feat_xi.device):
        z_i = F.normalize(feat_xi.to(dtype), p=2, dim=1)
        z_j = F.normalize(feat_xj.to(dtype), p=2, dim=1)
        yi, yj = yi.to(z_i.device), yj.to(z_i.device)
        positives = (yi.unsqueeze(1) == yj.unsqueeze(0)).to(dtype)
        loss_i = _anchor_mean_loss(z_i @ z_j.T / temp, positives)
        if not symm:
            return loss_i
        loss_j = _anchor_mean_loss(z_j @ z_i.T / temp, positives.T)
        return alpha * loss_i + (1 - alpha) * loss_j


class SupervisedContrastiveLoss(LossBase):
    """Supervised contrastive loss (arXiv 2004.11362, ``L_out``) of two feature sets read from the batch dict;
    see :func:`supervised_contrastive_loss` for the formula.

    Compatibility: FuseMedML's ``tempreture`` spelling and ignored ``callable`` are accepted with a
    ``DeprecationWarning``.

    :param feat_i: batch_dict key of the anchor features ``[N, D]``.
    :param feat_j: batch_dict key of the features to contrast with ``[M, D]``.
    :param target_i: batch_dict key of the labels of ``feat_i``.
    :param target_j: batch_dict key of the labels of ``feat_j``.
    :param temperature: the temperature (default 0.2).
    :param alpha: with ``symmetrical``, the weight of the ``feat_i``-anchored part.
    :param symmetrical: also anchor on ``feat_j`` and return ``alpha * L_i + (1 - alpha) * L_j``.
    :param callable: ignored (a ``DeprecationWarning`` says so when given).
    :param weight: scalar multiplier of the loss (``None``: 1).
    :param preprocess_func: ``f(batch_dict) -> batch_dict`` run first.

    >>> import torch
    >>> from fuse.core import NDict
    >>> batch = NDict({"model.feat": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "data.label": torch.tensor([0, 1])})
    >>> loss = SupervisedContrastiveLoss(feat_i="model.feat", feat_j="model.feat", target_i="data.label",
    ...                                  target_j="data.label", temperature=1.0)
    >>> round(loss(batch).item(), 4)
    0.3133
    """

    def __init__(
        self,
        *,
        feat_i: str,
        feat_j: str,
        target_i: str,
        target_j: str,
        temperature: float | None = None,
        alpha: float = 0.5,
        symmetrical: bool = False,
        callable: Callable[..., Any] | None = None,
        weight: float | None = None,
        preprocess_func: Callable[[NDict], NDict] | None = None,
        tempreture: float | None = None,
    ) -> None:
        super().__init__()
        who = "SupervisedContrastiveLoss"
        self.feat_i = _require_key(feat_i, who, "feat_i")
        self.feat_j = _require_key(feat_j, who, "feat_j")
        self.target_i = _require_key(target_i, who, "target_i")
        self.target_j = _require_key(target_j, who, "target_j")
        if tempreture is not None:
            if temperature is not None:
                raise TypeError(f"{who}: give temperature only (tempreture is its deprecated spelling), not both")
            warnings.warn(f"{who}: 'tempreture' is deprecated, use 'temperature'", DeprecationWarning, stacklevel=2)
            temperature = tempreture
        if temperature is None:
            temperature = _DEFAULT_TEMPERATURE
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
            raise ValueError(f"{who}: temperature must be a number > 0, got {temperature!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"{who}: alpha must be a number in [0, 1], got {alpha!r}")
        if callable is not None:
            warnings.warn(
                f"{who}: 'callable' is ignored (FuseMedML ignored it too); remove the argument",
                DeprecationWarning,
                stacklevel=2,
            )
        if preprocess_func is not None:
            _require_callable(preprocess_func, who, "preprocess_func")
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.symmetrical = bool(symmetrical)
        self.weight = weight
        self.preprocess_func = preprocess_func

    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """The loss of the features and labels read from ``batch_dict`` (after ``preprocess_func``), times
        ``weight``."""
        who = "SupervisedContrastiveLoss"
        batch_dict = _preprocess(batch_dict, self.preprocess_func, who)
        feat_i = batch_value(batch_dict, self.feat_i, who, "feat_i")
        feat_j = batch_value(batch_dict, self.feat_j, who, "feat_j")
        target_i = batch_value(batch_dict, self.target_i, who, "target_i")
        target_j = batch_value(batch_dict, self.target_j, who, "target_j")
        names = (repr(self.feat_i), repr(self.feat_j), repr(self.target_i), repr(self.target_j))
        loss = _supervised_contrastive_loss(
            feat_i, feat_j, target_i, target_j, self.symmetrical, self.alpha, self.temperature, who, names
        )
        return _weighted(loss, self.weight)
