"""``ModularPooling1D``: pool a padded sequence of token features into one vector (mean or last real token)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ModularPooling1D"]

_POOLINGS = ("mean", "avg", "last")


class ModularPooling1D(nn.Module):
    """Pool ``inputs`` along its sequence dimension ``pool_dim``, counting only the positions where
    ``padding_mask`` (``[B, L]``, true or non-zero for real tokens) is set.

    ``pooling="mean"`` (or ``"avg"``) averages the real tokens; ``"last"`` takes the last real token. FuseMedML
    assumed right padding (it averaged, or took, the first *count* positions); here any mask works, and the two
    agree on right-padded input. Padded positions never reach the result, not even as NaN. A row without a real
    token raises ``ValueError`` naming it (FuseMedML indexed position -1). ``forward(..., keep_dim=True)`` keeps
    ``pool_dim`` with size 1, as FuseMedML did. Unlike FuseMedML, ``pool_dim`` may be any dimension after the batch.

    >>> pool = ModularPooling1D("mean")
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])  # [B=1, L=3, D=1], the last token is padding
    >>> pool(x, torch.tensor([[1, 1, 0]]), keep_dim=False)
    tensor([[2.]])
    >>> ModularPooling1D("last")(x, torch.tensor([[1, 1, 0]]), keep_dim=False)
    tensor([[3.]])
    """

    def __init__(self, pooling: str, pool_dim: int = 1) -> None:
        super().__init__()
        if pooling not in _POOLINGS:
            raise ValueError(f"ModularPooling1D: pooling must be one of {_POOLINGS}, got {pooling!r}")
        if not isinstance(pool_dim, int) or isinstance(pool_dim, bool) or pool_dim < 1:
            raise ValueError(f"ModularPooling1D: pool_dim must be an int >= 1 (dim 0 is the batch), got {pool_dim!r}")
        self.pooling_type = pooling
        self.pool_dim = pool_dim

    def forward(self, inputs: torch.Tensor, padding_mask: torch.Tensor, keep_dim: bool = True) -> torch.Tensor:
        dim = self.pool_dim
        if inputs.dim() <= dim:
            raise ValueError(f"ModularPooling1D: inputs of shape {tuple(inputs.shape)} have no dimension {dim}")
        if padding_mask.dim() != 2 or padding_mask.shape != (inputs.shape[0], inputs.shape[dim]):
            raise ValueError(
                f"ModularPooling1D: padding_mask must be [B, L] = {(inputs.shape[0], inputs.shape[dim])} for inputs "
                f"of shape {tuple(inputs.shape)} pooled along dim {dim}, got {tuple(padding_mask.shape)}"
            )
        real = padding_mask.to(device=inputs.device, dtype=torch.bool)
        counts = real.sum(dim=1)
        empty = torch.nonzero(counts == 0).flatten().tolist()
        if empty:
            raise ValueError(f"ModularPooling1D: rows {empty[:10]} of padding_mask have no real token to pool")
        shape = [1] * inputs.dim()
        shape[0], shape[dim] = real.shape
        if self.pooling_type == "last":
            length = real.shape[1]
            last = length - 1 - torch.flip(real, dims=[1]).to(torch.uint8).argmax(dim=1)  # last True per row
            index_shape = [1] * inputs.dim()
            index_shape[0] = real.shape[0]
            pooled = torch.take_along_dim(inputs, last.reshape(index_shape), dim=dim)
        else:
            kept = torch.where(real.reshape(shape), inputs, torch.zeros((), dtype=inputs.dtype, device=inputs.device))
            count_shape = [1] * inputs.dim()
            count_shape[0] = real.shape[0]
            pooled = kept.sum(dim=dim, keepdim=True) / counts.reshape(count_shape).to(inputs.dtype)
        return pooled if keep_dim else pooled.squeeze(dim)
