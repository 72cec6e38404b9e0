"""Losses over batch dicts: the :class:`LossBase` contract and the generic wrappers.

A fuse loss is an ``nn.Module`` whose ``forward`` takes the batch dict (an :class:`~fuse.core.NDict` holding the
data and the model's outputs) and returns a scalar tensor. :class:`LossDefault` wraps any ``loss(pred, target)``
function, :class:`LossWrapToDict` a loss with named arguments, :class:`LossExtractFromBatchDict` a loss the model
already computed, and :class:`LossWarmUp` switches a loss on after a number of training iterations.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value, batch_values

__all__ = ["LossBase", "LossDefault", "LossExtractFromBatchDict", "LossWarmUp", "LossWrapToDict"]

_PRED_TARGET = ("pred", "target")  # LossDefault's roles of its two keys, for error messages


def _describe(value: Any) -> str:
    """``shape [2, 3] torch.float32`` for a tensor, the type name otherwise (for error messages)."""
    if isinstance(value, torch.Tensor):
        return f"shape {list(value.shape)} {value.dtype}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {list(shape)}"
    return type(value).__name__


def _call_loss(
    who: str,
    function: Callable[..., Any],
    described: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)``; a plain ``RuntimeError``/``ValueError`` it raises (typically a shape
    mismatch) is re-raised with the inputs' keys and shapes (``described``: label -> value, or a function making
    it only when needed) appended."""
    try:
        return function(*args, **kwargs)
    except (RuntimeError, ValueError) as error:
        if type(error) not in (RuntimeError, ValueError):  # e.g. torch.OutOfMemoryError: leave it alone
            raise
        raise _with_inputs(who, error, described() if callable(described) else described) from error


def _with_inputs(who: str, error: Exception, labelled: Mapping[str, Any]) -> Exception:
    """A plain ``RuntimeError``/``ValueError`` of the loss function (typically a shape mismatch) with the loss's
    inputs (label -> value) described."""
    inputs = "; ".join(f"{label}: {_describe(value)}" for label, value in labelled.items())
    return type(error)(f"{who}: the loss function failed on {inputs}: {error}")


