"""Prove the import-linter contracts bite: plant forbidden imports in a scratch copy and expect lint-imports to fail.

Run by `nox -s lint` after `lint-imports` passed on the real tree. Each case copies the five src trees and
pyproject.toml to a temporary directory, adds one offending module, and requires that lint-imports fails
with the expected contract broken. A contract that lets a planted violation through fails this script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "data", "eval", "dl", "imaging"]

# (description, {module path relative to src/fuse: source}, contract name expected to break)
CASES: list[tuple[str, dict[str, str], str]] = [
    ("direct `import torch` in fuse.core", {"core/_planted.py": "import torch\n"}, "never import torch"),
    ("direct `import lightning` in fuse.eval", {"eval/_planted.py": "import lightning\n"}, "never import torch"),
    (
        "indirect torch: fuse.core -> fuse.data -> torch",
        {"core/_planted.py": "import fuse.data._planted\n", "data/_planted.py": "import torch\n"},
        "never import torch",
    ),
    ("fuse.core importing fuse.data", {"core/_planted.py": "import fuse.data\n"}, "fuse layering"),
    ("fuse.data importing fuse.eval", {"data/_planted.py": "import fuse.eval\n"}, "fuse layering"),
    ("fuse.dl importing fuse.imaging", {"dl/_planted.py": "import fuse.imaging\n"}, "fuse layering"),
    ("fuse.imaging importing fuse.eval", {"imaging/_planted.py": "import fuse.eval\n"}, "imports neither"),
]


def _lint_imports(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(workdir / f"fuse-{pkg}" / "src") for pkg in PACKAGES)
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(executable), "--config", str(workdir / "pyproject.toml"), "--no-cache"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def main() -> None:
    failures = []
    for description, planted, contract in CASES:
        with tempfile.TemporaryDirectory(prefix="fuse-contracts-") as scratch:
            workdir = Path(scratch)
            shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")
            for pkg in PACKAGES:
                shutil.copytree(ROOT / "packages" / f"fuse-{pkg}" / "src", workdir / f"fuse-{pkg}" / "src")
            for relative, source in planted.items():
                pkg = relative.split("/")[0]
                (workdir / f"fuse-{pkg}" / "src" / "fuse" / relative).write_text(source)
            result = _lint_imports(workdir)
            output = result.stdout + result.stderr
            broken = [line for line in output.splitlines() if line.endswith("BROKEN")]
            caught = result.returncode != 0 and any(contract in line for line in broken)
            print(f"{'caught' if caught else 'MISSED'}: {description} -> {broken or 'no contract broken'}")
            if not caught:
                failures.append(f"{description}: expected a broken contract containing {contract!r}\n{output}")
    if failures:
        sys.exit("import contracts let planted violations through:\n" + "\n".join(failures))
    print(f"all {len(CASES)} planted violations were caught")


if __name__ == "__main__":
    main()
