"""Every developer and CI task of the fuse monorepo. `nox -l` lists them; `nox` runs the CI set.

- ``tests``: one fresh venv per package (and Python), holding only that package, its fuse dependencies and
  test tools; ``pytest tests/<pkg>``. Torch-free packages run on every Python 3.10-3.13 found; packages that
  need torch run on one interpreter, ``FUSE_TORCH_PYTHON`` (default 3.11).
- ``tests_cuda`` (opt-in): ``cuda``-marked tests in the current interpreter, installing nothing.
- ``lint``, ``types``, ``integration``, ``wheels``: ruff + import contracts; mypy; the integration tests (all
  packages in one venv, ``tests/integration``); built-distribution checks (contents, LICENSE, URLs, twine).
- ``bench`` (opt-in): side-by-side benchmarks -> benchmarks/RESULTS.md. ``demo``: the main job (``python -m fuse.dl.demo``).
- ``bump -- X.Y.Z`` (opt-in): set the version of all five packages and their sibling pins.

The package graph (which package needs which, which needs torch) is read from packages/*/pyproject.toml by
scripts/package_graph.py. Loading this file does no other work: ``nox -l`` starts no process.

Torch and the CI machine: testing/constraints.txt pins torch to the CPU wheel that lies in the CI machine's local
wheel folder, built for CPython 3.11 only (any other torch request would fetch gigabytes of CUDA packages). So every
session that installs torch runs on ``FUSE_TORCH_PYTHON``, 3.11 by default; set it (e.g. ``FUSE_TORCH_PYTHON=3.12
nox -s lint``) on a machine whose torch wheel is for another Python.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
# uv when nox has it (.ci/run installs it: venvs install in seconds instead of minutes), else virtualenv + pip.
# Never download an interpreter: a missing Python is skipped with a message.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = False  # a missing Python is skipped with a message
nox.options.sessions = ["lint", "types", "tests", "integration", "wheels"]

ROOT = Path(__file__).resolve().parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.append(str(ROOT / "scripts"))
import package_graph  # found through the path set just above

CONSTRAINTS = ROOT / "testing" / "constraints.txt"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# the interpreter of every torch session: the CI machine's CPU torch wheel is for 3.11 (see the docstring)
TORCH_PYTHON = os.environ.get("FUSE_TORCH_PYTHON") or "3.11"

GRAPH = package_graph.load(ROOT)
PACKAGES: tuple[str, ...] = GRAPH.names  # in dependency order
NEEDS_TORCH = {pkg for pkg in PACKAGES if GRAPH.needs_torch(pkg)}
SRC_DIRS = [ROOT / "packages" / f"fuse-{pkg}" / "src" for pkg in PACKAGES]

TEST_TOOLS = ["pytest>=8.1", "hypothesis>=6.100"]
# optional runtime libraries some tests exercise for real (otherwise those tests skip)
# optional extras of a package that its tests exercise (plots, COCO formats, NIfTI fixtures)
EXTRA_TEST_TOOLS: dict[str, list[str]] = {
    "core": ["openpyxl", "tqdm"],
    "eval": ["matplotlib", "pycocotools", "nibabel"],
    # the folds are checked against sklearn's shuffle (fuse-data itself does not need it); the tokenizers extra
    "data": ["scikit-learn", "tokenizers>=0.15", "PyYAML>=6"],
    "imaging": ["SimpleITK>=2.3", "matplotlib"],  # the itk and plot extras
}
LINT_TOOLS = ["ruff==0.17.6", "import-linter==2.16", "tomli>=2; python_version < '3.11'"]  # tomli: package_graph.py
NOX = "nox==2026.10.20"  # as .ci/run installs it
TYPE_TOOLS = [
    "mypy==2.4.1",
    "pandas-stubs",
    "types-tqdm",
    NOX,
    "SimpleITK>=2.3",
    "matplotlib",
    "tokenizers>=0.15",
    "types-PyYAML",
]  # + the optional libraries fuse-imaging and fuse-data's modular tokenizer type against
# the integration tests: the examples' plots and readers; the repository tooling (this file, the workflows, a built
# wheel's metadata)
INTEGRATION_TOOLS = [
    "matplotlib",
    "SimpleITK>=2.3",
    NOX,
    "PyYAML",
    "hatchling>=1.27",
    "pycocotools",
    "tokenizers>=0.15",
]
WHEEL_TOOLS = ["build", "hatchling>=1.27", "twine"]

# tests targets: each package (tests/integration has its own session, whose venv holds them all)
TEST_MATRIX = [
    nox.param(python, target, id=f"{python}-{target}", tags=[target])
    for target in PACKAGES
    for python in ([TORCH_PYTHON] if target in NEEDS_TORCH else PYTHONS)
]


@functools.cache
def _pip_config() -> str:
    """``pip config list`` (e.g. ``global.find-links='/opt/wheels'``), asked once per nox run."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout


