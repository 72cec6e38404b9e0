"""ProjectPatchesTokenizer, Transformer, ViT and vit_tiny/small/base: attention against softmax(QK^T/sqrt(d))V written
by hand, a whole encoder against a functional re-implementation, tokens against explicit patches (1-D, 2-D, 3-D),
pools, parameter counts by formula (and timm's published ViT-Ti), dropout and errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.dl import ProjectPatchesTokenizer, Transformer, ViT, vit_base, vit_small, vit_tiny
from fuse_dl_nets_support import assert_close


def _attention_by_hand(attention: nn.Module, x: torch.Tensor, heads: int, dim_head: int) -> torch.Tensor:
    batch, tokens, dim = x.shape
    normed = F.layer_norm(x, (dim,), attention.norm.weight, attention.norm.bias)
    q, k, v = (normed @ attention.to_qkv.weight.T).split(heads * dim_head, dim=-1)
    q, k, v = (t.reshape(batch, tokens, heads, dim_head).permute(0, 2, 1, 3) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim_head), dim=-1)
    out = (weights @ v).permute(0, 2, 1, 3).reshape(batch, tokens, heads * dim_head)
    if isinstance(attention.to_out, nn.Identity):
        return out
    return out @ attention.to_out[0].weight.T + attention.to_out[0].bias


def test_attention_is_softmax_qk_over_sqrt_d_times_v() -> None:
    torch.manual_seed(0)
    encoder = Transformer(num_tokens=5, token_dim=12, depth=1, heads=3, mlp_dim=8, dim_head=4)
    attention = encoder.transformer.layers[0][0]
    x = torch.randn(2, 5, 12)
    with torch.no_grad():
        assert_close(attention(x), _attention_by_hand(attention, x, heads=3, dim_head=4))
    # one head as wide as the tokens: no output projection (vit_pytorch's rule)
    single = Transformer(num_tokens=5, token_dim=6, depth=1, heads=1, mlp_dim=8, dim_head=6).transformer.layers[0][0]
    assert isinstance(single.to_out, nn.Identity)
    y = torch.randn(2, 5, 6)
    with torch.no_grad():
        assert_close(single(y), _attention_by_hand(single, y, heads=1, dim_head=6))


def test_transformer_equals_a_functional_pre_norm_encoder() -> None:
    torch.manual_seed(0)
    heads, dim_head, dim = 2, 3, 8
    encoder = Transformer(
        num_tokens=4, token_dim=dim, depth=2, heads=heads, mlp_dim=10, dim_head=dim_head, num_cls_tokens=2
    )
    with torch.no_grad():  # LayerNorms that are not the identity
        for module in encoder.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
    encoder.eval()
    x = torch.randn(3, 4, dim)
    with torch.no_grad():
        h = torch.cat((encoder.cls_tokens.expand(3, 2, dim), x), dim=1) + encoder.pos_embedding
        for attention, feed_forward in encoder.transformer.layers:
            h = h + _attention_by_hand(attention, h, heads, dim_head)
            norm, first, _, _, second, _ = feed_forward.net
            hidden = F.gelu(F.layer_norm(h, (dim,), norm.weight, norm.bias) @ first.weight.T + first.bias)
            h = h + hidden @ second.weight.T + second.bias
        final = encoder.transformer.norm
        expected = F.layer_norm(h, (dim,), final.weight, final.bias)
        output = encoder(x)
    assert output.shape == (3, 6, dim)
    assert_close(output, expected)


def test_vit_pytorch_parameter_names() -> None:
    encoder = Transformer(num_tokens=4, token_dim=8, depth=1, heads=2, mlp_dim=10, dim_head=3)
    assert list(encoder.state_dict()) == [
        "pos_embedding",
        "cls_tokens",
        "transformer.norm.weight",
        "transformer.norm.bias",
        "transformer.layers.0.0.norm.weight",
        "transformer.layers.0.0.norm.bias",
        "transformer.layers.0.0.to_qkv.weight",
        "transformer.layers.0.0.to_out.0.weight",
        "transformer.layers.0.0.to_out.0.bias",
        "transformer.layers.0.1.net.0.weight",
        "transformer.layers.0.1.net.0.bias",
        "transformer.layers.0.1.net.1.weight",
        "transformer.layers.0.1.net.1.bias",
        "transformer.layers.0.1.net.4.weight",
        "transformer.layers.0.1.net.4.bias",
    ]


@pytest.mark.parametrize(
    ("image", "patch"), [((12,), (4,)), ((8, 12), (4, 3)), ((4, 6, 8), (2, 3, 4))], ids=["1d", "2d", "3d"]
)
def test_tokens_are_projected_patches(image: tuple[int, ...], patch: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    channels, dim, batch = 2, 5, 3
    tokenizer = ProjectPatchesTokenizer(image_shape=image, patch_shape=patch, channels=channels, token_dim=dim)
    x = torch.randn(batch, channels, *image)
    grid = [i // p for i, p in zip(image, patch, strict=True)]
    # split every spatial axis into (patch index, position in the patch), then gather one row per patch
    split = x.reshape(batch, channels, *[s for g, p in zip(grid, patch, strict=True) for s in (g, p)])
    d = len(image)
    order = [0, *(2 + 2 * i for i in range(d)), 1, *(3 + 2 * i for i in range(d))]
    patches = split.permute(order).reshape(batch, math.prod(grid), channels * math.prod(patch))
    expected = patches @ tokenizer.proj_layer.weight.reshape(dim, -1).T + tokenizer.proj_layer.bias
    assert tokenizer.num_tokens == math.prod(grid)
    with torch.no_grad():
        assert_close(tokenizer(x), expected)


def test_non_strict_tokenizer_drops_incomplete_patches() -> None:
    tokenizer = ProjectPatchesTokenizer(image_shape=(10, 9), patch_shape=(4, 4), channels=1, token_dim=3, strict=False)
    assert tokenizer.num_tokens == 4
    assert tokenizer(torch.zeros(2, 1, 10, 9)).shape == (2, 4, 3)


def test_vit_pools_and_dimensions() -> None:
    torch.manual_seed(0)
    for image, patch, channels in (((16,), (4,), 2), ((8, 8), (4, 2), 1), ((4, 4, 4), (2, 2, 2), 3)):
        vit = ViT(
            token_dim=8,
            projection_kwargs={"image_shape": image, "patch_shape": patch, "channels": channels},
            transformer_kwargs={"depth": 1, "heads": 2, "mlp_dim": 16, "dim_head": 4},
        ).eval()
        n = vit.projection_layer.num_tokens
        x = torch.randn(2, channels, *image)
        with torch.no_grad():
            tokens = vit(x)
            assert tokens.shape == (2, n + 1, 8)
            assert torch.equal(vit(x, pool="cls"), tokens[:, 0])
            assert_close(vit(x, pool="mean"), tokens.mean(dim=1))
            assert torch.equal(tokens, vit.transformer(vit.projection_layer(x)))


def _vit_parameters(dim: int, heads: int, tokens: int, channels: int, patch: int, depth: int = 12) -> int:
    inner = heads * 64
    per_block = (
        2 * dim + dim * 3 * inner + (inner * dim + dim) + 2 * dim + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim)
    )
    return (channels * patch * patch * dim + dim) + (tokens + 1) * dim + dim + depth * per_block + 2 * dim


@pytest.mark.usefixtures("no_init")
def test_vit_factories_parameter_counts() -> None:
    tiny = vit_tiny()
    assert sum(p.numel() for p in tiny.parameters()) == _vit_parameters(192, 3, 196, 3, 16) == 5_517_504
    # timm's vit_tiny_patch16_224 has 5,717,416 parameters: ours plus its 1000-class head and the qkv biases
    assert 5_517_504 + (192 * 1000 + 1000) + 12 * 3 * 192 == 5_717_416
    assert tiny.transformer.pos_embedding.shape == (1, 197, 192)
    small = vit_small(image_shape=(64, 64), channels=1)
    assert sum(p.numel() for p in small.parameters()) == _vit_parameters(384, 6, 16, 1, 16)
    base = vit_base(image_shape=(32, 32), patch_shape=(16, 16))
    assert sum(p.numel() for p in base.parameters()) == _vit_parameters(768, 12, 4, 3, 16)
    assert [len(m.transformer.transformer.layers) for m in (tiny, small, base)] == [12, 12, 12]
    assert [m.transformer.transformer.layers[0][0].heads for m in (tiny, small, base)] == [3, 6, 12]
    assert [m.transformer.transformer.layers[0][1].net[1].out_features for m in (tiny, small, base)] == [
        768,
        1536,
        3072,
    ]


def test_vit_tiny_forward() -> None:
    torch.manual_seed(0)
    vit = vit_tiny(image_shape=(32, 48), patch_shape=(16, 16), channels=1).eval()
    with torch.no_grad():
        assert vit(torch.randn(2, 1, 32, 48), pool="cls").shape == (2, 192)


def test_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    encoder = Transformer(
        num_tokens=4, token_dim=8, depth=1, heads=2, mlp_dim=8, dim_head=4, dropout=0.5, emb_dropout=0.5
    )
    x = torch.randn(2, 4, 8)
    assert not torch.equal(encoder(x), encoder(x))
    encoder.eval()
    assert torch.equal(encoder(x), encoder(x))


def test_vit_errors() -> None:
    with pytest.raises(
        ValueError, match=r"image_shape=\(10, 8\) is not divisible by patch_shape=\(4, 4\).*strict=False"
    ):
        ProjectPatchesTokenizer(image_shape=(10, 8), patch_shape=(4, 4), channels=1, token_dim=4)
    with pytest.raises(
        ValueError, match=r"must both have 1, 2 or 3 sizes, got image_shape=\(8, 8\), patch_shape=\(4,\)"
    ):
        ProjectPatchesTokenizer(image_shape=(8, 8), patch_shape=(4,), channels=1, token_dim=4)
    with pytest.raises(ValueError, match="must both have 1, 2 or 3 sizes"):
        ProjectPatchesTokenizer(image_shape=(2, 2, 2, 2), patch_shape=(1, 1, 1, 1), channels=1, token_dim=4)
    with pytest.raises(ValueError, match=r"patch_shape=\(8,\) is larger than image_shape=\(4,\)"):
        ProjectPatchesTokenizer(image_shape=(4,), patch_shape=(8,), channels=1, token_dim=4, strict=False)
    tokenizer = ProjectPatchesTokenizer(image_shape=(8, 8), patch_shape=(4, 4), channels=1, token_dim=4)
    with pytest.raises(ValueError, match=r"expects \[batch, channels, 2 spatial sizes\] input, got shape \(1, 8, 8\)"):
        tokenizer(torch.zeros(1, 8, 8))
    encoder = Transformer(num_tokens=4, token_dim=8, depth=1, heads=2, mlp_dim=8)
    with pytest.raises(ValueError, match=r"expects \[batch, num_tokens=4, token_dim=8\] input, got shape \(1, 5, 8\)"):
        encoder(torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match="heads must be an int >= 1, got 0"):
        Transformer(num_tokens=4, token_dim=8, depth=1, heads=0, mlp_dim=8)
    with pytest.raises(ValueError, match=r"emb_dropout must be in \[0, 1\), got 1.0"):
        Transformer(num_tokens=4, token_dim=8, depth=1, heads=1, mlp_dim=8, emb_dropout=1.0)
    vit = ViT(
        token_dim=8,
        projection_kwargs={"image_shape": (8,), "patch_shape": (4,), "channels": 1},
        transformer_kwargs={"depth": 1, "heads": 1, "mlp_dim": 8},
    )
    with pytest.raises(ValueError, match=r"pool must be one of \['none', 'cls', 'mean'\], got 'max'"):
        vit(torch.zeros(1, 1, 8), pool="max")
    with pytest.raises(ValueError, match=r"num_tokens=2.*got shape \(1, 3, 8\)"):  # an image of another size
        vit(torch.zeros(1, 1, 12))
