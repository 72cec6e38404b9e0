"""The fuse package graph, read from ``packages/fuse-*/pyproject.toml``: the one place it is declared.

Each package's ``[project] dependencies`` say which fuse packages it builds on and which third-party libraries
it needs. Everything else follows from them: the noxfile's test matrix (which packages need torch), the tests'
distribution table (``tests/support``), the planted violations of ``scripts/verify_import_contracts.py``, the
version bump, and the import-linter contracts in the root ``pyproject.toml``. Those contracts stay in the static
TOML, where ``lint-imports`` and editors read them, but between two markers that this script writes::

    python scripts/package_graph.py            # the graph, one package a line
    python scripts/package_graph.py --write    # regenerate the contracts in pyproject.toml
    python scripts/package_graph.py --check    # fail when they differ from the pyprojects (nox -s lint)
    python scripts/package_graph.py --check-tag v0.2.0   # fail unless every package is at that version (release)

>>> graph = load()
>>> graph.names[0], graph.needs_torch("core")
('core', False)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is there wherever this runs (nox and pytest need it; nox -s lint adds it)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# What a torch-free package never imports, directly or through another module.
TORCH_STACK = ("torch", "lightning", "pytorch_lightning")
BEGIN_MARKER = "# BEGIN generated import-linter contracts (python scripts/package_graph.py --write): do not edit"
END_MARKER = "# END generated import-linter contracts"
_VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def requirement_name(requirement: str) -> str:
    """The normalized project name of a requirement string (``"Pillow >= 10.0"`` -> ``"pillow"``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._\-]*)", requirement)
    if match is None:
        raise ValueError(f"{requirement!r} is not a requirement such as 'numpy >= 1.24'")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


@dataclass(frozen=True)
class Package:
    """One distribution: ``name`` is the short name (``"dl"`` for ``fuse-dl``, imported as ``fuse.dl``)."""

    name: str
    pyproject: Path
    fuse: tuple[str, ...]  # the fuse packages it depends on directly
    third_party: frozenset[str]  # normalized names of its other runtime dependencies
    extras: Mapping[str, frozenset[str]] = field(default_factory=dict)
    version_file: Path | None = None  # hatch's version source

    def version(self) -> str:
        """The ``__version__`` of its version file."""
        if self.version_file is None:
            raise ValueError(f"{self.pyproject} has no [tool.hatch.version] path: where is its version?")
        match = _VERSION_LINE.search(self.version_file.read_text())
        if match is None:
            raise ValueError(f'{self.version_file} has no `__version__ = "..."` line')
        return match.group(1)


