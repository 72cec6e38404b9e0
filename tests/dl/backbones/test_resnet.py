"""BackboneResnet (2-D) and BackboneResnet3D: torchvision's parameter counts and key names, a forward pass equal to
a functional re-implementation of torchvision's layout, local weights (round trip, ``fc`` ignored, 1-channel sum,
a new first layer), pooling and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fuse.dl import BackboneResnet, BackboneResnet3D
from fuse_dl_nets_support import assert_close, randomize_batch_norms


def _bn(x: torch.Tensor, state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        state[f"{prefix}.running_mean"],
        state[f"{prefix}.running_var"],
        state[f"{prefix}.weight"],
        state[f"{prefix}.bias"],
        training=False,
        eps=1e-5,
    )


def _reference_resnet(
    state: dict[str, torch.Tensor], x: torch.Tensor, blocks: tuple[int, ...], bottleneck: bool
) -> torch.Tensor:
    """torchvision's ResNet forward (eval mode, no fc) written with torch.nn.functional from its state dict."""
    x = F.relu(_bn(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), state, "bn1"))
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for layer, count in enumerate(blocks, start=1):
        for block in range(count):
            p = f"layer{layer}.{block}"
            stride = 2 if layer > 1 and block == 0 else 1
            if bottleneck:  # v1.5: the stride is on the 3x3 convolution
                out = F.relu(_bn(F.conv2d(x, state[f"{p}.conv1.weight"]), state, f"{p}.bn1"))
                out = F.relu(
                    _bn(F.conv2d(out, state[f"{p}.conv2.weight"], stride=stride, padding=1), state, f"{p}.bn2")
                )
                out = _bn(F.conv2d(out, state[f"{p}.conv3.weight"]), state, f"{p}.bn3")
            else:
                out = F.relu(_bn(F.conv2d(x, state[f"{p}.conv1.weight"], stride=stride, padding=1), state, f"{p}.bn1"))
                out = _bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), state, f"{p}.bn2")
            if f"{p}.downsample.0.weight" in state:
                x = _bn(F.conv2d(x, state[f"{p}.downsample.0.weight"], stride=stride), state, f"{p}.downsample.1")
            x = F.relu(out + x)
    return x


# ------------------------------------------------------------------------------------------------ 2-D


@pytest.mark.parametrize(
    ("name", "parameters", "state_entries"),
    [
        # torchvision's published parameter counts minus fc (512*1000+1000 or 2048*1000+1000), and its state dict
        # sizes (122, 218, 320 entries) minus fc.weight and fc.bias
        ("resnet18", 11_689_512 - 513_000, 120),
        ("resnet34", 21_797_672 - 513_000, 216),
        ("resnet50", 25_557_032 - 2_049_000, 318),
    ],
)
@pytest.mark.usefixtures("no_init")
def test_parameter_counts_and_state_dict_match_torchvision(name: str, parameters: int, state_entries: int) -> None:
    net = BackboneResnet(name=name)
    assert sum(p.numel() for p in net.parameters()) == parameters
    assert parameters == {"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032}[name]
    keys = set(net.state_dict())
    assert len(keys) == state_entries
    assert not any(key.startswith("fc.") for key in keys)
    assert {"conv1.weight", "bn1.running_var", "bn1.num_batches_tracked", "layer2.0.downsample.0.weight"} <= keys
    assert {"layer2.0.downsample.1.weight", "layer4.1.conv2.weight", "layer4.1.bn2.bias"} <= keys
    assert ("layer1.0.downsample.0.weight" in keys) == (name == "resnet50")  # 64 -> 256 channels in a Bottleneck
    assert ("layer1.0.conv3.weight" in keys) == (name == "resnet50")
    assert net.out_channels == (2048 if name == "resnet50" else 512)


@pytest.mark.parametrize(
    ("name", "blocks", "bottleneck"), [("resnet18", (2, 2, 2, 2), False), ("resnet50", (3, 4, 6, 3), True)]
)
def test_forward_equals_a_functional_torchvision_resnet(name: str, blocks: tuple[int, ...], bottleneck: bool) -> None:
    torch.manual_seed(0)
    net = BackboneResnet(name=name)
    randomize_batch_norms(net)
    net.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = net(x)
        expected = _reference_resnet(net.state_dict(), x, blocks, bottleneck)
    assert features.shape == (2, net.out_channels, 2, 2)
    assert_close(features, expected)


def test_pooling() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 96, 64)
    net = BackboneResnet().eval()
    avg_net = BackboneResnet(pool="avg", weights=net.state_dict()).eval()
    max_net = BackboneResnet(pool="max", weights=net.state_dict()).eval()
    with torch.no_grad():
        feature_map = net(x)
        assert feature_map.shape == (2, 512, 3, 2)
        assert_close(avg_net(x), feature_map.mean(dim=(2, 3)))
        assert_close(max_net(x), feature_map.amax(dim=(2, 3)))


