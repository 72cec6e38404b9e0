"""``undefined()`` and ``warn_user()``: one helper whose warnings point at the user's line, however deep the call."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fuse.eval import CI, EvaluatorDefault, MetricAUCPR, MetricAUCROC, MetricDice, UndefinedMetricWarning, auc_pr, r2
from fuse.eval.framework import _warnings
from fuse.eval.framework._warnings import user_stacklevel


def _caught(call: object) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert callable(call)
        call()
    return [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]


def test_undefined_returns_nan_and_says_so() -> None:
    with pytest.warns(UndefinedMetricWarning, match=r"^R2 is undefined for 1 value\(s\); returning NaN$") as record:
        value = r2([1.0], [2.0])
    assert np.isnan(value)
    assert record[0].filename == __file__


_ONE_CLASS = pd.DataFrame({"id": [0, 1, 2], "pred": [0.2, 0.4, 0.9], "target": [1, 1, 1]})
_MOSTLY_ONE_CLASS = pd.DataFrame({"id": range(6), "pred": np.linspace(0, 1, 6), "target": [1, 1, 1, 1, 1, 0]})


def _one_class_metric(metric: MetricAUCPR) -> MetricAUCPR:
    metric.set(_ONE_CLASS)
    return metric


def _empty_dice() -> object:
    empty = np.zeros((2, 2), dtype=int)
    metric = MetricDice(pred="pred", target="target")
    metric.collect({"id": [0], "pred": [empty], "target": [empty]})
    return metric.eval()


@pytest.mark.parametrize(
    "call",
    [
        # a function, a metric class (one level deeper), the evaluator (several levels), inside a bootstrap
        lambda: auc_pr([0.2, 0.4], [1, 1]),
        lambda: _one_class_metric(MetricAUCPR(pred="pred", target="target")).eval(),
        lambda: EvaluatorDefault().eval(
            ids=None, data=_ONE_CLASS, metrics={"pr": MetricAUCPR(pred="pred", target="target")}
        ),
        lambda: EvaluatorDefault().eval(
            ids=None,
            data=_MOSTLY_ONE_CLASS,
            metrics={"ci": CI(MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=20, rnd_seed=0)},
        ),
        _empty_dice,
    ],
    ids=["function", "metric", "evaluator", "bootstrap", "per-sample"],
)
def test_undefined_points_at_the_callers_line_at_any_depth(call: object) -> None:
    caught = _caught(call)
    assert caught, "no UndefinedMetricWarning"
    assert {w.filename for w in caught} == {__file__}, [(w.filename, w.lineno) for w in caught]


def test_user_stacklevel_counts_the_package_frames() -> None:
    # called from outside the package it is 1: the line that calls warnings.warn
    assert user_stacklevel() == 1
    assert _warnings._in_package("fuse.eval")
    assert _warnings._in_package("fuse.eval.metrics._regression")
    assert not _warnings._in_package("fuse.evaluation")
    assert not _warnings._in_package("fuse.dl")


def test_one_definition_of_each_helper() -> None:
    """No module of fuse.eval defines its own copy of the shared helpers (fuse.core for tensors)."""
    import importlib
    import pkgutil

    import fuse.eval

    copies = []
    for info in pkgutil.walk_packages(fuse.eval.__path__, prefix="fuse.eval."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in ("_undefined", "_is_number", "_is_tensor", "to_numpy"):
            value = getattr(module, name, None)
            if value is not None and getattr(value, "__module__", None) == info.name:
                copies.append(f"{info.name}.{name}")
    assert not copies
