"""Clustered bootstrap: whole clusters (patients) are resampled, stratified by the cluster-level status."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from fuse.eval import (
    CI,
    MetricAUCROC,
    MetricConfusion,
    MetricDefault,
    PairedBootstrap,
    UndefinedMetricWarning,
)
from fuse.eval.cli._main import main
from fuse.eval.resampling._bootstrap import evaluate_bootstraps, rows_per_block
from fuse.eval.resampling._cluster import cluster_layout, evaluate_ragged, expand_clusters, leave_one_out_rows

SEED = 1234


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.4).astype(int)
    pred = np.round(np.clip(0.25 * target + rng.uniform(0, 0.8, n), 0, 1), 2)  # ties
    frame: pd.DataFrame = pd.DataFrame({"id": np.arange(n), "pred": pred, "target": target})
    return frame


def _duplicated(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Every sample k times (copy j of sample i at row j*n + i), with a new id and its original id as cluster."""
    copies = pd.concat([frame] * k, ignore_index=True)
    copies["patient"] = copies["id"]
    copies["id"] = np.arange(len(copies))
    return copies


def _mean_metric() -> MetricDefault:
    return MetricDefault(lambda pred, target: float(np.mean(pred)), pred="pred", target="target")


def _ci(frame: pd.DataFrame, metric: object, **kwargs: object) -> dict[str, float]:
    ci = CI(metric, num_of_bootstraps=kwargs.pop("num_of_bootstraps", 400), rnd_seed=SEED, **kwargs)  # type: ignore[arg-type]
    ci.set(frame)
    result: dict[str, float] = ci.eval()
    return result


def _width(result: dict[str, float]) -> float:
    return result["conf_upper"] - result["conf_lower"]


# ---------------------------------------------------------------------------------------------------------------------
# the property the issue is about


@pytest.mark.parametrize("stratum", [None, "target"])
def test_one_sample_per_cluster_gives_exactly_the_unclustered_interval(stratum: str | None) -> None:
    frame = _frame()
    frame["patient"] = [f"p{i}" for i in frame["id"]]
    for metric in (MetricAUCROC(pred="pred", target="target"), _mean_metric()):
        plain = _ci(frame, metric, stratum=stratum)
        clustered = _ci(frame, metric, stratum=stratum, cluster="patient")
        assert clustered == pytest.approx(plain, abs=1e-12)


@pytest.mark.parametrize("k", [3, 4])
def test_duplicating_samples_leaves_the_clustered_interval_and_shrinks_the_unclustered_one(k: int) -> None:
    frame = _frame()
    copies = _duplicated(frame, k)
    for metric in (MetricAUCROC(pred="pred", target="target"), _mean_metric()):
        original = _ci(frame, metric, stratum="target", num_of_bootstraps=1000)
        clustered = _ci(copies, metric, stratum="target", cluster="patient", num_of_bootstraps=1000)
        rows = _ci(copies, metric, stratum="target", num_of_bootstraps=1000)
        # the same cluster draws as the original's sample draws, and the metric of k copies is the metric
        assert clustered["conf_lower"] == pytest.approx(original["conf_lower"], abs=1e-9)
        assert clustered["conf_upper"] == pytest.approx(original["conf_upper"], abs=1e-9)
        assert clustered["std"] == pytest.approx(original["std"], abs=1e-9)
        # resampling copies as if independent: about sqrt(k) too narrow
        assert _width(clustered) / _width(rows) == pytest.approx(np.sqrt(k), rel=0.15)
        assert clustered["std"] / rows["std"] == pytest.approx(np.sqrt(k), rel=0.1)