def _require_key(value: object, who: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{who}: {name} must be a batch_dict key such as 'model.logits.head', got {value!r}")
    return value


def _require_callable(value: object, who: str, name: str) -> None:
    if not callable(value):
        raise TypeError(
            f"{who}: {name} must be callable (e.g. torch.nn.functional.cross_entropy), got {type(value).__name__}"
        )


def _preprocess(batch_dict: NDict, preprocess_func: Callable[[NDict], NDict] | None, who: str) -> NDict:
    """``preprocess_func(batch_dict)`` (checked to return a mapping), or ``batch_dict`` when there is none."""
    if preprocess_func is None:
        return batch_dict
    result = preprocess_func(batch_dict)
    if not isinstance(result, Mapping):
        raise TypeError(
            f"{who}: preprocess_func must return the (filtered) batch_dict, got {type(result).__name__}; "
            "end it with `return batch_dict`"
        )
    return result


def _weighted(loss: torch.Tensor, weight: float | None) -> torch.Tensor:
    """``loss * weight`` as a new tensor (never in place: that would mutate the callable's output and can break
    autograd), or ``loss`` itself when ``weight`` is ``None``."""
    return loss if weight is None else loss * weight


class LossBase(nn.Module, metaclass=ABCMeta):
    """Base class of fuse losses: an ``nn.Module`` whose ``forward(batch_dict)`` returns a loss tensor.

    Subclasses read what they need from the batch dict (predictions, targets, model parameters...). To wrap an
    existing ``loss(pred, target)`` function, :class:`LossDefault` is usually enough. ``forward`` is abstract:
    a subclass without one cannot be instantiated.

    >>> import torch
    >>> from fuse.core import NDict
    >>> class LossMeanAbsolute(LossBase):
    ...     def __init__(self, pred: str, target: str) -> None:
    ...         super().__init__()
    ...         self.pred, self.target = pred, target
    ...
    ...     def forward(self, batch_dict: NDict) -> torch.Tensor:
    ...         return (batch_dict[self.pred] - batch_dict[self.target]).abs().mean()
    >>> batch = NDict({"model": {"out": torch.tensor([1.0, 2.0])}, "data": {"y": torch.tensor([0.0, 4.0])}})
    >>> LossMeanAbsolute("model.out", "data.y")(batch)
    tensor(1.5000)
    """

    @abstractmethod
    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """The loss of the batch: a scalar tensor (connected to the graph of the predictions it uses)."""


class LossDefault(LossBase):
    """Wrap a ``loss(pred, target)`` function: ``callable(batch_dict[pred], batch_dict[target]) * weight``.

    :param pred: batch_dict key of the prediction (e.g. ``"model.logits.classification"``).
    :param target: batch_dict key of the target (e.g. ``"data.label"``).
    :param callable: the loss function, e.g. ``torch.nn.functional.cross_entropy`` or a loss module instance.
    :param weight: scalar multiplier; ``None`` leaves the loss as the callable returns it. The product is a new
        tensor: the callable's output is never modified in place.
    :param preprocess_func: ``f(batch_dict) -> batch_dict`` run first, e.g. to keep only the samples that have a
        label (``batch_dict.indices(mask)``).

    A missing key raises a ``KeyError`` naming it and the similar keys present; a ``RuntimeError``/``ValueError``
    from the callable (a shape mismatch, typically) is re-raised with both keys and shapes in the message.

    >>> import torch
    >>> import torch.nn.functional as F
    >>> from fuse.core import NDict
    >>> batch = NDict({"model.logits.classification": torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
    ...                "data.label": torch.tensor([0, 1])})
    >>> loss = LossDefault(pred="model.logits.classification", target="data.label",
    ...                    callable=F.cross_entropy, weight=2.0)
    >>> round(loss(batch).item(), 4)
    0.4402

    Keeping only labelled samples (``-1`` marks a missing label):

    >>> batch["data.label"] = torch.tensor([0, -1])
    >>> labelled = LossDefault(pred="model.logits.classification", target="data.label", callable=F.cross_entropy,
    ...                        preprocess_func=lambda b: b.indices(b["data.label"] >= 0))
    >>> round(labelled(batch).item(), 4)
    0.1269
    """

    def __init__(
        self,
        *,
        pred: str,
        target: str,
        callable: Callable[[Any, Any], torch.Tensor],
        weight: float | None = None,
        preprocess_func: Callable[[NDict], NDict] | None = None,
    ) -> None:
        super().__init__()
        self.pred = _require_key(pred, "LossDefault", "pred")
        self.target = _require_key(target, "LossDefault", "target")
        _require_callable(callable, "LossDefault", "callable")
        if preprocess_func is not None:
            _require_callable(preprocess_func, "LossDefault", "preprocess_func")
        self.callable = callable
        self.weight = weight
        self.preprocess_func = preprocess_func

    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """``callable(batch_dict[pred], batch_dict[target])``, times ``weight`` when given."""
        # runs every training step: the error description is built only on an error
        if self.preprocess_func is not None:
            batch_dict = _preprocess(batch_dict, self.preprocess_func, "LossDefault")
        preds, targets = batch_values(batch_dict, (self.pred, self.target), "LossDefault", _PRED_TARGET)

        try:  # the call itself, not through _call_loss: no closure is made per step
            loss = self.callable(preds, targets)
        except (RuntimeError, ValueError) as error:
            if type(error) not in (RuntimeError, ValueError):  # e.g. torch.OutOfMemoryError: leave it alone
                raise
            labelled = {f"pred {self.pred!r}": preds, f"target {self.target!r}": targets}
            raise _with_inputs("LossDefault", error, labelled) from error
        return loss if self.weight is None else _weighted(loss, self.weight)


def _first_floating_tensor(values: Iterable[Any]) -> torch.Tensor | None:
    """The first floating-point tensor among ``values`` or the values of the mappings among them (a batch dict)."""
    for value in values:
        if isinstance(value, Mapping):
            inner = _first_floating_tensor(v for v in value.values() if not isinstance(v, Mapping))
            if inner is not None:
                return inner
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
    return None


class LossWarmUp(LossBase):
    """Zero until ``nof_iterations`` training calls have passed, then the wrapped loss.

    Useful with several losses, to let one stabilise before another joins in.

    - Only training calls count: in training mode (``self.training``) with autograd on. Lightning runs validation,
      test and predict without autograd, so their calls never count, even when the loss is not a submodule of the
      training module (whose ``.train()``/``.eval()`` then do not reach it). While warming up, those calls return
      zero too, so the validation loss measures the same objective as training.
    - The zero is a constant (it adds no gradient) on the device of the first floating-point tensor among the
      inputs, in float32 (float64 for float64 inputs), like the losses it stands in for. Use it next to another
      loss: alone, there is nothing to backpropagate during the warm-up.
    - The count is part of ``state_dict()`` (extra state): a checkpoint that holds the loss's state (e.g. the loss
      is a submodule of the training module) resumes the warm-up where it was; otherwise it starts again.

    :param loss: the loss to delay, called with the same arguments (usually the batch dict).
    :param nof_iterations: the number of training calls that return zero (``0``: no warm-up).

    >>> import torch
    >>> import torch.nn.functional as F
    >>> from fuse.core import NDict
    >>> batch = NDict({"pred": torch.tensor([1.0]), "y": torch.tensor([0.0])})
    >>> warm = LossWarmUp(LossDefault(pred="pred", target="y", callable=F.mse_loss), nof_iterations=2)
    >>> [warm(batch).item() for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(self, loss: Callable[..., torch.Tensor], nof_iterations: int) -> None:
        super().__init__()
        _require_callable(loss, "LossWarmUp", "loss")
        if isinstance(nof_iterations, bool) or not isinstance(nof_iterations, int) or nof_iterations < 0:
            raise ValueError(f"LossWarmUp: nof_iterations must be an int >= 0, got {nof_iterations!r}")
        self.loss = loss
        self.nof_iterations = nof_iterations
        self._count = 0

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Zero while warming up (advancing the count on training calls), else ``loss(*args, **kwargs)``."""
        if self._count >= self.nof_iterations:
            return self.loss(*args, **kwargs)
        if self.training and torch.is_grad_enabled():
            self._count += 1
        reference = _first_floating_tensor([*args, *kwargs.values()])
        if reference is None:
            return torch.zeros(())
        return torch.zeros((), dtype=torch.promote_types(reference.dtype, torch.float32), device=reference.device)

    def get_extra_state(self) -> dict[str, int]:
        """The warm-up count, saved in ``state_dict()`` (loadable with ``torch.load(weights_only=True)``)."""
        return {"count": self._count}

    def set_extra_state(self, state: Any) -> None:
        """Restore the warm-up count from :meth:`get_extra_state`'s dict."""
        count = state.get("count") if isinstance(state, Mapping) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"LossWarmUp: expected extra state {{'count': int >= 0}}, got {state!r}")
        self._count = count