class PackageGraph:
    """The fuse packages in dependency order (a package after everything it depends on, ties by name)."""

    def __init__(self, packages: Mapping[str, Package]) -> None:
        self._packages = dict(packages)
        for package in self._packages.values():
            unknown = [dep for dep in package.fuse if dep not in self._packages]
            if unknown:
                raise ValueError(
                    f"{package.pyproject} depends on {['fuse-' + d for d in unknown]}, which no "
                    f"packages/fuse-*/pyproject.toml defines: add the package or remove the dependency"
                )
        self.names: tuple[str, ...] = self._ordered()

    def _ordered(self) -> tuple[str, ...]:
        ordered: list[str] = []
        remaining = set(self._packages)
        while remaining:
            ready = sorted(n for n in remaining if set(self._packages[n].fuse) <= set(ordered))
            if not ready:
                cycle = ", ".join(f"fuse-{n} -> {list(self._packages[n].fuse)}" for n in sorted(remaining))
                raise ValueError(f"the fuse dependencies form a cycle: {cycle}; fix the pyprojects' dependencies")
            ordered.append(ready[0])
            remaining.discard(ready[0])
        return tuple(ordered)

    def __getitem__(self, name: str) -> Package:
        return self._packages[name]

    def with_dependencies(self, name: str) -> list[str]:
        """``name`` and every fuse package it needs, directly or not, in dependency order."""
        needed = {name}
        pending = [name]
        while pending:
            for dep in self._packages[pending.pop()].fuse:
                if dep not in needed:
                    needed.add(dep)
                    pending.append(dep)
        return [n for n in self.names if n in needed]

    def needs_torch(self, name: str) -> bool:
        """Whether installing ``fuse-<name>`` installs torch (its own dependency or a fuse dependency's)."""
        return any("torch" in self._packages[n].third_party for n in self.with_dependencies(name))

    def forbidden(self, name: str) -> set[str]:
        """The fuse packages ``fuse.<name>`` must not import: all those it does not depend on."""
        return set(self.names) - set(self.with_dependencies(name))

    def depth(self, name: str) -> int:
        """0 for a package without fuse dependencies, else one more than its deepest dependency."""
        return max((self.depth(dep) + 1 for dep in self._packages[name].fuse), default=0)

    def layers(self) -> list[list[str]]:
        """The import-linter layers, top first; packages of one layer never depend on each other."""
        by_depth: dict[int, list[str]] = {}
        for name in self.names:
            by_depth.setdefault(self.depth(name), []).append(name)
        return [sorted(by_depth[d]) for d in sorted(by_depth, reverse=True)]

    def layers_contract_name(self) -> str:
        return "fuse layering: " + " <- ".join(" | ".join(layer) for layer in reversed(self.layers()))

    def forbidden_contract_name(self, name: str) -> str:
        return f"fuse.{name} imports only its fuse dependencies"

    def torch_free_contract_name(self) -> str:
        torch_free = [f"fuse.{n}" for n in self.names if not self.needs_torch(n)]
        return f"{' and '.join(torch_free)} never import torch or lightning, directly or indirectly"

    def contract_breaking(self, source: str, target: str) -> str:
        """The name of the contract that catches ``fuse.<source>`` importing ``fuse.<target>`` (a forbidden pair)."""
        if target not in self.forbidden(source):
            raise ValueError(f"fuse.{source} may import fuse.{target}: it depends on it")
        if self.depth(target) >= self.depth(source):  # upwards or within a layer: the layers contract
            return self.layers_contract_name()
        return self.forbidden_contract_name(source)  # a lower layer it does not depend on

    def release_version(self) -> str:
        """The one version of all packages (they are released together and pin each other exactly)."""
        versions = {name: self._packages[name].version() for name in self.names}
        if len(set(versions.values())) != 1:
            raise ValueError(f"the packages disagree on their version: {versions}; run `nox -s bump -- X.Y.Z`")
        return next(iter(versions.values()))

    def check_tag(self, tag: str) -> str | None:
        """None when the release tag ``tag`` is ``v<version>`` of every package, else what is wrong."""
        version = self.release_version()
        if tag != f"v{version}":
            return (
                f"the tag {tag!r} is not 'v{version}', the version of the packages: tag the commit "
                f"'v{version}', or set the intended version with `nox -s bump -- X.Y.Z` first"
            )
        return None

    def importlinter_contracts(self) -> str:
        """The ``[[tool.importlinter.contracts]]`` tables of the root pyproject.toml, between the markers."""
        layers = ", ".join(f'"{" | ".join(layer)}"' for layer in self.layers())
        tables = [
            (
                "[[tool.importlinter.contracts]]\n"
                'id = "layers"\n'
                f'name = "{self.layers_contract_name()}"\n'
                'type = "layers"\n'
                'containers = ["fuse"]\n'
                f"layers = [{layers}]\n"
                "exhaustive = true\n"
            )
        ]
        for name in self.names:
            below = [n for n in self.forbidden(name) if self.depth(n) < self.depth(name)]
            if below:  # a lower layer it does not depend on: the layers contract alone would allow the import
                tables.append(
                    "[[tool.importlinter.contracts]]\n"
                    f'id = "{name}-dependencies"\n'
                    f'name = "{self.forbidden_contract_name(name)}"\n'
                    'type = "forbidden"\n'
                    f'source_modules = ["fuse.{name}"]\n'
                    f"forbidden_modules = {_toml_list(f'fuse.{n}' for n in sorted(self.forbidden(name)))}\n"
                )
        torch_free = [f"fuse.{n}" for n in self.names if not self.needs_torch(n)]
        if torch_free:
            tables.append(
                "[[tool.importlinter.contracts]]\n"
                'id = "torch-free"\n'
                f'name = "{self.torch_free_contract_name()}"\n'
                'type = "forbidden"\n'
                f"source_modules = {_toml_list(torch_free)}\n"
                f"forbidden_modules = {_toml_list(TORCH_STACK)}\n"
            )
        return "\n".join(tables)


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _read_package(pyproject: Path) -> Package:
    with pyproject.open("rb") as file:
        data = tomllib.load(file)
    name = pyproject.parent.name.removeprefix("fuse-")
    project = data.get("project", {})
    if project.get("name") != f"fuse-{name}":
        raise ValueError(f"{pyproject}: [project] name is {project.get('name')!r}, expected 'fuse-{name}'")
    requirements = [requirement_name(r) for r in project.get("dependencies", [])]
    extras = {
        extra: frozenset(requirement_name(r) for r in listed)
        for extra, listed in project.get("optional-dependencies", {}).items()
    }
    version_path = data.get("tool", {}).get("hatch", {}).get("version", {}).get("path")
    return Package(
        name=name,
        pyproject=pyproject,
        fuse=tuple(r.removeprefix("fuse-") for r in requirements if r.startswith("fuse-")),
        third_party=frozenset(r for r in requirements if not r.startswith("fuse-")),
        extras=extras,
        version_file=pyproject.parent / version_path if version_path else None,
    )


