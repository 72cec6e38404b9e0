"""Fixtures for fuse-eval tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuse_test_support import fusemedml_fixtures


@pytest.fixture
def fixtures_dir() -> Path:
    found = fusemedml_fixtures()
    if found is None:
        pytest.skip("FuseMedML example inputs not found: set FUSE_COMPAT_FIXTURES or keep ../shared beside the repo")
    return found
