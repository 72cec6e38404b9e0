"""Backbone + heads models: :class:`ModelMultiHead`, :class:`ModelMultistream` and :class:`ModelSiamese`.

Each reads its inputs from the batch dict, runs the backbone(s), stores the features under
``model.backbone_features`` (or ``key_out_features``) and then calls every head as ``head(batch_dict)`` in turn;
the heads write their own outputs (``model.logits.<head>``, ``model.output.<head>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value, input_keys

__all__ = ["ModelMultiHead", "ModelMultistream", "ModelSiamese"]


def _run_heads(heads: nn.ModuleList, batch_dict: NDict) -> NDict:
    for head in heads:
        batch_dict = head(batch_dict)
    return batch_dict


def _check_heads(heads: Sequence[nn.Module] | None, who: str) -> nn.ModuleList:
    if heads is None or isinstance(heads, nn.Module) or not isinstance(heads, Sequence):
        raise TypeError(
            f"{who}: heads must be a sequence of head modules, e.g. heads=[Head3D(...)], got {heads!r:.200}"
        )
    return nn.ModuleList(heads)


def _concat_inputs(batch_dict: NDict, keys: Sequence[str], who: str) -> Any:
    """The value of a single key, or the values of several keys concatenated on dim 1 (channels)."""
    values = [batch_value(batch_dict, key, who) for key in keys]
    return values[0] if len(values) == 1 else torch.cat(values, dim=1)


def _stream_input_keys(conv_inputs: Any, who: str) -> list[str]:
    """Keys of ModelMultistream's ``conv_inputs``: one ``(key, channels)`` pair or key, or a sequence of them."""
    if isinstance(conv_inputs, str) or (
        isinstance(conv_inputs, tuple)
        and len(conv_inputs) == 2
        and isinstance(conv_inputs[0], str)
        and isinstance(conv_inputs[1], int)
    ):
        conv_inputs = [conv_inputs]
    return input_keys(conv_inputs, "conv_inputs", who)


class ModelMultiHead(nn.Module):
    """A backbone followed by several heads.

    Give exactly one of ``conv_inputs`` (the values are concatenated on dim 1, the channels, and passed to the
    backbone as one tensor) or ``backbone_args`` (the values are passed to the backbone as positional arguments).
    The backbone's output is stored under ``key_out_features`` and every head is then called with the batch dict.

    :param backbone: the backbone module.
    :param heads: head modules, e.g. ``[Head3D(...)]``.
    :param conv_inputs: batch dict keys, or ``(key, channels)`` pairs (the channel count is not used), e.g.
        ``(("data.input.img", 1),)``.
    :param backbone_args: batch dict keys (or ``(key, n)`` pairs) of the backbone's positional arguments.
    :param key_out_features: where to store the backbone's output.

    >>> import torch
    >>> from fuse.dl import HeadGlobalPoolingClassifier
    >>> model = ModelMultiHead(
    ...     conv_inputs=(("data.input.img", 1),),
    ...     backbone=torch.nn.Conv2d(1, 8, kernel_size=3),
    ...     heads=[HeadGlobalPoolingClassifier(head_name="cls", conv_inputs=[("model.backbone_features", 8)],
    ...                                        num_classes=2, layers_description=(16,))],
    ... )
    >>> batch = model(NDict({"data.input.img": torch.randn(2, 1, 10, 10)}))
    >>> batch["model.backbone_features"].shape, batch["model.output.cls"].shape
    (torch.Size([2, 8, 8, 8]), torch.Size([2, 2]))
    """

    def __init__(
        self,
        backbone: nn.Module,
        heads: Sequence[nn.Module],
        conv_inputs: Sequence[str | tuple[str, int]] | None = None,
        backbone_args: Sequence[str | tuple[str, int]] | None = None,
        key_out_features: str = "model.backbone_features",
    ) -> None:
        super().__init__()
        who = type(self).__name__
        if (conv_inputs is None) == (backbone_args is None):
            given = "both are set" if conv_inputs is not None else "neither is set"
            raise ValueError(
                f"{who}: give exactly one of conv_inputs (inputs concatenated on channels into one backbone input) "
                f"and backbone_args (inputs passed to the backbone as positional arguments); {given}"
            )
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"{who}: backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        self.conv_inputs: list[str] | None = (
            input_keys(conv_inputs, "conv_inputs", who) if conv_inputs is not None else None
        )
        self.backbone_args: list[str] | None = (
            input_keys(backbone_args, "backbone_args", who) if backbone_args is not None else None
        )
        self.backbone = backbone
        self.key_out_features = key_out_features
        self.heads = _check_heads(heads, who)

    def forward(self, batch_dict: NDict) -> NDict:
        """Run the backbone, store its features and run every head; returns the batch dict."""
        who = type(self).__name__
        if self.conv_inputs is not None:
            features = self.backbone(_concat_inputs(batch_dict, self.conv_inputs, f"{who} (conv_inputs)"))
        else:
            assert self.backbone_args is not None
            args = [batch_value(batch_dict, key, f"{who} (backbone_args)") for key in self.backbone_args]
            features = self.backbone(*args)
        batch_dict[self.key_out_features] = features
        return _run_heads(self.heads, batch_dict)