def test_clustered_resamplings_equal_a_naive_loop_over_patients() -> None:
    """Reference: per resampling, per cluster stratum (np.unique order), RandomState draws of clusters (in order of
    first appearance), their rows gathered, AUC by scikit-learn."""
    rng = np.random.default_rng(3)
    patients = 50
    sizes = rng.integers(1, 5, patients)
    patient = np.repeat(np.arange(patients), sizes)
    rng.shuffle(patient)  # rows of a patient scattered through the file
    n = len(patient)
    target = (rng.random(n) < 0.3).astype(int)
    pred = np.round(0.2 * target + rng.uniform(0, 1, n), 2)
    ids = np.array([f"img{i}" for i in range(n)], dtype=object)
    frame = pd.DataFrame({"id": ids, "pred": pred, "target": target, "patient": patient})
    num = 60

    first_seen = list(dict.fromkeys(patient.tolist()))
    status = {p: int(target[patient == p].max()) for p in first_seen}  # positive when any image is
    rnd = np.random.RandomState(SEED)
    expected = []
    for _ in range(num):
        rows: list[int] = []
        for value in np.unique(list(status.values())):
            members = [p for p in first_seen if status[p] == value]
            for pick in rnd.randint(0, len(members), size=len(members)):
                rows.extend(np.flatnonzero(patient == members[pick]).tolist())
        expected.append(roc_auc_score(target[rows], pred[rows]))

    metric = MetricAUCROC(pred="pred", target="target")
    metric.set(frame)
    (got,) = evaluate_bootstraps([metric], None, ids, target, num, SEED, clusters=patient)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    generic = MetricDefault(lambda pred, target: roc_auc_score(target, pred), pred="pred", target="target")
    generic.set(frame)
    (looped,) = evaluate_bootstraps([generic], None, ids, target, num, SEED, clusters=patient)
    np.testing.assert_allclose(looped, expected, atol=1e-12)


