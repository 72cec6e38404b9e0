"""Import installed fuse packages from outside the repository and check where they come from.

Run by `nox -s wheels` with the working directory set outside the repo:
    python check_installed.py core data eval dl imaging
    python check_installed.py --torch-free core eval
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("packages", nargs="+")
    parser.add_argument("--torch-free", action="store_true", help="also prove torch is neither installed nor imported")
    args = parser.parse_args()

    versions = set()
    for pkg in args.packages:
        module = importlib.import_module(f"fuse.{pkg}")
        location = Path(module.__file__ or "").resolve()
        if (REPO_ROOT / "packages") in location.parents or "site-packages" not in location.parts:
            sys.exit(f"fuse.{pkg} was imported from {location}, not from an installed wheel in site-packages")
        if not (location.parent / "py.typed").is_file():
            sys.exit(f"fuse.{pkg} is installed without py.typed")
        version = importlib.metadata.version(f"fuse-{pkg}")
        if module.__version__ != version:
            sys.exit(f"fuse.{pkg}.__version__ {module.__version__} != installed fuse-{pkg} {version}")
        versions.add(version)
        print(f"fuse.{pkg} {version} from {location.parent}")
    if len(versions) != 1:
        sys.exit(f"the packages disagree on the version: {sorted(versions)}")

    import fuse

    for portion in fuse.__path__:
        if (Path(portion) / "__init__.py").exists():
            sys.exit(f"{portion} has an __init__.py: fuse is no longer a namespace package")

    if args.torch_free:
        if importlib.util.find_spec("torch") is not None:
            sys.exit("torch is installed although only torch-free packages were installed")
        leaked = [name for name in ("torch", "lightning") if name in sys.modules]
        if leaked:
            sys.exit(f"importing {args.packages} imported {leaked}")
        print("torch is absent and was not imported")


if __name__ == "__main__":
    main()
