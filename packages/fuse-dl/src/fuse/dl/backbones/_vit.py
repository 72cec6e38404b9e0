"""Vision transformer backbones: ``ProjectPatchesTokenizer``, ``Transformer``, ``ViT`` and ``vit_tiny/small/base``.

``ProjectPatchesTokenizer`` cuts a 1-D, 2-D or 3-D image into patches with a strided convolution and returns one
token per patch; ``Transformer`` prepends learned CLS tokens, adds a learned positional embedding and runs pre-norm
blocks (multi-head self-attention through ``torch.nn.functional.scaled_dot_product_attention``, then a GELU MLP,
each with a residual connection), ending with a LayerNorm. Module and parameter names follow ``vit_pytorch``'s
``Transformer``, which FuseMedML wrapped (``transformer.layers.0.0.to_qkv.weight``, ``transformer.layers.0.1.net.1``
..., ``transformer.norm``), so FuseMedML ViT state dicts load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProjectPatchesTokenizer", "Transformer", "ViT", "vit_tiny", "vit_small", "vit_base"]

_POOLS = ("none", "cls", "mean")


class ProjectPatchesTokenizer(nn.Module):
    """Project the patches of a 1-D, 2-D or 3-D image to tokens: ``[B, channels, *image_shape]`` -> ``[B, n, token_dim]``.

    :param image_shape: the spatial shape of the images (1, 2 or 3 sizes).
    :param patch_shape: the patch size along each spatial axis (as many as ``image_shape``).
    :param channels: image channels.
    :param token_dim: the size of each token.
    :param strict: require every image size to be a multiple of the patch size (``ValueError`` otherwise); when
        ``False``, the last incomplete patches are dropped, as a strided convolution does.

    ``num_tokens`` is the number of patches, ``prod(image_shape // patch_shape)``.

    >>> import torch
    >>> tokenizer = ProjectPatchesTokenizer(image_shape=(32, 48), patch_shape=(16, 16), channels=3, token_dim=8)
    >>> tokenizer.num_tokens
    6
    >>> tokenizer(torch.zeros(2, 3, 32, 48)).shape
    torch.Size([2, 6, 8])
    """

    def __init__(
        self,
        *,
        image_shape: Sequence[int],
        patch_shape: Sequence[int],
        channels: int,
        token_dim: int,
        strict: bool = True,
    ) -> None:
        super().__init__()
        image = tuple(image_shape)
        patch = tuple(patch_shape)
        if len(image) != len(patch) or len(image) not in (1, 2, 3):
            raise ValueError(
                "ProjectPatchesTokenizer: image_shape and patch_shape must both have 1, 2 or 3 sizes, got "
                f"image_shape={image!r}, patch_shape={patch!r}"
            )
        if not all(isinstance(s, int) and s >= 1 for s in (*image, *patch)):
            raise ValueError(
                f"ProjectPatchesTokenizer: sizes must be positive ints, got image_shape={image!r}, patch_shape={patch!r}"
            )
        if strict and any(i % p for i, p in zip(image, patch, strict=True)):
            raise ValueError(
                f"ProjectPatchesTokenizer: image_shape={image!r} is not divisible by patch_shape={patch!r}; choose a "
                "patch size that divides every image size, or pass strict=False to drop the incomplete patches"
            )
        self.num_tokens = math.prod(i // p for i, p in zip(image, patch, strict=True))
        if self.num_tokens == 0:
            raise ValueError(f"ProjectPatchesTokenizer: patch_shape={patch!r} is larger than image_shape={image!r}")
        self.image_shape = image
        self.image_dim = len(image)
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[self.image_dim]
        kernel: Any = patch  # one size per spatial axis of this convolution
        self.proj_layer = conv(channels, token_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, channels, *image_shape]`` -> ``[B, num_tokens, token_dim]``."""
        if x.ndim != self.image_dim + 2:
            raise ValueError(
                f"ProjectPatchesTokenizer expects [batch, channels, {self.image_dim} spatial sizes] input, got shape "
                f"{tuple(x.shape)}"
            )
        out: torch.Tensor = self.proj_layer(x).flatten(start_dim=2).transpose(1, 2)
        return out


class _Attention(nn.Module):
    """Pre-norm multi-head self-attention (vit_pytorch's ``Attention``: ``norm``, ``to_qkv``, ``to_out``)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner_dim = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.dropout = dropout
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner_dim * 3, bias=False)
        project_out = not (heads == 1 and dim_head == dim)
        self.to_out: nn.Module = (
            nn.Sequential(nn.Linear(inner_dim, dim), nn.Dropout(dropout)) if project_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        q, k, v = (
            t.reshape(batch, tokens, self.heads, self.dim_head).transpose(1, 2)
            for t in self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        )
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        projected: torch.Tensor = self.to_out(out.transpose(1, 2).reshape(batch, tokens, self.heads * self.dim_head))
        return projected


class _FeedForward(nn.Module):
    """Pre-norm GELU MLP (vit_pytorch's ``FeedForward``: ``net`` = LayerNorm, Linear, GELU, Dropout, Linear, Dropout)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class _Encoder(nn.Module):
    """``depth`` residual (attention, MLP) blocks and a final LayerNorm (vit_pytorch's ``Transformer``)."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([_Attention(dim, heads, dim_head, dropout), _FeedForward(dim, mlp_dim, dropout)])
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            attention, feed_forward = cast(nn.ModuleList, layer)
            x = attention(x) + x
            x = feed_forward(x) + x
        out: torch.Tensor = self.norm(x)
        return out


class Transformer(nn.Module):
    """A transformer encoder over ``num_tokens`` tokens: ``[B, num_tokens, token_dim]`` -> ``[B, cls + n, token_dim]``.

    The ``num_cls_tokens`` learned CLS tokens come first in the output.

    :param num_tokens: the number of input tokens (the positional embedding has ``num_tokens + num_cls_tokens``).
    :param token_dim: the size of each token.
    :param depth: the number of (attention, MLP) blocks.
    :param heads: attention heads.
    :param mlp_dim: the hidden size of each block's MLP.
    :param dim_head: the size of each head's queries, keys and values.
    :param dropout: dropout on the attention weights and after each projection.
    :param emb_dropout: dropout on the embedded tokens (after adding the positional embedding).
    :param num_cls_tokens: how many CLS tokens to prepend.

    >>> import torch
    >>> encoder = Transformer(num_tokens=5, token_dim=16, depth=2, heads=2, mlp_dim=32, dim_head=8)
    >>> encoder(torch.zeros(3, 5, 16)).shape
    torch.Size([3, 6, 16])
    """

    def __init__(
        self,
        *,
        num_tokens: int,
        token_dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        dim_head: int = 64,
        dropout: float = 0.0,
        emb_dropout: float = 0.0,
        num_cls_tokens: int = 1,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("num_tokens", num_tokens, 1),
            ("token_dim", token_dim, 1),
            ("depth", depth, 0),
            ("heads", heads, 1),
            ("mlp_dim", mlp_dim, 1),
            ("dim_head", dim_head, 1),
            ("num_cls_tokens", num_cls_tokens, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Transformer: {name} must be an int >= {low}, got {value!r}")
        for name, rate in (("dropout", dropout), ("emb_dropout", emb_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"Transformer: {name} must be in [0, 1), got {rate!r}")
        self.num_tokens = num_tokens
        self.token_dim = token_dim
        self.num_cls_tokens = num_cls_tokens
        self.pos_embedding = nn.Parameter(torch.randn(1, num_tokens + num_cls_tokens, token_dim))
        self.cls_tokens = nn.Parameter(torch.randn(1, num_cls_tokens, token_dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = _Encoder(token_dim, depth, heads, dim_head, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, num_tokens, token_dim]`` -> ``[B, num_cls_tokens + num_tokens, token_dim]`` (CLS tokens first)."""
        if x.ndim != 3 or x.shape[1] != self.num_tokens or x.shape[2] != self.token_dim:
            raise ValueError(
                f"Transformer expects [batch, num_tokens={self.num_tokens}, token_dim={self.token_dim}] input, got "
                f"shape {tuple(x.shape)}"
            )
        x = torch.cat((self.cls_tokens.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embedding
        out: torch.Tensor = self.transformer(self.dropout(x))
        return out


class ViT(nn.Module):
    """A vision transformer: ``ProjectPatchesTokenizer`` then ``Transformer``.

    :param token_dim: the size of each token.
    :param projection_kwargs: the other arguments of :class:`ProjectPatchesTokenizer` (``image_shape``,
        ``patch_shape``, ``channels``, optionally ``strict``).
    :param transformer_kwargs: the other arguments of :class:`Transformer` (``depth``, ``heads``, ``mlp_dim`` ...;
        ``num_tokens`` comes from the tokenizer).

    >>> import torch
    >>> vit = ViT(token_dim=16, projection_kwargs=dict(image_shape=(8, 8), patch_shape=(4, 4), channels=1),
    ...           transformer_kwargs=dict(depth=1, heads=2, mlp_dim=32, dim_head=8))
    >>> x = torch.zeros(2, 1, 8, 8)
    >>> vit(x).shape, vit(x, pool="cls").shape, vit(x, pool="mean").shape
    (torch.Size([2, 5, 16]), torch.Size([2, 16]), torch.Size([2, 16]))
    """

    def __init__(self, token_dim: int, projection_kwargs: dict[str, Any], transformer_kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.token_dim = token_dim
        self.projection_layer = ProjectPatchesTokenizer(token_dim=token_dim, **projection_kwargs)
        self.transformer = Transformer(
            num_tokens=self.projection_layer.num_tokens, token_dim=token_dim, **transformer_kwargs
        )

    def forward(self, x: torch.Tensor, pool: str = "none") -> torch.Tensor:
        """Tokens of ``x``: all of them ``[B, cls + n, D]`` (``"none"``), the first CLS token ``[B, D]`` (``"cls"``) or
        the mean of all tokens, CLS included, ``[B, D]`` (``"mean"``)."""
        if pool not in _POOLS:
            raise ValueError(f"ViT: pool must be one of {list(_POOLS)}, got {pool!r}")
        x = self.transformer(self.projection_layer(x))
        if pool == "cls":
            return x[:, 0]
        if pool == "mean":
            return x.mean(dim=1)
        return x


def _vit(token_dim: int, heads: int, image_shape: Sequence[int], patch_shape: Sequence[int], channels: int) -> ViT:
    return ViT(
        token_dim=token_dim,
        projection_kwargs={"image_shape": image_shape, "patch_shape": patch_shape, "channels": channels},
        transformer_kwargs={
            "depth": 12,
            "heads": heads,
            "mlp_dim": token_dim * 4,
            "dim_head": 64,
            "dropout": 0.0,
            "emb_dropout": 0.0,
        },
    )


def vit_tiny(image_shape: Sequence[int] = (224, 224), patch_shape: Sequence[int] = (16, 16), channels: int = 3) -> ViT:
    """ViT-Tiny: tokens of 192, 12 blocks of 3 heads (64 each), MLP 768.

    >>> vit_tiny(image_shape=(32, 32)).transformer.pos_embedding.shape
    torch.Size([1, 5, 192])
    """
    return _vit(192, 3, image_shape, patch_shape, channels)


def vit_small(image_shape: Sequence[int] = (224, 224), patch_shape: Sequence[int] = (16, 16), channels: int = 3) -> ViT:
    """ViT-Small: tokens of 384, 12 blocks of 6 heads (64 each), MLP 1536.

    >>> vit_small(image_shape=(32, 32), channels=1).projection_layer.proj_layer
    Conv2d(1, 384, kernel_size=(16, 16), stride=(16, 16))
    """
    return _vit(384, 6, image_shape, patch_shape, channels)


def vit_base(image_shape: Sequence[int] = (224, 224), patch_shape: Sequence[int] = (16, 16), channels: int = 3) -> ViT:
    """ViT-Base: tokens of 768, 12 blocks of 12 heads (64 each), MLP 3072.

    >>> vit_base(image_shape=(16, 16, 16), patch_shape=(8, 8, 8)).projection_layer.num_tokens
    8
    """
    return _vit(768, 12, image_shape, patch_shape, channels)