class LossWrapToDict(LossBase):
    """Wrap a loss with named arguments: ``weight * loss_module(**{arg: batch_dict[key]})``.

    :param loss_module: the loss, e.g. ``torch.nn.CrossEntropyLoss()``.
    :param loss_arg_to_batch_key: maps each argument name of ``loss_module`` to the batch_dict key holding it.
    :param weight: scalar multiplier.

    >>> import torch
    >>> from fuse.core import NDict
    >>> batch = NDict({"model.logits": torch.tensor([[2.0, 0.0], [0.0, 1.0]]), "data.gt": torch.tensor([0, 1])})
    >>> wrapped = LossWrapToDict(loss_module=torch.nn.CrossEntropyLoss(),
    ...                          loss_arg_to_batch_key={"input": "model.logits", "target": "data.gt"})
    >>> round(wrapped(batch).item(), 4)
    0.2201
    """

    def __init__(
        self, *, loss_module: Callable[..., torch.Tensor], loss_arg_to_batch_key: Mapping[str, str], weight: float = 1.0
    ) -> None:
        super().__init__()
        _require_callable(loss_module, "LossWrapToDict", "loss_module")
        if not isinstance(loss_arg_to_batch_key, Mapping) or not loss_arg_to_batch_key:
            raise TypeError(
                "LossWrapToDict: loss_arg_to_batch_key must be a non-empty dict of argument name -> batch_dict key, "
                f"got {loss_arg_to_batch_key!r}"
            )
        for arg, key in loss_arg_to_batch_key.items():
            if not isinstance(arg, str) or not arg.isidentifier():
                raise TypeError(f"LossWrapToDict: {arg!r} is not an argument name (a Python identifier)")
            _require_key(key, "LossWrapToDict", f"loss_arg_to_batch_key[{arg!r}]")
        self._loss_module = loss_module
        self.loss_arg_to_batch_key = dict(loss_arg_to_batch_key)
        self._weight = weight

    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """``weight * loss_module(**arguments read from batch_dict)``."""
        loss_kwargs = {
            arg: batch_value(batch_dict, key, "LossWrapToDict", f"argument {arg!r}")
            for arg, key in self.loss_arg_to_batch_key.items()
        }
        described = {f"{arg}={key!r}": loss_kwargs[arg] for arg, key in self.loss_arg_to_batch_key.items()}
        loss: torch.Tensor = _call_loss("LossWrapToDict", self._loss_module, described, **loss_kwargs)
        return self._weight * loss


class LossExtractFromBatchDict(LossBase):
    """Read a loss the model already computed: ``batch_dict[key] * weight``.

    :param key: batch_dict key of the loss tensor.
    :param weight: scalar multiplier.

    >>> import torch
    >>> from fuse.core import NDict
    >>> LossExtractFromBatchDict("model.aux_loss", weight=0.5)(NDict({"model.aux_loss": torch.tensor(3.0)}))
    tensor(1.5000)
    """

    def __init__(self, key: str, weight: float = 1.0) -> None:
        super().__init__()
        self.key = _require_key(key, "LossExtractFromBatchDict", "key")
        self.weight = weight

    def forward(self, batch_dict: NDict) -> torch.Tensor:
        """``batch_dict[key] * weight``; the value must be a tensor."""
        value = batch_value(batch_dict, self.key, "LossExtractFromBatchDict", "key")
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"LossExtractFromBatchDict: batch_dict[{self.key!r}] must be a loss tensor, got {type(value).__name__}"
            )
        return value * self.weight
