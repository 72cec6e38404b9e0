"""Reference helpers shared by the tests of this folder, as session fixtures (test modules do not import each other)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def multiclass_data() -> Callable[..., Any]:
    def _multiclass_data(seed: int, n: int = 80, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        target = rng.integers(0, classes, n)
        pred = rng.dirichlet(np.ones(classes), n) + 0.6 * np.eye(classes)[target]
        pred = np.round(pred / pred.sum(axis=1, keepdims=True), 1)  # ties
        return pred, target

    return _multiclass_data


@pytest.fixture(scope="session")
def loop_bins() -> Callable[..., Any]:
    def _loop_bins(confidence: np.ndarray, correct: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and accuracies per bin by FuseMedML's loop, with the last bin closed (the fix)."""
        counts, accuracy = [], []
        for i in range(len(edges) - 1):
            last = i == len(edges) - 2
            inside = (confidence >= edges[i]) & ((confidence <= edges[i + 1]) if last else (confidence < edges[i + 1]))
            counts.append(int(inside.sum()))
            accuracy.append(correct[inside].mean() if inside.any() else np.nan)
        return np.array(counts), np.array(accuracy)

    return _loop_bins
