"""Model ensembling: FuseMedML's example_14 on the MNIST inference files, voting against scipy, output files."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuse.core import read_dataframe
from fuse.eval import (
    ENSEMBLE_METHODS,
    EvaluatorDefault,
    MetricAccuracy,
    MetricApplyThresholds,
    MetricEnsemble,
    UndefinedMetricWarning,
    ensemble,
)

N_MODELS = 5
PRED_KEYS = [f"{k}.model.output.classification" for k in range(N_MODELS)]


@functools.lru_cache(maxsize=1)
def _mnist_frames(directory: str) -> tuple[pd.DataFrame, ...]:
    """The 5 inference files (read once: they are old-pandas pickles that load slowly)."""
    return tuple(read_dataframe(os.path.join(directory, f"model_{k}.test_set_infer.gz")) for k in range(N_MODELS))


def _mnist(fixtures_dir: Path) -> tuple[tuple[pd.DataFrame, ...], pd.Index, np.ndarray, np.ndarray]:
    """The frames, the ids (model 0's order), scores [n, models, 10] aligned by id with pandas, and the labels."""
    frames = _mnist_frames(str(fixtures_dir / "ensemble_mnist"))
    ids = pd.Index(frames[0]["id"], tupleize_cols=False)
    scores = np.stack(
        [np.stack(frame.set_index("id").loc[ids, "model.output.classification"].to_list()) for frame in frames], axis=1
    )
    return frames, ids, scores, frames[0]["data.label"].to_numpy()


# --- FuseMedML example_14 -----------------------------------------------------------------------------------------------


def test_example_14_average_then_argmax_accuracy(fixtures_dir: Path, tmp_path: Path) -> None:
    frames, ids, scores, labels = _mnist(fixtures_dir)
    # example_14 passes the 5 file paths; the DataFrames read once from them are the same input, read faster
    data = {str(k): frame for k, frame in enumerate(frames)}
    output_file = tmp_path / "ensemble_output.gz"
    metrics = {
        "ensemble": MetricEnsemble(pred_keys=PRED_KEYS, target="0.data.label", output_file=str(output_file)),
        "apply_thresh": MetricApplyThresholds(pred="results:metrics.ensemble.preds", operation_point=None),
        "accuracy": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="0.data.label"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    expected_preds = scores.mean(axis=1)
    expected_accuracy = float(np.mean(expected_preds.argmax(axis=1) == labels))
    assert results["metrics.accuracy"] == expected_accuracy
    single_model = [float(np.mean(scores[:, k].argmax(axis=1) == labels)) for k in range(N_MODELS)]
    assert expected_accuracy > max(single_model)  # the ensemble beats every model on this set
    ensembled = results["metrics.ensemble.preds"](list(ids))
    assert ensembled.dtype == np.float32  # the models' dtype is kept, as FuseMedML's np.nanmean does
    np.testing.assert_allclose(ensembled, expected_preds, rtol=1e-6)
    assert results["metrics.ensemble.target"](list(ids)).tolist() == labels.tolist()

    # output file: a gzip-pickled DataFrame with id, preds (one vector per cell) and target; no temporary left
    written = pd.read_pickle(output_file, compression="gzip")
    assert list(written.columns) == ["id", "preds", "target"]
    assert sorted(written["id"]) == sorted(ids)
    by_id = written.set_index("id").loc[ids]
    np.testing.assert_allclose(np.stack(by_id["preds"].to_list()), expected_preds, rtol=1e-6)
    assert by_id["target"].tolist() == labels.tolist()
    assert read_dataframe(output_file).equals(written)
    assert os.listdir(tmp_path) == ["ensemble_output.gz"]


def test_example_14_voting_matches_scipy_mode(fixtures_dir: Path) -> None:
    frames, ids, scores, labels = _mnist(fixtures_dir)
    class_preds = {
        str(k): pd.DataFrame(
            {
                "id": frame["id"],
                "cls": np.stack(frame["model.output.classification"].to_list()).argmax(axis=1),
                "scores": frame["model.output.classification"],
                "label": frame["data.label"],
            }
        )
        for k, frame in enumerate(frames)
    }
    metrics = {
        "vote": MetricEnsemble(pred_keys=[f"{k}.cls" for k in range(N_MODELS)], target="0.label", method="voting"),
        "hard_vote": MetricEnsemble(pred_keys=[f"{k}.scores" for k in range(N_MODELS)], method="VOTE"),
        "accuracy": MetricAccuracy(pred="results:metrics.vote.preds", target="results:metrics.vote.target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=class_preds, metrics=metrics)
    expected = scipy.stats.mode(scores.argmax(axis=2), axis=1).mode
    voted = results["metrics.vote.preds"](list(ids))
    assert voted.dtype == np.int64
    assert voted.tolist() == expected.tolist()
    assert results["metrics.hard_vote.preds"](list(ids)).tolist() == expected.tolist()  # vectors are argmax-ed
    assert results["metrics.accuracy"] == float(np.mean(expected == labels))


# --- the ensemble function ----------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(labels=hnp.arrays(np.int64, st.tuples(st.integers(1, 30), st.integers(1, 7)), elements=st.integers(-3, 4)))
def test_vote_equals_scipy_mode(labels: np.ndarray) -> None:
    voted = ensemble(list(labels.T), method="vote")
    assert voted.tolist() == scipy.stats.mode(labels, axis=1).mode.tolist()  # ties -> the smallest label


@settings(max_examples=40, deadline=None)
@given(
    labels=hnp.arrays(
        float, st.tuples(st.integers(1, 20), st.integers(2, 6)), elements=st.sampled_from([0.0, 1.0, 2.0, np.nan])
    )
)
def test_vote_ignores_missing_predictions_like_scipy_omit(labels: np.ndarray) -> None:
    answered = ~np.isnan(labels).all(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        voted = ensemble(list(labels.T), method="voting")
    for row, vote in zip(labels[answered], voted[answered], strict=True):
        assert vote == scipy.stats.mode(row[~np.isnan(row)]).mode
    assert np.isnan(voted[~answered]).all()


def test_average_is_nanmean_and_missing_samples_warn() -> None:
    model_a = np.array([[0.2, 0.8], [0.6, 0.4], [np.nan, np.nan]])
    model_b = np.array([[0.4, 0.6], [np.nan, np.nan], [np.nan, np.nan]])
    with pytest.warns(UndefinedMetricWarning, match="1 of 3 samples have no prediction"):
        averaged = ensemble([model_a, model_b], method="Mean")
    np.testing.assert_allclose(averaged[:2], [[0.3, 0.7], [0.6, 0.4]])
    assert np.isnan(averaged[2]).all()
    assert ensemble([[0.1, 0.5], [0.3, 0.5]]).tolist() == pytest.approx([0.2, 0.5])
    # a vector of length 1 is a scalar (FuseMedML)
    assert ensemble([np.array([[0.1], [0.5]]), np.array([[0.3], [0.5]])]).shape == (2,)
    # an object column of vectors, with a NaN scalar where a model has no prediction (evaluator padding)
    column = np.empty(2, dtype=object)
    column[:] = [np.array([0.1, 0.9]), np.nan]
    np.testing.assert_allclose(ensemble([column, model_a[:2]]), [[0.15, 0.85], [0.6, 0.4]])


def test_ensemble_errors() -> None:
    with pytest.raises(
        ValueError, match=r"method must be one of \['average', 'mean', 'vote', 'voting'\], got 'median'"
    ):
        ensemble([[1, 2]], method="median")
    with pytest.raises(ValueError, match=r"non-integer values such as \[0.3\]"):
        ensemble([[0, 1], [0.3, 1]], method="vote")
    with pytest.raises(ValueError, match="same shape"):
        ensemble([np.zeros((3, 2)), np.zeros((3, 4))])
    with pytest.raises(ValueError, match="at least one model"):
        ensemble([])
    with pytest.raises(ValueError, match="must be numbers"):
        ensemble([["a", "b"]])
    assert ENSEMBLE_METHODS == ("average", "mean", "vote", "voting")


# --- MetricEnsemble -----------------------------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "m0": [0.1, 0.6, np.nan, 0.9],
            "m1": [0.3, 0.8, 0.5, 0.7],
            "label": [0, 1, 1, 1],
            "site": ["x", "y", "x", "y"],
        }
    )
    return frame


def test_metric_extra_keys_renames_normalisation_and_resampled_ids(tmp_path: Path) -> None:
    metric = MetricEnsemble(
        pred_keys=["m0", "m1"],
        target="label",
        output_file=tmp_path / "out.pkl.gz",
        output_pred_key="prob",
        output_target_key="y",
        rename_in_output={"site": "hospital"},
        scores_normalize_func=lambda p: 2 * p,
        site="site",
        pre_collect_process_func=lambda sample: sample,  # a collection argument, not an output column
    )
    results = EvaluatorDefault().eval(ids=None, data=_frame(), metrics={"ens": metric})
    assert results["metrics.ens.prob"](["d", "c", "a"]).tolist() == pytest.approx([1.6, 1.0, 0.4])
    assert results["metrics.ens.y"](["b"]).tolist() == [1]
    assert results["metrics.ens.hospital"](["b", "c"]).tolist() == ["y", "x"]
    written = pd.read_pickle(tmp_path / "out.pkl.gz")
    assert list(written.columns) == ["id", "prob", "y", "hospital"]
    assert written["id"].tolist() == ["a", "b", "c", "d"]
    # bootstraps evaluate on repeated ids: the ensemble is computed once per id
    resampled = metric.eval(ids=["b", "b", "a"])
    assert resampled["prob"](["b", "b", "a"]).tolist() == pytest.approx([2 * 0.7, 2 * 0.7, 0.4])


def test_metric_dropna_filters_every_output(tmp_path: Path) -> None:
    metric = MetricEnsemble(
        pred_keys=["m0", "m1"], target="label", dropna=True, site="site", output_file=str(tmp_path / "e.gz")
    )
    metric.set(_frame())
    outputs = metric.eval()
    assert outputs["preds"]().tolist() == pytest.approx([0.2, 0.7, 0.8])
    assert outputs["target"]().tolist() == [0, 1, 1]  # FuseMedML kept the dropped sample's target and failed
    assert outputs["site"]().tolist() == ["x", "y", "y"]
    with pytest.raises(KeyError, match=r"\['c'\]"):
        outputs["preds"](["c"])
    assert pd.read_pickle(tmp_path / "e.gz")["id"].tolist() == ["a", "b", "d"]
    # without dropna, the missing model is ignored (nanmean)
    kept = MetricEnsemble(pred_keys=["m0", "m1"])
    kept.set(_frame())
    assert kept.eval()["preds"](["c"]).tolist() == [0.5]


def test_metric_with_a_model_missing_samples_through_the_evaluator() -> None:
    model_0 = pd.DataFrame({"id": [1, 2, 3], "p": [np.array([0.9, 0.1]), np.array([0.2, 0.8]), np.array([0.5, 0.5])]})
    model_1 = pd.DataFrame({"id": [1, 2], "p": [np.array([0.7, 0.3]), np.array([0.4, 0.6])]})
    metrics = {"ens": MetricEnsemble(pred_keys=["0.p", "1.p"])}
    results = EvaluatorDefault().eval(
        ids=None, data={"0": model_0, "1": model_1}, metrics=metrics, error_missing_ids=False
    )
    np.testing.assert_allclose(results["metrics.ens.preds"]([1, 2, 3]), [[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])


def test_metric_constructor_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"pred_keys must be a non-empty sequence of keys \(str\), got 'm0'"):
        MetricEnsemble(pred_keys="m0")
    with pytest.raises(ValueError, match="method must be one of"):
        MetricEnsemble(pred_keys=["m0"], method="median")
    with pytest.raises(ValueError, match=r"must end in '\.gz'.*got '.*out\.pkl'"):
        MetricEnsemble(pred_keys=["m0"], output_file=tmp_path / "out.pkl")
    with pytest.raises(ValueError, match=r"keys \(str\) to carry into the output, got \{'weight': 3\}"):
        MetricEnsemble(pred_keys=["m0"], weight=3)
    with pytest.raises(ValueError, match=r"rename_in_output names \['sex'\], which are not extra keys"):
        MetricEnsemble(pred_keys=["m0"], rename_in_output={"sex": "gender"}, site="site")
    with pytest.raises(ValueError, match="output names must be unique and not 'id'"):
        MetricEnsemble(pred_keys=["m0"], target="label", output_target_key="preds")
    with pytest.raises(ValueError, match="output names must be unique and not 'id'"):
        MetricEnsemble(pred_keys=["m0"], id="id")
