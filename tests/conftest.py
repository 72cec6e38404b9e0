"""Shared pytest configuration for every package's tests.

Loaded by every session, including the torch-free ones: it must not import torch at module level.
``cuda``-marked tests are skipped without a CUDA device, and fail the run when ``FUSE_REQUIRE_CUDA=1``.
"""

from __future__ import annotations

import gc
import importlib.util
import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    """The cyclic garbage collector off, as between its runs: only reference counting frees objects."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cuda_status() -> tuple[bool, str]:
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} sees no CUDA device"
    return True, torch.cuda.get_device_name(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cuda_items = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not cuda_items:
        return
    available, detail = _cuda_status()
    if available:
        return
    if os.environ.get("FUSE_REQUIRE_CUDA") == "1":
        raise pytest.UsageError(f"FUSE_REQUIRE_CUDA=1 but CUDA is unavailable: {detail}")
    skip = pytest.mark.skip(reason=f"needs CUDA: {detail}")
    for item in cuda_items:
        item.add_marker(skip)
