"""fuse-imaging: a medical image loader with correct geometry, imaging ops and public dataset wrappers.

This distribution is versioned with the rest of fuse; its API arrives with its own issue.
"""

from fuse.imaging._version import __version__

__all__ = ["__version__"]
