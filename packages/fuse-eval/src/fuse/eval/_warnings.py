"""Warnings of fuse-eval."""

__all__ = ["UndefinedMetricWarning"]


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given data (e.g. AUC with one class present); the value is NaN."""
