"""``python -m fuse.eval``: the ``fuse-eval`` command line (see :mod:`fuse.eval._cli`)."""

from __future__ import annotations

import sys

from fuse.eval._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
