"""Heads: modules that read features from the batch dict and write ``model.logits.<head>``, ``model.output.<head>``.

Classification heads write the logits and their softmax over dim 1; regression heads (``mode="regression"``)
write only ``model.output.<head_name>``. Inputs are named as ``(key, size)`` pairs: the size is the channel
count of a feature map or the length of a per-sample feature vector, and it is checked against the batch.
Vector inputs (``append_features``, ``tabular_data_inputs``, ``post_concat_inputs``) may be ``[B, n]`` or any
shape with ``n`` values per sample; they are cast to the head's parameter dtype (so float64 or integer clinical
values from a DataFrame work).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value
from fuse.dl.heads._classifiers import ClassifierFCN, ClassifierFCN3D, ClassifierMLP

__all__ = ["Head1D", "Head3D", "HeadDenseSegmentation", "HeadGlobalPoolingClassifier"]

_MODES = (None, "classification", "regression")


def _keys_and_sizes(
    spec: Sequence[tuple[str, int]] | None, arg_name: str, who: str, *, required: bool = False
) -> list[tuple[str, int]] | None:
    """Check ``spec`` is a sequence of ``(key, positive int)`` pairs; a list copy of it, or None."""
    if spec is None:
        if required:
            raise ValueError(f"{who}: {arg_name} must be given, e.g. {arg_name}=(('model.backbone_features', 512),)")
        return None
    example = f"e.g. {arg_name}=(('model.backbone_features', 512),)"
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise TypeError(f"{who}: {arg_name} must be a sequence of (key, size) pairs, {example}; got {spec!r}")
    pairs: list[tuple[str, int]] = []
    for entry in spec:
        if (
            not isinstance(entry, (tuple, list))
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or isinstance(entry[1], bool)
            or not isinstance(entry[1], int)
            or entry[1] < 1
        ):
            raise TypeError(f"{who}: every entry of {arg_name} must be a (key, positive size) pair, got {entry!r}")
        pairs.append((entry[0], entry[1]))
    if required and not pairs:
        raise ValueError(f"{who}: {arg_name} is empty; {example}")
    return pairs


def _check_mode(mode: str | None, who: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"{who}: mode must be one of {_MODES}, got {mode!r}")


def _check_rate(rate: float | None, name: str, who: str) -> None:
    if rate is not None and not 0.0 <= rate < 1.0:
        raise ValueError(f"{who}: {name} must be in [0, 1), got {rate!r}")


def _tensor(batch_dict: Mapping[str, Any], key: str, who: str) -> torch.Tensor:
    value = batch_value(batch_dict, key, who)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{who}: batch_dict[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
    return value


def _read_maps(
    batch_dict: Mapping[str, Any], spec: Sequence[tuple[str, int]], arg_name: str, who: str, ndim: int | None
) -> list[torch.Tensor]:
    """The tensors of ``spec``, each checked to be ``[B, channels, ...]`` (with ``ndim`` dims when given)."""
    maps = []
    for key, channels in spec:
        value = _tensor(batch_dict, key, f"{who} ({arg_name})")
        if (ndim is not None and value.ndim != ndim) or value.ndim < 2 or value.shape[1] != channels:
            layout = f"a {ndim}-D [B, {channels}, ...] tensor" if ndim is not None else f"a [B, {channels}, ...] tensor"
            raise ValueError(
                f"{who}: {arg_name} declares {key!r} as {layout}, but batch_dict[{key!r}] has shape "
                f"{tuple(value.shape)}; fix the declared channel count or the input"
            )
        maps.append(value)
    return maps


def _read_vectors(
    batch_dict: Mapping[str, Any], spec: Sequence[tuple[str, int]], arg_name: str, who: str, dtype: torch.dtype
) -> torch.Tensor:
    """The values of ``spec`` as ``[B, n]`` each (sizes checked), cast to ``dtype`` and concatenated on dim 1."""
    vectors = []
    for key, size in spec:
        value = _tensor(batch_dict, key, f"{who} ({arg_name})")
        if value.ndim == 0 or value.shape[1:].numel() != size:
            raise ValueError(
                f"{who}: {arg_name} declares {key!r} with {size} values per sample, but batch_dict[{key!r}] has "
                f"shape {tuple(value.shape)}; fix the declared size or the input"
            )
        vectors.append((value[:, None] if value.ndim == 1 else value.flatten(1)).to(dtype))
    return torch.cat(vectors, dim=1)


def _vector_module(in_size: int, layers_description: Sequence[int], dropout_rate: float) -> tuple[nn.Module, int]:
    """``(Identity, in_size)`` for no layers, else ``(ClassifierMLP without output layer, last size)``."""
    if len(layers_description) == 0:
        return nn.Identity(), in_size
    module = ClassifierMLP(in_size, None, layers_description=layers_description, dropout_rate=dropout_rate)
    return module, layers_description[-1]


def _param_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of the module's parameters (the default dtype for a module without any)."""
    parameter = next(module.parameters(), None)
    return parameter.dtype if parameter is not None else torch.get_default_dtype()


