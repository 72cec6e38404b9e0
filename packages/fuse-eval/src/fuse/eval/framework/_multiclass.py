"""``MetricMultiClassDefault``: one-vs-rest evaluation of a per-class metric function, with a macro average."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import Ids
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel

__all__ = ["MetricMultiClassDefault"]


class MetricMultiClassDefault(MetricDefault):
    """Calls ``metric_func(pos_class_index=i, ...)`` for every class in ``class_names`` (one vs rest).

    Scalar results give ``{"<class>": value, ..., "macro_avg": average}``; dict results give
    ``{"<key>.<class>": value, ..., "<key>.macro_avg": average}``. The average skips NaN classes and is
    weighted by ``class_weights`` (a sequence aligned with ``class_names``) when given. Without
    ``class_names`` the function is called once. Errors propagate; nothing becomes ``None``.
    """

    def __init__(
        self,
        pred: str | None,
        target: str | None,
        metric_func: Callable[..., Any],
        class_names: Sequence[str] | None = None,
        class_weights: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(metric_func=metric_func, pred=pred, target=target, **kwargs)
        if class_weights is not None:
            if class_names is None or len(class_weights) != len(class_names):
                raise ValueError(
                    f"class_weights ({class_weights!r}) needs one weight per class in class_names ({class_names!r})"
                )
            if any(w < 0 for w in class_weights) or sum(class_weights) == 0:
                raise ValueError(f"class_weights must be non-negative and not all zero, got {class_weights!r}")
        self._class_names = list(class_names) if class_names is not None else None
        self._class_weights = list(class_weights) if class_weights is not None else None

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        with self.naming_inputs(ids):
            arguments = self._extract_arguments(results, ids)
            if self._class_names is None:
                return self._metric_func(**arguments)
            classes = range(len(self._class_names))
            per_class = [self._metric_func(pos_class_index=index, **arguments) for index in classes]
        return self.combine_classes(per_class)

    def combine_classes(self, per_class: Sequence[Any]) -> dict[str, Any]:
        """Per-class results (in ``class_names`` order) -> the result dict with its macro average."""
        assert self._class_names is not None
        if isinstance(per_class[0], Mapping):
            combined: dict[str, Any] = {}
            for key in per_class[0]:
                values = [result[key] for result in per_class]
                combined.update({f"{key}.{name}": value for name, value in zip(self._class_names, values, strict=True)})
                combined[f"{key}.macro_avg"] = self._macro_average(values)
            return combined
        combined = dict(zip(self._class_names, per_class, strict=True))
        combined["macro_avg"] = self._macro_average(per_class)
        return combined

    def combine_resampled(self, per_class: Sequence[np.ndarray], what: str) -> list[Any]:
        """Per-class arrays of values over resamplings (``per_class[c][r]``) -> one result per resampling, as
        :meth:`eval` gives it; NaN values (a class absent from a resampling) are kept, with one warning.
        """
        undefined = np.isnan(np.stack(per_class)).any(axis=0)
        if undefined.any():
            warnings.warn(
                f"{what} is undefined (a class absent) in {int(undefined.sum())} of {len(undefined)} resamplings; "
                "they are NaN",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
        if self._class_names is None:
            return [float(v) for v in per_class[0]]
        return [self.combine_classes([float(values[r]) for values in per_class]) for r in range(len(undefined))]

    def _macro_average(self, values: Sequence[Any]) -> float:
        array = np.asarray(values, dtype=float)
        weights = (
            np.asarray(self._class_weights, dtype=float) if self._class_weights is not None else np.ones(len(array))
        )
        defined = ~np.isnan(array)
        if not defined.any() or weights[defined].sum() == 0:
            return float("nan")
        return float(np.average(array[defined], weights=weights[defined]))
