"""The fuse demo: a breast-cancer classifier trained and evaluated end to end, with a report (``report.html``).

This script runs ``fuse.dl.demo``, the same as ``python -m fuse.dl.demo`` or ``nox -s demo``; the demo's code, one
function per step and readable top to bottom, is packages/fuse-dl/src/fuse/dl/demo.py. It needs fuse-dl (torch,
Lightning); the report's figures need matplotlib. Run::

    python examples/hello_world.py [--help] [--out DIR] [--epochs N] [--quiet]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo with these arguments (default: the command line's); returns its exit status."""
    try:
        from fuse.dl import demo
    except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
        if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl"}:
            raise
        raise SystemExit(
            f"hello_world.py needs fuse-dl ({missing}): pip install fuse-dl matplotlib, or in a clone: pip install "
            "-c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data -e packages/fuse-eval "
            "-e packages/fuse-dl matplotlib"
        ) from None
    return demo.main(argv)


if __name__ == "__main__":
    sys.exit(main())