def test_clustered_resamplings_keep_whole_clusters_and_the_number_of_positive_patients() -> None:
    rng = np.random.default_rng(5)
    patient = np.repeat(np.arange(30), rng.integers(1, 4, 30))
    n = len(patient)
    target = (rng.random(n) < 0.3).astype(int)
    positive_patients = {p for p in np.unique(patient) if target[patient == p].any()}
    seen: list[np.ndarray] = []

    def record(pred: np.ndarray, target: np.ndarray) -> float:
        seen.append(np.asarray(pred))
        return 0.0

    metric = MetricDefault(record, pred="patient", target="target")
    ids = np.arange(n)
    metric.set(pd.DataFrame({"id": ids, "patient": patient, "target": target}))
    evaluate_bootstraps([metric], None, ids, target, 40, SEED, clusters=patient)
    assert len(seen) == 40
    sizes = pd.Series(patient).value_counts()
    for drawn in seen:
        counts = pd.Series(drawn).value_counts()
        # each drawn patient appears a multiple of its size: whole clusters
        assert all(count % sizes[p] == 0 for p, count in counts.items())
        draws = {p: count // sizes[p] for p, count in counts.items()}
        assert sum(draws.values()) == 30
        assert sum(d for p, d in draws.items() if p in positive_patients) == len(positive_patients)


def test_undefined_clustered_resamplings_are_counted_and_warned_once_per_block() -> None:
    rng = np.random.default_rng(2)
    patient = np.repeat(np.arange(40), rng.integers(1, 6, 40))  # lengths vary: many groups per block
    n = len(patient)
    target = np.isin(patient, [3, 30]).astype(int)  # two positive patients: often none drawn
    frame = pd.DataFrame({"id": np.arange(n), "pred": rng.uniform(0, 1, n) + 0.2 * target, "target": target,
                          "patient": patient})  # fmt: skip
    metric = MetricAUCROC(pred="pred", target="target")
    metric.set(frame)
    (values,) = evaluate_bootstraps([metric], None, frame["id"].to_numpy(), np.ones(n), 200, SEED, clusters=patient)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _ci(frame, MetricAUCROC(pred="pred", target="target"), cluster="patient", num_of_bootstraps=200)
    assert result["num_undefined_bootstraps"] == int(np.isnan(values).sum()) > 20
    blocks = -(-200 // rows_per_block(n, 200))
    undefined = [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert 1 < len(undefined) <= blocks + 1  # one per block at most, and CI's own count
    assert any("num_undefined_bootstraps" in str(w.message) for w in undefined)


# ---------------------------------------------------------------------------------------------------------------------
# cluster-level stratum


def test_a_cluster_whose_rows_differ_in_a_0_1_stratum_is_positive() -> None:
    layout = cluster_layout(np.array(["a", "a", "b", "c", "c"]), np.array([0, 1, 0, 1, 1]))
    assert dict(zip(layout.labels, layout.strata.tolist(), strict=True)) == {"a": 1, "b": 0, "c": 1}
    assert layout.labels.tolist() == ["b", "a", "c"]  # stratum, then first appearance
    assert layout.sizes.tolist() == [1, 2, 2]
    # class indices: the highest class of the cluster
    layout = cluster_layout(np.array([7, 7, 8]), np.array([2, 0, 1]))
    assert dict(zip(layout.labels, layout.strata.tolist(), strict=True)) == {7: 2, 8: 1}


def test_a_cluster_spanning_text_strata_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'p2': \['site A', 'site B'\].*constant within each cluster"):
        cluster_layout(np.array(["p1", "p2", "p2"]), np.array(["site A", "site A", "site B"]))
    frame = _frame(10)
    frame["site"] = ["A"] * 5 + ["B"] * 5
    frame["patient"] = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # patient 2 in both sites
    with pytest.raises(ValueError, match="1 clusters have different values of stratum 'site'"):
        _ci(frame, _mean_metric(), stratum="site", cluster="patient")


def test_missing_cluster_ids_are_refused_naming_the_positions() -> None:
    frame = _frame(10)
    frame["patient"] = [0, 0, 1, None, 2, 2, 3, 3, np.nan, 4]
    with pytest.raises(ValueError, match=r"cluster id of 2 of 10 samples is missing.*\[3, 8\]"):
        _ci(frame, _mean_metric(), cluster="patient")


def test_a_stratum_with_a_single_cluster_warns_about_the_cluster() -> None:
    frame = _frame(30)
    frame["target"] = 0
    frame.loc[[0, 1, 2], "target"] = 1
    frame["patient"] = frame["id"] // 3  # patient 0 holds the three positives
    with pytest.warns(UserWarning, match=r"single cluster \('patient'\) for value\(s\) \[1\]"):
        _ci(frame, _mean_metric(), stratum="target", cluster="patient", num_of_bootstraps=20)


def test_analytic_intervals_refuse_clusters() -> None:
    metric = MetricConfusion(pred="pred", target="target", operation_point=0.5)
    with pytest.raises(ValueError, match=r"independent.*bootstrap ci_method"):
        CI(metric, ci_method="WILSON", cluster="patient")


# ---------------------------------------------------------------------------------------------------------------------
# paired comparison


def test_paired_bootstrap_with_clusters() -> None:
    frame = _frame(80)
    rng = np.random.default_rng(1)
    frame["other"] = np.clip(frame["pred"] + rng.normal(0, 0.2, len(frame)), 0, 1)

    def paired(data: pd.DataFrame, **kwargs: object) -> dict[str, float]:
        comparison = PairedBootstrap(
            MetricAUCROC(pred="pred", target="target"),
            MetricAUCROC(pred="other", target="target"),
            stratum="target",
            num_of_bootstraps=300,
            **kwargs,  # type: ignore[arg-type]
        )
        comparison.set(data)
        result: dict[str, float] = comparison.eval()
        return result

    plain = paired(frame)
    copies = _duplicated(frame, 3)
    assert paired(copies, cluster="patient") == pytest.approx(plain, abs=1e-9)
    # images of a patient resampled one by one: the difference looks far more certain than it is
    assert abs(paired(copies)["p_value"] - 0.5) > abs(plain["p_value"] - 0.5)


# ---------------------------------------------------------------------------------------------------------------------
# the building blocks, against brute force


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=8), st.integers(0, 2**31 - 1))
def test_expanding_and_grouping_by_length_equal_a_loop(sizes: list[int], seed: int) -> None:
    size_array = np.array(sizes, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(size_array)[:-1]))
    draws = np.random.default_rng(seed).integers(0, len(sizes), (5, len(sizes)))
    flat, lengths = expand_clusters(draws, starts, size_array)
    expected = [[starts[c] + i for c in row for i in range(sizes[c])] for row in draws]
    assert lengths.tolist() == [len(rows) for rows in expected]
    assert flat.tolist() == [p for rows in expected for p in rows]
    got: dict[int, list[int]] = {}
    for chosen, values in evaluate_ragged(lambda rows: [r.tolist() for r in rows], flat, lengths):
        assert len({len(v) for v in values}) == 1
        got.update(zip(chosen.tolist(), values, strict=True))
    assert [got[r] for r in range(len(draws))] == expected
    left_out: dict[int, list[int]] = {}
    for units, rows in leave_one_out_rows(starts, size_array, int(size_array.sum())):
        left_out.update(zip(units.tolist(), rows.tolist(), strict=True))
    everything = set(range(int(size_array.sum())))
    assert {u: set(r) for u, r in left_out.items()} == {
        c: everything - set(range(starts[c], starts[c] + sizes[c])) for c in range(len(sizes))
    }


