"""FuseMedML 0.4.1's eval examples reproduced on its own input files: the pinned numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict
from fuse.eval import (
    CI,
    EvaluatorDefault,
    Filter,
    GroupAnalysis,
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCROC,
)

TASK1 = "target.Task1-target"


def _pred_vector(sample: NDict) -> NDict:
    sample["pred.array"] = np.array([sample["pred.NoAT-score"], sample["pred.CanAT-score"]])
    return sample


def test_example_0_pickled_dataframe_with_vector_predictions(fixtures_dir: Path, tmp_path: Path) -> None:
    preds = pd.read_csv(fixtures_dir / "example1_predictions.csv")
    targets = pd.read_csv(fixtures_dir / "example1_targets.csv")
    frame = pd.DataFrame(
        {
            "id": preds["id"],
            "pred": list(np.stack([preds["NoAT-score"], preds["CanAT-score"]], axis=1)),
            "target": targets["Task1-target"],
        }
    )
    frame.to_pickle(tmp_path / "example0.pickle")  # FuseMedML's example0.pickle is built from these files
    results = EvaluatorDefault().eval(
        ids=None, data=str(tmp_path / "example0.pickle"), metrics={"auc": MetricAUCROC(pred="pred", target="target")}
    )
    assert results["metrics.auc"] == 0.845


def test_example_1_dict_of_files_with_pre_collect(fixtures_dir: Path) -> None:
    data = {
        "pred": str(fixtures_dir / "example1_predictions.csv"),
        "target": str(fixtures_dir / "example1_targets.csv"),
    }
    target_ids = pd.read_csv(fixtures_dir / "example1_targets.csv")["id"].tolist()
    metric = MetricAUCROC(pred="pred.array", target=TASK1, pre_collect_process_func=_pred_vector)
    results = EvaluatorDefault().eval(ids=target_ids, data=data, metrics={"auc": metric})
    assert results["metrics.auc"] == 0.845


def test_example_2_folds_and_group_analysis(fixtures_dir: Path) -> None:
    data = {
        "pred": [
            str(fixtures_dir / "example2_predictions_fold0.csv"),
            str(fixtures_dir / "example2_predictions_fold1.csv"),
        ],
        "target": str(fixtures_dir / "example2_targets.csv"),
    }
    metrics = {
        "auc": MetricAUCROC(pred="pred.CanAT-score", target=TASK1),
        "auc_per_fold": GroupAnalysis(MetricAUCROC(pred="pred.CanAT-score", target=TASK1), group="pred.evaluator_fold"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    assert results["metrics.auc"] == 0.845
    assert results["metrics.auc_per_fold.0"] == pytest.approx(0.8412698412698412, abs=1e-15)
    assert results["metrics.auc_per_fold.1"] == pytest.approx(0.8373205741626795, abs=1e-15)
    assert results["metrics.auc_per_fold.mean"] == pytest.approx(0.8392952077162603, abs=1e-15)
    assert results["metrics.auc_per_fold.median"] == pytest.approx(0.8392952077162603, abs=1e-15)
    assert results["metrics.auc_per_fold.std"] == pytest.approx(0.0019746335535808512, abs=1e-15)


def test_example_3_group_analysis_by_gender() -> None:
    data = pd.DataFrame(
        {
            "id": range(10),
            "pred": [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9],
            "target": [0, 0, 1, 1, 1, 0, 0, 1, 1, 1],
            "gender": ["female"] * 5 + ["male"] * 5,
        }
    )
    metric = GroupAnalysis(MetricAUCROC(pred="pred", target="target"), group="gender")
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"auc_per_group": metric})
    assert results["metrics.auc_per_group.female"] == 1.0
    assert results["metrics.auc_per_group.male"] == pytest.approx(0.6666666666666666, abs=1e-15)
    assert results["metrics.auc_per_group.mean"] == pytest.approx(0.8333333333333333, abs=1e-15)
    assert results["metrics.auc_per_group.std"] == pytest.approx(0.16666666666666669, abs=1e-15)


def test_example_4_confidence_interval(fixtures_dir: Path) -> None:
    data = {
        "pred": str(fixtures_dir / "example1_predictions.csv"),
        "target": str(fixtures_dir / "example1_targets.csv"),
    }
    metric = CI(MetricAUCROC(pred="pred.CanAT-score", target=TASK1), stratum=TASK1, rnd_seed=1234)
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"auc": metric})
    assert results["metrics.auc.org"] == 0.845
    assert results["metrics.auc.mean"] == pytest.approx(0.8456068750000001, abs=1e-14)
    assert results["metrics.auc.std"] == pytest.approx(0.06216615072919004, abs=1e-14)
    assert results["metrics.auc.conf_interval"] == 95
    assert results["metrics.auc.conf_lower"] == pytest.approx(0.7124999999999999, abs=1e-14)
    assert results["metrics.auc.conf_upper"] == pytest.approx(0.95375, abs=1e-14)


def test_example_11_filter_keeps_the_rows_whose_flag_is_false() -> None:
    data = pd.DataFrame(
        {
            "id": range(6),
            "pred": [0.9, 0.1, 0.8, 0.3, 0.2, 0.7],
            "target": [1, 0, 0, 1, 0, 1],
            "gender": ["male", "male", "male", "female", "female", "female"],
        }
    )
    auc_males = Filter(MetricAUCROC(pred="pred", target="target"), filter="gender", cond=lambda g: g != "male")
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"auc_males": auc_males})
    assert results["metrics.auc_males"] == 1.0  # males: pred 0.9 (1), 0.1 (0), 0.8 (0) -> AUC 1.0


def test_example_12_thresholds_feed_accuracy_through_results() -> None:
    target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    pred = np.array([0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89])
    ids = np.arange(len(target))
    data = {"pred": pd.DataFrame({"pred": pred, "id": ids}), "target": pd.DataFrame({"target": target, "id": ids})}
    metrics = {
        "apply_thresh": MetricApplyThresholds(pred="pred.pred", operation_point=0.5),
        "acc": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="target.target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    assert results["metrics.acc"] == pytest.approx(0.6153846153846154, abs=1e-15)


def test_example_9_iterator_of_samples_in_batches_of_five() -> None:
    """example_9 without the MNIST download: 10,000 samples with random predictions, collated five at a time."""
    rng = np.random.RandomState(1234)
    labels = rng.randint(0, 10, 10_000)
    preds = rng.randint(0, 10, 10_000)

    def samples():  # type: ignore[no-untyped-def]
        for index, (pred, label) in enumerate(zip(preds, labels, strict=True)):
            yield {"id": index, "pred": int(pred), "label": int(label)}

    metrics = {"accuracy": MetricAccuracy(pred="pred", target="label")}
    results = EvaluatorDefault().eval(ids=None, data=samples(), batch_size=5, metrics=metrics)
    assert results["metrics.accuracy"] == pytest.approx(float(np.mean(preds == labels)), abs=1e-15)
    assert results["metrics.accuracy"] == pytest.approx(0.1, abs=0.01)  # FuseMedML's assertion (2 places)
