"""fuse-dl: a Lightning training module, losses, models, backbones and heads, on one GPU or many.

This distribution is versioned with the rest of fuse; its API arrives with its own issue.
"""

from fuse.dl._version import __version__

__all__ = ["__version__"]
