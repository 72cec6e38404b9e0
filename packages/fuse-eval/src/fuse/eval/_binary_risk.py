"""Predicted risks and observed outcomes of a binary model, validated: the inputs of decision curves and of
calibration statistics, which are meaningful only for probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fuse.eval._auc import finite_binary_scores
from fuse.eval._inputs import InputError

__all__ = ["risks_and_outcomes"]


def risks_and_outcomes(
    pred: Sequence[Any] | np.ndarray,
    target: Sequence[Any] | np.ndarray,
    pos_label: Any = None,
    pos_class_index: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(risk, outcome)``: the predicted probability of the positive class (float) and whether each sample is
    positive (bool).

    ``pred`` is one probability per sample (targets 0/1, or any two labels with ``pos_label``), or one probability
    vector per sample (targets are class indices; column ``pos_class_index``, the last by default, is the positive
    class). Missing or infinite predictions, and values outside [0, 1] (logits, scores), raise naming their rows.

    >>> risk, outcome = risks_and_outcomes([0.2, 0.9], [0, 1])
    >>> risk.tolist(), outcome.tolist()
    ([0.2, 0.9], [False, True])
    >>> risks_and_outcomes([0.2, 1.7], [0, 1])
    Traceback (most recent call last):
    ...
    fuse.eval._inputs.InputError: pred holds 1 value outside [0, 1] such as [1.7], e.g. rows [1]; ...
    """
    scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    risk = np.asarray(scores, dtype=float)
    outside = ~((risk >= 0.0) & (risk <= 1.0))
    if outside.any():
        count = int(outside.sum())
        raise InputError(
            "pred",
            f"holds {count} value{'s' if count > 1 else ''} outside [0, 1] such as {risk[outside][:3].tolist()}",
            np.flatnonzero(outside),
            "pass the predicted probability of the positive class (e.g. a sigmoid or softmax output), not a logit "
            "or a score",
        )
    return risk, np.asarray(positive, dtype=bool)
