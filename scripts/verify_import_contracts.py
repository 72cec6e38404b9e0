"""Prove the import-linter contracts bite: plant forbidden imports in a scratch copy and expect lint-imports to fail.

Run by `nox -s lint` after `lint-imports` passed on the real tree. The cases come from the package graph
(scripts/package_graph.py): every fuse import it forbids, and torch from each torch-free package. Each case copies
the src trees and pyproject.toml to a temporary directory, adds the offending modules, and requires that
lint-imports fails with the expected contract broken. A contract that lets a planted violation through fails this
script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from package_graph import TORCH_STACK, PackageGraph, load

ROOT = Path(__file__).resolve().parents[1]


def planted_cases(graph: PackageGraph) -> list[tuple[str, dict[str, str], str]]:
    """(description, {module path relative to src/fuse: source}, contract name expected to break): every fuse
    import the package graph forbids, and torch reached directly or through a torch package from each torch-free
    package."""
    cases = [
        (f"fuse.{source} importing fuse.{target}", {f"{source}/_planted.py": f"import fuse.{target}\n"},
         graph.contract_breaking(source, target))
        for source in graph.names
        for target in sorted(graph.forbidden(source))
    ]  # fmt: skip
    torch_free = [name for name in graph.names if not graph.needs_torch(name)]
    with_torch = next((name for name in graph.names if "torch" in graph[name].third_party), None)
    for source in torch_free:
        for library in TORCH_STACK:
            planted = {f"{source}/_planted.py": f"import {library}\n"}
            cases.append((f"direct `import {library}` in fuse.{source}", planted, graph.torch_free_contract_name()))
        if with_torch is not None:
            planted = {f"{source}/_planted.py": f"import fuse.{with_torch}._planted\n",
                       f"{with_torch}/_planted.py": "import torch\n"}  # fmt: skip
            description = f"indirect torch: fuse.{source} -> fuse.{with_torch} -> torch"
            cases.append((description, planted, graph.torch_free_contract_name()))
    return cases


def _lint_imports(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in sorted(workdir.glob("fuse-*/src")))
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(executable), "--config", str(workdir / "pyproject.toml"), "--no-cache"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def main() -> None:
    graph = load()
    cases = planted_cases(graph)
    failures = []
    for description, planted, contract in cases:
        with tempfile.TemporaryDirectory(prefix="fuse-contracts-") as scratch:
            workdir = Path(scratch)
            shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")
            for pkg in graph.names:
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
    print(f"all {len(cases)} planted violations were caught")


if __name__ == "__main__":
    main()
