"""Repository tooling: the one-command version bump rewrites all five versions and every sibling pin."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from fuse_test_support import DISTRIBUTIONS, REPO_ROOT


def _load_bump_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bump_version", REPO_ROOT / "scripts" / "bump_version.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for pkg in DISTRIBUTIONS:
        source = REPO_ROOT / "packages" / f"fuse-{pkg}"
        target = tmp_path / "packages" / f"fuse-{pkg}"
        (target / "src" / "fuse" / pkg).mkdir(parents=True)
        shutil.copy(source / "pyproject.toml", target / "pyproject.toml")
        shutil.copy(source / "src" / "fuse" / pkg / "_version.py", target / "src" / "fuse" / pkg / "_version.py")
    return tmp_path


def test_bump_sets_every_version_and_pin(repo_copy: Path) -> None:
    changed = _load_bump_script().bump("3.4.5rc1", root=repo_copy)
    assert len(changed) == 5 + 4  # five version files, four pyprojects with sibling pins (not fuse-core's)
    for pkg in DISTRIBUTIONS:
        version_file = repo_copy / "packages" / f"fuse-{pkg}" / "src" / "fuse" / pkg / "_version.py"
        assert version_file.read_text() == '__version__ = "3.4.5rc1"\n'
        pins = re.findall(
            r'"(fuse-[a-z]+ == [^"]+)"', (repo_copy / "packages" / f"fuse-{pkg}" / "pyproject.toml").read_text()
        )
        assert sorted(pins) == sorted(f"fuse-{dep} == 3.4.5rc1" for dep in DISTRIBUTIONS[pkg]["fuse"])


def test_bump_rejects_a_bad_version(repo_copy: Path) -> None:
    pyproject = repo_copy / "packages" / "fuse-dl" / "pyproject.toml"
    before = pyproject.read_text()
    with pytest.raises(ValueError, match="not a release version"):
        _load_bump_script().bump("v1.2", root=repo_copy)
    assert pyproject.read_text() == before
