"""Repository tooling: one package graph (the pyprojects) that everything else follows, a noxfile that does no work
when loaded, release metadata the package index can show, GitHub workflows that run the noxfile's sessions, and the
one-command version bump."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import check_release_metadata
import package_graph
import verify_import_contracts
from fuse_test_support import DISTRIBUTIONS, EXTRAS, REPO_ROOT


def _load_bump_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bump_version", REPO_ROOT / "scripts" / "bump_version.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files that declare the package graph and the versions: each pyproject and _version.py, the root
    pyproject.toml (the import-linter contracts)."""
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for pkg in DISTRIBUTIONS:
        source = REPO_ROOT / "packages" / f"fuse-{pkg}"
        target = tmp_path / "packages" / f"fuse-{pkg}"
        (target / "src" / "fuse" / pkg).mkdir(parents=True)
        shutil.copy(source / "pyproject.toml", target / "pyproject.toml")
        shutil.copy(source / "src" / "fuse" / pkg / "_version.py", target / "src" / "fuse" / pkg / "_version.py")
    return tmp_path


def _add_dependency(root: Path, pkg: str, requirement: str) -> None:
    pyproject = root / "packages" / f"fuse-{pkg}" / "pyproject.toml"
    text = pyproject.read_text()
    assert "dependencies = [\n" in text
    pyproject.write_text(text.replace("dependencies = [\n", f'dependencies = [\n  "{requirement}",\n', 1))


def test_script_docstring_examples() -> None:
    import doctest

    for module in (package_graph, check_release_metadata):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__


# --- version bump ------------------------------------------------------------------------------------------------


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
    assert package_graph.load(repo_copy).check_tag("v3.4.5rc1") is None


def test_bump_rejects_a_bad_version(repo_copy: Path) -> None:
    pyproject = repo_copy / "packages" / "fuse-dl" / "pyproject.toml"
    before = pyproject.read_text()
    with pytest.raises(ValueError, match="not a release version"):
        _load_bump_script().bump("v1.2", root=repo_copy)
    assert pyproject.read_text() == before


# --- one package graph -------------------------------------------------------------------------------------------


def test_the_test_tables_are_the_pyprojects() -> None:
    """DISTRIBUTIONS and EXTRAS, read here straight from the pyproject files without the graph's reader."""
    tomllib: Any = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    pyprojects = sorted((REPO_ROOT / "packages").glob("fuse-*/pyproject.toml"))
    assert sorted(DISTRIBUTIONS) == sorted(p.parent.name.removeprefix("fuse-") for p in pyprojects)
    for path in pyprojects:
        pkg = path.parent.name.removeprefix("fuse-")
        project = tomllib.loads(path.read_text())["project"]
        names = {package_graph.requirement_name(r) for r in project["dependencies"]}
        assert DISTRIBUTIONS[pkg]["fuse"] == {n.removeprefix("fuse-") for n in names if n.startswith("fuse-")}
        assert DISTRIBUTIONS[pkg]["third_party"] == {n for n in names if not n.startswith("fuse-")}
        extras = project.get("optional-dependencies", {})
        assert EXTRAS.get(pkg, {}) == {e: {package_graph.requirement_name(r) for r in rs} for e, rs in extras.items()}


