"""FuseMedML's ``fuse/eval/examples/examples.py``, survival part (concordance index, per group), written with the
public ``fuse.eval`` API. Every ``example_*`` runs with no argument, as FuseMedML's does, and returns the results
``NDict``.

``MetricCIndex`` reads ``pred`` as a risk: a higher score means an earlier event. ``event_observed`` marks the
samples whose event was seen (1) rather than censored at ``event_times`` (0); without it every event was seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from eval_example_inputs import header

from fuse.core import NDict
from fuse.eval import EvaluatorDefault, GroupAnalysis, MetricCIndex

GENDER = ["female"] * 5 + ["male"] * 5
PRED = [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9]


def example_15() -> NDict:
    """The C-index of each gender, every event observed.

    FuseMedML's version raises ``TypeError`` (its ``MetricCIndex`` requires ``event_observed``); here a missing
    ``event_observed`` means every event was observed.
    """
    header("example_15", "C-index per gender, all events observed")
    data = pd.DataFrame(
        {"id": range(10), "pred": PRED, "event_times": [0, 0, 1, 1, 1, 0, 0, 1, 1, 1], "gender": GENDER}
    )
    metrics = {"cindex_per_group": GroupAnalysis(MetricCIndex(pred="pred", event_times="event_times"), group="gender")}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    _print_groups(results)
    return results


def example_16() -> NDict:
    """The C-index of each gender, with censored samples (all at the same time)."""
    header("example_16", "C-index per gender, with censoring")
    data = pd.DataFrame(
        {
            "id": range(10),
            "pred": PRED,
            "event_observed": 1 - np.asarray([0, 0, 1, 1, 1, 0, 0, 1, 1, 1]),
            "event_times": [1] * 10,
            "gender": GENDER,
        }
    )
    c_index = MetricCIndex(pred="pred", event_times="event_times", event_observed="event_observed")
    metrics = {"cindex_per_group": GroupAnalysis(c_index, group="gender")}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    _print_groups(results)
    return results


def example_17() -> NDict:
    """The C-index of ten samples, five of them censored."""
    header("example_17", "C-index with censoring")
    data = {
        "data": pd.DataFrame(
            {
                "id": list(range(10)),
                "pred": [0.1, 0.2, 0.3, 0.4, 0.5, 0.2, 0.1, 0.4, 0.3, 0.7],
                "event_observed": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],  # the first five censored
                "event_times": [1, 2, 3, 4, 5, 1, 2, 3, 4, 5],  # event time, or censoring time
            }
        )
    }
    metrics = {
        "c_index_test": MetricCIndex(
            pred="data.pred", event_times="data.event_times", event_observed="data.event_observed"
        )
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    print(f"C-index = {results['metrics.c_index_test']:.4f}")
    return results


def _print_groups(results: NDict) -> None:
    for group in ("female", "male", "mean", "std"):
        print(f"C-index {group} = {results[f'metrics.cindex_per_group.{group}']:.4f}")
