"""The classifier stacks the heads are built from: ``(layer, ReLU, Dropout)`` repeated, then an output layer.

:class:`ClassifierFCN` uses 1x1 ``Conv2d``, :class:`ClassifierFCN3D` 1x1x1 ``Conv3d`` and :class:`ClassifierMLP`
``Linear`` layers. The layers live in ``self.classifier`` (an ``nn.Sequential``), so state dict keys are
FuseMedML's (``classifier.0.weight``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["ClassifierFCN", "ClassifierFCN3D", "ClassifierMLP"]


def _build_stack(
    who: str,
    make_layer: Callable[[int, int, bool], nn.Module],
    in_ch: int,
    num_classes: int | None,
    layers_description: Sequence[int],
    dropout_rate: float | None,
) -> nn.Sequential:
    """``(layer, ReLU, Dropout)`` per hidden size, then a final layer to ``num_classes`` (unless it is None).

    ``make_layer(in, out, final)`` builds one layer; ``final`` is True for the output layer.
    """
    sizes = [in_ch, *layers_description] + ([num_classes] if num_classes is not None else [])
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"{who}: in_ch, layers_description and num_classes must be positive ints, got in_ch={in_ch!r}, "
                f"layers_description={tuple(layers_description)!r}, num_classes={num_classes!r}"
            )
    if dropout_rate is not None and not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"{who}: dropout_rate must be in [0, 1), got {dropout_rate!r}")
    layers: list[nn.Module] = []
    last = in_ch
    for size in layers_description:
        layers.append(make_layer(last, size, False))
        layers.append(nn.ReLU())
        if dropout_rate:
            layers.append(nn.Dropout(p=dropout_rate))
        last = size
    if num_classes is not None:
        layers.append(make_layer(last, num_classes, True))
    return nn.Sequential(*layers)


class _ClassifierStack(nn.Module):
    """What the classifiers share: the stack of :func:`_build_stack` in ``self.classifier``, applied by ``forward``."""

    def __init__(
        self,
        make_layer: Callable[[int, int, bool], nn.Module],
        in_ch: int,
        num_classes: int | None,
        layers_description: Sequence[int],
        dropout_rate: float | None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.classifier = _build_stack(name, make_layer, in_ch, num_classes, layers_description, dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the stack to ``x``: ``[B, in_ch]`` (MLP), ``[B, in_ch, H, W]`` (FCN) or ``[B, in_ch, D, H, W]`` (3-D)."""
        result: torch.Tensor = self.classifier(x)
        return result


class ClassifierFCN(_ClassifierStack):
    """A fully convolutional classifier: ``(Conv2d 1x1, ReLU, Dropout)`` per hidden layer, then ``Conv2d 1x1``.

    Maps ``[B, in_ch, H, W]`` to ``[B, num_classes, H, W]`` (``[B, layers_description[-1], H, W]`` when
    ``num_classes`` is None).

    :param in_ch: input channels.
    :param num_classes: output channels of the final 1x1 conv; None: no final conv.
    :param layers_description: hidden layer sizes (may be empty).
    :param dropout_rate: dropout after each hidden layer; 0 or None: no dropout layers.

    >>> import torch
    >>> ClassifierFCN(in_ch=8, num_classes=3, layers_description=(16,))(torch.zeros(2, 8, 5, 5)).shape
    torch.Size([2, 3, 5, 5])
    """

    _conv: Callable[..., nn.Module] = nn.Conv2d  # ClassifierFCN3D: nn.Conv3d

    def __init__(
        self,
        in_ch: int,
        num_classes: int | None,
        layers_description: Sequence[int] = (256,),
        dropout_rate: float | None = 0.1,
    ) -> None:
        conv = self._conv
        one_by_one = lambda i, o, _final: conv(i, o, kernel_size=1, stride=1)
        super().__init__(one_by_one, in_ch, num_classes, layers_description, dropout_rate)


class ClassifierFCN3D(ClassifierFCN):
    """:class:`ClassifierFCN` with ``Conv3d`` 1x1x1 layers: ``[B, in_ch, D, H, W]`` -> ``[B, num_classes, D, H, W]``.

    :param in_ch: input channels.
    :param num_classes: output channels of the final conv; None: no final conv.
    :param layers_description: hidden layer sizes (may be empty).
    :param dropout_rate: dropout after each hidden layer; 0 or None: no dropout layers.

    >>> import torch
    >>> ClassifierFCN3D(in_ch=8, num_classes=2, layers_description=())(torch.zeros(2, 8, 1, 1, 1)).shape
    torch.Size([2, 2, 1, 1, 1])
    """

    _conv = nn.Conv3d


class ClassifierMLP(_ClassifierStack):
    """A multilayer perceptron: ``(Linear, ReLU, Dropout)`` per hidden layer, then ``Linear`` to ``num_classes``.

    Maps ``[B, in_ch]`` to ``[B, num_classes]`` (``[B, layers_description[-1]]`` when ``num_classes`` is None).

    :param in_ch: input features.
    :param num_classes: outputs of the final linear layer; None: no final layer.
    :param layers_description: hidden layer sizes (may be empty).
    :param dropout_rate: dropout after each hidden layer; 0 or None: no dropout layers.
    :param bias: whether the final linear layer has a bias (the hidden layers always have one).

    >>> import torch
    >>> ClassifierMLP(in_ch=8, num_classes=3, layers_description=(16, 4))(torch.zeros(2, 8)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        in_ch: int,
        num_classes: int | None = None,
        layers_description: Sequence[int] = (256,),
        dropout_rate: float | None = 0.1,
        bias: bool = True,
    ) -> None:
        linear = lambda i, o, final: nn.Linear(i, o, bias=bias or not final)  # bias: the final layer's only
        super().__init__(linear, in_ch, num_classes, layers_description, dropout_rate)
