"""FuseMedML's ``fuse/eval/examples/examples_stats.py`` written with the public ``fuse.eval`` API: Pearson's
correlation of two columns. Runs with no argument, as FuseMedML's does, and returns the results ``NDict``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from eval_example_inputs import header

from fuse.core import NDict
from fuse.eval import EvaluatorDefault, MetricPearsonCorrelation


def example_pearson_correlation() -> NDict:
    """Pearson's r (and its p-value) of two linear functions of the same 1,000 random values: r = 1."""
    header("example_pearson_correlation", "Pearson's correlation")
    size = 1000
    rand_vec = np.random.RandomState(0).randn(size)  # FuseMedML's np.random.seed(0), from a local generator
    data = pd.DataFrame({"id": range(size), "x1": 100 + 10 * rand_vec, "x2": -10 + 3 * rand_vec})
    metrics = {"pearsonr": MetricPearsonCorrelation(pred="x1", target="x2")}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    print(f"r = {results['metrics.pearsonr.statistic']:.4f}, p = {results['metrics.pearsonr.p_value']:.3g}")
    return results
