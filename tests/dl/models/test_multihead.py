"""ModelMultiHead (conv_inputs and backbone_args), ModelMultistream (split/join) and ModelSiamese (shared weights)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fuse.core import NDict
from fuse.dl import Head3D, HeadGlobalPoolingClassifier, ModelMultiHead, ModelMultistream, ModelSiamese


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _assert_all_params_get_grad(module: nn.Module, loss: torch.Tensor) -> None:
    module.zero_grad()
    loss.backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"


def _pool_head(channels: int, name: str = "cls", num_classes: int = 2) -> HeadGlobalPoolingClassifier:
    return HeadGlobalPoolingClassifier(
        head_name=name,
        conv_inputs=[("model.backbone_features", channels)],
        num_classes=num_classes,
        layers_description=(6,),
    )


@pytest.mark.slow  # BackboneResnet3D(in_channels=1) is the full r3d_18 (33 M parameters): seconds on a CPU
def test_seed_snippet() -> None:
    from fuse.dl.backbones._resnet3d import BackboneResnet3D

    model = ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=BackboneResnet3D(in_channels=1),
        heads=[
            Head3D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 512)],
                dropout_rate=0.5,
                append_dropout_rate=0.0,
                fused_dropout_rate=0.0,
                num_outputs=2,
                append_features=[("data.input.clinical", 8)],
                append_layers_description=(256, 128),
            )
        ],
    )
    batch = NDict({"data.input.img": torch.randn(2, 1, 4, 16, 16), "data.input.clinical": torch.randn(2, 8)})
    with torch.no_grad():  # gradients: test_seed_head_with_small_backbone (the backward pass takes seconds here)
        batch = model.eval()(batch)
    assert batch["model.backbone_features"].shape == (2, 512, 1, 1, 1)
    assert batch["model.logits.classification"].shape == (2, 2)
    torch.testing.assert_close(batch["model.output.classification"].sum(dim=1), torch.ones(2))


def _seed_model_with_small_backbone() -> ModelMultiHead:
    """The seed snippet with a small stand-in backbone that also returns [B, 512, d, h, w] features."""
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=nn.Sequential(nn.Conv3d(1, 512, kernel_size=3, stride=2), nn.ReLU()),
        heads=[
            Head3D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 512)],
                dropout_rate=0.5,
                append_dropout_rate=0.0,
                fused_dropout_rate=0.0,
                num_outputs=2,
                append_features=[("data.input.clinical", 8)],
                append_layers_description=(256, 128),
            )
        ],
    )


def test_seed_head_with_small_backbone() -> None:
    model = _seed_model_with_small_backbone()
    batch = NDict({"data.input.img": torch.randn(2, 1, 5, 5, 5), "data.input.clinical": torch.randn(2, 8)})
    batch = model(batch)
    assert batch["model.backbone_features"].shape == (2, 512, 2, 2, 2)
    assert batch["model.logits.classification"].shape == (2, 2)
    _assert_all_params_get_grad(model, batch["model.logits.classification"].square().sum())


class _Recorder(nn.Module):
    """A backbone that records what it was called with."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3)
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        self.calls.append(args)
        result: torch.Tensor = self.conv(sum(args[1:], args[0]))
        return result


def test_conv_inputs_are_concatenated_on_channels() -> None:
    backbone = _Recorder(in_channels=3, out_channels=4)
    model = ModelMultiHead(
        backbone=backbone, heads=[_pool_head(4)], conv_inputs=[("data.a", 1), "data.b"]
    )  # keys or (key, channels)
    a, b = torch.randn(2, 1, 6, 6), torch.randn(2, 2, 6, 6)
    batch = model(NDict({"data.a": a, "data.b": b}))
    (called,) = backbone.calls
    torch.testing.assert_close(called[0], torch.cat([a, b], dim=1))
    torch.testing.assert_close(batch["model.backbone_features"], backbone.conv(torch.cat([a, b], dim=1)))
    assert batch["model.output.cls"].shape == (2, 2)
    assert model.conv_inputs == ["data.a", "data.b"]
    assert model.backbone_args is None
    _assert_all_params_get_grad(model, batch["model.logits.cls"].square().sum())


