"""``BackboneResnet``: 2-D resnet18/34/50 feature extractors in torchvision's layout, written with ``torch.nn``.

The modules and parameter names are torchvision's ``ResNet`` (``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of
``BasicBlock`` or ``Bottleneck`` with ``conv1/bn1/conv2/bn2(/conv3/bn3)/downsample.0/.1``), without ``fc``: a
torchvision resnet state dict loads through ``weights=`` (its ``fc.*`` entries are ignored). Nothing is downloaded;
FuseMedML's ``pretrained=True`` raises a ``ValueError`` that says to pass a local weights file.
"""

from __future__ import annotations

import torch
from torch import nn

from fuse.dl._weights import WeightsSource, download_refused, init_resnet_weights
from fuse.dl.backbones._common import resnet_layer

__all__ = ["BackboneResnet"]


class _BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3x3 convolutions and an identity (or projected) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out: torch.Tensor = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.relu(out + identity)
        return out


class _Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` (ResNet v1.5: the stride is on the 3x3 convolution), expansion 4."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out: torch.Tensor = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.relu(out + identity)
        return out


_LAYOUTS: dict[str, tuple[type[_BasicBlock | _Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (_BasicBlock, (2, 2, 2, 2)),
    "resnet34": (_BasicBlock, (3, 4, 6, 3)),
    "resnet50": (_Bottleneck, (3, 4, 6, 3)),
}
_POOLS = (None, "avg", "max")


class BackboneResnet(nn.Module):
    """A 2-D ResNet feature extractor (resnet18, resnet34 or resnet50) without the classifier.

    Compatibility: FuseMedML's arguments and ``in_channels`` rule; its ``pretrained=True`` download raises here.

    :param pretrained: ``True`` raises a ``ValueError``: pass ``weights=`` (a local file).
    :param weights: a local state dict file or a state dict with torchvision's parameter names (``fc.*`` ignored).
    :param in_channels: input channels. With RGB ``weights``, 1 sums ``conv1``'s weights over the channels, and any
        value other than 1 and 3 keeps a new, randomly initialised, ``conv1``.
    :param name: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
    :param pool: ``None`` returns the feature map ``[B, C, H/32, W/32]``; ``"avg"`` or ``"max"`` pools it globally
        to ``[B, C]``. ``C`` (``out_channels``) is 512 for resnet18/34 and 2048 for resnet50.

    >>> import torch
    >>> net = BackboneResnet(name="resnet18", in_channels=1, pool="avg").eval()
    >>> net(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 512])
    >>> net.out_channels
    512
    """

    def __init__(
        self,
        *,
        pretrained: bool = False,
        weights: WeightsSource | None = None,
        in_channels: int = 3,
        name: str = "resnet18",
        pool: str | None = None,
    ) -> None:
        super().__init__()
        if name not in _LAYOUTS:
            raise ValueError(f"BackboneResnet: name must be one of {sorted(_LAYOUTS)}, got {name!r}")
        what = f"BackboneResnet(name={name!r})"
        if pretrained:
            raise download_refused(what, "pretrained=True", f"torchvision's {name} state dict")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"{what}: in_channels must be a positive int, got {in_channels!r}")
        if pool not in _POOLS:
            raise ValueError(f"{what}: pool must be one of {list(_POOLS)}, got {pool!r}")
        block, blocks_per_layer = _LAYOUTS[name]

        self.name = name
        self.pretrained = pretrained
        self.in_channels = in_channels
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, blocks_per_layer[0], stride=1)
        self.layer2 = self._make_layer(block, 128, blocks_per_layer[1], stride=2)
        self.layer3 = self._make_layer(block, 256, blocks_per_layer[2], stride=2)
        self.layer4 = self._make_layer(block, 512, blocks_per_layer[3], stride=2)
        self._pool = pool
        self.pool_layer: nn.Module | None = None
        if pool == "avg":
            self.pool_layer = nn.AdaptiveAvgPool2d((1, 1))
        elif pool == "max":
            self.pool_layer = nn.AdaptiveMaxPool2d((1, 1))
        init_resnet_weights(
            self, weights, weight_key="conv1.weight", replace_prefix="conv1.", in_channels=in_channels, what=what
        )

    @property
    def out_channels(self) -> int:
        """Channels of the features: 512 (resnet18, resnet34) or 2048 (resnet50)."""
        return 512 * _LAYOUTS[self.name][0].expansion

    def _make_layer(
        self, block: type[_BasicBlock | _Bottleneck], planes: int, blocks: int, stride: int
    ) -> nn.Sequential:
        layer = resnet_layer(block, inplanes=self.inplanes, planes=planes, blocks=blocks, stride=stride, spatial_dims=2)
        self.inplanes = planes * block.expansion
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x`` (``[B, in_channels, H, W]``): a ``[B, C, H', W']`` map, or ``[B, C]`` with ``pool``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"BackboneResnet expects [batch, {self.in_channels}, H, W] input, got shape {tuple(x.shape)}"
            )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        if self.pool_layer is not None:
            x = self.pool_layer(x).flatten(1)
        return x
