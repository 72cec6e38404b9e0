"""Every public name of FuseMedML 0.4.1, and where each one is in fuse or why it is not.

``docs/fusemedml-0.4.1-names.txt`` lists FuseMedML's public names: each class, function and alias of one
defined at the top of a module of ``fuse`` or ``fuseimg`` whose path has no private part (tests, examples and
the tokenizer's command scripts excluded). It is read from the wheel's source with ``ast``, so FuseMedML and its
heavy requirements never have to be installed::

    pip download --no-deps fuse-med-ml==0.4.1 -d /tmp/fmml
    python scripts/fusemedml_names.py --write /tmp/fmml/fuse_med_ml-0.4.1-py3-none-any.whl
    python scripts/fusemedml_names.py --check    # every name is in fuse as-is or has a row in docs/migration.md

A name is *in fuse as-is* when the ``__all__`` of its fuse package holds it (``fuse.utils`` -> ``fuse.core``,
``fuseimg`` -> ``fuse.imaging``, ``fuse.data``/``fuse.eval``/``fuse.dl`` -> the same name). Every other name
has one row in the table of docs/migration.md's last section, whose status says what a FuseMedML user does:

- ``moved``: the same thing under another fuse name; the row names it (``fuse.core.get_sample_id``) and the
  check resolves it;
- ``replaced``: a different fuse API does the job; the row says which;
- ``not ported``: the row says why, and what to use instead.

>>> parse_rows("| `fuse.utils.gpu.run_nvidia_smi` | not ported | Lightning chooses the devices |")
{'fuse.utils.gpu.run_nvidia_smi': ('not ported', 'Lightning chooses the devices')}
>>> home_package("fuseimg.utils.image_processing.pad_ndimage")
'fuse.imaging'
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES_FILE = ROOT / "docs" / "fusemedml-0.4.1-names.txt"
MIGRATION_DOC = ROOT / "docs" / "migration.md"
STATUSES = ("moved", "replaced", "not ported")
# FuseMedML package prefix -> the public fuse package that took its place (the longest prefix applies)
HOME_PACKAGES = {
    "fuse.utils": "fuse.core",
    "fuse.data": "fuse.data",
    "fuse.eval": "fuse.eval",
    "fuse.dl": "fuse.dl",
    "fuseimg": "fuse.imaging",
    "fuseimg.datasets": "fuse.imaging.datasets",
}
FUSE_PACKAGES = tuple(sorted(set(HOME_PACKAGES.values())))
_SKIPPED_PARTS = {"tests", "test", "examples", "scripts"}
_ROW = re.compile(r"^\|\s*`(?P<name>(?:fuse|fuseimg)\.[\w.]+)`\s*\|\s*(?P<status>[^|]+?)\s*\|\s*(?P<text>.*?)\s*\|\s*$")
_FUSE_NAME = re.compile(r"`(fuse\.(?:core|data|eval|dl|imaging\.datasets|imaging)\.[A-Za-z_]\w*)")


def home_package(qualified_name: str) -> str:
    """The fuse package that holds what ``qualified_name`` (``fuse.utils.x.y``, ``fuseimg.a.b``) held."""
    parts = qualified_name.split(".")
    for length in (2, 1):
        prefix = ".".join(parts[:length])
        if prefix in HOME_PACKAGES:
            return HOME_PACKAGES[prefix]
    raise ValueError(f"{qualified_name!r} is not under fuse.utils/data/eval/dl or fuseimg")


def _public_module(parts: tuple[str, ...]) -> bool:
    if parts[0] not in ("fuse", "fuseimg") or parts[-1].startswith("test_"):
        return False
    if any(part in _SKIPPED_PARTS for part in parts):
        return False
    return not any(part.startswith("_") and part != "__init__.py" for part in parts)


def _top_level_names(source: str) -> Iterator[str]:
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, (ast.Name, ast.Attribute))
        ):
            name = node.targets[0].id  # an alias: ``TypedInput = ModularTokenizerInput``
        else:
            continue
        if not name.startswith("_"):
            yield name


def _sources(wheel_or_dir: Path) -> Iterator[tuple[str, str]]:
    if wheel_or_dir.is_dir():
        for path in sorted(wheel_or_dir.rglob("*.py")):
            yield path.relative_to(wheel_or_dir).as_posix(), path.read_text(encoding="utf-8")
        return
    with zipfile.ZipFile(wheel_or_dir) as wheel:
        for member in sorted(wheel.namelist()):
            if member.endswith(".py"):
                yield member, wheel.read(member).decode("utf-8")


def collect(wheel_or_dir: Path) -> list[str]:
    """FuseMedML's public names (``module.name``), sorted, from its wheel or unpacked source folder."""
    names: set[str] = set()
    for member, source in _sources(wheel_or_dir):
        parts = tuple(member.split("/"))
        if not _public_module(parts):
            continue
        module = ".".join(parts)[: -len(".py")].removesuffix(".__init__")
        names.update(f"{module}.{name}" for name in _top_level_names(source))
    if not names:
        raise SystemExit(f"{wheel_or_dir}: no fuse/ or fuseimg/ module found; pass FuseMedML 0.4.1's wheel")
    return sorted(names)


