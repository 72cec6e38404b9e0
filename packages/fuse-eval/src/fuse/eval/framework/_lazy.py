"""Heavy scientific modules, imported on first use so that ``import fuse.eval`` stays light.

scikit-learn, scipy and statsmodels together take seconds and ~100 MB to import, and most evaluations need
only a few of their functions. Each name below is a stand-in whose first attribute access imports the real
module (later accesses are a ``sys.modules`` lookup).

>>> from fuse.eval.framework._lazy import scipy_special
>>> float(scipy_special.expit(0.0))
0.5
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "LazyModule",
    "scipy_ndimage",
    "scipy_optimize",
    "scipy_spatial",
    "scipy_special",
    "scipy_stats",
    "sk_exceptions",
    "sk_metrics",
    "statsmodels_contingency_tables",
]


class LazyModule:
    """A module imported when one of its attributes is first read."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


sk_metrics = LazyModule("sklearn.metrics")


sk_exceptions = LazyModule("sklearn.exceptions")


scipy_ndimage = LazyModule("scipy.ndimage")


scipy_optimize = LazyModule("scipy.optimize")


scipy_spatial = LazyModule("scipy.spatial")


scipy_special = LazyModule("scipy.special")


scipy_stats = LazyModule("scipy.stats")


statsmodels_contingency_tables = LazyModule("statsmodels.stats.contingency_tables")
