"""Adaptors between plain torch modules (tensors in, tensors out) and fuse models (a batch ``NDict`` in and out).

:class:`ModelWrapSeqToDict` runs a plain module on values read from the batch dict and writes its outputs back;
:class:`ModelWrapDictToSeq` does the reverse, so that a fuse model can be used where a tensor -> tensor module is
expected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value, batch_values

__all__ = ["ModelWrapDictToSeq", "ModelWrapSeqToDict"]


class ModelWrapSeqToDict(nn.Module):
    """Run a plain torch module on batch dict values and write its outputs back into the batch dict.

    ``forward(batch_dict)`` reads ``model_inputs`` from the batch dict, passes them through
    ``pre_forward_processing_function`` (if given), calls the model (positionally for a sequence of keys, by
    keyword for a ``{argument: key}`` mapping), passes the result through ``post_forward_processing_function``
    (if given) and stores it: with one output key the whole output goes there; with several, output ``i`` goes to
    ``model_outputs[i]`` (a ``None`` key skips that output). Attributes the wrapper does not have are looked up on
    the wrapped model.

    :param model: the torch module to run.
    :param model_inputs: batch dict keys passed positionally, e.g. ``["data.image"]``, or a mapping from the
        model's forward argument names to keys, e.g. ``{"encoder_input": "data.query.encoder_input"}``.
    :param model_outputs: batch dict keys for the outputs, e.g. ``["model.logits.head_0", "model.output.head_0"]``.
    :param pre_forward_processing_function: ``f(inputs) -> inputs`` applied to the list (or dict) of inputs.
    :param post_forward_processing_function: ``f(output) -> output`` applied to the model's output.

    >>> import torch
    >>> import torch.nn.functional as F
    >>> def perform_softmax(logits):
    ...     return logits, F.softmax(logits, dim=1)
    >>> model = ModelWrapSeqToDict(
    ...     model=torch.nn.Linear(4, 3),
    ...     model_inputs=["data.image"],
    ...     post_forward_processing_function=perform_softmax,
    ...     model_outputs=["model.logits.classification", "model.output.classification"],
    ... )
    >>> batch = model(NDict({"data.image": torch.zeros(2, 4)}))
    >>> batch["model.output.classification"].shape
    torch.Size([2, 3])
    >>> model.in_features  # forwarded to the wrapped Linear
    4
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        model_inputs: Sequence[str] | Mapping[str, str],
        model_outputs: Sequence[str | None],
        pre_forward_processing_function: Callable[[Any], Any] | None = None,
        post_forward_processing_function: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        for name, keys in (("model_inputs", model_inputs), ("model_outputs", model_outputs)):
            if isinstance(keys, str):
                raise TypeError(
                    f"ModelWrapSeqToDict: {name} must be a sequence of batch_dict keys, not a single str: write "
                    f"{name}=[{keys!r}]"
                )
        if not isinstance(model, nn.Module):
            raise TypeError(f"ModelWrapSeqToDict: model must be a torch.nn.Module, got {type(model).__name__}")
        for name, function in (
            ("pre_forward_processing_function", pre_forward_processing_function),
            ("post_forward_processing_function", post_forward_processing_function),
        ):
            if function is not None and not callable(function):
                raise TypeError(f"ModelWrapSeqToDict: {name} must be callable or None, got {function!r}")
        self.model = model
        self.model_inputs: list[str] | dict[str, str] = (
            dict(model_inputs) if isinstance(model_inputs, Mapping) else list(model_inputs)
        )
        self.model_outputs: list[str | None] = list(model_outputs)
        if not self.model_outputs:
            raise ValueError("ModelWrapSeqToDict: model_outputs is empty; name at least one batch_dict key")
        self.pre_forward_processing_function = pre_forward_processing_function
        self.post_forward_processing_function = post_forward_processing_function

    def forward(self, batch_dict: NDict, *args: Any, **kwargs: Any) -> NDict:
        """Read the inputs, run the model (extra ``args``/``kwargs`` are passed on) and store the outputs."""
        who = "ModelWrapSeqToDict (model_inputs)"
        model_input: Any
        if isinstance(self.model_inputs, dict):
            model_input = {name: batch_value(batch_dict, key, who) for name, key in self.model_inputs.items()}
        else:
            model_input = batch_values(batch_dict, self.model_inputs, who)
        if self.pre_forward_processing_function is not None:
            model_input = self.pre_forward_processing_function(model_input)

        model = self._modules["model"]  # self.model without this class's __getattr__ (it runs every step)
        assert model is not None
        if isinstance(self.model_inputs, dict):
            model_output = model(*args, **model_input, **kwargs)
        else:
            model_output = model(*model_input, *args, **kwargs)

        if self.post_forward_processing_function is not None:
            model_output = self.post_forward_processing_function(model_output)

        if len(self.model_outputs) == 1:
            if self.model_outputs[0] is not None:
                batch_dict[self.model_outputs[0]] = model_output
            return batch_dict
        if isinstance(model_output, torch.Tensor) or not hasattr(model_output, "__getitem__"):
            raise TypeError(
                f"ModelWrapSeqToDict: model_outputs names {len(self.model_outputs)} keys {self.model_outputs}, so "
                f"the model (after post_forward_processing_function) must return a tuple of that many outputs; "
                f"it returned a {type(model_output).__name__}. Name one output key to store the whole output."
            )
        if hasattr(model_output, "__len__") and len(model_output) < len(self.model_outputs):
            raise ValueError(
                f"ModelWrapSeqToDict: the model returned {len(model_output)} outputs but model_outputs names "
                f"{len(self.model_outputs)} keys {self.model_outputs}; use None for outputs to skip"
            )
        for index, key in enumerate(self.model_outputs):
            if key is not None:
                batch_dict[key] = model_output[index]
        return batch_dict

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            model = super().__getattr__("model")  # raises AttributeError before __init__ has set it
            return getattr(model, name)


class ModelWrapDictToSeq(nn.Module):
    """Use a fuse model (batch dict in, batch dict out) as a plain tensor -> tensor module.

    ``forward(input)`` puts ``input`` under ``input_key`` of a new :class:`~fuse.core.NDict`, runs ``fuse_model``
    and returns the value under ``output_key`` (useful for tools that call ``model(x)``, e.g. tracing or
    attribution libraries).

    :param fuse_model: a module taking and returning a batch dict.
    :param output_key: the batch dict key of the output to return, e.g. ``"model.logits.head_0"``.
    :param input_key: the batch dict key the model reads its input from, e.g. ``"data.input.img"``.

    >>> import torch
    >>> fuse_model = ModelWrapSeqToDict(model=torch.nn.Linear(4, 2), model_inputs=["data.x"],
    ...                                 model_outputs=["model.logits.head_0"])
    >>> ModelWrapDictToSeq(fuse_model, output_key="model.logits.head_0", input_key="data.x")(torch.ones(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(self, fuse_model: nn.Module, output_key: str, input_key: str) -> None:
        super().__init__()
        for name, key in (("output_key", output_key), ("input_key", input_key)):
            if not isinstance(key, str):
                raise TypeError(f"ModelWrapDictToSeq: {name} must be a batch_dict key (str), got {key!r}")
        self.model = fuse_model
        self.output_key = output_key
        self.input_key = input_key

    def forward(self, input: torch.Tensor) -> Any:  # `input`: FuseMedML's argument name
        """Run the fuse model on ``{input_key: input}`` and return ``output_key`` of its result."""
        batch_dict = NDict()
        batch_dict[self.input_key] = input
        result = self.model(batch_dict)
        return batch_value(result, self.output_key, "ModelWrapDictToSeq (output_key)")