class ModelMultistream(nn.Module):
    """Several backbone streams over parts of one input, their features joined, then several heads.

    By default channel ``i`` of the input goes to stream ``i`` (as a one-channel tensor) and the stream outputs are
    concatenated on channels into ``model.backbone_features``. ``split_logic(batch_dict, backbone_streams)`` (it
    returns the list of stream outputs) and ``join_logic(batch_dict, stream_outputs)`` (it returns the features)
    replace either step.

    :param conv_inputs: the input, as ``(key, channels)`` (or a key); a sequence of those is concatenated on
        channels first.
    :param backbone_streams: one module per stream (pass the same module several times to share weights).
    :param heads: head modules.
    :param split_logic: optional ``(batch_dict, backbone_streams) -> list of stream outputs``.
    :param join_logic: optional ``(batch_dict, stream_outputs) -> features``.

    >>> import torch
    >>> from fuse.dl import HeadGlobalPoolingClassifier
    >>> model = ModelMultistream(
    ...     conv_inputs=("data.input.img", 2),
    ...     backbone_streams=[torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(1, 4, 3)],
    ...     heads=[HeadGlobalPoolingClassifier(conv_inputs=[("model.backbone_features", 8)], layers_description=())],
    ... )
    >>> model(NDict({"data.input.img": torch.randn(2, 2, 6, 6)}))["model.backbone_features"].shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(
        self,
        conv_inputs: tuple[str, int] | str | Sequence[tuple[str, int] | str],
        backbone_streams: Sequence[nn.Module],
        heads: Sequence[nn.Module],
        split_logic: Callable[[NDict, nn.ModuleList], Sequence[torch.Tensor]] | None = None,
        join_logic: Callable[[NDict, Sequence[torch.Tensor]], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        who = "ModelMultistream"
        if conv_inputs is None:
            raise ValueError(f"{who}: conv_inputs must be given, e.g. conv_inputs=('data.input.img', 2)")
        self.conv_inputs = conv_inputs
        self._input_keys = _stream_input_keys(conv_inputs, who)
        for name, function in (("split_logic", split_logic), ("join_logic", join_logic)):
            if function is not None and not callable(function):
                raise TypeError(f"{who}: {name} must be callable or None, got {function!r}")
        self.split_logic = split_logic
        self.join_logic = join_logic
        if isinstance(backbone_streams, nn.Module) or not isinstance(backbone_streams, Sequence):
            raise TypeError(f"{who}: backbone_streams must be a sequence of modules, got {backbone_streams!r:.200}")
        if not backbone_streams:
            raise ValueError(f"{who}: backbone_streams is empty; give one module per stream")
        self.backbone_streams = nn.ModuleList(backbone_streams)
        self.heads = _check_heads(heads, who)

    def forward(self, batch_dict: NDict) -> NDict:
        """Split, run the streams, join into ``model.backbone_features`` and run every head."""
        if self.split_logic is None:
            conv_input = _concat_inputs(batch_dict, self._input_keys, "ModelMultistream (conv_inputs)")
            if conv_input.shape[1] != len(self.backbone_streams):
                raise ValueError(
                    f"ModelMultistream: the default split sends channel i to stream i, but the input has "
                    f"{conv_input.shape[1]} channels (shape {tuple(conv_input.shape)}) and there are "
                    f"{len(self.backbone_streams)} streams; give one stream per channel or a split_logic"
                )
            stream_outputs = [
                stream(conv_input[:, index : index + 1]) for index, stream in enumerate(self.backbone_streams)
            ]
        else:
            stream_outputs = list(self.split_logic(batch_dict, self.backbone_streams))
        if self.join_logic is None:
            features = torch.cat(stream_outputs, dim=1)
        else:
            features = self.join_logic(batch_dict, stream_outputs)
        batch_dict["model.backbone_features"] = features
        return _run_heads(self.heads, batch_dict)


class ModelSiamese(ModelMultiHead):
    """One backbone (shared weights) applied to two inputs; heads see both feature maps.

    ``conv_inputs_0`` and ``conv_inputs_1`` are each concatenated on channels (dim 1) and run through the same
    ``backbone``. The results are stored under ``model.backbone_features_0`` and ``model.backbone_features_1``,
    and concatenated on channels under ``model.backbone_features``; then every head is called.

    :param conv_inputs_0: keys or ``(key, channels)`` pairs of the first input, e.g. ``(("data.input.img_0", 1),)``.
    :param conv_inputs_1: the same for the second input.
    :param backbone: the shared backbone.
    :param heads: head modules.

    >>> import torch
    >>> from fuse.dl import HeadGlobalPoolingClassifier
    >>> model = ModelSiamese(
    ...     conv_inputs_0=(("data.input.img_0", 1),), conv_inputs_1=(("data.input.img_1", 1),),
    ...     backbone=torch.nn.Conv2d(1, 4, 3),
    ...     heads=[HeadGlobalPoolingClassifier(conv_inputs=[("model.backbone_features", 8)], layers_description=())],
    ... )
    >>> batch = model(NDict({"data.input.img_0": torch.randn(2, 1, 6, 6), "data.input.img_1": torch.randn(2, 1, 6, 6)}))
    >>> batch["model.backbone_features_0"].shape, batch["model.backbone_features"].shape
    (torch.Size([2, 4, 4, 4]), torch.Size([2, 8, 4, 4]))
    """

    def __init__(
        self,
        conv_inputs_0: Sequence[str | tuple[str, int]],
        conv_inputs_1: Sequence[str | tuple[str, int]],
        backbone: nn.Module,
        heads: Sequence[nn.Module],
    ) -> None:
        if conv_inputs_0 is None or conv_inputs_1 is None:
            raise ValueError(
                "ModelSiamese: conv_inputs_0 and conv_inputs_1 must both be given, e.g. "
                "conv_inputs_0=(('data.input.img_0', 1),), conv_inputs_1=(('data.input.img_1', 1),)"
            )
        super().__init__(backbone=backbone, heads=heads, conv_inputs=conv_inputs_0)
        self.conv_inputs_0 = input_keys(conv_inputs_0, "conv_inputs_0", "ModelSiamese")
        self.conv_inputs_1 = input_keys(conv_inputs_1, "conv_inputs_1", "ModelSiamese")

    def forward(self, batch_dict: NDict) -> NDict:
        """Run the shared backbone on both inputs, store the three feature keys and run every head."""
        features_0 = self.backbone(_concat_inputs(batch_dict, self.conv_inputs_0, "ModelSiamese (conv_inputs_0)"))
        features_1 = self.backbone(_concat_inputs(batch_dict, self.conv_inputs_1, "ModelSiamese (conv_inputs_1)"))
        batch_dict["model.backbone_features"] = torch.cat([features_0, features_1], dim=1)
        batch_dict["model.backbone_features_0"] = features_0
        batch_dict["model.backbone_features_1"] = features_1
        return _run_heads(self.heads, batch_dict)
