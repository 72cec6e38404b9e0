"""BackboneInceptionResnetV2: parameter counts computed by hand from the Inception-ResNet-v2 layout (and timm's
published total), feature depth and shape for every cut, the logical-unit truncation, Cadene-named local weights
(modules the cut network lacks ignored), input channels and errors. Nothing is downloaded."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fuse.dl import BackboneInceptionResnetV2


def _basic(cin: int, cout: int, kh: int, kw: int | None = None) -> int:
    """Parameters of a bias-free convolution followed by an affine BatchNorm."""
    return cin * cout * kh * (kh if kw is None else kw) + 2 * cout


STEM = _basic(3, 32, 3) + _basic(32, 32, 3) + _basic(32, 64, 3) + _basic(64, 80, 1) + _basic(80, 192, 3)
MIXED_5B = (
    _basic(192, 96, 1)
    + _basic(192, 48, 1)
    + _basic(48, 64, 5)
    + _basic(192, 64, 1)
    + _basic(64, 96, 3)
    + _basic(96, 96, 3)
    + _basic(192, 64, 1)
)
BLOCK35 = (
    _basic(320, 32, 1)
    + _basic(320, 32, 1)
    + _basic(32, 32, 3)
    + _basic(320, 32, 1)
    + _basic(32, 48, 3)
    + _basic(48, 64, 3)
    + (128 * 320 + 320)
)
MIXED_6A = _basic(320, 384, 3) + _basic(320, 256, 1) + _basic(256, 256, 3) + _basic(256, 384, 3)
BLOCK17_BRANCHES = _basic(1088, 192, 1) + _basic(1088, 128, 1) + _basic(128, 160, 1, 7) + _basic(160, 192, 7, 1)
BLOCK17 = BLOCK17_BRANCHES + (384 * 1088 + 1088)
MIXED_7A = (
    _basic(1088, 256, 1)
    + _basic(256, 384, 3)
    + _basic(1088, 256, 1)
    + _basic(256, 288, 3)
    + _basic(1088, 256, 1)
    + _basic(256, 288, 3)
    + _basic(288, 320, 3)
)
BLOCK8 = (
    _basic(2080, 192, 1) + _basic(2080, 192, 1) + _basic(192, 224, 1, 3) + _basic(224, 256, 3, 1) + (448 * 2080 + 2080)
)
CONV_7B = _basic(2080, 1536, 1)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.usefixtures("no_init")
def test_whole_network_parameter_count() -> None:
    net = BackboneInceptionResnetV2(logical_units_num=43)
    expected = STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 20 * BLOCK17 + MIXED_7A + 10 * BLOCK8 + CONV_7B
    assert _count(net) == expected
    # timm's inception_resnet_v2 (the same layout) has 55,843,464 parameters with its 1000-class classifier
    assert expected == 55_843_464 - (1536 * 1000 + 1000)
    assert net.get_feature_depth() == 1536
    assert "last_linear.weight" not in net.state_dict()


@pytest.mark.parametrize(
    ("units", "cut", "depth", "parameters"),
    [
        (0, 384, 320, STEM + MIXED_5B),
        (4, 384, 320, STEM + MIXED_5B + 4 * BLOCK35),
        (11, 384, 1088, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A),
        (14, 384, 384, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 2 * BLOCK17 + BLOCK17_BRANCHES),
        (14, 1088, 1088, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 3 * BLOCK17),
        (31, 384, 384, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 19 * BLOCK17 + BLOCK17_BRANCHES),
        (32, 384, 2080, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 20 * BLOCK17 + MIXED_7A),
        (35, 1088, 2080, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 20 * BLOCK17 + MIXED_7A + 3 * BLOCK8),
        (42, 384, 2080, STEM + MIXED_5B + 10 * BLOCK35 + MIXED_6A + 20 * BLOCK17 + MIXED_7A + 10 * BLOCK8),
    ],
)
@pytest.mark.usefixtures("no_init")
def test_logical_units_parameters_and_feature_depth(units: int, cut: int, depth: int, parameters: int) -> None:
    net = BackboneInceptionResnetV2(logical_units_num=units, intra_block_cut_level=cut)
    assert net.get_feature_depth() == depth
    assert _count(net) == parameters


def test_default_is_fusemedml_cut_at_384_channels() -> None:
    torch.manual_seed(0)
    net = BackboneInceptionResnetV2().eval()
    assert (net.logical_units_num, net.intra_block_cut_level, net.input_channels_num) == (14, 384, 3)
    assert net.get_feature_depth() == 384
    assert len(net.repeat) == 10
    assert len(net.repeat_1) == 3
    with torch.no_grad():
        features = net(torch.randn(1, 3, 96, 96))
    assert features.shape == (1, 384, 4, 4)  # 96 -> 47 -> 45 -> 22 -> 20 -> 9 -> mixed_6a: 4


@pytest.mark.parametrize(
    ("units", "size", "shape"),
    [(0, 27, (1, 320, 1, 1)), (10, 27, (1, 320, 1, 1)), (12, 43, (1, 384, 1, 1)), (33, 75, (1, 2080, 1, 1))],
)
def test_output_shapes_at_the_smallest_inputs(units: int, size: int, shape: tuple[int, ...]) -> None:
    net = BackboneInceptionResnetV2(logical_units_num=units).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, size, size)).shape == shape
    with pytest.raises(ValueError, match=f"needs an input of at least {size}x{size} pixels"):
        net(torch.zeros(1, 3, size, size - 1))


def test_truncation_is_a_prefix_of_the_longer_network() -> None:
    """A network cut after 13 units computes the first 13 units of a longer one (same weights)."""
    torch.manual_seed(0)
    longer = BackboneInceptionResnetV2(logical_units_num=15, intra_block_cut_level=1088).eval()
    cut_1088 = BackboneInceptionResnetV2(logical_units_num=13, intra_block_cut_level=1088, weights=longer.state_dict())
    cut_384 = BackboneInceptionResnetV2(logical_units_num=13, intra_block_cut_level=384, weights=longer.state_dict())
    x = torch.randn(2, 3, 43, 43)
    with torch.no_grad():
        h = longer.conv2d_2b(longer.conv2d_2a(longer.conv2d_1a(x)))
        h = longer.conv2d_4a(longer.conv2d_3b(longer.maxpool_3a(h)))
        h = longer.repeat(longer.mixed_5b(longer.maxpool_5a(h)))
        h = longer.repeat_1[0](longer.mixed_6a(h))  # unit 12: a whole Block17
        block = longer.repeat_1[1]  # unit 13, cut
        branches = torch.cat((block.branch0(h), block.branch1(h)), dim=1)
        residual = block.conv2d(branches) * 0.10 + h
        assert torch.equal(cut_384.eval()(x), branches)
        assert torch.equal(cut_1088.eval()(x), residual)  # before the ReLU
        assert torch.equal(longer.repeat_1[1](h), torch.relu(residual))  # a block that is not cut applies it
    assert cut_384.repeat_1[1].conv2d is None  # no parameter without a gradient (DDP would complain)


def test_cadene_weights_with_a_classifier_load_into_a_cut_network() -> None:
    torch.manual_seed(0)
    source = BackboneInceptionResnetV2(logical_units_num=13, intra_block_cut_level=1088)
    state = {
        **source.state_dict(),
        "last_linear.weight": torch.zeros(1001, 1536),
        "last_linear.bias": torch.zeros(1001),
    }
    net = BackboneInceptionResnetV2(logical_units_num=12, weights=state)  # repeat_1.1 and last_linear are cut away
    source_state = source.state_dict()
    for key, value in net.state_dict().items():
        assert torch.equal(value, source_state[key]), key
    with pytest.raises(ValueError, match=r"unexpected keys \['repeat.0.branch0.extra'\]"):
        BackboneInceptionResnetV2(logical_units_num=12, weights={**state, "repeat.0.branch0.extra": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected keys \['head.weight'\]"):
        BackboneInceptionResnetV2(logical_units_num=12, weights={**state, "head.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"logical_units_num=14\).*missing keys \['repeat_1.2.branch0.conv.weight'"):
        BackboneInceptionResnetV2(logical_units_num=14, weights=state)


def test_input_channels() -> None:
    torch.manual_seed(0)
    rgb = BackboneInceptionResnetV2(logical_units_num=1)
    grey = BackboneInceptionResnetV2(logical_units_num=1, input_channels_num=1, weights=rgb.state_dict())
    assert grey.conv2d_1a.conv.weight.shape == (32, 1, 3, 3)  # a new first layer, as FuseMedML
    assert not torch.equal(grey.conv2d_1a.conv.weight, rgb.conv2d_1a.conv.weight.sum(dim=1, keepdim=True))
    assert torch.equal(grey.conv2d_2a.conv.weight, rgb.conv2d_2a.conv.weight)
    assert grey.eval()(torch.zeros(1, 1, 27, 27)).shape == (1, 320, 1, 1)
    with pytest.raises(ValueError, match=r"expects \[batch, 1, H, W\] input, got shape \(1, 3, 27, 27\)"):
        grey(torch.zeros(1, 3, 27, 27))


def test_inception_errors() -> None:
    url = "http://data.lip6.fr/cadene/pretrainedmodels/inceptionresnetv2-520b38e4.pth"
    with pytest.raises(ValueError, match=r"would download weights.*pass weights="):
        BackboneInceptionResnetV2(pretrained_weights_url=url)
    with pytest.raises(ValueError, match=r"logical_units_num must be in 0..43, got 44"):
        BackboneInceptionResnetV2(logical_units_num=44)
    with pytest.raises(TypeError, match=r"logical_units_num must be an int, got 14.0"):
        BackboneInceptionResnetV2(logical_units_num=14.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"intra_block_cut_level must be one of \[384, 1088\], got 500"):
        BackboneInceptionResnetV2(intra_block_cut_level=500)
    with pytest.raises(ValueError, match="input_channels_num must be a positive int, got 0"):
        BackboneInceptionResnetV2(input_channels_num=0)
