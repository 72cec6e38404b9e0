"""UNet (2-D and 3-D): parameter counts by formula, a forward pass equal to a hand-written functional U-Net (odd
sizes included: pooling floors, the decoder pads at the end), output sizes, normalisation choices and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.dl import UNet
from fuse_dl_nets_support import assert_close, randomize_batch_norms


def _expected_parameters(dims: int, in_channels: int, base: int, depth: int, norm: str) -> int:
    kernel = 3**dims

    def double_conv(cin: int, cout: int) -> int:
        per_layer_extra = cout if norm == "none" else 2 * cout  # a bias, or the norm's weight and bias
        return cin * cout * kernel + per_layer_extra + cout * cout * kernel + per_layer_extra

    channels = [base * 2**level for level in range(depth + 1)]
    total = double_conv(in_channels, channels[0])
    total += sum(double_conv(channels[level - 1], channels[level]) for level in range(1, depth + 1))
    for level in range(depth, 0, -1):  # transposed 2x convolution (with a bias), then two convolutions on the concat
        total += channels[level] * channels[level - 1] * 2**dims + channels[level - 1]
        total += double_conv(2 * channels[level - 1], channels[level - 1])
    return total


@pytest.mark.parametrize(
    ("dims", "in_channels", "base", "depth", "norm"),
    [(2, 1, 32, 4, "batch"), (2, 3, 4, 0, "batch"), (3, 2, 4, 2, "none"), (3, 1, 8, 3, "instance")],
)
def test_parameter_count(dims: int, in_channels: int, base: int, depth: int, norm: str) -> None:
    net = UNet(spatial_dims=dims, in_channels=in_channels, base_channels=base, depth=depth, norm=norm)
    assert sum(p.numel() for p in net.parameters()) == _expected_parameters(dims, in_channels, base, depth, norm)
    assert net.out_channels == base


def test_2d_forward_equals_a_functional_unet_on_odd_sizes() -> None:
    torch.manual_seed(0)
    net = UNet(spatial_dims=2, in_channels=2, base_channels=3, depth=2)
    randomize_batch_norms(net)
    net.eval()
    s = net.state_dict()

    def double_conv(x: torch.Tensor, prefix: str) -> torch.Tensor:
        for i in (1, 2):
            x = F.conv2d(x, s[f"{prefix}.conv{i}.weight"], padding=1)
            n = f"{prefix}.norm{i}"
            x = F.batch_norm(x, s[f"{n}.running_mean"], s[f"{n}.running_var"], s[f"{n}.weight"], s[f"{n}.bias"])
            x = F.relu(x)
        return x

    def up(x: torch.Tensor, index: int, like: torch.Tensor) -> torch.Tensor:
        x = F.conv_transpose2d(x, s[f"upsamplers.{index}.weight"], s[f"upsamplers.{index}.bias"], stride=2)
        return F.pad(x, (0, like.shape[3] - x.shape[3], 0, like.shape[2] - x.shape[2]))

    x = torch.randn(2, 2, 13, 10)
    with torch.no_grad():
        e0 = double_conv(x, "encoders.0")  # 13 x 10
        e1 = double_conv(F.max_pool2d(e0, 2), "encoders.1")  # 6 x 5
        e2 = double_conv(F.max_pool2d(e1, 2), "encoders.2")  # 3 x 2
        d1 = double_conv(torch.cat((e1, up(e2, 0, e1)), dim=1), "decoders.0")  # 6 x 4 padded to 6 x 5
        expected = double_conv(torch.cat((e0, up(d1, 1, e0)), dim=1), "decoders.1")  # 12 x 10 padded to 13 x 10
        assert (e2.shape, d1.shape) == ((2, 12, 3, 2), (2, 6, 6, 5))
        assert_close(net(x), expected)


def test_3d_forward_equals_a_functional_unet_without_normalisation() -> None:
    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, base_channels=2, depth=1, norm="none").eval()
    s = net.state_dict()

    def double_conv(x: torch.Tensor, prefix: str) -> torch.Tensor:
        x = F.relu(F.conv3d(x, s[f"{prefix}.conv1.weight"], s[f"{prefix}.conv1.bias"], padding=1))
        return F.relu(F.conv3d(x, s[f"{prefix}.conv2.weight"], s[f"{prefix}.conv2.bias"], padding=1))

    x = torch.randn(1, 1, 5, 4, 7)
    with torch.no_grad():
        e0 = double_conv(x, "encoders.0")
        e1 = double_conv(F.max_pool3d(e0, 2), "encoders.1")  # 2 x 2 x 3
        u = F.conv_transpose3d(e1, s["upsamplers.0.weight"], s["upsamplers.0.bias"], stride=2)  # 4 x 4 x 6
        u = F.pad(u, (0, 1, 0, 0, 0, 1))
        expected = double_conv(torch.cat((e0, u), dim=1), "decoders.0")
        assert_close(net(x), expected)


@pytest.mark.parametrize(
    ("dims", "depth", "shape"),
    [
        (2, 0, (1, 2, 5, 3)),
        (2, 3, (2, 1, 8, 8)),
        (2, 3, (1, 1, 17, 31)),
        (3, 2, (1, 1, 4, 9, 6)),
        (3, 1, (2, 1, 2, 2, 3)),
    ],
)
def test_output_has_the_input_size(dims: int, depth: int, shape: tuple[int, ...]) -> None:
    net = UNet(spatial_dims=dims, in_channels=shape[1], base_channels=2, depth=depth).eval()
    with torch.no_grad():
        assert net(torch.randn(shape)).shape == (shape[0], 2, *shape[2:])


def test_instance_norm() -> None:
    torch.manual_seed(0)
    net = UNet(spatial_dims=2, in_channels=1, base_channels=2, depth=1, norm="instance").eval()
    assert isinstance(net.encoders[0].norm1, nn.InstanceNorm2d)
    assert net.encoders[0].norm1.affine
    assert net.encoders[0].conv1.bias is None
    x = torch.randn(1, 1, 6, 6)
    with torch.no_grad():  # bias-free convolutions then instance normalisation: a scaled input gives the same features
        assert_close(net(3 * x), net(x), atol=1e-4)
    assert isinstance(UNet(spatial_dims=3, norm="instance", depth=0).encoders[0].norm2, nn.InstanceNorm3d)


def test_unet_errors() -> None:
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 1"):
        UNet(spatial_dims=1)
    with pytest.raises(ValueError, match="base_channels must be an int >= 1, got 0"):
        UNet(base_channels=0)
    with pytest.raises(ValueError, match="depth must be an int >= 0, got -1"):
        UNet(depth=-1)
    with pytest.raises(ValueError, match=r"norm must be one of \['batch', 'instance', 'none'\], got 'group'"):
        UNet(norm="group")
    net = UNet(spatial_dims=3, in_channels=2, base_channels=2, depth=2)
    with pytest.raises(ValueError, match=r"expects \[batch, 2, D, H, W\] input, got shape \(1, 2, 8, 8\)"):
        net(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"depth=2 needs every spatial size >= 4, got shape \(1, 2, 8, 3, 8\)"):
        net(torch.zeros(1, 2, 8, 3, 8))
