"""Shared fixtures of the fuse-dl tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread avoids the cost of intra-op threads, which is large on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip random initialisation (parameter counts and names do not depend on it): big networks build fast."""
    for name in ("kaiming_normal_", "kaiming_uniform_", "uniform_", "normal_"):
        monkeypatch.setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
