"""`fuse` is a PEP 420 namespace shared with other distributions, and the README's troubleshooting is right."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fuse
from fuse_test_support import REPO_ROOT


def _run(code: str, extra_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(extra_path), *sys.path])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)


def test_fuse_is_a_namespace_package() -> None:
    assert getattr(fuse, "__file__", None) is None
    for location in fuse.__path__:
        assert not (Path(location) / "__init__.py").exists(), f"{location} ships fuse/__init__.py"


def test_a_foreign_portion_coexists(tmp_path: Path) -> None:
    (tmp_path / "fuse").mkdir()
    (tmp_path / "fuse" / "othermod.py").write_text("VALUE = 42\n")
    result = _run("import fuse.core, fuse.othermod; print(fuse.othermod.VALUE)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_shadowing_fuse_module_gives_the_error_the_readme_explains(tmp_path: Path) -> None:
    (tmp_path / "fuse.py").write_text("# what fusepy installs\n")
    result = _run("import fuse.core", tmp_path)
    assert result.returncode != 0
    assert "'fuse' is not a package" in result.stderr
    readme = (REPO_ROOT / "README.md").read_text()
    assert "'fuse' is not a package" in readme
    assert "pip uninstall fusepy" in readme


def test_legacy_regular_fuse_package_hides_the_namespace(tmp_path: Path) -> None:
    (tmp_path / "fuse").mkdir()
    (tmp_path / "fuse" / "__init__.py").write_text("# what the monolithic fuse-med-ml installs\n")
    result = _run("import fuse.core", tmp_path)
    assert result.returncode != 0
    assert "No module named 'fuse.core'" in result.stderr
    assert "pip uninstall fuse-med-ml" in (REPO_ROOT / "README.md").read_text()
