"""Set one version for all five fuse packages: each _version.py and every exact sibling pin.

python scripts/bump_version.py 0.2.0        (or: nox -s bump -- 0.2.0)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "data", "eval", "dl", "imaging"]
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+|\.post\d+|\.dev\d+)?$")
SIBLING_PIN = re.compile(r'"fuse-(core|data|eval|dl|imaging)\s*==\s*[^"]+"')
VERSION_LINE = re.compile(r'^__version__ = "[^"]+"$', re.MULTILINE)


def bump(version: str, root: Path = ROOT) -> list[Path]:
    """Rewrite every version file and sibling pin under ``root``; returns the files changed."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"{version!r} is not a release version such as 1.2.3, 1.2.3rc1 or 1.2.3.dev0")
    changed = []
    for pkg in PACKAGES:
        version_file = root / "packages" / f"fuse-{pkg}" / "src" / "fuse" / pkg / "_version.py"
        pyproject = root / "packages" / f"fuse-{pkg}" / "pyproject.toml"
        text = version_file.read_text()
        if not VERSION_LINE.search(text):
            raise ValueError(f'{version_file} has no `__version__ = "..."` line')
        new_text = VERSION_LINE.sub(f'__version__ = "{version}"', text)
        new_pyproject = SIBLING_PIN.sub(lambda m: f'"fuse-{m.group(1)} == {version}"', pyproject.read_text())
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
    print(f"all five packages are now {args.version}; add a CHANGELOG entry for each")


if __name__ == "__main__":
    main()