def _unguarded_imports(tree: ast.Module) -> set[str]:
    """Top-level names of the modules ``tree`` imports, except under ``if TYPE_CHECKING:`` or in a ``try`` that
    catches ImportError (an optional library, used when installed)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Try) and any(
            "ImportError" in ast.unparse(h.type or ast.Name("BaseException")) for h in node.handlers
        ):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_each_package_declares_the_libraries_it_imports() -> None:
    """The pyprojects are the graph's source: a library a package imports (outside an ImportError guard) must be
    among its dependencies or extras, and a fuse package among its fuse dependencies."""
    distributions = importlib.metadata.packages_distributions()
    graph = package_graph.load(REPO_ROOT)
    for pkg in graph.names:
        declared = set(graph[pkg].third_party).union(*graph[pkg].extras.values())
        for path in sorted((REPO_ROOT / "packages" / f"fuse-{pkg}" / "src").rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for top in _unguarded_imports(tree) - set(sys.stdlib_module_names) - {"__future__", "fuse"}:
                names = {package_graph.requirement_name(d) for d in distributions.get(top, [top])}
                assert names & declared, f"{path} imports {top} ({names}), which fuse-{pkg} does not declare"
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom | ast.Import):
                    modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    for module in modules:
                        parts = module.split(".")
                        if parts[0] == "fuse" and len(parts) > 1 and parts[1] != pkg:
                            assert parts[1] in graph.with_dependencies(pkg), f"{path} imports {module}"


def test_the_import_linter_contracts_follow_the_pyprojects() -> None:
    assert package_graph.check(REPO_ROOT) is None


def test_a_new_fuse_dependency_makes_the_contracts_stale_until_regenerated(repo_copy: Path) -> None:
    before = package_graph.load(repo_copy)
    assert "eval" in before.forbidden("imaging")
    assert ("imaging", "eval") in _planted_pairs(before)

    _add_dependency(repo_copy, "imaging", "fuse-eval == 0.1.0")
    after = package_graph.load(repo_copy)
    assert after.forbidden("imaging") == {"dl"}
    assert ("imaging", "eval") not in _planted_pairs(after)
    assert after.with_dependencies("imaging") == ["core", "data", "eval", "imaging"]
    problem = package_graph.check(repo_copy)
    assert problem is not None
    assert "package_graph.py --write" in problem

    assert package_graph.main(["--write", "--root", str(repo_copy)]) == 0
    assert package_graph.check(repo_copy) is None
    assert 'source_modules = ["fuse.imaging"]' not in (repo_copy / "pyproject.toml").read_text()


def test_a_new_torch_dependency_moves_a_package_off_the_torch_free_list(repo_copy: Path) -> None:
    _add_dependency(repo_copy, "eval", "torch >= 2.1")
    graph = package_graph.load(repo_copy)
    assert graph.needs_torch("eval")
    assert not graph.needs_torch("core")
    assert 'source_modules = ["fuse.core"]\nforbidden_modules = ["torch"' in graph.importlinter_contracts()
    assert package_graph.check(repo_copy) is not None


def test_graph_errors_name_the_file_and_the_fix(repo_copy: Path) -> None:
    _add_dependency(repo_copy, "eval", "fuse-metrics == 0.1.0")
    with pytest.raises(ValueError, match=r"fuse-eval/pyproject.toml depends on \['fuse-metrics'\]"):
        package_graph.load(repo_copy)

    eval_pyproject = repo_copy / "packages" / "fuse-eval" / "pyproject.toml"
    eval_pyproject.write_text(eval_pyproject.read_text().replace('  "fuse-metrics == 0.1.0",\n', ""))
    _add_dependency(repo_copy, "core", "fuse-dl == 0.1.0")
    with pytest.raises(ValueError, match="form a cycle: fuse-core -> \\['dl'\\]"):
        package_graph.load(repo_copy)

    pyproject = repo_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(package_graph.BEGIN_MARKER, "# contracts"))
    with pytest.raises(ValueError, match="lacks the lines"):
        package_graph.contracts_in(pyproject.read_text())


def _planted_pairs(graph: package_graph.PackageGraph) -> set[tuple[str, str]]:
    pairs = set()
    for _, planted, _ in verify_import_contracts.planted_cases(graph):
        for path, source in planted.items():
            match = re.fullmatch(r"import fuse\.(\w+)\n", source)
            if match and len(planted) == 1:
                pairs.add((path.split("/")[0], match.group(1)))
    return pairs


def test_the_planted_violations_are_every_import_the_graph_forbids() -> None:
    graph = package_graph.load(REPO_ROOT)
    assert _planted_pairs(graph) == {(pkg, other) for pkg in graph.names for other in graph.forbidden(pkg)}
    torch_free = {name for name in graph.names if not graph.needs_torch(name)}
    assert torch_free == {"core", "eval"}  # the design: fuse.core and fuse.eval never import torch
    torch_cases = [case for case in verify_import_contracts.planted_cases(graph) if "torch" in case[0]]
    assert {path.split("/")[0] for _, planted, _ in torch_cases for path in planted} >= torch_free


def test_release_tag_must_be_the_version_of_every_package(repo_copy: Path) -> None:
    graph = package_graph.load(repo_copy)
    version = graph.release_version()
    assert graph.check_tag(f"v{version}") is None
    assert "is not" in (graph.check_tag(f"v{version}.post1") or "")
    assert "is not" in (graph.check_tag(version) or "")  # the tag carries the v
    version_file = repo_copy / "packages" / "fuse-dl" / "src" / "fuse" / "dl" / "_version.py"
    version_file.write_text('__version__ = "9.9.9"\n')
    with pytest.raises(ValueError, match="disagree on their version"):
        package_graph.load(repo_copy).check_tag("v9.9.9")
    assert package_graph.main(["--check-tag", "v9.9.9", "--root", str(repo_copy)]) == 1


# --- the noxfile -------------------------------------------------------------------------------------------------

_LOAD_NOXFILE = r"""
import importlib.util, json, sys, time
import nox, nox.registry, nox.sessions, nox.virtualenv  # nox's own imports: not the noxfile's work

