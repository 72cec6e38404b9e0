"""Heads and their classifier stacks: shapes, output keys, reference formulas, gradients, dropout, errors, GPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.core import NDict
from fuse.dl import (
    ClassifierFCN,
    ClassifierFCN3D,
    ClassifierMLP,
    Head1D,
    Head3D,
    HeadDenseSegmentation,
    HeadGlobalPoolingClassifier,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _assert_all_params_get_grad(module: nn.Module, loss: torch.Tensor) -> None:
    module.zero_grad()
    loss.backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"


def _final_linear(weight: torch.Tensor, bias: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """A 1x1 conv or linear layer applied to [B, C] features, written as a matrix product."""
    return features @ weight.reshape(weight.shape[0], -1).T + bias


# ------------------------------------------------------------------ classifier stacks


@pytest.mark.parametrize(
    ("cls", "conv", "shape"),
    [(ClassifierFCN, nn.Conv2d, (2, 8, 3, 4)), (ClassifierFCN3D, nn.Conv3d, (2, 8, 2, 3, 4))],
)
def test_fcn_equals_hand_built_network(cls: type[nn.Module], conv: type[nn.Module], shape: tuple[int, ...]) -> None:
    model = cls(in_ch=8, num_classes=3, layers_description=(16, 5), dropout_rate=0.2)
    reference = nn.Sequential(
        conv(8, 16, 1), nn.ReLU(), nn.Dropout(0.2), conv(16, 5, 1), nn.ReLU(), nn.Dropout(0.2), conv(5, 3, 1)
    )
    assert _n_params(model) == (8 * 16 + 16) + (16 * 5 + 5) + (5 * 3 + 3)
    # FuseMedML's state dict keys: the layers live in `classifier`
    reference.load_state_dict({key.removeprefix("classifier."): value for key, value in model.state_dict().items()})
    model.eval()
    reference.eval()
    x = torch.randn(shape)
    torch.testing.assert_close(model(x), reference(x))
    assert model(x).shape == (shape[0], 3, *shape[2:])


def test_fcn_without_classes_or_dropout() -> None:
    model = ClassifierFCN(in_ch=4, num_classes=None, layers_description=(6,), dropout_rate=0.0)
    assert [type(m) for m in model.classifier] == [nn.Conv2d, nn.ReLU]
    assert model(torch.randn(1, 4, 2, 2)).shape == (1, 6, 2, 2)
    assert [type(m) for m in ClassifierFCN(4, 2, (), dropout_rate=None).classifier] == [nn.Conv2d]


def test_mlp_formula_and_bias_on_final_layer_only() -> None:
    model = ClassifierMLP(in_ch=6, num_classes=3, layers_description=(5,), dropout_rate=0.0, bias=False)
    hidden, final = model.classifier[0], model.classifier[2]
    assert hidden.bias is not None
    assert final.bias is None
    assert _n_params(model) == 6 * 5 + 5 + 5 * 3
    x = torch.randn(4, 6)
    expected = torch.relu(x @ hidden.weight.T + hidden.bias) @ final.weight.T
    torch.testing.assert_close(model(x), expected)
    assert ClassifierMLP(in_ch=6, layers_description=(7, 2))(x).shape == (4, 2)  # num_classes=None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_ch": 0, "num_classes": 2},
        {"in_ch": 4, "num_classes": 2, "layers_description": (8, -1)},
        {"in_ch": 4, "num_classes": 2.0},
    ],
)
def test_classifier_rejects_bad_sizes(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="positive ints"):
        ClassifierMLP(**kwargs)  # type: ignore[arg-type]


def test_classifier_rejects_bad_dropout() -> None:
    with pytest.raises(ValueError, match=r"dropout_rate must be in \[0, 1\), got 1.5"):
        ClassifierFCN(4, 2, dropout_rate=1.5)


def test_classifiers_get_gradients() -> None:
    for model, x in (
        (ClassifierFCN(4, 2, (3,)), torch.randn(2, 4, 3, 3)),
        (ClassifierFCN3D(4, 2, (3,)), torch.randn(2, 4, 2, 2, 2)),
        (ClassifierMLP(4, 2, (3,)), torch.randn(2, 4)),
    ):
        _assert_all_params_get_grad(model, model(x).square().sum())


# ------------------------------------------------------------------ HeadGlobalPoolingClassifier


@pytest.mark.parametrize(("pooling", "reduce"), [("max", torch.amax), ("avg", torch.mean)])
def test_global_pooling_formula(pooling: str, reduce: Callable[..., torch.Tensor]) -> None:
    head = HeadGlobalPoolingClassifier(
        head_name="cls",
        conv_inputs=(("model.a", 3), ("model.b", 5)),
        num_classes=4,
        pooling=pooling,
        layers_description=(),
    )
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 5, 4, 5)
    batch = head(NDict({"model.a": a, "model.b": b}))
    conv = head.classifier_head_module.classifier[0]
    # the inputs are concatenated on channels (FuseMedML concatenated them on the batch dim)
    pooled = torch.cat([reduce(a, dim=(2, 3)), reduce(b, dim=(2, 3))], dim=1)
    expected = _final_linear(conv.weight, conv.bias, pooled)
    torch.testing.assert_close(batch["model.logits.cls"], expected)
    torch.testing.assert_close(batch["model.output.cls"], F.softmax(expected, dim=1))
    torch.testing.assert_close(batch["model.output.cls"].sum(dim=1), torch.ones(2))


def test_global_pooling_2d_and_3d_inputs() -> None:
    head = HeadGlobalPoolingClassifier(conv_inputs=[("model.f", 6)], layers_description=(), num_classes=2)
    conv = head.classifier_head_module.classifier[0]
    flat = torch.randn(3, 6)  # a [B, C] input is used as it is (FuseMedML passed it to Conv2d and failed)
    torch.testing.assert_close(
        head(NDict({"model.f": flat}))["model.logits.head_0"], _final_linear(conv.weight, conv.bias, flat)
    )
    volume = torch.randn(3, 6, 2, 3, 4)
    expected = _final_linear(conv.weight, conv.bias, volume.amax(dim=(2, 3, 4)))
    torch.testing.assert_close(head(NDict({"model.f": volume}))["model.logits.head_0"], expected)


def test_global_pooling_tabular_inputs_are_used() -> None:
    head = HeadGlobalPoolingClassifier(
        conv_inputs=[("model.f", 4)],
        tabular_data_inputs=[("data.clinical", 3), ("data.age", 1)],
        layers_description=(),
        num_classes=2,
    )
    f, clinical, age = torch.randn(2, 4, 3, 3), torch.randn(2, 3), torch.randn(2)
    logits = head(NDict({"model.f": f, "data.clinical": clinical, "data.age": age}))["model.logits.head_0"]
    conv = head.classifier_head_module.classifier[0]
    features = torch.cat([f.amax(dim=(2, 3)), clinical, age[:, None]], dim=1)
    torch.testing.assert_close(logits, _final_linear(conv.weight, conv.bias, features))


def test_global_pooling_tabular_mlp_and_shared_head() -> None:
    shared = ClassifierFCN(in_ch=4 + 6, num_classes=3, layers_description=(8,))
    heads = [
        HeadGlobalPoolingClassifier(
            head_name=name,
            conv_inputs=[("model.f", 4)],
            tabular_data_inputs=[("data.c", 5)],
            tabular_layers_description=(6,),
            shared_classifier_head=shared,
        )
        for name in ("h0", "h1")
    ]
    assert heads[0].classifier_head_module is heads[1].classifier_head_module
    assert isinstance(heads[0].tabular_module, ClassifierMLP)
    batch = NDict({"model.f": torch.randn(2, 4, 3, 3), "data.c": torch.randn(2, 5)})
    for head in heads:
        batch = head(batch)
    assert batch["model.logits.h0"].shape == batch["model.output.h1"].shape == (2, 3)
    _assert_all_params_get_grad(heads[0], batch["model.logits.h0"].square().sum())


def test_global_pooling_errors() -> None:
    with pytest.raises(ValueError, match="pooling must be 'max' or 'avg', got 'mean'"):
        HeadGlobalPoolingClassifier(conv_inputs=[("model.f", 4)], pooling="mean")
    with pytest.raises(ValueError, match="conv_inputs must be given"):
        HeadGlobalPoolingClassifier()
    with pytest.raises(TypeError, match=r"\(key, positive size\) pair, got 'model.f'"):
        HeadGlobalPoolingClassifier(conv_inputs=["model.f"])  # type: ignore[list-item]
    head = HeadGlobalPoolingClassifier(head_name="cls", conv_inputs=[("model.f", 4)])
    with pytest.raises(
        ValueError, match=r"'model.f' as a \[B, 4, ...\] tensor, but batch_dict\['model.f'\] has shape \(2, 3, 5, 5\)"
    ):
        head(NDict({"model.f": torch.randn(2, 3, 5, 5)}))
    with pytest.raises(
        KeyError, match=r"HeadGlobalPoolingClassifier 'cls' \(conv_inputs\): the batch_dict has no key 'model.f'"
    ):
        head(NDict({"model.g": torch.randn(2, 4, 5, 5)}))


# ------------------------------------------------------------------ HeadDenseSegmentation


def test_dense_segmentation_formula() -> None:
    head = HeadDenseSegmentation(
        head_name="seg",
        conv_inputs=[("model.a", 3), ("model.b", 2)],
        num_classes=4,
        layers_description=(),
    )
    a, b = torch.randn(2, 3, 5, 6), torch.randn(2, 2, 5, 6)
    batch = head(NDict({"model.a": a, "model.b": b}))
    conv = head.classifier_head_module.classifier[0]
    expected = (
        torch.einsum("bchw,nc->bnhw", torch.cat([a, b], dim=1), conv.weight[:, :, 0, 0]) + conv.bias[:, None, None]
    )
    torch.testing.assert_close(batch["model.logits.seg"], expected)
    torch.testing.assert_close(batch["model.output.seg"].sum(dim=1), torch.ones(2, 5, 6))


def test_dense_segmentation_maxpool_and_post_concat_inputs() -> None:
    head = HeadDenseSegmentation(
        conv_inputs=[("model.f", 3)],
        post_concat_inputs=[("data.c", 2)],
        maxpool_kernel=2,
        num_classes=2,
        layers_description=(),
    )
    f, c = torch.randn(2, 3, 6, 4), torch.randn(2, 2)
    logits = head(NDict({"model.f": f, "data.c": c}))["model.logits.head_0"]
    assert logits.shape == (2, 2, 3, 2)
    conv = head.classifier_head_module.classifier[0]
    # the vector is broadcast to every location (FuseMedML counted its size but never used it)
    features = torch.cat([F.max_pool2d(f, 2), c[:, :, None, None].expand(-1, -1, 3, 2)], dim=1)
    expected = torch.einsum("bchw,nc->bnhw", features, conv.weight[:, :, 0, 0]) + conv.bias[:, None, None]
    torch.testing.assert_close(logits, expected)
    changed = head(NDict({"model.f": f, "data.c": c + 1.0}))["model.logits.head_0"]
    assert not torch.allclose(changed, logits)


def test_dense_segmentation_3d_and_gradients() -> None:
    head = HeadDenseSegmentation(conv_inputs=[("model.f", 4)], num_classes=3, layers_description=(5,), spatial_dims=3)
    assert isinstance(head.classifier_head_module, ClassifierFCN3D)
    batch = head(NDict({"model.f": torch.randn(2, 4, 3, 4, 5)}))
    assert batch["model.output.head_0"].shape == (2, 3, 3, 4, 5)
    _assert_all_params_get_grad(head, batch["model.logits.head_0"].square().sum())
    with pytest.raises(
        ValueError, match=r"a 5-D \[B, 4, ...\] tensor, but batch_dict\['model.f'\] has shape \(2, 4, 3, 4\)"
    ):
        head(NDict({"model.f": torch.randn(2, 4, 3, 4)}))
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 1"):
        HeadDenseSegmentation(conv_inputs=[("model.f", 4)], spatial_dims=1)


# ------------------------------------------------------------------ Head1D


def test_head1d_formula_with_append_features_on_channels() -> None:
    head = Head1D(
        head_name="cls",
        mode="classification",
        conv_inputs=[("model.f", 5)],
        num_outputs=3,
        append_features=[("data.clinical", 4)],
        layers_description=(),
    )
    f, clinical = torch.randn(6, 5), torch.randn(6, 4)
    batch = head(NDict({"model.f": f, "data.clinical": clinical}))
    linear = head.head_module.classifier[0]
    # appended on dim 1 (FuseMedML concatenated them on the batch dim and reshaped them to 5-D)
    expected = _final_linear(linear.weight, linear.bias, torch.cat([f, clinical], dim=1))
    torch.testing.assert_close(batch["model.logits.cls"], expected)
    torch.testing.assert_close(batch["model.output.cls"], F.softmax(expected, dim=1))


def test_head1d_regression_is_squeezed() -> None:
    head = Head1D(head_name="age", mode="regression", conv_inputs=[("model.f", 5)], num_outputs=1)
    batch = head(NDict({"model.f": torch.randn(4, 5)}))
    assert batch["model.output.age"].shape == (4,)
    assert "model.logits.age" not in batch
    two = Head1D(head_name="xy", mode="regression", conv_inputs=[("model.f", 5)], num_outputs=2)
    assert two(NDict({"model.f": torch.randn(4, 5)}))["model.output.xy"].shape == (4, 2)


def test_head1d_append_only_with_mlp_and_dtype_cast() -> None:
    head = Head1D(append_features=[("data.clinical", 3)], append_layers_description=(4,), num_outputs=2)
    clinical = torch.randn(5, 3, dtype=torch.float64)  # e.g. from a DataFrame: cast to the head's dtype
    batch = head(NDict({"data.clinical": clinical}))
    assert batch["model.logits.head_0"].dtype == torch.float32
    assert batch["model.logits.head_0"].shape == (5, 2)
    _assert_all_params_get_grad(head, batch["model.logits.head_0"].square().sum())


def test_head1d_errors() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        Head1D(conv_inputs=[("model.f", 5)], mode="segmentation")
    with pytest.raises(ValueError, match="give conv_inputs, append_features or both"):
        Head1D()
    head = Head1D(head_name="h", conv_inputs=[("model.f", 5)], append_features=[("data.c", 2)])
    with pytest.raises(
        ValueError, match=r"'data.c' with 2 values per sample, but batch_dict\['data.c'\] has shape \(4, 3\)"
    ):
        head(NDict({"model.f": torch.randn(4, 5), "data.c": torch.randn(4, 3)}))
    with pytest.raises(KeyError, match=r"Head1D 'h' \(append_features\): the batch_dict has no key 'data.c'"):
        head(NDict({"model.f": torch.randn(4, 5)}))
    with pytest.raises(TypeError, match=r"batch_dict\['data.c'\] must be a torch.Tensor, got list"):
        head(NDict({"model.f": torch.randn(4, 5), "data.c": [1.0, 2.0]}))


# ------------------------------------------------------------------ Head3D


def _seed_head(**overrides: object) -> Head3D:
    kwargs: dict[str, object] = {
        "head_name": "classification",
        "mode": "classification",
        "conv_inputs": [("model.backbone_features", 16)],
        "dropout_rate": 0.5,
        "append_dropout_rate": 0.0,
        "fused_dropout_rate": 0.0,
        "num_outputs": 2,
        "append_features": [("data.input.clinical", 8)],
        "append_layers_description": (256, 128),
    }
    kwargs.update(overrides)
    return Head3D(**kwargs)  # type: ignore[arg-type]


def _head3d_batch(batch_size: int = 3) -> NDict:
    return NDict(
        {
            "model.backbone_features": torch.randn(batch_size, 16, 2, 3, 3),
            "data.input.clinical": torch.randn(batch_size, 8),
        }
    )


def test_head3d_seed_arguments_shapes_and_softmax() -> None:
    head = _seed_head()
    batch = head(_head3d_batch())
    assert batch["model.logits.classification"].shape == (3, 2)
    torch.testing.assert_close(batch["model.output.classification"].sum(dim=1), torch.ones(3))
    # FuseMedML's parameter names, so its Head3D state dicts load
    assert list(head.state_dict()) == [
        f"{module}.classifier.{index}.{kind}"
        for module, index in (
            ("append_features_module", 0),
            ("append_features_module", 2),
            ("conv_classifier_3d", 0),
            ("conv_classifier_3d", 2),
        )
        for kind in ("weight", "bias")
    ]
    # append MLP 8 -> 256 -> 128; classifier (16 + 128) -> 256 -> 2
    assert _n_params(head) == (8 * 256 + 256) + (256 * 128 + 128) + (144 * 256 + 256) + (256 * 2 + 2)
    _assert_all_params_get_grad(head, batch["model.logits.classification"].square().sum())


def test_head3d_formula() -> None:
    head = _seed_head(dropout_rate=0.0, append_layers_description=(), layers_description=())
    batch = _head3d_batch()
    logits = head(batch)["model.logits.classification"]
    conv = head.conv_classifier_3d.classifier[0]
    features = torch.cat([batch["model.backbone_features"].amax(dim=(2, 3, 4)), batch["data.input.clinical"]], dim=1)
    torch.testing.assert_close(logits, _final_linear(conv.weight, conv.bias, features))


def test_head3d_append_features_are_used() -> None:
    head = _seed_head().eval()
    batch = _head3d_batch()
    logits = head(batch)["model.logits.classification"].clone()
    batch["data.input.clinical"] = batch["data.input.clinical"] + 1.0
    assert not torch.allclose(head(batch)["model.logits.classification"], logits)


def test_head3d_dropout_off_in_eval() -> None:
    head = _seed_head(dropout_rate=0.5, fused_dropout_rate=0.5, append_dropout_rate=0.5)
    batch = _head3d_batch(8)
    head.eval()
    first = head(batch.clone())["model.logits.classification"]
    torch.testing.assert_close(head(batch.clone())["model.logits.classification"], first)
    head.train()
    assert not torch.allclose(head(batch.clone())["model.logits.classification"], first)


def test_head3d_regression_and_clinical_only() -> None:
    head = _seed_head(mode="regression", num_outputs=1)
    batch = head(_head3d_batch())
    assert batch["model.output.classification"].shape == (3, 1)  # as FuseMedML: not squeezed on dim 1
    assert "model.logits.classification" not in batch
    clinical_only = _seed_head(conv_inputs=None)
    batch = clinical_only(NDict({"data.input.clinical": torch.randn(3, 8, 1)}))  # 8 values per sample
    assert batch["model.output.classification"].shape == (3, 2)


def test_head3d_errors() -> None:
    head = _seed_head()
    batch = _head3d_batch()
    del batch["data.input.clinical"]
    with pytest.raises(
        KeyError, match=r"\(append_features\): the batch_dict has no key 'data.input.clinical'; .*keys present"
    ):
        head(batch)
    with pytest.raises(
        ValueError,
        match=r"5-D \[B, 16, ...\] tensor, but batch_dict\['model.backbone_features'\] has shape \(3, 16, 4, 4\)",
    ):
        head(NDict({"model.backbone_features": torch.randn(3, 16, 4, 4), "data.input.clinical": torch.randn(3, 8)}))
    with pytest.raises(ValueError, match="give conv_inputs, append_features or both"):
        Head3D(conv_inputs=None, append_features=None)
    with pytest.raises(ValueError, match=r"dropout_rate must be in \[0, 1\), got -0.1"):
        _seed_head(dropout_rate=-0.1)


# ------------------------------------------------------------------ GPU


def _all_heads() -> list[tuple[nn.Module, NDict, str]]:
    return [
        (_seed_head(), _head3d_batch(), "model.logits.classification"),
        (
            Head1D(conv_inputs=[("model.f", 5)], append_features=[("data.c", 2)]),
            NDict({"model.f": torch.randn(4, 5), "data.c": torch.randn(4, 2)}),
            "model.logits.head_0",
        ),
        (
            HeadGlobalPoolingClassifier(conv_inputs=[("model.f", 4)], tabular_data_inputs=[("data.c", 2)]),
            NDict({"model.f": torch.randn(2, 4, 5, 5), "data.c": torch.randn(2, 2)}),
            "model.logits.head_0",
        ),
        (
            HeadDenseSegmentation(conv_inputs=[("model.f", 4)], post_concat_inputs=[("data.c", 2)]),
            NDict({"model.f": torch.randn(2, 4, 5, 5), "data.c": torch.randn(2, 2)}),
            "model.logits.head_0",
        ),
    ]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("index", range(4))
def test_heads_on_gpu(index: int, dtype: torch.dtype) -> None:
    head, batch, key = _all_heads()[index]
    head = head.cuda()
    batch = NDict({k: v.cuda() for k, v in batch.items()})
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        result = head(batch)
    logits = result[key]
    assert logits.is_cuda
    assert logits.dtype == dtype
    assert torch.isfinite(logits.float()).all()
    _assert_all_params_get_grad(head, logits.float().square().sum())
