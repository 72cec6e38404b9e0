"""``python -m fuse.eval``: the ``fuse-eval`` command line (see :mod:`fuse.eval.cli._main`)."""

from __future__ import annotations

import sys

from fuse.eval.cli._main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