def _pip_setting(key: str) -> str | None:
    """One of pip's settings (``find-links``, ``extra-index-url``, ...) from PIP_* or pip's config files."""
    from_env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
    if from_env:
        return from_env
    for line in _pip_config().splitlines():
        name, _, value = line.partition("=")
        if name.split(".", 1)[-1] == key:
            return value.strip("'\"")
    return None


@functools.cache
def _uv_uses_pip_indexes() -> None:
    """uv does not read pip's configuration: hand it the same indexes and local wheels, considered the way pip
    does (the best match across all indexes). The local CPU torch wheel comes from pip's find-links this way.
    Done once, before the first install (never at import: ``nox -l`` must not start pip)."""
    for pip_key, uv_variable, separator in (
        ("index-url", "UV_INDEX_URL", " "),
        ("extra-index-url", "UV_EXTRA_INDEX_URL", " "),
        ("find-links", "UV_FIND_LINKS", ","),
    ):
        value = _pip_setting(pip_key)
        if value and uv_variable not in os.environ:
            os.environ[uv_variable] = separator.join(value.split())
    os.environ.setdefault("UV_INDEX_STRATEGY", "unsafe-best-match")
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def _package_dir(pkg: str) -> str:
    return str(ROOT / "packages" / f"fuse-{pkg}")


def _install(session: nox.Session, *args: str) -> None:
    _uv_uses_pip_indexes()
    session.install("--quiet", "-c", str(CONSTRAINTS), *args)


@contextlib.contextmanager
def _venv_discarded_after(session: nox.Session) -> Iterator[None]:
    """With FUSE_DISCARD_VENVS=1 (set by .ci/run), delete the session's venv when it ends, pass or fail.

    The CI set builds a dozen venvs of up to 1.5 GB each (torch alone is 750 MB); kept side by side they
    fill a small CI disk. Deleted one by one, the run needs the room of one venv at a time.
    """
    try:
        yield
    finally:
        location = getattr(session.virtualenv, "location", None)
        if os.environ.get("FUSE_DISCARD_VENVS") == "1" and location:
            shutil.rmtree(location, ignore_errors=True)


def _pythonpath(*extra: Path) -> str:
    return os.pathsep.join(str(p) for p in [*SRC_DIRS, *extra])


@nox.session
@nox.parametrize(("python", "target"), TEST_MATRIX)
def tests(session: nox.Session, target: str) -> None:
    """Run one package's tests in a venv holding only that package and its fuse dependencies."""
    packages = GRAPH.with_dependencies(target)
    with _venv_discarded_after(session):
        _install(session, *(_package_dir(pkg) for pkg in packages), *TEST_TOOLS, *EXTRA_TEST_TOOLS.get(target, []))
        session.run("pytest", f"tests/{target}", "-m", "not cuda", *session.posargs, env={"FUSE_ISOLATED_ENV": "1"})


@nox.session(python=False, default=False, tags=["cuda"])
def tests_cuda(session: nox.Session) -> None:
    """Run the `cuda`-marked tests in the current interpreter (GPU machines have no registry: nothing is installed).

    Skips without a GPU; fails instead when FUSE_REQUIRE_CUDA=1. The packages are imported from their src dirs.
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
        capture_output=True,
        text=True,
        check=False,
    )
    has_cuda = probe.returncode == 0 and probe.stdout.strip() == "True"
    if not has_cuda:
        reason = "torch is not importable" if probe.returncode else "torch sees no CUDA device"
        if os.environ.get("FUSE_REQUIRE_CUDA") == "1":
            session.error(f"FUSE_REQUIRE_CUDA=1 but {reason} ({sys.executable})")
        session.skip(f"no GPU: {reason} ({sys.executable})")
    session.run(
        sys.executable, "-m", "pytest", "tests", "-m", "cuda", *session.posargs,
        env={"PYTHONPATH": _pythonpath(ROOT / "tests" / "support"), "FUSE_REQUIRE_CUDA": "1"},
        external=True,
    )  # fmt: skip


@nox.session(python=TORCH_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format); the import-linter contracts: up to date with the package graph, kept, and biting.

    The contracts must match packages/*/pyproject.toml (scripts/package_graph.py --check), hold on the tree, and
    catch every import the graph forbids when it is planted in a scratch copy."""
    with _venv_discarded_after(session):
        _install(session, *LINT_TOOLS)
        session.run("ruff", "check", ".")
        session.run("ruff", "format", "--check", ".")
        session.run("python", "scripts/package_graph.py", "--check")
        session.run("lint-imports", env={"PYTHONPATH": _pythonpath()})
        session.run("python", "scripts/verify_import_contracts.py")


@nox.session(python=TORCH_PYTHON)
def types(session: nox.Session) -> None:
    """mypy over all five src roots (strict), the repo's scripts and each example."""
    with _venv_discarded_after(session):
        _install(session, *TYPE_TOOLS, *("-e" + _package_dir(pkg) for pkg in PACKAGES))
        session.run("mypy", *(str(d) for d in SRC_DIRS))
        session.run("mypy", "noxfile.py", "scripts", "benchmarks", "tests/support")
        for example in _examples():  # one run each: example folders have modules of the same name
            folder = example if example.is_dir() else example.parent
            session.run("mypy", str(example.relative_to(ROOT)), env={"MYPYPATH": str(folder)})