spawned = []
def _audit(event, args):
    if event in {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec", "os.system", "os.spawn"}:
        spawned.append(f"{event} {args!r}"[:300])

sys.addaudithook(_audit)
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("noxfile_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
seconds = time.perf_counter() - start
tests = [f"tests({param.id})" for param in module.TEST_MATRIX]
defaults = [name for session in nox.options.sessions for name in (tests if session == "tests" else [session])]
print(json.dumps({
    "spawned": spawned, "seconds": seconds, "torch_python": module.TORCH_PYTHON, "pythons": module.PYTHONS,
    "sessions": sorted(set(nox.registry.get()) - {"tests"}) + tests, "defaults": defaults,
}))
"""


def _load_noxfile(**env: str) -> dict[str, Any]:
    """Load noxfile.py in a fresh interpreter, without pip's settings in the environment (so that a lookup of
    them would have to start pip), and report what it did."""
    pytest.importorskip("nox", reason="the noxfile needs nox (installed by nox -s integration)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "FUSE_TORCH_PYTHON"))}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_NOXFILE, str(REPO_ROOT / "noxfile.py")],
        env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def noxfile() -> dict[str, Any]:
    return _load_noxfile()


def test_loading_the_noxfile_starts_no_process_and_takes_no_time(noxfile: dict[str, Any]) -> None:
    assert noxfile["spawned"] == []  # `nox -l` must not start pip (or anything)
    assert noxfile["seconds"] < 1.0, f"loading noxfile.py took {noxfile['seconds']:.2f} s"


def test_noxfile_matrix_follows_the_package_graph(noxfile: dict[str, Any]) -> None:
    graph = package_graph.load(REPO_ROOT)
    expected = [
        f"tests({python}-{pkg})"
        for pkg in graph.names
        for python in ([noxfile["torch_python"]] if graph.needs_torch(pkg) else noxfile["pythons"])
    ]
    assert [name for name in noxfile["sessions"] if name.startswith("tests(")] == expected
    assert noxfile["torch_python"] == "3.11"  # the CI machine's local CPU torch wheel is for 3.11
    assert {"lint", "types", "integration", "wheels"} <= set(noxfile["defaults"])


def test_torch_interpreter_is_overridable() -> None:
    loaded = _load_noxfile(FUSE_TORCH_PYTHON="3.12")
    assert loaded["torch_python"] == "3.12"
    assert "tests(3.12-dl)" in loaded["sessions"]
    assert "tests(3.11-dl)" not in loaded["sessions"]


# --- GitHub workflows --------------------------------------------------------------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    yaml: Any = pytest.importorskip("yaml", reason="the workflow checks parse YAML with PyYAML")
    loaded: dict[Any, Any] = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())
    if True in loaded:  # YAML 1.1 reads the key `on` as true
        loaded["on"] = loaded.pop(True)
    return loaded


def _nox_sessions_run(job: dict[str, Any]) -> list[str]:
    """The nox sessions a job's steps run (``nox -s NAME``), one per combination of its matrix."""
    matrix = {k: v for k, v in job.get("strategy", {}).get("matrix", {}).items() if isinstance(v, list)}
    combinations = [dict(zip(matrix, values, strict=True)) for values in itertools.product(*matrix.values())]
    sessions = []
    for step in job["steps"]:
        for match in re.finditer(r'\bnox\s+-s\s+(?:"([^"]+)"|(\S+))', step.get("run", "")):
            template = match.group(1) or match.group(2)
            for combination in combinations or [{}]:
                sessions.append(
                    re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m, c=combination: str(c[m.group(1)]), template)
                )
    return sessions


def test_ci_workflow_runs_what_ci_run_runs(noxfile: dict[str, Any]) -> None:
    workflow = _workflow("ci.yml")
    run = {name: _nox_sessions_run(job) for name, job in workflow["jobs"].items()}
    every = [session for sessions in run.values() for session in sessions]
    assert set(every) <= set(noxfile["sessions"]), sorted(set(every) - set(noxfile["sessions"]))
    cpu = sorted(s for job, sessions in run.items() if job != "cuda" for s in sessions)
    assert cpu == sorted(noxfile["defaults"])  # `nox` in .ci/run: the same sessions, each once
    assert workflow["env"]["FUSE_TORCH_PYTHON"] == noxfile["torch_python"]


