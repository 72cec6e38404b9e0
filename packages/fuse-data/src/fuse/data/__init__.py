"""fuse-data: reusable ops, static + dynamic pipelines, datasets and a crash-safe, never-stale sample cache.

This distribution is versioned with the rest of fuse; its API arrives with its own issue.
"""

from fuse.data._version import __version__

__all__ = ["__version__"]
