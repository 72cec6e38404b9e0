"""Set one version for every fuse package: each _version.py and every exact sibling pin.

python scripts/bump_version.py 0.2.0        (or: nox -s bump -- 0.2.0)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from package_graph import load

ROOT = Path(__file__).resolve().parents[1]
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+|\.post\d+|\.dev\d+)?$")
VERSION_LINE = re.compile(r'^__version__ = "[^"]+"$', re.MULTILINE)


def bump(version: str, root: Path = ROOT) -> list[Path]:
    """Rewrite every version file and sibling pin under ``root``; returns the files changed."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"{version!r} is not a release version such as 1.2.3, 1.2.3rc1 or 1.2.3.dev0")
    graph = load(root)
    sibling_pin = re.compile(rf'"fuse-({"|".join(graph.names)})\s*==\s*[^"]+"')
    changed = []
    for pkg in graph.names:
        version_file = graph[pkg].version_file
        if version_file is None:
            raise ValueError(f"{graph[pkg].pyproject} has no [tool.hatch.version] path: where is its version?")
        pyproject = graph[pkg].pyproject
        text = version_file.read_text()
        if not VERSION_LINE.search(text):
            raise ValueError(f'{version_file} has no `__version__ = "..."` line')
        new_text = VERSION_LINE.sub(f'__version__ = "{version}"', text)
        new_pyproject = sibling_pin.sub(lambda m: f'"fuse-{m.group(1)} == {version}"', pyproject.read_text())
        for path, old, new in ((version_file, text, new_text), (pyproject, pyproject.read_text(), new_pyproject)):
            if old != new:
                path.write_text(new)
                changed.append(path)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version")
    args = parser.parse_args()
    try:
        changed = bump(args.version)
    except ValueError as error:
        sys.exit(str(error))
    for path in changed:
        print(f"updated {path.relative_to(ROOT)}")
    print(f"all fuse packages are now {args.version}; add a CHANGELOG entry for each")


if __name__ == "__main__":
    main()