class HeadGlobalPoolingClassifier(nn.Module):
    """Classifier head: global max or average pooling of feature maps, optional tabular inputs, then a 1x1-conv MLP.

    ``forward(batch_dict)`` pools each ``conv_inputs`` map over its spatial dims (a ``[B, C]`` input is used as it
    is), concatenates them on channels, appends the tabular vectors (through an optional MLP) and writes
    ``model.logits.<head_name>`` and ``model.output.<head_name>`` (softmax), both ``[B, num_classes]``.

    :param head_name: the head's name in the output keys.
    :param conv_inputs: ``(key, channels)`` of the feature maps, e.g. ``(("model.backbone_features", 384),)``.
    :param num_classes: number of classes.
    :param tabular_data_inputs: ``(key, size)`` of per-sample vectors concatenated before the classifier.
    :param pooling: ``"max"`` or ``"avg"``.
    :param layers_description: hidden layer sizes of the classifier.
    :param tabular_layers_description: hidden layer sizes of an MLP applied to the tabular vectors first
        (empty: none).
    :param dropout_rate: dropout in the classifier.
    :param tabular_dropout_rate: dropout in the tabular MLP.
    :param shared_classifier_head: a module to use as the classifier instead of building one (e.g. shared
        between heads); it gets ``[B, features, 1, 1]``.

    >>> import torch
    >>> head = HeadGlobalPoolingClassifier(head_name="cls", conv_inputs=(("model.backbone_features", 8),),
    ...                                    num_classes=3, layers_description=(16,))
    >>> batch = head(NDict({"model.backbone_features": torch.randn(2, 8, 4, 4)}))
    >>> batch["model.logits.cls"].shape, torch.allclose(batch["model.output.cls"].sum(dim=1), torch.ones(2))
    (torch.Size([2, 3]), True)
    """

    def __init__(
        self,
        head_name: str = "head_0",
        conv_inputs: Sequence[tuple[str, int]] | None = None,
        num_classes: int = 2,
        tabular_data_inputs: Sequence[tuple[str, int]] | None = None,
        pooling: str = "max",
        layers_description: Sequence[int] = (256,),
        tabular_layers_description: Sequence[int] = (),
        dropout_rate: float = 0.1,
        tabular_dropout_rate: float = 0.0,
        shared_classifier_head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        who = f"HeadGlobalPoolingClassifier {head_name!r}"
        if pooling not in ("max", "avg"):
            raise ValueError(f"{who}: pooling must be 'max' or 'avg', got {pooling!r}")
        _check_rate(tabular_dropout_rate, "tabular_dropout_rate", who)
        self._who = who
        self.head_name = head_name
        self.conv_inputs = _keys_and_sizes(conv_inputs, "conv_inputs", who, required=True)
        self.tabular_data_inputs = _keys_and_sizes(tabular_data_inputs, "tabular_data_inputs", who)
        self.pooling = pooling
        assert self.conv_inputs is not None  # required=True
        feature_depth = sum(channels for _, channels in self.conv_inputs)
        self.tabular_module: nn.Module | None = None
        if self.tabular_data_inputs is not None:
            in_size = sum(size for _, size in self.tabular_data_inputs)
            self.tabular_module, out_size = _vector_module(in_size, tabular_layers_description, tabular_dropout_rate)
            feature_depth += out_size
        if shared_classifier_head is not None:
            self.classifier_head_module: nn.Module = shared_classifier_head
        else:
            self.classifier_head_module = ClassifierFCN(
                in_ch=feature_depth,
                num_classes=num_classes,
                layers_description=layers_description,
                dropout_rate=dropout_rate,
            )

    def forward(self, batch_dict: NDict) -> NDict:
        """Write ``model.logits.<head_name>`` and ``model.output.<head_name>`` into ``batch_dict``."""
        assert self.conv_inputs is not None
        pooled = []
        for value in _read_maps(batch_dict, self.conv_inputs, "conv_inputs", self._who, ndim=None):
            spatial = tuple(range(2, value.ndim))  # empty for a [B, C] input, which is used as it is
            if not spatial:
                pooled.append(value)
            else:
                pooled.append(value.amax(dim=spatial) if self.pooling == "max" else value.mean(dim=spatial))
        features = torch.cat(pooled, dim=1)
        if self.tabular_data_inputs is not None and self.tabular_module is not None:
            tabular = _read_vectors(
                batch_dict, self.tabular_data_inputs, "tabular_data_inputs", self._who, _param_dtype(self)
            )
            features = torch.cat([features, self.tabular_module(tabular)], dim=1)
        logits = self.classifier_head_module(features[:, :, None, None])
        if logits.ndim > 2:
            logits = logits.flatten(1)  # [B, num_classes, 1, 1] -> [B, num_classes]
        batch_dict["model.logits." + self.head_name] = logits
        batch_dict["model.output." + self.head_name] = F.softmax(logits, dim=1)
        return batch_dict


class HeadDenseSegmentation(nn.Module):
    """Dense segmentation head: class scores at every location of a feature map, by a 1x1-conv MLP.

    ``forward(batch_dict)`` concatenates the ``conv_inputs`` maps on channels, optionally max-pools them,
    broadcasts the ``post_concat_inputs`` vectors to every location and writes ``model.logits.<head_name>`` and
    ``model.output.<head_name>`` (softmax over classes), both ``[B, num_classes, *spatial]`` at the (pooled)
    feature map's resolution.

    :param head_name: the head's name in the output keys.
    :param conv_inputs: ``(key, channels)`` of the feature maps, e.g. ``(("model.backbone_features", 64),)``.
    :param num_classes: number of classes.
    :param post_concat_inputs: ``(key, size)`` of per-sample vectors appended to every location.
    :param maxpool_kernel: kernel of an optional max pooling applied first (to shrink the map).
    :param layers_description: hidden layer sizes of the classifier.
    :param dropout_rate: dropout in the classifier.
    :param shared_classifier_head: a module to use as the classifier instead of building one.
    :param spatial_dims: 2 (``[B, C, H, W]`` maps, ``Conv2d``) or 3 (``[B, C, D, H, W]``, ``Conv3d``).

    >>> import torch
    >>> head = HeadDenseSegmentation(head_name="seg", conv_inputs=(("model.backbone_features", 8),),
    ...                              num_classes=3, layers_description=(16,))
    >>> head(NDict({"model.backbone_features": torch.randn(2, 8, 5, 6)}))["model.output.seg"].shape
    torch.Size([2, 3, 5, 6])
    """

    def __init__(
        self,
        head_name: str = "head_0",
        conv_inputs: Sequence[tuple[str, int]] | None = None,
        num_classes: int = 2,
        post_concat_inputs: Sequence[tuple[str, int]] | None = None,
        maxpool_kernel: int | tuple[int, ...] | None = None,
        layers_description: Sequence[int] = (256,),
        dropout_rate: float = 0.1,
        shared_classifier_head: nn.Module | None = None,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        who = f"HeadDenseSegmentation {head_name!r}"
        if spatial_dims not in (2, 3):
            raise ValueError(f"{who}: spatial_dims must be 2 or 3, got {spatial_dims!r}")
        self._who = who
        self.head_name = head_name
        self.conv_inputs = _keys_and_sizes(conv_inputs, "conv_inputs", who, required=True)
        self.post_concat_inputs = _keys_and_sizes(post_concat_inputs, "post_concat_inputs", who)
        self.maxpool_kernel = maxpool_kernel
        self.spatial_dims = spatial_dims
        assert self.conv_inputs is not None  # required=True
        feature_depth = sum(channels for _, channels in self.conv_inputs)
        if self.post_concat_inputs is not None:
            feature_depth += sum(size for _, size in self.post_concat_inputs)
        if shared_classifier_head is not None:
            self.classifier_head_module: nn.Module = shared_classifier_head
        else:
            classifier = ClassifierFCN if spatial_dims == 2 else ClassifierFCN3D
            self.classifier_head_module = classifier(
                in_ch=feature_depth,
                num_classes=num_classes,
                layers_description=layers_description,
                dropout_rate=dropout_rate,
            )

    def forward(self, batch_dict: NDict) -> NDict:
        """Write ``model.logits.<head_name>`` and ``model.output.<head_name>`` into ``batch_dict``."""
        assert self.conv_inputs is not None
        maps = _read_maps(batch_dict, self.conv_inputs, "conv_inputs", self._who, ndim=2 + self.spatial_dims)
        features = torch.cat(maps, dim=1)
        if self.maxpool_kernel is not None:
            pool = F.max_pool2d if self.spatial_dims == 2 else F.max_pool3d
            features = pool(features, kernel_size=self.maxpool_kernel)
        if self.post_concat_inputs is not None:
            vectors = _read_vectors(
                batch_dict, self.post_concat_inputs, "post_concat_inputs", self._who, features.dtype
            )
            vectors = vectors.reshape(*vectors.shape, *(1,) * self.spatial_dims).expand(-1, -1, *features.shape[2:])
            features = torch.cat([features, vectors], dim=1)
        logits = self.classifier_head_module(features)
        batch_dict["model.logits." + self.head_name] = logits
        batch_dict["model.output." + self.head_name] = F.softmax(logits, dim=1)
        return batch_dict


class _VectorHead(nn.Module):
    """What :class:`Head1D` and :class:`Head3D` share: the checked inputs, the ``append_features`` MLP and the
    output keys."""

    def _set_inputs(
        self,
        head_name: str,
        mode: str | None,
        conv_inputs: Sequence[tuple[str, int]] | None,
        append_features: Sequence[tuple[str, int]] | None,
        append_layers_description: Sequence[int],
        append_dropout_rate: float,
    ) -> None:
        """Check and keep the inputs; ``features_size`` becomes the classifier's input size."""
        who = f"{type(self).__name__} {head_name!r}"  # errors name the head
        _check_mode(mode, who)
        _check_rate(append_dropout_rate, "append_dropout_rate", who)
        self._who = who
        self.head_name = head_name
        self.mode = mode
        self.conv_inputs = _keys_and_sizes(conv_inputs, "conv_inputs", who)
        self.append_features = _keys_and_sizes(append_features, "append_features", who)
        if not self.conv_inputs and not self.append_features:
            raise ValueError(f"{who}: give conv_inputs, append_features or both; both are empty")
        self.features_size = sum(size for _, size in self.conv_inputs or ())
        self.append_features_module: nn.Module | None = None
        if self.append_features:
            in_size = sum(size for _, size in self.append_features)
            self.append_features_module, out_size = _vector_module(
                in_size, append_layers_description, append_dropout_rate
            )
            self.features_size += out_size

    def _appended(self, batch_dict: NDict) -> torch.Tensor | None:
        """The ``append_features`` vectors through their MLP, ``[B, n]``; None without them."""
        if not self.append_features or self.append_features_module is None:
            return None
        appended = _read_vectors(batch_dict, self.append_features, "append_features", self._who, _param_dtype(self))
        result: torch.Tensor = self.append_features_module(appended)
        return result

    def _write_outputs(self, batch_dict: NDict, result: torch.Tensor, regression_output: torch.Tensor) -> NDict:
        if self.mode == "regression":
            batch_dict["model.output." + self.head_name] = regression_output
        else:
            batch_dict["model.logits." + self.head_name] = result
            batch_dict["model.output." + self.head_name] = F.softmax(result, dim=1)
        return batch_dict


class Head1D(_VectorHead):
    """Head over per-sample feature vectors: concatenated inputs, then an MLP.

    ``forward(batch_dict)`` concatenates the ``conv_inputs`` vectors (``[B, n]`` each) and the ``append_features``
    vectors (through an optional MLP) on dim 1 and runs the classifier MLP. Classification (``mode`` None or
    ``"classification"``) writes ``model.logits.<head_name>`` and ``model.output.<head_name>`` (softmax), both
    ``[B, num_outputs]``; regression writes only ``model.output.<head_name>``, squeezed on dim 1 (``[B]`` for
    ``num_outputs=1``).

    :param head_name: the head's name in the output keys.
    :param mode: ``"classification"`` (or None) or ``"regression"``.
    :param conv_inputs: ``(key, size)`` of the feature vectors, e.g. ``(("model.backbone_features", 193),)``;
        None: only ``append_features`` are used.
    :param num_outputs: number of classes, or of regression outputs.
    :param append_features: ``(key, size)`` of additional vectors (e.g. clinical data).
    :param layers_description: hidden layer sizes of the classifier MLP.
    :param append_layers_description: hidden layer sizes of an MLP applied to ``append_features`` first
        (empty: none).
    :param append_dropout_rate: dropout in that MLP.
    :param dropout_rate: dropout in the classifier MLP.

    >>> import torch
    >>> head = Head1D(head_name="age", mode="regression", conv_inputs=(("model.backbone_features", 8),),
    ...               num_outputs=1, layers_description=(4,))
    >>> head(NDict({"model.backbone_features": torch.randn(3, 8)}))["model.output.age"].shape
    torch.Size([3])
    """

    def __init__(
        self,
        head_name: str = "head_0",
        mode: str | None = None,
        conv_inputs: Sequence[tuple[str, int]] | None = None,
        num_outputs: int = 2,
        append_features: Sequence[tuple[str, int]] | None = None,
        layers_description: Sequence[int] = (256,),
        append_layers_description: Sequence[int] = (),
        append_dropout_rate: float = 0.0,
        dropout_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self._set_inputs(head_name, mode, conv_inputs, append_features, append_layers_description, append_dropout_rate)
        self.head_module = ClassifierMLP(
            in_ch=self.features_size,
            num_classes=num_outputs,
            layers_description=layers_description,
            dropout_rate=dropout_rate,
        )

    def forward(self, batch_dict: NDict) -> NDict:
        """Write the head's outputs (see the class docstring) into ``batch_dict``."""
        parts = []
        if self.conv_inputs:
            parts.append(_read_vectors(batch_dict, self.conv_inputs, "conv_inputs", self._who, _param_dtype(self)))
        appended = self._appended(batch_dict)
        if appended is not None:
            parts.append(appended)
        result = self.head_module(torch.cat(parts, dim=1))
        return self._write_outputs(batch_dict, result, regression_output=result.squeeze(dim=1))


class Head3D(_VectorHead):
    """Head over 3-D feature maps: global max pooling, dropout, optional appended vectors, then a 1x1x1-conv MLP.

    ``forward(batch_dict)`` concatenates the ``conv_inputs`` maps (``[B, C, D, H, W]``) on channels, max-pools
    them globally, applies ``Dropout3d(dropout_rate)``, appends the ``append_features`` vectors (through an
    optional MLP) and runs :class:`ClassifierFCN3D`. Classification (``mode`` None or ``"classification"``)
    writes ``model.logits.<head_name>`` and ``model.output.<head_name>`` (softmax), both ``[B, num_outputs]``;
    regression writes only ``model.output.<head_name>``, ``[B, num_outputs]`` (as FuseMedML).

    :param head_name: the head's name in the output keys.
    :param mode: ``"classification"`` (or None) or ``"regression"``.
    :param conv_inputs: ``(key, channels)`` of the feature maps, e.g. ``[("model.backbone_features", 512)]``;
        None: a model of the appended (e.g. clinical) features only.
    :param dropout_rate: ``Dropout3d`` rate after the pooling.
    :param num_outputs: number of classes, or of regression outputs.
    :param append_features: ``(key, size)`` of per-sample vectors appended after the pooling, e.g.
        ``[("data.input.clinical", 8)]``.
    :param layers_description: hidden layer sizes of the classifier.
    :param append_layers_description: hidden layer sizes of an MLP applied to ``append_features`` first
        (empty: none).
    :param append_dropout_rate: dropout in that MLP.
    :param fused_dropout_rate: dropout in the classifier's hidden layers.

    >>> import torch
    >>> head = Head3D(head_name="classification", mode="classification",
    ...               conv_inputs=[("model.backbone_features", 16)], num_outputs=2,
    ...               append_features=[("data.input.clinical", 8)], append_layers_description=(32, 4))
    >>> batch = NDict({"model.backbone_features": torch.randn(2, 16, 2, 3, 3),
    ...                "data.input.clinical": torch.randn(2, 8)})
    >>> head(batch)["model.output.classification"].shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        head_name: str = "head_0",
        mode: str | None = None,
        conv_inputs: Sequence[tuple[str, int]] | None = None,
        dropout_rate: float = 0.1,
        num_outputs: int = 3,
        append_features: Sequence[tuple[str, int]] | None = None,
        layers_description: Sequence[int] = (256,),
        append_layers_description: Sequence[int] = (),
        append_dropout_rate: float = 0.0,
        fused_dropout_rate: float = 0.0,
    ) -> None:
        super().__init__()
        _check_rate(dropout_rate, "dropout_rate", f"Head3D {head_name!r}")
        self._set_inputs(head_name, mode, conv_inputs, append_features, append_layers_description, append_dropout_rate)
        self.dropout_rate = dropout_rate
        self.num_outputs = num_outputs
        self.gmp = nn.AdaptiveMaxPool3d(output_size=1)
        self.conv_classifier_3d = ClassifierFCN3D(
            self.features_size, self.num_outputs, layers_description, fused_dropout_rate
        )
        self.do = nn.Dropout3d(p=self.dropout_rate)

    def forward(self, batch_dict: NDict) -> NDict:
        """Write the head's outputs (see the class docstring) into ``batch_dict``."""
        parts = []
        if self.conv_inputs:
            maps = _read_maps(batch_dict, self.conv_inputs, "conv_inputs", self._who, ndim=5)
            parts.append(self.do(self.gmp(torch.cat(maps, dim=1))))  # [B, C, 1, 1, 1]
        appended = self._appended(batch_dict)
        if appended is not None:
            parts.append(appended.reshape(*appended.shape, 1, 1, 1))
        logits = self.conv_classifier_3d(torch.cat(parts, dim=1)).flatten(1)  # [B, num_outputs]
        return self._write_outputs(batch_dict, logits, regression_output=logits)
