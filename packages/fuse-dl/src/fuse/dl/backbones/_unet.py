"""``UNet``: a 2-D or 3-D encoder-decoder with skip connections, returning a feature map at the input resolution.

The features feed a dense head (``HeadDenseSegmentation``) or any per-pixel classifier. Each encoder level is two
(3x3 convolution, normalisation, ReLU) layers, levels are separated by 2x max pooling, and each decoder level
upsamples with a 2x transposed convolution, concatenates the encoder's features of that level (skip first) and
applies two more convolution layers. Sizes that are not multiples of ``2 ** depth`` work: pooling drops the last
odd row and the decoder pads its upsampled map with zeros at the end to the skip's size, so the output always has
the input's spatial size. It replaces FuseMedML's ``UNet3D`` (the ModelsGenesis layout, fixed to 1 input channel
and 4 levels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]

_NORMS = ("batch", "instance", "none")


def _norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels) if spatial_dims == 2 else nn.BatchNorm3d(channels)
    if kind == "instance":
        return (
            nn.InstanceNorm2d(channels, affine=True) if spatial_dims == 2 else nn.InstanceNorm3d(channels, affine=True)
        )
    return nn.Identity()


def _conv3(spatial_dims: int, in_channels: int, out_channels: int, bias: bool) -> nn.Module:
    conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    return conv(in_channels, out_channels, kernel_size=3, padding=1, bias=bias)


class _DoubleConv(nn.Sequential):
    """(conv 3x3, norm, ReLU) twice; the convolutions have a bias only without normalisation."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, norm: str) -> None:
        bias = norm == "none"
        super().__init__()
        self.conv1 = _conv3(spatial_dims, in_channels, out_channels, bias)
        self.norm1 = _norm(norm, spatial_dims, out_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv3(spatial_dims, out_channels, out_channels, bias)
        self.norm2 = _norm(norm, spatial_dims, out_channels)
        self.act2 = nn.ReLU(inplace=True)


class UNet(nn.Module):
    """A 2-D or 3-D U-Net feature extractor: ``[B, in_channels, *S]`` -> ``[B, base_channels, *S]``.

    :param spatial_dims: 2 (images ``[B, C, H, W]``) or 3 (volumes ``[B, C, D, H, W]``).
    :param in_channels: input channels.
    :param base_channels: channels of the first level and of the output (``out_channels``); level ``i`` has
        ``base_channels * 2 ** i``.
    :param depth: the number of 2x downsamplings (0 is a plain two-layer convolution block); every spatial size of
        the input must be at least ``2 ** depth``.
    :param norm: ``"batch"``, ``"instance"`` (affine; the deepest level then needs more than one element) or
        ``"none"`` (the convolutions then get a bias).

    >>> import torch
    >>> net = UNet(spatial_dims=2, in_channels=1, base_channels=4, depth=2).eval()
    >>> net(torch.zeros(2, 1, 30, 17)).shape
    torch.Size([2, 4, 30, 17])
    >>> UNet(spatial_dims=3, in_channels=2, base_channels=4, depth=1)(torch.zeros(1, 2, 5, 6, 7)).shape
    torch.Size([1, 4, 5, 6, 7])
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        base_channels: int = 32,
        depth: int = 4,
        *,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"UNet: spatial_dims must be 2 or 3, got {spatial_dims!r}")
        for name, value, low in (
            ("in_channels", in_channels, 1),
            ("base_channels", base_channels, 1),
            ("depth", depth, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"UNet: {name} must be an int >= {low}, got {value!r}")
        if norm not in _NORMS:
            raise ValueError(f"UNet: norm must be one of {list(_NORMS)}, got {norm!r}")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = base_channels
        self.depth = depth
        channels = [base_channels * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            _DoubleConv(spatial_dims, in_channels if level == 0 else channels[level - 1], channels[level], norm)
            for level in range(depth + 1)
        )
        self.pool = nn.MaxPool2d(2) if spatial_dims == 2 else nn.MaxPool3d(2)
        transpose = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
        # decoder i goes from level depth - i to level depth - i - 1
        self.upsamplers = nn.ModuleList(
            transpose(channels[level], channels[level - 1], kernel_size=2, stride=2) for level in range(depth, 0, -1)
        )
        self.decoders = nn.ModuleList(
            _DoubleConv(spatial_dims, 2 * channels[level - 1], channels[level - 1], norm)
            for level in range(depth, 0, -1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features at the input resolution: ``[B, base_channels, *x.shape[2:]]``."""
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            axes = "H, W" if self.spatial_dims == 2 else "D, H, W"
            raise ValueError(f"UNet expects [batch, {self.in_channels}, {axes}] input, got shape {tuple(x.shape)}")
        if min(x.shape[2:]) < 2**self.depth:
            raise ValueError(
                f"UNet with depth={self.depth} needs every spatial size >= {2**self.depth}, got shape {tuple(x.shape)}"
            )
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for upsample, decoder in zip(self.upsamplers, self.decoders, strict=True):
            skip = skips.pop()
            x = upsample(x)
            padding: list[int] = []
            for axis in range(x.ndim - 1, 1, -1):  # F.pad lists the last axis first: (start, end) pairs
                padding += [0, skip.shape[axis] - x.shape[axis]]
            if any(padding):
                x = F.pad(x, padding)
            x = decoder(torch.cat((skip, x), dim=1))
        return x