def test_backbone_args_are_passed_positionally() -> None:
    # FuseMedML's forward read self.conv_inputs, which was never set with backbone_args
    backbone = _Recorder(in_channels=2, out_channels=4)
    model = ModelMultiHead(
        backbone=backbone,
        heads=[_pool_head(4)],
        backbone_args=["data.a", ("data.b", 2)],
        key_out_features="model.backbone_features",
    )
    a, b = torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6)
    batch = model(NDict({"data.a": a, "data.b": b}))
    (called,) = backbone.calls
    assert called[0] is a
    assert called[1] is b
    torch.testing.assert_close(batch["model.backbone_features"], backbone.conv(a + b))
    assert model.conv_inputs is None


def test_heads_run_in_order_and_custom_feature_key() -> None:
    first = HeadGlobalPoolingClassifier(head_name="first", conv_inputs=[("model.feats", 4)], layers_description=(6,))
    second = HeadGlobalPoolingClassifier(
        head_name="second", conv_inputs=[("model.feats", 4), ("model.output.first", 2)], layers_description=()
    )
    backbone = nn.Conv2d(1, 4, 3)
    model = ModelMultiHead(
        backbone=backbone, heads=[first, second], conv_inputs=["data.x"], key_out_features="model.feats"
    )
    batch = model(NDict({"data.x": torch.randn(2, 1, 5, 5)}))
    assert "model.backbone_features" not in batch
    assert batch["model.output.second"].shape == (2, 2)  # the second head read the first head's output
    reversed_model = ModelMultiHead(
        backbone=backbone, heads=[second, first], conv_inputs=["data.x"], key_out_features="model.feats"
    )
    with pytest.raises(KeyError, match=r"no key 'model\.output\.first'"):
        reversed_model(NDict({"data.x": torch.randn(2, 1, 5, 5)}))


def test_multihead_errors() -> None:
    with pytest.raises(ValueError, match=r"give exactly one of conv_inputs .* both are set"):
        ModelMultiHead(backbone=nn.Identity(), heads=[], conv_inputs=["a"], backbone_args=["b"])
    with pytest.raises(ValueError, match=r"give exactly one of conv_inputs .* neither is set"):
        ModelMultiHead(backbone=nn.Identity(), heads=[])
    with pytest.raises(TypeError, match="heads must be a sequence of head modules"):
        ModelMultiHead(backbone=nn.Identity(), heads=_pool_head(4), conv_inputs=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="conv_inputs must be a sequence of keys or"):
        ModelMultiHead(backbone=nn.Identity(), heads=[], conv_inputs="data.x")
    with pytest.raises(
        TypeError, match=r"every entry of backbone_args must be a key or a \(key, channels\) pair, got 3"
    ):
        ModelMultiHead(backbone=nn.Identity(), heads=[], backbone_args=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"backbone must be a torch\.nn\.Module"):
        ModelMultiHead(backbone=lambda x: x, heads=[], conv_inputs=["a"])  # type: ignore[arg-type]
    model = ModelMultiHead(backbone=nn.Identity(), heads=[], conv_inputs=[("data.input.img", 1)])
    with pytest.raises(KeyError, match=r"ModelMultiHead \(conv_inputs\): the batch_dict has no key 'data.input.img'"):
        model(NDict({"data.input.image": torch.zeros(1)}))


# ------------------------------------------------------------------ ModelMultistream


