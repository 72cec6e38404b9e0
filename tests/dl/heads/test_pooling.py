"""ModularPooling1D against a brute-force loop, FuseMedML's right-padding formula, and the ways its inputs break."""

from __future__ import annotations

import pytest
import torch

from fuse.dl import ModularPooling1D


def _brute(inputs: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    rows = []
    for b in range(inputs.shape[0]):
        real = [i for i in range(inputs.shape[1]) if mask[b, i]]
        rows.append(inputs[b, real].mean(dim=0) if pooling == "mean" else inputs[b, real[-1]])
    return torch.stack(rows)


def _fusemedml_right_padded(inputs: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """FuseMedML's formula (right padding assumed): position count-1, mean = cumsum there / count."""
    last = mask.long().cumsum(dim=-1)[:, -1] - 1
    source = inputs.cumsum(dim=1) if pooling == "mean" else inputs
    picked = source[torch.arange(inputs.shape[0]), last]
    return picked / (last + 1).unsqueeze(1) if pooling == "mean" else picked


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_matches_a_loop_for_any_mask_and_fusemedml_for_right_padding(pooling: str) -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(5, 7, 3, generator=generator, dtype=torch.float64)
    ragged = torch.rand(5, 7, generator=generator) > 0.4
    ragged[:, 3] = True  # every row has a real token
    pool = ModularPooling1D(pooling)
    torch.testing.assert_close(pool(inputs, ragged, keep_dim=False), _brute(inputs, ragged, pooling))
    right = torch.arange(7).unsqueeze(0) < torch.tensor([[1], [7], [3], [5], [2]])
    expected = _fusemedml_right_padded(inputs, right, pooling)
    torch.testing.assert_close(pool(inputs, right.int(), keep_dim=False), expected)
    assert pool(inputs, right).shape == (5, 1, 3)  # keep_dim=True by default, as in FuseMedML


@pytest.mark.parametrize("pooling", ["mean", "avg", "last"])
def test_padding_never_reaches_the_result_and_gradients_reach_only_real_tokens(pooling: str) -> None:
    inputs = torch.tensor([[[1.0], [3.0], [float("nan")], [float("inf")]]], requires_grad=True)
    mask = torch.tensor([[True, True, False, False]])
    out = ModularPooling1D(pooling)(inputs, mask, keep_dim=False)
    assert out.item() == (3.0 if pooling == "last" else 2.0)
    out.sum().backward()
    assert inputs.grad is not None
    assert torch.all(inputs.grad[0, 2:] == 0)


def test_another_pool_dim() -> None:
    inputs = torch.randn(2, 3, 4)  # pool over dim 2 (length 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    out = ModularPooling1D("mean", pool_dim=2)(inputs, mask, keep_dim=False)
    torch.testing.assert_close(out, torch.stack([inputs[0, :, :2].mean(dim=1), inputs[1].mean(dim=1)]))


def test_bad_arguments_and_rows_without_tokens_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="pooling must be one of"):
        ModularPooling1D("max")
    with pytest.raises(ValueError, match="pool_dim must be an int >= 1"):
        ModularPooling1D("mean", pool_dim=0)
    pool = ModularPooling1D("last")
    with pytest.raises(ValueError, match=r"rows \[1\] of padding_mask have no real token"):
        pool(torch.randn(2, 3, 4), torch.tensor([[1, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match=r"padding_mask must be \[B, L\] = \(2, 3\)"):
        pool(torch.randn(2, 3, 4), torch.ones(2, 4))
