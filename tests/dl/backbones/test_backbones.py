"""Every backbone: gradients reach every parameter, eval mode is deterministic, bf16 autocast (CPU, and CUDA when
there is a device) stays close to float32; plus BackboneMultilayerPerceptron against a hand-written MLP."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.dl import (
    BackboneInceptionResnetV2,
    BackboneMultilayerPerceptron,
    BackboneResnet,
    BackboneResnet3D,
    ProjectPatchesTokenizer,
    Transformer,
    UNet,
    ViT,
)
from fuse_dl_nets_support import assert_close

# name -> (builder, input shape, expected output shape); tiny configurations, so that each test takes little time
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], tuple[int, ...]]] = {
    "mlp": (lambda: BackboneMultilayerPerceptron(layers=(8, 4), mlp_input_size=5, dropout_rate=0.1), (3, 5), (3, 4)),
    "resnet18": (lambda: BackboneResnet(name="resnet18", in_channels=1, pool="avg"), (2, 1, 32, 32), (2, 512)),
    "resnet50": (lambda: BackboneResnet(name="resnet50", pool="max"), (2, 3, 32, 32), (2, 2048)),
    "resnet3d": (
        lambda: BackboneResnet3D(in_channels=2, first_channel_dim=4),
        (2, 2, 4, 16, 16),
        (2, 32, 1, 1, 1),
    ),
    "inception": (lambda: BackboneInceptionResnetV2(logical_units_num=12), (2, 3, 43, 43), (2, 384, 1, 1)),
    "unet2d": (lambda: UNet(spatial_dims=2, in_channels=2, base_channels=4, depth=2), (2, 2, 13, 10), (2, 4, 13, 10)),
    "unet3d": (lambda: UNet(spatial_dims=3, in_channels=1, base_channels=4, depth=1), (2, 1, 5, 6, 7), (2, 4, 5, 6, 7)),
    "tokenizer3d": (
        lambda: ProjectPatchesTokenizer(image_shape=(4, 4, 4), patch_shape=(2, 2, 2), channels=1, token_dim=8),
        (2, 1, 4, 4, 4),
        (2, 8, 8),
    ),
    "transformer": (
        lambda: Transformer(num_tokens=6, token_dim=16, depth=2, heads=2, mlp_dim=32, dim_head=8, num_cls_tokens=2),
        (2, 6, 16),
        (2, 8, 16),
    ),
    "vit": (
        lambda: ViT(
            token_dim=16,
            projection_kwargs={"image_shape": (8, 12), "patch_shape": (4, 4), "channels": 3},
            transformer_kwargs={"depth": 2, "heads": 2, "mlp_dim": 32, "dim_head": 8, "dropout": 0.1},
        ),
        (2, 3, 8, 12),
        (2, 7, 16),
    ),
}


def _build(name: str, device: str = "cpu") -> tuple[nn.Module, torch.Tensor, tuple[int, ...]]:
    torch.manual_seed(0)
    builder, input_shape, output_shape = CASES[name]
    return builder().to(device), torch.randn(input_shape).to(device), output_shape


def _check_gradients(model: nn.Module, output: torch.Tensor) -> None:
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(1)).to(output.device)
    (output.float() * weights).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"the gradient of {name} is zero"


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_and_every_parameter_gets_a_gradient(name: str) -> None:
    model, x, output_shape = _build(name)
    model.train()
    output = model(x)
    assert tuple(output.shape) == output_shape
    _check_gradients(model, output)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"resnet50"}))  # resnet18 has the same code, and is faster
def test_eval_mode_is_deterministic(name: str) -> None:
    model, x, _ = _build(name)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ["mlp", "resnet18", "resnet3d", "inception", "unet2d", "unet3d", "vit"])
def test_bf16_autocast_on_cpu_stays_close_to_float32(name: str) -> None:
    model, x, output_shape = _build(name)
    model.eval()
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert tuple(low.shape) == output_shape
    assert low.dtype in (torch.bfloat16, torch.float32)
    relative_error = (low.float() - reference).norm() / reference.norm()
    assert relative_error < 0.05


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_forward_backward_and_bf16_autocast(name: str) -> None:
    model, x, output_shape = _build(name, device="cuda")
    model.eval()
    with torch.no_grad():
        reference = model(x)
        cpu_model, cpu_x, _ = _build(name)
        on_cpu = cpu_model.eval()(cpu_x)
        assert (reference.cpu() - on_cpu).norm() / on_cpu.norm() < 1e-2  # TF32 convolutions are allowed on GPU
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = model(x)
        assert (low.float() - reference).norm() / reference.norm() < 0.05
    model.train()  # (updates BatchNorm statistics: after the eval-mode comparisons)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        output = model(x)
    assert tuple(output.shape) == output_shape
    assert output.device.type == "cuda"
    assert torch.isfinite(output.float()).all()
    _check_gradients(model, output)


# ---------------------------------------------------------------------------------------------------- MLP


def test_mlp_equals_a_hand_written_perceptron() -> None:
    torch.manual_seed(0)
    mlp = BackboneMultilayerPerceptron(layers=(7, 5, 3), mlp_input_size=4).eval()
    x = torch.randn(6, 4)
    linears = [m for m in mlp.mlp if isinstance(m, nn.Linear)]
    expected = x
    for linear in linears:
        expected = torch.relu(expected @ linear.weight.T + linear.bias)
    assert_close(mlp(x), expected)
    # FuseMedML's order in `mlp`: Linear, activation, (Dropout,) Linear ... so its state dicts load
    assert list(mlp.state_dict()) == [
        "mlp.0.weight",
        "mlp.0.bias",
        "mlp.2.weight",
        "mlp.2.bias",
        "mlp.4.weight",
        "mlp.4.bias",
    ]
    with_dropout = BackboneMultilayerPerceptron(layers=(7, 3), mlp_input_size=4, dropout_rate=0.5)
    assert [type(m).__name__ for m in with_dropout.mlp] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout"]
    assert with_dropout.mlp[2].p == 0.5


def test_mlp_defaults_match_fusemedml() -> None:
    mlp = BackboneMultilayerPerceptron()
    sizes = [103, 64, 192, 320, 320, 1088, 384]
    assert sum(p.numel() for p in mlp.parameters()) == sum(a * b + b for a, b in itertools.pairwise(sizes))
    assert mlp(torch.zeros(2, 103)).shape == (2, 384)
    assert mlp.out_features == 384


def test_mlp_activation_choices() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    linear_only = BackboneMultilayerPerceptron(layers=(5, 2), mlp_input_size=4, activation_layer=None)
    assert [type(m).__name__ for m in linear_only.mlp] == ["Linear", "Linear"]
    first, second = linear_only.mlp
    assert_close(linear_only(x), F.linear(F.linear(x, first.weight, first.bias), second.weight, second.bias))
    # a module instance is copied for every layer: PReLU parameters are not shared between layers
    prelu = BackboneMultilayerPerceptron(layers=(5, 2), mlp_input_size=4, activation_layer=nn.PReLU())
    assert [type(m).__name__ for m in prelu.mlp] == ["Linear", "PReLU", "Linear", "PReLU"]
    assert prelu.mlp[1] is not prelu.mlp[3]
    assert sum(p.numel() for p in prelu.parameters()) == (4 * 5 + 5) + (5 * 2 + 2) + 2
    tanh = BackboneMultilayerPerceptron(layers=(5,), mlp_input_size=4, activation_layer=nn.Tanh)
    assert_close(tanh(x), torch.tanh(F.linear(x, tanh.mlp[0].weight, tanh.mlp[0].bias)))


def test_mlp_errors() -> None:
    with pytest.raises(ValueError, match="layers must be one or more positive ints"):
        BackboneMultilayerPerceptron(layers=())
    with pytest.raises(ValueError, match="mlp_input_size must be a positive int, got 0"):
        BackboneMultilayerPerceptron(mlp_input_size=0)
    with pytest.raises(ValueError, match=r"dropout_rate must be in \[0, 1\), got 1.5"):
        BackboneMultilayerPerceptron(dropout_rate=1.5)
    with pytest.raises(TypeError, match=r"activation_layer must be an nn\.Module"):
        BackboneMultilayerPerceptron(activation_layer="relu")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"activation_layer\(\) returned 3"):
        BackboneMultilayerPerceptron(activation_layer=lambda: 3)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match=r"mlp_input_size=5, got shape \(2, 4\)"):
        BackboneMultilayerPerceptron(layers=(3,), mlp_input_size=5)(torch.zeros(2, 4))