def test_clustered_ci_warns_nothing_on_clean_data() -> None:
    frame = _duplicated(_frame(), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ci(frame, MetricAUCROC(pred="pred", target="target"), stratum="target", cluster="patient")


# ---------------------------------------------------------------------------------------------------------------------
# the command line


def _cli_auc(folder: Path, pred: pd.DataFrame, target: pd.DataFrame, *options: str) -> dict[str, Any]:
    pred.to_csv(folder / "pred.csv", index=False)
    target.to_csv(folder / "target.csv", index=False)
    out = folder / "out"
    argv = ["--pred", str(folder / "pred.csv"), "--target", str(folder / "target.csv"), "--out", str(out)]
    assert main([*argv, "--bootstraps", "300", "--no-plots", "--quiet", *options]) == 0
    report: dict[str, Any] = json.loads((out / "results.json").read_text())
    return report


def test_cli_cluster_col_resamples_patients(tmp_path: Path) -> None:
    frame = _frame(80)
    images = _duplicated(frame, 3)  # three images per patient, alike
    pred, target = images[["id", "pred", "patient"]], images[["id", "target"]]
    clustered = _cli_auc(tmp_path, pred, target, "--cluster-col", "patient")
    plain = _cli_auc(tmp_path, frame[["id", "pred"]], frame[["id", "target"]])
    rows = _cli_auc(tmp_path, pred.drop(columns="patient"), target)
    auc = clustered["metrics"]["auc"]
    assert (auc["low"], auc["high"]) == pytest.approx((plain["metrics"]["auc"]["low"], plain["metrics"]["auc"]["high"]))
    assert rows["metrics"]["auc"]["high"] - rows["metrics"]["auc"]["low"] < 0.7 * (auc["high"] - auc["low"])
    assert clustered["setup"]["clusters"] == 80
    assert "whole clusters" in clustered["setup"]["bootstrap_ci"]
    assert any("effective number of cases" in note for note in clustered["notes"])
    for name in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        # alike images of a patient: the proportions' intervals are those of the patients, not 3x narrower
        images_stat, patients_stat = clustered["metrics"][name], plain["metrics"][name]
        assert images_stat["value"] == pytest.approx(patients_stat["value"]), name
        assert (images_stat["low"], images_stat["high"]) == pytest.approx(
            (patients_stat["low"], patients_stat["high"]), abs=1e-12
        ), name
        assert images_stat["effective_n"] == pytest.approx(patients_stat["n"]), name
        independent = rows["metrics"][name]
        assert independent["high"] - independent["low"] < 0.7 * (images_stat["high"] - images_stat["low"]), name


def test_cli_cluster_col_with_a_missing_cluster_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = _duplicated(_frame(20), 2)
    images["patient"] = images["patient"].astype(float)
    images.loc[[3, 7], "patient"] = np.nan
    images[["id", "pred", "patient"]].to_csv(tmp_path / "pred.csv", index=False)
    images[["id", "target"]].to_csv(tmp_path / "target.csv", index=False)
    argv = ["--pred", str(tmp_path / "pred.csv"), "--target", str(tmp_path / "target.csv"), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--cluster-col", "patient"]) == 2
    assert "cluster (--cluster-col patient) of 2 rows is missing, e.g. ids [3, 7]" in capsys.readouterr().err
