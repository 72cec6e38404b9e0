"""``BackboneInceptionResnetV2``: Inception-ResNet-v2 (Cadene's ``pretrainedmodels`` layout), cut after N logical units.

The network is ``conv2d_1a .. maxpool_5a``, ``mixed_5b``, then 43 *logical units*:

====================  ======================================================  ===============
``logical_units_num``  what is added                                           feature depth
====================  ======================================================  ===============
0                      (the stem and ``mixed_5b`` only)                       320
1 .. 10                ``repeat``: that many ``Block35``                       320
11                     ``mixed_6a``                                            1088
12 .. 31               ``repeat_1``: ``logical_units_num - 11`` ``Block17``;   384 or 1088
                       the last one is cut at ``intra_block_cut_level``
32                     ``mixed_7a`` (after all 20 ``Block17``)                 2080
33 .. 41               ``repeat_2``: ``logical_units_num - 32`` ``Block8``     2080
42                     ``block8`` (no ReLU)                                    2080
43                     ``conv2d_7b``: the whole feature extractor             1536
====================  ======================================================  ===============

The last ``Block17`` of a cut ``repeat_1`` returns its branches' concatenation (384 channels) with
``intra_block_cut_level=384``, or the residual sum before the ReLU (1088 channels) with 1088. The default, 14 units
cut at 384, gives FuseMedML's 384-channel features. Parameter names are Cadene's, so its state dict
(``inceptionresnetv2-520b38e4.pth``) loads through ``weights=`` as a local file; entries of modules the cut network
does not have (``last_linear``, later blocks) are ignored. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fuse.dl._weights import WeightsSource, download_refused, load_pretrained

__all__ = ["BackboneInceptionResnetV2"]

_MAX_UNITS = 43
_CUT_LEVELS = (384, 1088)
_CADENE_MODULES = frozenset(
    {
        "conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "maxpool_5a", "mixed_5b",
        "repeat", "mixed_6a", "repeat_1", "mixed_7a", "repeat_2", "block8", "conv2d_7b", "avgpool_1a", "last_linear",
    }
)  # fmt: skip


class _BasicConv2d(nn.Module):
    """Convolution (no bias), BatchNorm (eps 0.001, momentum 0.01 as FuseMedML) and ReLU."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        kernel_size: int | tuple[int, int],
        stride: int,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_planes, eps=0.001, momentum=0.01, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.bn(self.conv(x)))
        return out


class _Mixed5b(nn.Module):
    """192 -> 96 + 64 + 96 + 64 = 320 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = _BasicConv2d(192, 96, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            _BasicConv2d(192, 48, kernel_size=1, stride=1), _BasicConv2d(48, 64, kernel_size=5, stride=1, padding=2)
        )
        self.branch2 = nn.Sequential(
            _BasicConv2d(192, 64, kernel_size=1, stride=1),
            _BasicConv2d(64, 96, kernel_size=3, stride=1, padding=1),
            _BasicConv2d(96, 96, kernel_size=3, stride=1, padding=1),
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            _BasicConv2d(192, 64, kernel_size=1, stride=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class _Block35(nn.Module):
    """Residual block on 320 channels."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = _BasicConv2d(320, 32, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            _BasicConv2d(320, 32, kernel_size=1, stride=1), _BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1)
        )
        self.branch2 = nn.Sequential(
            _BasicConv2d(320, 32, kernel_size=1, stride=1),
            _BasicConv2d(32, 48, kernel_size=3, stride=1, padding=1),
            _BasicConv2d(48, 64, kernel_size=3, stride=1, padding=1),
        )
        self.conv2d = nn.Conv2d(128, 320, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1))
        result: torch.Tensor = self.relu(out * self.scale + x)
        return result