def load(root: Path = ROOT) -> PackageGraph:
    """Read the graph from ``<root>/packages/fuse-*/pyproject.toml``."""
    pyprojects = sorted((root / "packages").glob("fuse-*/pyproject.toml"))
    if not pyprojects:
        raise FileNotFoundError(f"no packages/fuse-*/pyproject.toml under {root}")
    return PackageGraph({package.name: package for package in map(_read_package, pyprojects)})


def contracts_in(pyproject_text: str) -> str:
    """The text between the generated-contracts markers of the root pyproject.toml."""
    begin, end = pyproject_text.find(BEGIN_MARKER), pyproject_text.find(END_MARKER)
    if begin < 0 or end < begin:
        raise ValueError(f"the root pyproject.toml lacks the lines {BEGIN_MARKER!r} ... {END_MARKER!r}")
    return pyproject_text[begin + len(BEGIN_MARKER) : end].strip("\n") + "\n"


def with_contracts(pyproject_text: str, contracts: str) -> str:
    """``pyproject_text`` with the generated contracts replaced by ``contracts``."""
    contracts_in(pyproject_text)  # the markers must be there
    head, _, rest = pyproject_text.partition(BEGIN_MARKER)
    _, _, tail = rest.partition(END_MARKER)
    return f"{head}{BEGIN_MARKER}\n{contracts}{END_MARKER}{tail}"


def check(root: Path = ROOT) -> str | None:
    """None when the root pyproject's contracts are those the pyprojects give, else what to do."""
    pyproject = root / "pyproject.toml"
    if contracts_in(pyproject.read_text()) == load(root).importlinter_contracts():
        return None
    return (
        f"the import-linter contracts in {pyproject} differ from the package graph of packages/*/pyproject.toml: "
        "run `python scripts/package_graph.py --write` and commit the result"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="fail when the import-linter contracts are stale")
    action.add_argument("--write", action="store_true", help="regenerate the import-linter contracts")
    action.add_argument("--check-tag", metavar="TAG", help="fail unless TAG is v<the version of every package>")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    graph = load(args.root)
    if args.check:
        problem = check(args.root)
        print(problem or "the import-linter contracts match packages/*/pyproject.toml")
        return 1 if problem else 0
    if args.check_tag is not None:
        try:
            problem = graph.check_tag(args.check_tag)
        except ValueError as error:
            problem = str(error)
        print(problem or f"{args.check_tag}: every package is at {graph.release_version()}")
        return 1 if problem else 0
    if args.write:
        pyproject = args.root / "pyproject.toml"
        pyproject.write_text(with_contracts(pyproject.read_text(), graph.importlinter_contracts()))
        print(f"wrote the import-linter contracts of {pyproject}")
        return 0
    for name in graph.names:
        deps = ", ".join(graph[name].fuse) or "-"
        print(f"fuse-{name}: fuse {deps}; torch {'yes' if graph.needs_torch(name) else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
