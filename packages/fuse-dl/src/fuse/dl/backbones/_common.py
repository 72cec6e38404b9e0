"""What the ResNet backbones share: torchvision's layer of residual blocks, in 2-D or 3-D.

>>> from torch import nn
>>> class Block(nn.Module):
...     expansion = 1
...     def __init__(self, inplanes, planes, stride=1, downsample=None):
...         super().__init__()
...         self.downsample = downsample
>>> layer = resnet_layer(Block, inplanes=64, planes=128, blocks=2, stride=2, spatial_dims=2)
>>> len(layer), type(layer[0].downsample[0]).__name__, layer[1].downsample is None
(2, 'Conv2d', True)
"""

from __future__ import annotations

from typing import Protocol

from torch import nn

__all__ = ["ResidualBlock", "resnet_layer"]


class ResidualBlock(Protocol):
    """A residual block class: ``block(inplanes, planes, stride, downsample)`` gives ``planes * expansion``
    channels."""

    expansion: int

    def __call__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> nn.Module: ...


def resnet_layer(
    block: ResidualBlock, *, inplanes: int, planes: int, blocks: int, stride: int, spatial_dims: int
) -> nn.Sequential:
    """torchvision's ``ResNet._make_layer``: ``blocks`` blocks of ``planes * block.expansion`` output channels; the
    first takes ``inplanes`` channels and the ``stride``, with a projected shortcut (``downsample``: a 1x1
    convolution and a batch norm) when the stride or the width changes. Module names are torchvision's."""
    conv, norm = (nn.Conv2d, nn.BatchNorm2d) if spatial_dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
    width = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != width:
        downsample = nn.Sequential(conv(inplanes, width, kernel_size=1, stride=stride, bias=False), norm(width))
    first = block(inplanes, planes, stride, downsample)
    return nn.Sequential(first, *(block(width, planes) for _ in range(1, blocks)))
