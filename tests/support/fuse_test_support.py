"""Helpers shared by the tests of every package (on the pytest ``pythonpath``; no torch at import)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# The package graph has one source, each packages/fuse-*/pyproject.toml (read by scripts/package_graph.py; the
# layers are described in docs/architecture.md). Per package: third-party runtime dependencies, fuse packages it
# depends on, and fuse packages it must not import.
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.append(str(REPO_ROOT / "scripts"))
from package_graph import load as _load_package_graph
from package_graph import requirement_name as _requirement_name

PACKAGE_GRAPH = _load_package_graph(REPO_ROOT)
DISTRIBUTIONS: dict[str, dict[str, set[str]]] = {
    pkg: {
        "third_party": set(PACKAGE_GRAPH[pkg].third_party),
        "fuse": set(PACKAGE_GRAPH[pkg].fuse),
        "forbidden": PACKAGE_GRAPH.forbidden(pkg),
    }
    for pkg in PACKAGE_GRAPH.names
}
# optional extras: extra name -> the libraries it installs
EXTRAS: dict[str, dict[str, set[str]]] = {
    pkg: {extra: set(names) for extra, names in PACKAGE_GRAPH[pkg].extras.items()}
    for pkg in PACKAGE_GRAPH.names
    if PACKAGE_GRAPH[pkg].extras
}


def check_distribution(pkg: str) -> None:
    """Assert the installed ``fuse-<pkg>`` distribution matches its pyproject.toml and the repo's layout rules
    (an installed package whose metadata predates a pyproject change fails here: reinstall it)."""
    module = importlib.import_module(f"fuse.{pkg}")
    version = importlib.metadata.version(f"fuse-{pkg}")
    assert module.__version__ == version
    assert importlib.resources.files(module).joinpath("py.typed").is_file(), f"fuse.{pkg} lacks py.typed"

    requirements = importlib.metadata.requires(f"fuse-{pkg}") or []
    runtime = [r for r in requirements if "extra ==" not in r]
    names = {_requirement_name(r) for r in runtime}
    expected = DISTRIBUTIONS[pkg]
    assert names == expected["third_party"] | {f"fuse-{dep}" for dep in expected["fuse"]}, runtime
    for requirement in runtime:
        if requirement.startswith("fuse-"):
            assert re.fullmatch(rf"fuse-[a-z]+\s*==\s*{re.escape(version)}", requirement.strip()), (
                f"sibling pins must be exact and equal to this version: {requirement}"
            )
    extras: dict[str, set[str]] = {}
    for requirement in requirements:
        if "extra ==" in requirement:
            extra = requirement.split("extra ==")[1].strip().strip("'\"")
            extras.setdefault(extra, set()).add(_requirement_name(requirement))
    assert extras == EXTRAS.get(pkg, {}), extras


def fuse_modules_after_import(pkg: str) -> set[str]:
    """The top-level fuse packages and the heavy libraries (torch, lightning, pandas, sklearn, scipy, statsmodels)
    loaded by ``import fuse.<pkg>`` in a fresh interpreter.
    """
    code = (
        f"import sys, fuse.{pkg}\n"
        "names = {m.split('.')[1] for m in sys.modules if m.startswith('fuse.')}\n"
        "heavy = ('torch', 'lightning', 'pandas', 'sklearn', 'scipy', 'statsmodels')\n"
        "names |= {m for m in heavy if m in sys.modules}\n"
        "print(' '.join(sorted(names)))"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(output.split())


def check_import_is_isolated(pkg: str) -> None:
    """Assert ``import fuse.<pkg>`` loads that package and none of the fuse packages it must not import."""
    loaded = fuse_modules_after_import(pkg)
    assert pkg in loaded, loaded
    assert not loaded & DISTRIBUTIONS[pkg]["forbidden"], f"import fuse.{pkg} loaded {sorted(loaded)}"


def fusemedml_fixtures() -> Path | None:
    """The FuseMedML eval example inputs: $FUSE_COMPAT_FIXTURES, else ../shared/fixtures/fusemedml-eval."""
    import os

    candidates = [
        os.environ.get("FUSE_COMPAT_FIXTURES"),
        str(REPO_ROOT.parent / "shared" / "fixtures" / "fusemedml-eval"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "example1_predictions.csv").is_file():
            return Path(candidate)
    return None


def run_doctests(module_name: str) -> None:
    """Run a module's docstring examples, each with the globals of the module that defines it.

    A package's ``__init__`` contributes its own docstring only. A published name (``__module__`` rewritten to the
    package by ``fuse.core.publish_public_names``) counts for the private module that defines it, so its examples
    see that module's imports, and each runs once.
    """
    import doctest

    from fuse.core import defining_module

    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    tests = [test for test in finder.find(module) if test.name == module_name or not hasattr(module, "__path__")]
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module_name and defining_module(value) == module_name:
            tests += finder.find(value, f"{module_name}.{name}", module=False, globs=dict(vars(module)))
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


def package_modules(package_name: str) -> list[str]:
    """The package and every module inside it, concern folders included (``__main__`` modules are scripts)."""
    import pkgutil

    package = importlib.import_module(package_name)
    found = pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.")
    return [package_name, *(m.name for m in found if not m.name.endswith(".__main__"))]


def run_support_script(script: str, *args: str, timeout: float = 300) -> None:
    """Run ``tests/support/<script>`` with ``args`` in a fresh Python (one OpenMP thread, the support modules
    importable), as the multi-process tests do for each rank; a non-zero exit fails with the end of its stderr."""
    support = Path(__file__).resolve().parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(support), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, str(support / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
