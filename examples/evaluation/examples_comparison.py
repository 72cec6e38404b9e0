"""FuseMedML's ``fuse/eval/examples/examples.py``, model-comparison part (paired bootstrap, DeLong's test, McNemar's
test), written with the public ``fuse.eval`` API. Every ``example_*`` runs with no argument, as FuseMedML's does, and
returns the results ``NDict``; ``out`` is a folder under which it writes its report (``out/<example>/results.*``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from eval_example_inputs import header, subfolder

from fuse.core import NDict
from fuse.eval import (
    EvaluatorDefault,
    MetricApplyThresholds,
    MetricConfusion,
    MetricDelongsTest,
    MetricMcnemarsTest,
    PairedBootstrap,
)


def example_5(out: Path | None = None, num_of_bootstraps: int = 10_000) -> NDict:
    """Model comparison: is model a's sensitivity above model b's? A paired bootstrap on the same resamplings."""
    header("example_5", "paired bootstrap: sensitivity of model a vs model b")
    data = pd.DataFrame(
        {
            "id": [0, 1, 2, 3, 4],
            "model_a_pred": [0.4, 0.3, 0.7, 0.8, 0.0],
            "model_b_pred": [0.4, 0.3, 0.7, 0.2, 1.0],
            "target": [0, 1, 1, 1, 0],
        }
    )
    metrics = {
        # per-sample "metrics": class predictions p > 0.5, kept in the results for the metrics after them
        "apply_thresh_a": MetricApplyThresholds(pred="model_a_pred", operation_point=0.5),
        "apply_thresh_b": MetricApplyThresholds(pred="model_b_pred", operation_point=0.5),
        # "results:<keypath>" reads an earlier metric's result instead of a data column
        "compare_a_to_b": PairedBootstrap(
            MetricConfusion(pred="results:metrics.apply_thresh_a.cls_pred", target="target"),
            MetricConfusion(pred="results:metrics.apply_thresh_b.cls_pred", target="target"),
            stratum="target",
            metric_keys_to_compare=["sensitivity"],
            num_of_bootstraps=num_of_bootstraps,
            rnd_seed=0,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=subfolder(out, "example_5"))
    comparison = results["metrics.compare_a_to_b.sensitivity"]
    print(
        f"sensitivity a - b: mean difference {comparison['diff']:.4f}, a superior in "
        f"{comparison['count_superior']}/{comparison['count']} resamplings, p = {comparison['p_value']:.4f}"
    )
    return results


# --- DeLong's test ------------------------------------------------------------------------------------------------


def example_6(out: Path | None = None) -> NDict:
    """DeLong's test of two correlated AUCs, with probability vectors ``[1 - p, p]`` and one test per class.

    The data is the worked example of https://glassboxmedicine.com/2020/02/04/comparing-aucs-of-machine-learning-models-with-delongs-test/
    """
    header("example_6", "DeLong's test, one-vs-rest per class")
    target = np.array([0, 0, 1, 1, 1])
    pred1 = np.array([0.1, 0.2, 0.6, 0.7, 0.8])
    pred2 = np.array([0.3, 0.6, 0.2, 0.7, 0.9])
    ids = np.arange(len(target))
    # a DataFrame cell may hold a whole vector: here each row's [p(class 0), p(class 1)]
    pred_df = pd.DataFrame(
        {"id": ids, "pred1": list(np.stack([1 - pred1, pred1], 1)), "pred2": list(np.stack([1 - pred2, pred2], 1))}
    )
    target_df = pd.DataFrame({"id": ids, "target": target})
    metrics = {
        "delongs_test": MetricDelongsTest(
            pred1="pred.pred1", pred2="pred.pred2", target="target.target", class_names=["negative", "positive"]
        )
    }
    results = EvaluatorDefault().eval(
        ids=None, data={"pred": pred_df, "target": target_df}, metrics=metrics, output_dir=subfolder(out, "example_6")
    )
    print(
        f"AUC model 1 = {results['metrics.delongs_test.auc1.macro_avg']:.4f}, "
        f"model 2 = {results['metrics.delongs_test.auc2.macro_avg']:.4f}: "
        f"z = {results['metrics.delongs_test.z.macro_avg']:.4f}, "
        f"p = {results['metrics.delongs_test.p_value.macro_avg']:.4f}"
    )
    return results


def example_7(out: Path | None = None) -> NDict:
    """DeLong's test with scalar scores, each model's predictions in its own DataFrame."""
    header("example_7", "DeLong's test, binary scores from three sources")
    target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    pred1 = np.array([0.1, 0.2, 0.05, 0.3, 0.1, 0.6, 0.6, 0.7, 0.8, 0.99, 0.8, 0.67, 0.5])
    pred2 = np.array([0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89])
    ids = np.arange(len(target))
    data = {
        "pred1": pd.DataFrame({"id": ids, "output": pred1}),
        "pred2": pd.DataFrame({"id": ids, "output": pred2}),
        "target": pd.DataFrame({"id": ids, "target": target}),
    }
    metrics = {"delongs_test": MetricDelongsTest(pred1="pred1.output", pred2="pred2.output", target="target.target")}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=subfolder(out, "example_7"))
    print(
        f"AUC model 1 = {results['metrics.delongs_test.auc1']:.4f}, "
        f"model 2 = {results['metrics.delongs_test.auc2']:.4f}: "
        f"z = {results['metrics.delongs_test.z']:.4f}, p = {results['metrics.delongs_test.p_value']:.4f}"
    )
    return results


def example_10() -> NDict:
    """McNemar's test: do two models err on different samples? (exact binomial test on the discordant pairs)"""
    header("example_10", "McNemar's test of two models' class predictions")
    ground_truth = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    cls_pred1 = [0, 1, 1, 1, 0, 1, 1, 0, 1, 1]
    cls_pred2 = [1, 1, 0, 1, 0, 1, 1, 0, 0, 1]
    data = {
        "data": pd.DataFrame(
            {
                "id": np.arange(len(cls_pred1)),
                "cls_pred1": cls_pred1,
                "cls_pred2": cls_pred2,
                "ground_truth": ground_truth,
            }
        )
    }
    # with target, the test compares the models' correctness; without (target=None), their predictions only
    metrics = {
        "mcnemars_test": MetricMcnemarsTest(pred1="data.cls_pred1", pred2="data.cls_pred2", target="data.ground_truth")
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    test = results["metrics.mcnemars_test"]
    print(
        f"statistic = {test['statistic']:.4f}, p = {test['p_value']:.4f} "
        f"(only model 1 right: {test['n1']}, only model 2 right: {test['n2']})"
    )
    return results
