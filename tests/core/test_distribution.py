"""fuse-core is installed as its pyproject.toml says: torch-free, numpy + pandas only, no fuse siblings."""

import importlib.util
import os
import re
from pathlib import Path

import pytest

import fuse.core
from fuse_test_support import DISTRIBUTIONS, check_distribution, fuse_modules_after_import


def test_distribution_metadata_matches_design() -> None:
    check_distribution("core")


def test_import_loads_nothing_heavy_or_foreign() -> None:
    assert fuse_modules_after_import("core") == {"core"}  # not even pandas: it loads with the DataFrame helpers


def test_public_names() -> None:
    assert sorted(fuse.core.__all__) == sorted(set(fuse.core.__all__))
    for name in fuse.core.__all__:
        assert hasattr(fuse.core, name), name
    public_classes = [getattr(fuse.core, n) for n in fuse.core.__all__ if isinstance(getattr(fuse.core, n), type)]
    assert all(cls.__module__ == "fuse.core" for cls in public_classes)


@pytest.mark.skipif(os.environ.get("FUSE_ISOLATED_ENV") != "1", reason="only meaningful in nox's per-package venv")
def test_no_sibling_or_torch_installed() -> None:
    for name in ("torch", *(f"fuse.{pkg}" for pkg in DISTRIBUTIONS if pkg != "core")):
        assert importlib.util.find_spec(name) is None, f"{name} leaked into fuse-core's test environment"


def test_every_public_name_is_exercised_by_a_test() -> None:
    tests_dir = Path(__file__).resolve().parent
    sources = "\n".join(path.read_text() for path in tests_dir.glob("test_*.py") if path.name != Path(__file__).name)
    sources += (tests_dir.parent / "integration" / "test_core_with_torch.py").read_text()
    untested = [name for name in fuse.core.__all__ if name != "__version__" and not re.search(rf"\b{name}\b", sources)]
    assert not untested, f"public names with no test: {untested}"