class _Mixed6a(nn.Module):
    """320 -> 384 + 384 + 320 = 1088 channels, spatial size halved."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = _BasicConv2d(320, 384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            _BasicConv2d(320, 256, kernel_size=1, stride=1),
            _BasicConv2d(256, 256, kernel_size=3, stride=1, padding=1),
            _BasicConv2d(256, 384, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class _Block17(nn.Module):
    """Residual block on 1088 channels; a final block cut at 384 stops at its branches (and has no ``conv2d``)."""

    def __init__(self, scale: float = 1.0, final_block: bool = False, intra_block_cut_level: int = 384) -> None:
        super().__init__()
        self.scale = scale
        self.final_block = final_block
        self.intra_block_cut_level = intra_block_cut_level
        self.branch0 = _BasicConv2d(1088, 192, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            _BasicConv2d(1088, 128, kernel_size=1, stride=1),
            _BasicConv2d(128, 160, kernel_size=(1, 7), stride=1, padding=(0, 3)),
            _BasicConv2d(160, 192, kernel_size=(7, 1), stride=1, padding=(3, 0)),
        )
        self._cut_at_branches = final_block and intra_block_cut_level == 384
        self.conv2d: nn.Conv2d | None = None if self._cut_at_branches else nn.Conv2d(384, 1088, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        if self.conv2d is None:
            return out  # 384 channels
        projected: torch.Tensor = self.conv2d(out)
        out = projected * self.scale + x
        if self.final_block:
            return out  # cut at 1088: the residual sum before the ReLU
        result: torch.Tensor = self.relu(out)
        return result


class _Mixed7a(nn.Module):
    """1088 -> 384 + 288 + 320 + 1088 = 2080 channels, spatial size halved."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(
            _BasicConv2d(1088, 256, kernel_size=1, stride=1), _BasicConv2d(256, 384, kernel_size=3, stride=2)
        )
        self.branch1 = nn.Sequential(
            _BasicConv2d(1088, 256, kernel_size=1, stride=1), _BasicConv2d(256, 288, kernel_size=3, stride=2)
        )
        self.branch2 = nn.Sequential(
            _BasicConv2d(1088, 256, kernel_size=1, stride=1),
            _BasicConv2d(256, 288, kernel_size=3, stride=1, padding=1),
            _BasicConv2d(288, 320, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class _Block8(nn.Module):
    """Residual block on 2080 channels."""

    def __init__(self, scale: float = 1.0, noReLU: bool = False) -> None:  # Cadene's argument name
        super().__init__()
        self.scale = scale
        self.noReLU = noReLU
        self.branch0 = _BasicConv2d(2080, 192, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            _BasicConv2d(2080, 192, kernel_size=1, stride=1),
            _BasicConv2d(192, 224, kernel_size=(1, 3), stride=1, padding=(0, 1)),
            _BasicConv2d(224, 256, kernel_size=(3, 1), stride=1, padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(448, 2080, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1)) * self.scale + x
        return out if self.noReLU else self.relu(out)


def _sequence(build: Callable[[], nn.Module], count: int) -> nn.Sequential:
    return nn.Sequential(*(build() for _ in range(count)))


class BackboneInceptionResnetV2(nn.Module):
    """Inception-ResNet-v2 features, truncated after ``logical_units_num`` logical units (see the module doc).

    Compatibility: FuseMedML's arguments and channel rule; its download from ``pretrained_weights_url`` raises here.

    :param logical_units_num: 0 .. 43; the default 14 gives a 384-channel map (17x17 for a 299x299 input).
    :param intra_block_cut_level: where the last ``Block17`` of a cut ``repeat_1`` (12 .. 31 units) stops: 384 (its
        branches) or 1088 (the residual sum, before the ReLU).
    :param input_channels_num: input channels; other than 3, ``conv2d_1a`` takes that many (with RGB ``weights`` it
        keeps a new, randomly initialised, ``conv2d_1a``).
    :param pretrained_weights_url: anything but ``None`` raises a ``ValueError``: download the file yourself and
        pass ``weights=``.
    :param weights: a local state dict file (Cadene's ``inceptionresnetv2-520b38e4.pth`` for instance) or a state
        dict, with Cadene's parameter names.

    The input must be at least 27x27 (up to 10 units), 43x43 (11 to 31 units) or 75x75 (32 units or more).

    >>> import torch
    >>> net = BackboneInceptionResnetV2(logical_units_num=1).eval()
    >>> net.get_feature_depth()
    320
    >>> net(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 320, 5, 5])
    """

    def __init__(
        self,
        logical_units_num: int = 14,
        intra_block_cut_level: int = 384,
        input_channels_num: int = 3,
        pretrained_weights_url: str | None = None,
        *,
        weights: WeightsSource | None = None,
    ) -> None:
        super().__init__()
        what = f"BackboneInceptionResnetV2(logical_units_num={logical_units_num!r})"
        if pretrained_weights_url is not None:
            raise download_refused(what, f"pretrained_weights_url={pretrained_weights_url!r}", "the file")
        if isinstance(logical_units_num, bool) or not isinstance(logical_units_num, int):
            raise TypeError(f"BackboneInceptionResnetV2: logical_units_num must be an int, got {logical_units_num!r}")
        if not 0 <= logical_units_num <= _MAX_UNITS:
            raise ValueError(
                f"BackboneInceptionResnetV2: logical_units_num must be in 0..{_MAX_UNITS}, got {logical_units_num!r}"
            )
        if intra_block_cut_level not in _CUT_LEVELS:
            raise ValueError(
                f"{what}: intra_block_cut_level must be one of {list(_CUT_LEVELS)}, got {intra_block_cut_level!r}"
            )
        if isinstance(input_channels_num, bool) or not isinstance(input_channels_num, int) or input_channels_num < 1:
            raise ValueError(f"{what}: input_channels_num must be a positive int, got {input_channels_num!r}")
        self.logical_units_num = logical_units_num
        self.intra_block_cut_level = intra_block_cut_level
        self.input_channels_num = input_channels_num
        units = logical_units_num

        self.conv2d_1a = _BasicConv2d(input_channels_num, 32, kernel_size=3, stride=2)
        self.conv2d_2a = _BasicConv2d(32, 32, kernel_size=3, stride=1)
        self.conv2d_2b = _BasicConv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = _BasicConv2d(64, 80, kernel_size=1, stride=1)
        self.conv2d_4a = _BasicConv2d(80, 192, kernel_size=3, stride=1)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = _Mixed5b()
        self.feature_depth = 320
        stages: list[str] = []  # the modules after mixed_5b, in order
        if units >= 1:
            self.repeat = _sequence(lambda: _Block35(scale=0.17), min(units, 10))
            stages.append("repeat")
        if units >= 11:
            self.mixed_6a = _Mixed6a()
            stages.append("mixed_6a")
            self.feature_depth = 1088
        if units >= 12:
            count = min(units - 11, 20)
            cut = units < 32  # the last Block17 is cut inside
            self.repeat_1 = nn.Sequential(
                *(
                    _Block17(
                        scale=0.10, final_block=cut and i == count - 1, intra_block_cut_level=intra_block_cut_level
                    )
                    for i in range(count)
                )
            )
            if cut:
                self.feature_depth = intra_block_cut_level
            stages.append("repeat_1")
        if units >= 32:
            self.mixed_7a = _Mixed7a()
            stages.append("mixed_7a")
            self.feature_depth = 2080
        if units >= 33:
            self.repeat_2 = _sequence(lambda: _Block8(scale=0.20), min(units - 32, 9))
            stages.append("repeat_2")
        if units >= 42:
            self.block8 = _Block8(noReLU=True)
            stages.append("block8")
        if units >= 43:
            self.conv2d_7b = _BasicConv2d(2080, 1536, kernel_size=1, stride=1)
            stages.append("conv2d_7b")
            self.feature_depth = 1536
        self._stages = tuple(stages)
        self._min_size = 27 if units <= 10 else 43 if units <= 31 else 75

        if weights is not None:
            load_pretrained(
                self,
                weights,
                weight_key="conv2d_1a.conv.weight",
                replace_prefix="conv2d_1a.",
                in_channels=input_channels_num,
                sum_for_one_channel=False,
                ignore_unexpected=self._cut_away,
                what=what,
            )

    def _cut_away(self, key: str) -> bool:
        """Whether ``key`` belongs to a module of the whole network that this truncated network does not have."""
        parts = key.split(".")
        if parts[0] not in _CADENE_MODULES:
            return False
        module: nn.Module = self
        for part in parts[:-1]:
            child = module._modules.get(part)
            if child is None:
                return True
            module = child
        return False

    def features(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """The feature map of ``input_tensor`` (``[B, input_channels_num, H, W]``): ``[B, get_feature_depth(), h, w]``."""
        if input_tensor.ndim != 4 or input_tensor.shape[1] != self.input_channels_num:
            raise ValueError(
                f"BackboneInceptionResnetV2 expects [batch, {self.input_channels_num}, H, W] input, got shape "
                f"{tuple(input_tensor.shape)}"
            )
        if min(input_tensor.shape[2:]) < self._min_size:
            raise ValueError(
                f"BackboneInceptionResnetV2 with {self.logical_units_num} logical units needs an input of at least "
                f"{self._min_size}x{self._min_size} pixels, got shape {tuple(input_tensor.shape)}"
            )
        x: torch.Tensor = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(input_tensor)))
        x = self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(x)))
        x = self.mixed_5b(self.maxpool_5a(x))
        for name in self._stages:
            x = getattr(self, name)(x)
        return x

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`features`."""
        return self.features(input_tensor)

    def get_feature_depth(self) -> int:
        """The number of channels of the features (384 for the default 14 units cut at 384)."""
        return self.feature_depth