def read_names(path: Path = NAMES_FILE) -> list[str]:
    """The names file, one qualified name a line (``#`` starts a comment)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def parse_rows(markdown: str) -> dict[str, tuple[str, str]]:
    """The table rows of ``markdown`` whose first cell is a FuseMedML name: name -> (status, text)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in markdown.splitlines():
        match = _ROW.match(line)
        if match:
            rows[match["name"]] = (match["status"].strip(), match["text"])
    return rows


@dataclass
class Check:
    """What ``--check`` found: one status per name, and the problems (empty when the doc is complete)."""

    status: dict[str, str]
    problems: list[str]

    def counts(self) -> Counter[str]:
        """How many names have each status (``as-is`` included)."""
        return Counter(self.status.values())


def _exported(package: str) -> set[str]:
    return set(getattr(importlib.import_module(package), "__all__", ()))


def check(names: Iterable[str], markdown: str) -> Check:
    """Each name is in its fuse package's ``__all__`` or has exactly one row with a known status; rows name
    only FuseMedML names that need one; ``moved`` rows name a fuse public name that exists."""
    names = list(names)
    rows = parse_rows(markdown)
    every_fuse = {package: _exported(package) for package in FUSE_PACKAGES}
    status: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        short = name.rsplit(".", 1)[1]
        as_is = short in every_fuse[home_package(name)]
        if as_is:
            status[name] = "as-is"
            if name in rows:
                problems.append(f"{name}: in {home_package(name)} as-is now; remove its row from docs/migration.md")
            continue
        if name not in rows:
            problems.append(
                f"{name}: not in {home_package(name)}.__all__ and no row in docs/migration.md's last section; "
                f"add `| `{name}` | moved/replaced/not ported | what to use instead |`"
            )
            continue
        row_status, text = rows[name]
        if row_status not in STATUSES:
            problems.append(f"{name}: status {row_status!r} in docs/migration.md; use one of {STATUSES}")
            continue
        status[name] = row_status
        if not text:
            problems.append(f"{name}: its row in docs/migration.md says nothing; say what to use instead")
        for target in _FUSE_NAME.findall(text) if row_status == "moved" else ():
            package, _, attribute = target.rpartition(".")
            if attribute not in every_fuse[package]:
                problems.append(f"{name}: its row names `{target}`, which {package}.__all__ does not hold")
        if row_status == "moved" and not _FUSE_NAME.search(text):
            problems.append(f"{name}: a `moved` row must name the fuse public name (`fuse.core.X`)")
    for name in sorted(set(rows) - set(names)):
        problems.append(f"{name}: a row in docs/migration.md, but not a FuseMedML 0.4.1 public name; remove it")
    return Check(status, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, metavar="WHEEL_OR_DIR", help="regenerate the names file from FuseMedML")
    group.add_argument("--check", action="store_true", help="fail unless docs/migration.md covers every name")
    args = parser.parse_args(argv)
    if args.write:
        names = collect(args.write)
        header = "# FuseMedML 0.4.1's public names; regenerate: python scripts/fusemedml_names.py --write WHEEL\n"
        NAMES_FILE.write_text(header + "\n".join(names) + "\n", encoding="utf-8")
        print(f"{NAMES_FILE.relative_to(ROOT)}: {len(names)} names")
        return 0
    found = check(read_names(), MIGRATION_DOC.read_text(encoding="utf-8"))
    counts = found.counts()
    print(", ".join(f"{status}: {counts[status]}" for status in ("as-is", *STATUSES)), f"(of {len(found.status)})")
    for problem in found.problems:
        print(problem, file=sys.stderr)
    return 1 if found.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
