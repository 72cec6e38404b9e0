"""``BackboneMultilayerPerceptron``: a stack of Linear, activation and (optional) Dropout layers.

The modules sit in ``self.mlp`` in FuseMedML's order (Linear, activation, Dropout, Linear, ...), so FuseMedML state
dicts (``mlp.0.weight``, ``mlp.2.weight`` ...) load.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["BackboneMultilayerPerceptron"]


class BackboneMultilayerPerceptron(nn.Module):
    """A multilayer perceptron: ``Linear -> activation -> Dropout`` for each entry of ``layers``.

    :param layers: the output size of each Linear layer; the last one is the feature size.
    :param mlp_input_size: the size of the input vectors (``[B, mlp_input_size]``).
    :param activation_layer: the activation after every Linear layer: a module (each layer gets its own copy), a
        callable returning a new module (the default, ``nn.ReLU``), or ``None`` for none.
    :param dropout_rate: the Dropout probability after every activation; 0 adds no Dropout layer.

    >>> import torch
    >>> mlp = BackboneMultilayerPerceptron(layers=(16, 4), mlp_input_size=10)
    >>> mlp(torch.zeros(3, 10)).shape
    torch.Size([3, 4])
    >>> [type(m).__name__ for m in mlp.mlp]
    ['Linear', 'ReLU', 'Linear', 'ReLU']
    """

    def __init__(
        self,
        layers: Sequence[int] = (64, 192, 320, 320, 1088, 384),
        mlp_input_size: int = 103,
        activation_layer: nn.Module | Callable[[], nn.Module] | None = nn.ReLU,
        dropout_rate: float = 0.0,
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        if not layers or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers):
            raise ValueError(f"BackboneMultilayerPerceptron: layers must be one or more positive ints, got {layers!r}")
        if isinstance(mlp_input_size, bool) or not isinstance(mlp_input_size, int) or mlp_input_size < 1:
            raise ValueError(
                f"BackboneMultilayerPerceptron: mlp_input_size must be a positive int, got {mlp_input_size!r}"
            )
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"BackboneMultilayerPerceptron: dropout_rate must be in [0, 1), got {dropout_rate!r}")
        if (
            activation_layer is not None
            and not isinstance(activation_layer, nn.Module)
            and not callable(activation_layer)
        ):
            raise TypeError(
                "BackboneMultilayerPerceptron: activation_layer must be an nn.Module, a callable returning one, or "
                f"None, got {activation_layer!r}"
            )
        self.mlp_input_size = mlp_input_size
        self.out_features = layers[-1]
        modules: list[nn.Module] = []
        for in_size, out_size in zip((mlp_input_size, *layers[:-1]), layers, strict=True):
            modules.append(nn.Linear(in_size, out_size))
            activation = _new_activation(activation_layer)
            if activation is not None:
                modules.append(activation)
            if dropout_rate > 0:
                modules.append(nn.Dropout(p=dropout_rate))
        self.mlp = nn.Sequential(*modules)

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """``[B, mlp_input_size]`` -> ``[B, layers[-1]]`` (any leading dimensions work, as with ``nn.Linear``)."""
        if input_tensor.shape[-1] != self.mlp_input_size:
            raise ValueError(
                f"BackboneMultilayerPerceptron expects inputs whose last dimension is mlp_input_size="
                f"{self.mlp_input_size}, got shape {tuple(input_tensor.shape)}"
            )
        out: torch.Tensor = self.mlp(input_tensor)
        return out


def _new_activation(activation_layer: nn.Module | Callable[[], nn.Module] | None) -> nn.Module | None:
    if activation_layer is None:
        return None
    if isinstance(activation_layer, nn.Module):
        return copy.deepcopy(activation_layer)
    activation = activation_layer()
    if not isinstance(activation, nn.Module):
        raise TypeError(f"BackboneMultilayerPerceptron: activation_layer() returned {activation!r}, not an nn.Module")
    return activation
