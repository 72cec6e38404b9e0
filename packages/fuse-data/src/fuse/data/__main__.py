"""``python -m fuse.data``: the ``fuse-data-cache`` command line (see :mod:`fuse.data.cache._shards_cli`)."""

from __future__ import annotations

import sys

from fuse.data.cache._shards_cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