def test_state_dict_round_trip_through_a_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = BackboneResnet(name="resnet18")
    randomize_batch_norms(source)
    path = tmp_path / "resnet18.pt"
    torch.save(source.state_dict(), path)
    torch.manual_seed(1)
    loaded = BackboneResnet(name="resnet18", weights=path)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), source.eval()(x))
    # a torchvision state dict keeps its classifier: fc.* entries are ignored
    with_fc = {**source.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    from_torchvision = BackboneResnet(name="resnet18", weights=with_fc).eval()
    with torch.no_grad():
        assert torch.equal(from_torchvision(x), source(x))


def test_one_input_channel_sums_rgb_weights() -> None:
    torch.manual_seed(0)
    rgb = BackboneResnet(name="resnet18")
    randomize_batch_norms(rgb)
    rgb.eval()
    grey = BackboneResnet(name="resnet18", in_channels=1, weights=rgb.state_dict()).eval()
    assert grey.conv1.weight.shape == (64, 1, 7, 7)
    assert_close(grey.conv1.weight, rgb.conv1.weight.sum(dim=1, keepdim=True))
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():  # a grey image seen by the RGB network as 3 equal channels
        assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)))
    again = BackboneResnet(name="resnet18", in_channels=1, weights=grey.state_dict()).eval()  # 1-channel weights
    with torch.no_grad():
        assert torch.equal(again(x), grey(x))


def test_other_input_channels_get_a_new_first_convolution() -> None:
    torch.manual_seed(0)
    rgb = BackboneResnet(name="resnet18")
    torch.manual_seed(0)
    four = BackboneResnet(name="resnet18", in_channels=4, weights=rgb.state_dict()).eval()
    assert four.conv1.weight.shape == (64, 4, 7, 7)
    assert four(torch.zeros(1, 4, 32, 32)).shape == (1, 512, 1, 1)
    four_state = four.state_dict()
    for key, value in rgb.state_dict().items():
        if key != "conv1.weight":
            assert torch.equal(four_state[key], value), key
    assert not torch.equal(four.conv1.weight[:, :3], rgb.conv1.weight)


@pytest.mark.usefixtures("no_init")  # only shapes and keys matter
def test_resnet_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"pretrained=True would download.*pass weights="):
        BackboneResnet(pretrained=True)
    with pytest.raises(
        ValueError, match=r"name must be one of \['resnet18', 'resnet34', 'resnet50'\], got 'resnet101'"
    ):
        BackboneResnet(name="resnet101")
    with pytest.raises(ValueError, match=r"pool must be one of \[None, 'avg', 'max'\], got 'mean'"):
        BackboneResnet(pool="mean")
    with pytest.raises(ValueError, match="in_channels must be a positive int, got 0"):
        BackboneResnet(in_channels=0)
    net = BackboneResnet(name="resnet18")
    with pytest.raises(ValueError, match=r"expects \[batch, 3, H, W\] input, got shape \(1, 1, 32, 32\)"):
        net(torch.zeros(1, 1, 32, 32))
    state = net.state_dict()
    del state["layer4.1.bn2.running_var"]
    with pytest.raises(
        ValueError, match=r"BackboneResnet\(name='resnet18'\).*missing keys \['layer4.1.bn2.running_var'\]"
    ):
        BackboneResnet(name="resnet18", weights=state)
    with pytest.raises(ValueError, match=r"shape mismatches \['layer1.0.conv1.weight'"):  # resnet18 weights, resnet50
        BackboneResnet(name="resnet50", weights=net.state_dict())
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        BackboneResnet(weights=tmp_path / "resnet18-f37072fd.pth")


# ------------------------------------------------------------------------------------------------ 3-D