@nox.session(python=TORCH_PYTHON, tags=["integration"])
def integration(session: nox.Session) -> None:
    """The integration tests: all packages installed together with torch, the examples, the repository's tooling."""
    with _venv_discarded_after(session):
        _install(session, *TEST_TOOLS, *INTEGRATION_TOOLS, *("-e" + _package_dir(pkg) for pkg in PACKAGES))
        session.run("pytest", "tests/integration", "-m", "not cuda", *session.posargs)


def _examples() -> list[Path]:
    """Each folder of examples/ and each script directly in it."""
    entries = sorted((ROOT / "examples").iterdir())
    return [e for e in entries if (e.is_dir() or e.suffix == ".py") and not e.is_symlink()]


@nox.session(python=TORCH_PYTHON)
def wheels(session: nox.Session) -> None:
    """Build all five wheels and sdists, check them, install them and import from outside the repo.

    Checked: their contents, and what the package index shows of them: the LICENSE, the project URLs, README links
    that work there, and ``twine check --strict``."""
    with _venv_discarded_after(session), tempfile.TemporaryDirectory(prefix="fuse-wheels-") as outside:
        _install(session, *WHEEL_TOOLS)  # one build environment (this venv) for the five packages
        dist = Path(outside) / "dist"
        for pkg in PACKAGES:
            session.run("python", "-m", "build", "--no-isolation", "--quiet", "--outdir", str(dist), _package_dir(pkg))
        wheel_files = {pkg: _check_built_distributions(session, dist, pkg) for pkg in PACKAGES}
        built = sorted(str(path) for path in dist.iterdir())
        session.run("python", "scripts/check_release_metadata.py", *built)
        session.run("twine", "check", "--strict", *built)

        _install(session, *(str(w) for w in wheel_files.values()))
        with session.chdir(outside):
            session.run("python", str(ROOT / "scripts" / "check_installed.py"), *PACKAGES)

        torch_free = Path(outside) / "venv-core-eval"
        session.run("python", "-m", "venv", str(torch_free))
        python = str(torch_free / ("Scripts" if os.name == "nt" else "bin") / "python")
        session.run(
            python, "-m", "pip", "install", "--quiet", "-c", str(CONSTRAINTS),
            str(wheel_files["core"]), str(wheel_files["eval"]), external=True,
        )  # fmt: skip
        with session.chdir(outside):
            session.run(
                python, str(ROOT / "scripts" / "check_installed.py"), "--torch-free", "core", "eval", external=True
            )


def _check_built_distributions(session: nox.Session, dist: Path, pkg: str) -> Path:
    name = f"fuse_{pkg}"
    (wheel,) = dist.glob(f"{name}-*.whl")
    (sdist,) = dist.glob(f"{name}-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    problems = []
    if "fuse/__init__.py" in names:
        problems.append("ships fuse/__init__.py, which breaks the fuse namespace")
    if f"fuse/{pkg}/py.typed" not in names:
        problems.append(f"lacks fuse/{pkg}/py.typed")
    stray = [n for n in names if not n.startswith((f"fuse/{pkg}/", f"{name}-"))]
    if stray:
        problems.append(f"ships files outside fuse/{pkg}/: {stray[:5]}")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    if any(m.endswith("src/fuse/__init__.py") for m in members):
        problems.append("sdist ships src/fuse/__init__.py")
    if problems:
        session.error(f"{wheel.name}: " + "; ".join(problems))
    session.log(f"{wheel.name}: {len(names)} files, namespace-clean, typed; {sdist.name} ok")
    return wheel


@nox.session(python=TORCH_PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmark side by side and write benchmarks/RESULTS.md."""
    # monai: the worker-memory benchmark compares with its PersistentDataset (never a dependency of fuse)
    _install(session, *(_package_dir(pkg) for pkg in PACKAGES), "torch", "monai")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session(python=TORCH_PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """The main job, against freshly installed packages: ``python -m fuse.dl.demo`` trains and evaluates a
    breast-cancer classifier end to end (arguments after ``--`` go to it, e.g. ``nox -s demo -- --out report``)."""
    with _venv_discarded_after(session):
        _install(session, *(_package_dir(pkg) for pkg in GRAPH.with_dependencies("dl")), "matplotlib")
        session.run("python", "-m", "fuse.dl.demo", *session.posargs)


@nox.session(python=False, default=False)
def bump(session: nox.Session) -> None:
    """Set one version for all five packages and their exact sibling pins: `nox -s bump -- 0.2.0`."""
    if len(session.posargs) != 1:
        session.error("usage: nox -s bump -- X.Y.Z")
    session.run(sys.executable, "scripts/bump_version.py", session.posargs[0], external=True)