def test_ci_workflow_runs_the_cuda_tests_on_a_gpu_runner() -> None:
    job = _workflow("ci.yml")["jobs"]["cuda"]
    assert set(job["runs-on"]) == {"self-hosted", "gpu"}
    assert any(step.get("run") == "FUSE_REQUIRE_CUDA=1 nox -s tests_cuda" for step in job["steps"])


def test_release_workflow_checks_the_tag_builds_every_package_and_publishes_with_trusted_publishing() -> None:
    workflow = _workflow("release.yml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    build_steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in build_steps]
    tag_check = next(i for i, r in enumerate(runs) if 'package_graph.py --check-tag "$GITHUB_REF_NAME"' in r)
    builds = next(i for i, r in enumerate(runs) if "python -m build" in r)
    assert tag_check < builds
    assert "for project in packages/fuse-*/" in runs[builds]  # every distribution of packages/, no list to update
    assert any("twine check --strict dist/*" in r and "check_release_metadata.py dist/*" in r for r in runs)
    publish = workflow["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    (step,) = [s for s in publish["steps"] if s.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert not {"password", "user"} & set(step.get("with", {}))  # no token: trusted publishing
    assert workflow["permissions"] == {"contents": "read"}


# --- release metadata --------------------------------------------------------------------------------------------


def test_relative_links_are_found_outside_code_blocks() -> None:
    markdown = (
        "[a](../../README.md) ![logo](docs/logo.png 'title') [ok](https://x.org/a) [anchor](#api) "
        '<a href="CONTRIBUTING.md">c</a> <img src="https://x.org/i.png">\n'
        "[ref]: ../docs/migration.md\n"
        "```bash\n[not a link](relative.md)\n```\n"
    )
    assert check_release_metadata.relative_links(markdown) == [
        "../../README.md",
        "docs/logo.png",
        "CONTRIBUTING.md",
        "../docs/migration.md",
    ]


def test_package_readmes_link_absolutely_to_files_that_exist() -> None:
    for readme in sorted((REPO_ROOT / "packages").glob("fuse-*/README.md")):
        text = readme.read_text()
        assert check_release_metadata.relative_links(text) == [], f"{readme}: relative links die on the index"
        missing = [p for p in check_release_metadata.repository_paths(text) if not (REPO_ROOT / p).exists()]
        assert not missing, f"{readme} links to {missing}, which the repository lacks"


def test_each_package_carries_the_repository_license() -> None:
    for pkg in DISTRIBUTIONS:
        copy = REPO_ROOT / "packages" / f"fuse-{pkg}" / "LICENSE"
        assert copy.read_bytes() == (REPO_ROOT / "LICENSE").read_bytes(), f"{copy} differs from LICENSE: copy it"


def _build(project: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    build = pytest.importorskip("hatchling.build", reason="building a wheel needs hatchling")
    monkeypatch.chdir(project)
    return [out / build.build_wheel(str(out)), out / build.build_sdist(str(out))]


def test_built_distributions_carry_license_urls_and_absolute_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    license_text = (REPO_ROOT / "LICENSE").read_bytes()
    for built in _build(REPO_ROOT / "packages" / "fuse-core", tmp_path, monkeypatch):
        assert check_release_metadata.distribution_problems(built, license_text) == [], built.name


def test_a_distribution_without_license_or_with_relative_links_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "fuse-core"
    shutil.copytree(REPO_ROOT / "packages" / "fuse-core", project)
    (project / "LICENSE").unlink()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(re.sub(r"(?m)^(license-files|Issues) = .*\n", "", pyproject.read_text()))
    (project / "README.md").write_text("# fuse-core\n\nSee [the guide](../../docs/migration.md).\n")
    wheel, sdist = _build(project, tmp_path / "dist", monkeypatch)
    for built in (wheel, sdist):
        problems = " ".join(check_release_metadata.distribution_problems(built, (REPO_ROOT / "LICENSE").read_bytes()))
        assert "License-File: LICENSE" in problems
        assert "['Issues']" in problems
        assert "relative links, dead on the package index: ['../../docs/migration.md']" in problems