def test_multistream_default_split_sends_channel_i_to_stream_i() -> None:
    streams = [nn.Conv2d(1, 2, 3), nn.Conv2d(1, 3, 3), nn.Conv2d(1, 2, 3)]
    model = ModelMultistream(conv_inputs=("data.input.img", 3), backbone_streams=streams, heads=[_pool_head(7)])
    x = torch.randn(2, 3, 6, 6)
    batch = model(NDict({"data.input.img": x}))
    expected = torch.cat([streams[i](x[:, i : i + 1]) for i in range(3)], dim=1)
    torch.testing.assert_close(batch["model.backbone_features"], expected)
    assert batch["model.output.cls"].shape == (2, 2)
    _assert_all_params_get_grad(model, batch["model.logits.cls"].square().sum())
    # a 3-D input splits the same way (FuseMedML indexed [:, i, :, :])
    volume_streams = [nn.Conv3d(1, 2, 1), nn.Conv3d(1, 2, 1)]
    volume = torch.randn(2, 2, 3, 4, 4)
    model3d = ModelMultistream(conv_inputs="data.v", backbone_streams=volume_streams, heads=[])
    features = model3d(NDict({"data.v": volume}))["model.backbone_features"]
    torch.testing.assert_close(features, torch.cat([volume_streams[i](volume[:, i : i + 1]) for i in range(2)], dim=1))


def test_multistream_custom_split_and_join() -> None:
    streams = [nn.Conv2d(2, 4, 3), nn.Conv2d(2, 4, 3)]

    def split(batch: NDict, backbone_streams: nn.ModuleList) -> list[torch.Tensor]:
        return [stream(batch["data.a"] if i == 0 else batch["data.b"]) for i, stream in enumerate(backbone_streams)]

    def join(batch: NDict, outputs: list[torch.Tensor]) -> torch.Tensor:
        return outputs[0] - outputs[1]

    model = ModelMultistream(
        conv_inputs=[("data.a", 2), ("data.b", 2)],
        backbone_streams=streams,
        heads=[_pool_head(4)],
        split_logic=split,
        join_logic=join,
    )
    a, b = torch.randn(2, 2, 5, 5), torch.randn(2, 2, 5, 5)
    batch = model(NDict({"data.a": a, "data.b": b}))
    torch.testing.assert_close(batch["model.backbone_features"], streams[0](a) - streams[1](b))
    _assert_all_params_get_grad(model, batch["model.logits.cls"].square().sum())


def test_multistream_errors() -> None:
    model = ModelMultistream(conv_inputs=("data.x", 2), backbone_streams=[nn.Identity()] * 3, heads=[])
    with pytest.raises(ValueError, match=r"the input has 2 channels .* and there are 3 streams"):
        model(NDict({"data.x": torch.randn(1, 2, 4, 4)}))
    with pytest.raises(TypeError, match="split_logic must be callable or None, got 'x'"):
        ModelMultistream(conv_inputs=("a", 1), backbone_streams=[nn.Identity()], heads=[], split_logic="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backbone_streams is empty"):
        ModelMultistream(conv_inputs=("a", 1), backbone_streams=[], heads=[])
    with pytest.raises(ValueError, match="conv_inputs must be given"):
        ModelMultistream(conv_inputs=None, backbone_streams=[nn.Identity()], heads=[])  # type: ignore[arg-type]


# ------------------------------------------------------------------ ModelSiamese


