"""``fuse-data-cache``: verify and publish the shards of a sample cache built rank by rank (see :mod:`fuse.data.cache._shards`).

::

    fuse-data-cache publish SHARD_DIR [SHARD_DIR ...] --to DEST
    fuse-data-cache verify DIR [DIR ...]
    fuse-data-cache status DEST

``publish`` checks each finished shard, copies it into ``DEST``, verifies the copy (every id of its share
committed, every value readable with its checksums) and renames it into place; a node may publish only its own
shard. ``verify`` checks shard directories, or a whole publication (every shard present, of one build, every value
readable). ``status`` lists the published and missing shards of ``DEST`` (exit code 1 while incomplete). Errors
print a message naming the shard, the sample and the fix, and exit with code 2. Also ``python -m fuse.data``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from fuse.data.cache._publish import (
    publication_state,
    publish_cache_shards,
    published_cache_dirs,
    verify_cache_shard,
)
from fuse.data.cache._shards import MANIFEST_NAME, CacheShardError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse-data-cache", description="Verify and publish the shards of a fuse-data sample cache."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="verify finished shards and copy them into DEST atomically")
    publish.add_argument("shard_dirs", nargs="+", type=Path, metavar="SHARD_DIR")
    publish.add_argument("--to", required=True, type=Path, metavar="DEST", help="the shared directory")
    verify = commands.add_parser("verify", help="check shard directories, or a published DEST (read-only)")
    verify.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    status = commands.add_parser("status", help="list the published and missing shards of DEST")
    status.add_argument("dest", type=Path, metavar="DEST")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    return parser


def _state_line(dest: Path) -> tuple[bool, str]:
    state = publication_state(dest)
    missing = f"; missing {', '.join(state['missing'][:10])}" if state["missing"] else ""
    line = (
        f"{dest}: cache {state['unique_name']!r} {state['pipeline_hash']}: {len(state['published'])} of "
        f"{state['world_size']} shards published{missing}{' (complete)' if state['complete'] else ''}"
    )
    return bool(state["complete"]), line


def _run(args: argparse.Namespace) -> int:
    say = (lambda _text: None) if args.quiet else print
    if args.command == "publish":
        publish_cache_shards(args.shard_dirs, args.to)
        say(_state_line(args.to.absolute())[1])
        return 0
    if args.command == "status":
        complete, line = _state_line(args.dest.absolute())
        say(line)
        return 0 if complete else 1
    for directory in args.dirs:
        if (directory / MANIFEST_NAME).is_file():
            manifest = verify_cache_shard(directory)
            say(f"{directory}: shard {manifest['rank']} of {manifest['world_size']}, {manifest['samples']} samples: ok")
        else:
            shards = published_cache_dirs(directory)
            total = sum(verify_cache_shard(shard)["samples"] for shard in shards)
            say(f"{directory}: {len(shards)} shards, {total} samples: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fuse-data-cache`` with ``argv`` (default: the command line); returns the exit code."""
    args = _parser().parse_args(argv)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _run(args)
    except (CacheShardError, OSError) as error:  # OSError: e.g. no space or no permission in DEST, naming the path
        print(f"fuse-data-cache: error: {error}", file=sys.stderr)
        return 2
