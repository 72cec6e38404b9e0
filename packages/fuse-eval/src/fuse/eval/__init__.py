"""fuse-eval: metrics, confidence intervals, model comparison and calibration for medical ML (torch-free).

This distribution is versioned with the rest of fuse; its API arrives with its own issue.
"""

from fuse.eval._version import __version__

__all__ = ["__version__"]
