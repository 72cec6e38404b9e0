"""docs/architecture.md names the files as they are: every path it gives exists, and every private module and
concern folder of the five packages is named in it (a moved or added file without the page following fails)."""

from __future__ import annotations

import re
from pathlib import Path

from fuse_test_support import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"
PACKAGES = ("core", "data", "eval", "dl", "imaging")


def _package_root(pkg: str) -> Path:
    return REPO_ROOT / "packages" / f"fuse-{pkg}" / "src" / "fuse" / pkg


def test_every_path_given_exists() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"(?:packages|tests|scripts|benchmarks|docs|\.github)/[\w./\-]+", text))
    assert len(paths) > 20, "the page should give paths"
    paths = {p for p in paths if not p.endswith("-")}  # a pattern such as packages/fuse-*/pyproject.toml
    missing = sorted(p for p in paths if not (REPO_ROOT / p.rstrip("/.")).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_private_module_and_concern_folder_is_named() -> None:
    text = DOC.read_text()
    unnamed: list[str] = []
    for pkg in PACKAGES:
        root = _package_root(pkg)
        for module in sorted(root.rglob("_*.py")):
            if module.name in ("__init__.py", "__main__.py", "_version.py") or "templates" in module.parts:
                continue
            if f"`{module.name}`" not in text and f"/{module.name}`" not in text:
                unnamed.append(str(module.relative_to(REPO_ROOT)))
        for folder in sorted(p for p in root.rglob("*") if p.is_dir() and (p / "__init__.py").exists()):
            relative = folder.relative_to(root).as_posix()
            if f"`{relative}/`" not in text:
                unnamed.append(f"folder {relative}/ of fuse.{pkg}")
    assert not unnamed, f"docs/architecture.md does not say what these hold: {unnamed}"
