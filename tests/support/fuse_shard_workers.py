"""One rank of a sharded cache build, run as a separate process by the shard tests (two of them stand in for two
nodes). The rank comes from the launcher's environment (``RANK`` / ``WORLD_SIZE``), as under torchrun.

``python fuse_shard_workers.py <local_root> <n> [process|node]`` builds this rank's (or node's) shard of the ids
``s000..`` in ``<local_root>/shard-<rank>-of-<world>`` and prints the shard directory.
"""

from __future__ import annotations

import sys

from fuse.data import CacheShard
from fuse_cache_workers import ids, make_cacher


def _main() -> None:
    root, count = sys.argv[1], int(sys.argv[2])
    shard = CacheShard.from_launcher(per=sys.argv[3] if len(sys.argv) > 3 else "process")  # type: ignore[arg-type]
    cacher = make_cacher(shard.directory(root))
    print(shard.build(cacher, ids(count)), flush=True)


if __name__ == "__main__":
    _main()
