"""Helpers of the fuse-dl network tests: tensor comparison and non-trivial BatchNorm state."""

from __future__ import annotations

import torch
from torch import nn


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Shapes equal and values close (``torch.testing.assert_close`` takes seconds on its first call: it imports
    much); the message gives the largest difference."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    difference = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), f"max abs difference {difference}"


def randomize_batch_norms(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so that eval-mode BatchNorm is no near-identity."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                assert module.running_mean is not None, "needs running stats"
                assert module.running_var is not None, "needs running stats"
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(1 + 0.1 * torch.randn(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