def test_siamese_shares_one_backbone() -> None:
    backbone = nn.Conv2d(2, 4, 3)
    head = _pool_head(8)
    model = ModelSiamese(
        conv_inputs_0=(("data.left", 1), ("data.left_mask", 1)),
        conv_inputs_1=(("data.right", 2),),
        backbone=backbone,
        heads=[head],
    )
    assert isinstance(model, ModelMultiHead)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in backbone.parameters()) + sum(p.numel() for p in head.parameters())
    left, mask, right = torch.randn(2, 1, 6, 6), torch.randn(2, 1, 6, 6), torch.randn(2, 2, 6, 6)
    batch = model(NDict({"data.left": left, "data.left_mask": mask, "data.right": right}))
    features_0 = backbone(torch.cat([left, mask], dim=1))
    features_1 = backbone(right)
    torch.testing.assert_close(batch["model.backbone_features_0"], features_0)
    torch.testing.assert_close(batch["model.backbone_features_1"], features_1)
    torch.testing.assert_close(batch["model.backbone_features"], torch.cat([features_0, features_1], dim=1))
    assert batch["model.output.cls"].shape == (2, 2)
    # both branches contribute to the shared weights' gradient
    model.zero_grad()
    batch["model.backbone_features_0"].sum().backward(retain_graph=True)
    grad_0 = backbone.weight.grad.clone()
    model.zero_grad()
    batch["model.backbone_features_1"].sum().backward(retain_graph=True)
    grad_1 = backbone.weight.grad.clone()
    model.zero_grad()
    batch["model.backbone_features"].sum().backward()
    torch.testing.assert_close(backbone.weight.grad, grad_0 + grad_1)


def test_siamese_errors() -> None:
    with pytest.raises(ValueError, match="conv_inputs_0 and conv_inputs_1 must both be given"):
        ModelSiamese(conv_inputs_0=None, conv_inputs_1=[("b", 1)], backbone=nn.Identity(), heads=[])  # type: ignore[arg-type]
    model = ModelSiamese(conv_inputs_0=[("a", 1)], conv_inputs_1=[("b", 1)], backbone=nn.Identity(), heads=[])
    with pytest.raises(KeyError, match=r"ModelSiamese \(conv_inputs_1\): the batch_dict has no key 'b'"):
        model(NDict({"a": torch.zeros(1, 1)}))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_models_on_gpu(autocast: bool) -> None:
    models = [
        ModelMultiHead(backbone=nn.Conv2d(1, 4, 3), heads=[_pool_head(4)], conv_inputs=["data.a"]),
        ModelMultistream(conv_inputs=("data.b", 2), backbone_streams=[nn.Conv2d(1, 2, 3)] * 2, heads=[_pool_head(4)]),
        ModelSiamese(
            conv_inputs_0=["data.a"], conv_inputs_1=["data.c"], backbone=nn.Conv2d(1, 2, 3), heads=[_pool_head(4)]
        ),
    ]
    for cpu_model in models:
        model = cpu_model.cuda()
        batch = NDict(
            {
                key: torch.randn(2, channels, 6, 6, device="cuda")
                for key, channels in (("data.a", 1), ("data.b", 2), ("data.c", 1))
            }
        )
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            batch = model(batch)
        logits = batch["model.logits.cls"]
        assert logits.is_cuda
        assert logits.dtype == (torch.bfloat16 if autocast else torch.float32)
        _assert_all_params_get_grad(model, logits.float().square().sum())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_seed_snippet_on_gpu_with_bf16_autocast() -> None:
    from fuse.dl.backbones._resnet3d import BackboneResnet3D

    model = ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=BackboneResnet3D(in_channels=1),
        heads=[
            Head3D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 512)],
                dropout_rate=0.5,
                append_dropout_rate=0.0,
                fused_dropout_rate=0.0,
                num_outputs=2,
                append_features=[("data.input.clinical", 8)],
                append_layers_description=(256, 128),
            )
        ],
    ).cuda()
    batch = NDict(
        {
            "data.input.img": torch.randn(2, 1, 8, 32, 32, device="cuda"),
            "data.input.clinical": torch.randn(2, 8, device="cuda"),
        }
    )
    with torch.autocast("cuda", dtype=torch.bfloat16):
        batch = model(batch)
    assert batch["model.logits.classification"].dtype == torch.bfloat16
    assert batch["model.logits.classification"].shape == (2, 2)
    model.zero_grad()
    batch["model.logits.classification"].float().sum().backward()
    assert model.backbone.stem[0].weight.grad is not None
    assert model.heads[0].append_features_module.classifier[0].weight.grad is not None
