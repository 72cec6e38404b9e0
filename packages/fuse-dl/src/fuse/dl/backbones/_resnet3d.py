"""``BackboneResnet3D``: a configurable 3-D ResNet in torchvision's video ``r3d_18`` layout.

With the default arguments the network is torchvision's ``r3d_18`` without its classifier: a stem
``Conv3d(kernel (3, 7, 7), stride (1, 2, 2), padding (1, 3, 3))``, BatchNorm, ReLU, then four layers of 3-D
``BasicBlock`` s ([2, 2, 2, 2] blocks, 64/128/256/512 channels). Parameter names are torchvision's (``stem.0.weight``,
``layer1.0.conv1.0.weight``, ``layer2.0.downsample.0.weight`` ...), so an r3d_18 state dict loads through ``weights=``
(its ``fc.*`` entries are ignored). FuseMedML's ``pretrained=True`` downloaded them; here it raises.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fuse.dl._weights import WeightsSource, download_refused, init_resnet_weights
from fuse.dl.backbones._common import resnet_layer

__all__ = ["BackboneResnet3D"]


class _Conv3DSimple(nn.Conv3d):
    """torchvision's ``Conv3DSimple``: a bias-free 3x3x3 convolution."""

    def __init__(self, in_planes: int, out_planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, out_planes, kernel_size=(3, 3, 3), stride=stride, padding=1, bias=False)


class _BasicBlock3D(nn.Module):
    """torchvision's video ``BasicBlock``: ``conv1`` = (conv, BN, ReLU), ``conv2`` = (conv, BN), identity shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            _Conv3DSimple(inplanes, planes, stride), nn.BatchNorm3d(planes), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Sequential(_Conv3DSimple(planes, planes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out: torch.Tensor = self.conv2(self.conv1(x))
        out = self.relu(out + residual)
        return out


def _stem(
    in_channels: int, out_channels: int, kernel_size: tuple[int, int, int], stride: tuple[int, int, int]
) -> nn.Sequential:
    padding = (kernel_size[0] // 2, kernel_size[1] // 2, kernel_size[2] // 2)
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


def _triple(value: int | Sequence[int], name: str, what: str) -> tuple[int, int, int]:
    values = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(values) != 3 or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(f"{what}: {name} must be a positive int or 3 positive ints (z, y, x), got {value!r}")
    return (values[0], values[1], values[2])


class BackboneResnet3D(nn.Module):
    """A 3-D ResNet feature extractor (torchvision's video r3d_18 layout by default), without a classifier.

    Compatibility: FuseMedML's arguments and ``in_channels`` rule; its ``pretrained=True`` download raises here.

    :param in_channels: input channels. With RGB ``weights``, 1 sums the stem convolution's weights over the
        channels, and any value other than 1 and 3 keeps a new, randomly initialised, stem.
    :param pool: ``True`` averages globally and returns ``[B, out_dim]``; ``False`` returns the feature map
        ``[B, out_dim, z', y', x']``.
    :param layers: the number of blocks in each of the four layers.
    :param first_channel_dim: channels of the stem and layer1; each later layer doubles them.
    :param first_stride: stride of layer1 (2 halves every spatial axis once more).
    :param stem_kernel_size: kernel of the stem convolution (its padding is ``kernel // 2``).
    :param stem_stride: stride of the stem convolution.
    :param pretrained: ``True`` raises a ``ValueError``: pass ``weights=`` (a local file).
    :param name: the layout; only ``"r3d_18"``.
    :param weights: a local state dict file or a state dict with torchvision's parameter names (``fc.*`` ignored).

    ``out_dim`` (= ``out_channels``) is ``first_channel_dim * 8``.

    >>> import torch
    >>> net = BackboneResnet3D(in_channels=1, first_channel_dim=8, pool=True).eval()
    >>> net(torch.zeros(2, 1, 8, 32, 32)).shape
    torch.Size([2, 64])
    >>> net.out_dim
    64
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        pool: bool = False,
        layers: Sequence[int] = (2, 2, 2, 2),
        first_channel_dim: int = 64,
        first_stride: int = 1,
        stem_kernel_size: int | Sequence[int] = (3, 7, 7),
        stem_stride: int | Sequence[int] = (1, 2, 2),
        pretrained: bool = False,
        name: str = "r3d_18",
        weights: WeightsSource | None = None,
    ) -> None:
        super().__init__()
        what = f"BackboneResnet3D(name={name!r})"
        if pretrained:
            raise download_refused(what, "pretrained=True", "torchvision's r3d_18 state dict")
        if name != "r3d_18":
            raise ValueError(f"BackboneResnet3D: name must be 'r3d_18', got {name!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"{what}: in_channels must be a positive int, got {in_channels!r}")
        if not isinstance(pool, bool):
            raise TypeError(f"{what}: pool must be True or False, got {pool!r}")
        layers = tuple(layers)
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"{what}: layers must be 4 positive ints (blocks per layer), got {layers!r}")
        if not isinstance(first_channel_dim, int) or first_channel_dim < 1:
            raise ValueError(f"{what}: first_channel_dim must be a positive int, got {first_channel_dim!r}")
        if not isinstance(first_stride, int) or first_stride < 1:
            raise ValueError(f"{what}: first_stride must be a positive int, got {first_stride!r}")

        self.in_channels = in_channels
        self.inplanes = first_channel_dim
        self.stem = _stem(
            in_channels,
            first_channel_dim,
            _triple(stem_kernel_size, "stem_kernel_size", what),
            _triple(stem_stride, "stem_stride", what),
        )
        self.layer1 = self._make_layer(first_channel_dim, layers[0], stride=first_stride)
        self.layer2 = self._make_layer(first_channel_dim * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(first_channel_dim * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(first_channel_dim * 8, layers[3], stride=2)
        self.out_dim = first_channel_dim * 8
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self._pool = pool
        init_resnet_weights(
            self, weights, weight_key="stem.0.weight", replace_prefix="stem.", in_channels=in_channels, what=what
        )

    @property
    def out_channels(self) -> int:
        """Channels of the features (``out_dim``)."""
        return self.out_dim

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layer = resnet_layer(
            _BasicBlock3D, inplanes=self.inplanes, planes=planes, blocks=blocks, stride=stride, spatial_dims=3
        )
        self.inplanes = planes
        return layer

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features of ``x`` (``[B, in_channels, z, y, x]``): ``[B, out_dim]`` if ``pool`` else a 5-D map."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"BackboneResnet3D expects [batch, {self.in_channels}, z, y, x] input, got shape {tuple(x.shape)}"
            )
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        if self._pool:
            x = self.avgpool(x).flatten(1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`features`."""
        return self.features(x)