def _reference_resnet3d(state: dict[str, torch.Tensor], x: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
    """torchvision's video r3d forward (eval mode, no fc, default stem) with torch.nn.functional."""
    x = F.relu(_bn(F.conv3d(x, state["stem.0.weight"], stride=(1, 2, 2), padding=(1, 3, 3)), state, "stem.1"))
    for layer, count in enumerate(blocks, start=1):
        for block in range(count):
            p = f"layer{layer}.{block}"
            stride = 2 if layer > 1 and block == 0 else 1
            out = F.relu(
                _bn(F.conv3d(x, state[f"{p}.conv1.0.weight"], stride=stride, padding=1), state, f"{p}.conv1.1")
            )
            out = _bn(F.conv3d(out, state[f"{p}.conv2.0.weight"], padding=1), state, f"{p}.conv2.1")
            if f"{p}.downsample.0.weight" in state:
                x = _bn(F.conv3d(x, state[f"{p}.downsample.0.weight"], stride=stride), state, f"{p}.downsample.1")
            x = F.relu(out + x)
    return x


@pytest.mark.usefixtures("no_init")
def test_r3d_18_parameter_count_and_names_match_torchvision() -> None:
    net = BackboneResnet3D()
    # torchvision's r3d_18: 33,371,472 parameters with its 400-class fc (512*400+400)
    assert sum(p.numel() for p in net.parameters()) == 33_371_472 - 205_200 == 33_166_272
    keys = set(net.state_dict())
    assert len(keys) == 122 - 2  # torchvision's r3d_18 state dict minus fc.weight and fc.bias
    assert {"stem.0.weight", "stem.1.running_mean", "layer1.0.conv1.0.weight", "layer1.0.conv1.1.bias"} <= keys
    assert {"layer1.1.conv2.0.weight", "layer2.0.downsample.0.weight", "layer4.0.downsample.1.running_var"} <= keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert net.stem[0].weight.shape == (64, 3, 3, 7, 7)
    assert net.out_dim == net.out_channels == 512


def test_resnet3d_forward_equals_a_functional_r3d() -> None:
    torch.manual_seed(0)
    net = BackboneResnet3D(first_channel_dim=4, layers=(1, 2, 1, 1))
    randomize_batch_norms(net)
    net.eval()
    x = torch.randn(2, 3, 6, 20, 18)
    with torch.no_grad():
        features = net(x)
        assert torch.equal(net.features(x), features)
        expected = _reference_resnet3d(net.state_dict(), x, (1, 2, 1, 1))
    assert features.shape == (2, 32, 1, 2, 2)
    assert_close(features, expected)


def test_resnet3d_options() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 32, 32)
    net = BackboneResnet3D(first_channel_dim=2).eval()
    assert net(x).shape == (1, 16, 1, 2, 2)
    assert BackboneResnet3D(first_channel_dim=2, first_stride=2).eval()(x).shape == (1, 16, 1, 1, 1)
    stem = BackboneResnet3D(first_channel_dim=2, stem_kernel_size=(1, 3, 3), stem_stride=(1, 1, 1))
    assert stem.stem[0].padding == (0, 1, 1)
    assert stem.eval()(x).shape == (1, 16, 1, 4, 4)
    pooled = BackboneResnet3D(first_channel_dim=2, pool=True, weights=net.state_dict()).eval()
    with torch.no_grad():
        assert_close(pooled(x), net(x).mean(dim=(2, 3, 4)))
    assert len(BackboneResnet3D(first_channel_dim=2, layers=(1, 1, 3, 1)).layer3) == 3


def test_resnet3d_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rgb = BackboneResnet3D(first_channel_dim=4)
    randomize_batch_norms(rgb)
    rgb.eval()
    path = tmp_path / "r3d.pt"
    torch.save({**rgb.state_dict(), "fc.weight": torch.zeros(400, 32), "fc.bias": torch.zeros(400)}, path)
    x = torch.randn(1, 1, 4, 16, 16)
    grey = BackboneResnet3D(first_channel_dim=4, in_channels=1, weights=path).eval()
    with torch.no_grad():
        assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1, 1)))
    two = BackboneResnet3D(first_channel_dim=4, in_channels=2, weights=path)
    assert two.stem[0].weight.shape == (4, 2, 3, 7, 7)
    assert torch.equal(two.layer1[0].conv1[0].weight, rgb.layer1[0].conv1[0].weight)


@pytest.mark.usefixtures("no_init")  # only shapes and keys matter
def test_resnet3d_errors() -> None:
    with pytest.raises(ValueError, match=r"pretrained=True would download.*pass weights="):
        BackboneResnet3D(pretrained=True)
    with pytest.raises(ValueError, match="name must be 'r3d_18', got 'mc3_18'"):
        BackboneResnet3D(name="mc3_18")
    with pytest.raises(ValueError, match=r"layers must be 4 positive ints \(blocks per layer\), got \(2, 2, 2\)"):
        BackboneResnet3D(layers=(2, 2, 2))
    with pytest.raises(TypeError, match="pool must be True or False, got 'avg'"):
        BackboneResnet3D(pool="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"stem_kernel_size must be a positive int or 3 positive ints"):
        BackboneResnet3D(stem_kernel_size=(3, 7))
    with pytest.raises(ValueError, match=r"expects \[batch, 1, z, y, x\] input, got shape \(1, 1, 16, 16\)"):
        BackboneResnet3D(in_channels=1, first_channel_dim=2)(torch.zeros(1, 1, 16, 16))
    two_d = BackboneResnet(name="resnet18").state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['stem.0.weight'"):
        BackboneResnet3D(weights=two_d)
