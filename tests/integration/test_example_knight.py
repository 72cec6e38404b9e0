"""examples/knight: the synthetic KNIGHT data, the baseline (train, predict, challenge files) and the challenge
scorer, run for real with tiny settings; the scorer is also checked against scikit-learn on hand-made files and on
malformed files, and its reports' proportions against statsmodels' Wilson intervals on counts made here."""

from __future__ import annotations

import importlib.util
import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from fuse.data import DatasetDefault
from fuse.eval import auc_roc
from fuse.imaging.datasets import KNIGHT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "knight"
SCORE_COLUMNS = {1: ["NoAT-score", "CanAT-score"], 2: ["B-score", "LR-score", "IR-score", "HR-score", "VHR-score"]}
RISK_GROUPS = ("B", "LR", "IR", "HR", "VHR")


def _example(name: str) -> dict[str, Any]:
    """The example script's namespace (its `main` and helpers), without running its `__main__` block."""
    return runpy.run_path(str(EXAMPLE / f"{name}.py"))


def _synthetic(folder: Path, n: int, n_test: int = 0) -> None:
    argv = ["--out", str(folder), "--n", str(n), "--n-test", str(n_test), "--shape", "12", "32", "32", "--seed", "0"]
    assert _example("make_synthetic_data")["main"](argv) == 0


def test_baseline_writes_challenge_files_that_the_scorer_scores(tmp_path: Path) -> None:
    data, run, scores = tmp_path / "data", tmp_path / "run", tmp_path / "scores"
    _synthetic(data, n=12, n_test=3)
    baseline = ["--data", str(data), "--out", str(run), "--epochs", "2", "--resize", "8", "32", "32"]
    assert _example("baseline")["main"]([*baseline, "--width", "4", "--batch-size", "4", "--seed", "0"]) == 0

    assert (run / "model" / "best_epoch.ckpt").is_file()
    targets = pd.read_csv(run / "validation_targets.csv")
    assert list(targets.columns) == ["case_id", "Task1-target", "Task2-target"]
    assert len(targets) == 5  # one case of each risk group in the validation fold (5 balanced folds)
    assert sorted(targets["Task2-target"]) == [0, 1, 2, 3, 4]
    assert (targets["Task1-target"] == (targets["Task2-target"] >= 3)).all()
    for task, columns in SCORE_COLUMNS.items():
        for prefix, count in (("validation", 5), ("test", 3)):
            predictions = pd.read_csv(run / f"{prefix}_task{task}_predictions.csv")
            assert list(predictions.columns) == ["case_id", *columns]
            assert len(predictions) == count
            np.testing.assert_allclose(predictions[columns].sum(axis=1), 1.0, atol=1e-5)
    assert set(pd.read_csv(run / "test_task1_predictions.csv")["case_id"]) == {"case_00012", "case_00013", "case_00014"}

    argv = ["--targets", str(run / "validation_targets.csv"), "--out", str(scores), "--bootstraps", "200"]
    argv += ["--task1", str(run / "validation_task1_predictions.csv")]
    argv += ["--task2", str(run / "validation_task2_predictions.csv")]
    assert _example("eval")["main"](argv) == 0
    table = pd.read_csv(scores / "results.csv")
    assert table["score"].tolist() == [
        "Task1-AUC",
        "Task2-AUC",
        *(f"Task2-AUC-{name}VsRest" for name in ("B", "LR", "IR", "HR", "VHR")),
    ]
    values = table[["value", "ci_lower", "ci_upper"]].to_numpy()
    assert np.isfinite(values).all()
    assert ((values >= 0) & (values <= 1)).all()
    assert (table["ci_lower"] <= table["ci_upper"]).all()
    report = (scores / "results.md").read_text()
    assert "# Task 1" in report
    assert "# Task 2" in report
    assert (scores / "fuse_eval" / "results.json").is_file()
    plots = ("roc.png", "calibration.png") if importlib.util.find_spec("matplotlib") else ()  # the plot extra
    for task in (1, 2):
        assert (scores / f"task{task}_roc.png").is_file() == bool(plots)
        folder = scores / "report" / f"task{task}"
        for name in ("report.html", "results.md", "results.json", *plots):
            assert (folder / name).is_file(), (task, name)
        predictions = pd.read_csv(run / f"validation_task{task}_predictions.csv").set_index("case_id")
        probabilities = predictions.loc[targets["case_id"], SCORE_COLUMNS[task]].to_numpy()
        _check_report(folder, task, targets[f"Task{task}-target"].to_numpy(), probabilities)


def test_synthetic_labels_are_learnable_from_the_image_and_the_clinical_data(tmp_path: Path) -> None:
    _synthetic(tmp_path / "data", n=20)
    dataset = KNIGHT.dataset(
        tmp_path / "data", tmp_path / "cache", sample_ids=KNIGHT.sample_ids(tmp_path / "data"), resize_to=(8, 32, 32),
        num_workers=0,
    )  # fmt: skip
    assert isinstance(dataset, DatasetDefault)

    def values(key: str) -> list[Any]:  # the static pipeline's output: before augmentation
        return dataset.get_static_values(key)

    task_1, task_2 = (
        np.array(values("data.gt.gt_global.task_1_label")),
        np.array(values("data.gt.gt_global.task_2_label")),
    )
    # the tumour (240 HU, z-scored to about 1.8) is the only tissue this bright after the KNIGHT normalisation
    tumour_voxels = np.array([float((np.asarray(image) > 1.3).sum()) for image in values("data.input.img")])
    size = np.array([float(clinical[2]) for clinical in values("data.input.clinical.all")])  # radiographic size / 15
    for feature in (tumour_voxels, size):
        assert auc_roc(feature, task_1) > 0.9
        assert pd.Series(feature).corr(pd.Series(task_2), method="spearman") > 0.8


def _hand_made_files(folder: Path, n: int = 40, seed: int = 0) -> dict[str, Any]:
    """Targets and noisy but informative predictions of both tasks, as the challenge's CSV files."""
    rng = np.random.default_rng(seed)
    ids = [f"case_{i:05d}" for i in range(n)]
    task_2 = np.arange(n) % 5
    task_1 = (task_2 >= 3).astype(int)
    risk = task_2 + rng.normal(0, 1.5, n)
    can_at = 1 / (1 + np.exp(-(risk - 2.5)))
    logits = -((np.arange(5)[None, :] - risk[:, None]) ** 2)
    groups = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"targets": folder / "targets.csv", 1: folder / "task1.csv", 2: folder / "task2.csv"}
    pd.DataFrame({"case_id": ids, "Task1-target": task_1, "Task2-target": task_2}).to_csv(files["targets"], index=False)
    task1 = pd.DataFrame({"case_id": ids, "NoAT-score": 1 - can_at, "CanAT-score": can_at})
    task1.iloc[::-1].to_csv(files[1], index=False)  # any row order
    pd.DataFrame(groups, columns=SCORE_COLUMNS[2]).assign(case_id=ids).to_csv(files[2], index=False)
    return {"files": files, "task_1": task_1, "task_2": task_2, "can_at": can_at, "groups": groups}


def test_scorer_matches_scikit_learn_on_hand_made_files(tmp_path: Path) -> None:
    made = _hand_made_files(tmp_path / "in")
    files = made["files"]
    score = _example("eval")["score"]
    table = score(
        files["targets"], files[1], files[2], tmp_path / "out", bootstraps=300, seed=7, plots=False
    ).set_index("score")

    assert table.loc["Task1-AUC", "value"] == pytest.approx(roc_auc_score(made["task_1"], made["can_at"]), abs=1e-12)
    expected_macro = roc_auc_score(made["task_2"], made["groups"], multi_class="ovr", average="macro")
    assert table.loc["Task2-AUC", "value"] == pytest.approx(expected_macro, abs=1e-12)
    for index, name in enumerate(("B", "LR", "IR", "HR", "VHR")):
        expected = roc_auc_score(made["task_2"] == index, made["groups"][:, index])
        assert table.loc[f"Task2-AUC-{name}VsRest", "value"] == pytest.approx(expected, abs=1e-12)
    assert (table["ci_lower"] < table["ci_upper"]).all()
    assert ((table["ci_lower"] >= 0) & (table["ci_upper"] <= 1)).all()
    # seeded bootstraps: the same files give the same intervals
    again = score(
        files["targets"], files[1], files[2], tmp_path / "again", bootstraps=300, seed=7, plots=False
    ).set_index("score")
    pd.testing.assert_frame_equal(table, again)
    # one task alone
    only_task1 = score(files["targets"], files[1], None, tmp_path / "task1", bootstraps=300, seed=7, plots=False)
    assert only_task1["score"].tolist() == ["Task1-AUC"]
    assert "Task 2" not in (tmp_path / "task1" / "results.md").read_text()


def _wilson(successes: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def _check_proportion(stat: dict[str, Any], successes: int, n: int, what: str) -> None:
    """One proportion of a report: its counts, its value, statsmodels' Wilson interval, never a degenerate one."""
    assert stat["method"] == "wilson", what
    assert (stat["successes"], stat["n"]) == (successes, n), what
    if n == 0:  # e.g. no case called positive: the PPV is undefined (null in JSON), not 0
        assert stat["value"] is None, what
        return
    assert stat["value"] == pytest.approx(successes / n, abs=1e-12), what
    assert (stat["low"], stat["high"]) == pytest.approx(_wilson(successes, n), abs=1e-12), what
    # a percentile bootstrap of a proportion at 0 or 1 gives [0, 0] or [1, 1]; Wilson's interval has width
    assert stat["low"] < stat["high"], what
    assert stat["low"] < 1.0 or successes < n, what
    assert stat["high"] > 0.0 or successes > 0, what


def _check_report(folder: Path, task: int, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """The report of a task against counts made here: task 1 called at CanAT > 0.5, task 2 by argmax."""
    report: dict[str, Any] = json.loads((folder / "results.json").read_text())
    metrics = report["metrics"]
    assert metrics["auc"]["method"] == "bootstrap"
    if task == 1:
        called = probabilities[:, 1] > 0.5
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(labels, called.astype(int), labels=[0, 1]).ravel())
        expected = {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
                    "npv": (tn, tn + fn), "accuracy": (tp + tn, len(labels))}  # fmt: skip
        for name, (successes, n) in expected.items():
            _check_proportion(metrics[name], successes, n, f"task 1 {name}")
        assert metrics["auc"]["value"] == pytest.approx(roc_auc_score(labels, probabilities[:, 1]), abs=1e-12)
        return report
    predicted = probabilities.argmax(axis=1)
    _check_proportion(metrics["accuracy"], int((predicted == labels).sum()), len(labels), "task 2 accuracy")
    matrix = confusion_matrix(labels, predicted, labels=range(5))
    for index, name in enumerate(RISK_GROUPS):
        tp = int(matrix[index, index])
        fn, fp = int(matrix[index].sum()) - tp, int(matrix[:, index].sum()) - tp
        tn = len(labels) - tp - fn - fp
        per_class = report["per_class"][name]
        _check_proportion(per_class["sensitivity"], tp, tp + fn, f"task 2 {name} sensitivity")
        _check_proportion(per_class["specificity"], tn, tn + fp, f"task 2 {name} specificity")
        _check_proportion(per_class["ppv"], tp, tp + fp, f"task 2 {name} ppv")
        _check_proportion(per_class["npv"], tn, tn + fn, f"task 2 {name} npv")
    return report


def test_reports_match_the_challenge_table_and_independent_counts(tmp_path: Path) -> None:
    made = _hand_made_files(tmp_path / "in")
    files = made["files"]
    table = _example("eval")["score"](
        files["targets"], files[1], files[2], tmp_path / "out", bootstraps=300, seed=7, plots=False
    ).set_index("score")
    can_at = np.column_stack([1 - made["can_at"], made["can_at"]])
    task1 = _check_report(tmp_path / "out" / "report" / "task1", 1, made["task_1"], can_at)
    task2 = _check_report(tmp_path / "out" / "report" / "task2", 2, made["task_2"], made["groups"])
    # the reports' AUCs are the challenge's, with the same bootstrap intervals (same resamplings, same seed)
    for auc, score in [(task1["metrics"]["auc"], "Task1-AUC"), (task2["metrics"]["auc"], "Task2-AUC")] + [
        (task2["per_class"][name]["auc"], f"Task2-AUC-{name}VsRest") for name in RISK_GROUPS
    ]:
        expected = table.loc[score, ["value", "ci_lower", "ci_upper"]].to_numpy(dtype=float)
        np.testing.assert_allclose([auc["value"], auc["low"], auc["high"]], expected, atol=1e-12, err_msg=score)
    assert task1["setup"]["threshold"] == 0.5
    assert "figures: not drawn" in " ".join(task1["notes"])


def test_reports_of_a_perfect_submission_have_wilson_intervals_below_one(tmp_path: Path) -> None:
    """Every case right: a bootstrap would give sensitivity 1.000 [1.000, 1.000]; the report gives 1 with a lower
    bound below 1 (statsmodels' Wilson bound on the counts)."""
    made = _hand_made_files(tmp_path / "in", n=42)
    files = made["files"]
    perfect = np.where(made["task_1"] == 1, 0.9, 0.1)
    pd.DataFrame({"case_id": [f"case_{i:05d}" for i in range(42)], "NoAT-score": 1 - perfect,
                  "CanAT-score": perfect}).to_csv(files[1], index=False)  # fmt: skip
    groups = np.full((42, 5), 0.05)
    groups[np.arange(42), made["task_2"]] = 0.8
    pd.DataFrame(groups, columns=SCORE_COLUMNS[2]).assign(case_id=[f"case_{i:05d}" for i in range(42)]).to_csv(
        files[2], index=False
    )
    _example("eval")["score"](files["targets"], files[1], files[2], tmp_path / "out", bootstraps=100, plots=False)
    task1 = _check_report(
        tmp_path / "out" / "report" / "task1", 1, made["task_1"], np.column_stack([1 - perfect, perfect])
    )
    task2 = _check_report(tmp_path / "out" / "report" / "task2", 2, made["task_2"], groups)
    for stat in (task1["metrics"]["sensitivity"], task1["metrics"]["accuracy"], task2["metrics"]["accuracy"]):
        assert stat["value"] == 1.0
        assert stat["low"] < 1.0


def test_no_task2_report_without_every_risk_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _hand_made_files(tmp_path / "in")["files"]
    targets = pd.read_csv(files["targets"])
    targets.loc[targets["Task2-target"] == 0, "Task2-target"] = 1  # no benign case left
    targets.to_csv(files["targets"], index=False)
    _example("eval")["score"](files["targets"], files[1], files[2], tmp_path / "out", bootstraps=50, plots=False)
    assert "no task 2 report: the targets have no case of ['B']" in capsys.readouterr().err
    assert (tmp_path / "out" / "report" / "task1" / "report.html").is_file()
    assert not (tmp_path / "out" / "report" / "task2").exists()
    assert (tmp_path / "out" / "results.csv").is_file()  # the challenge's scores are still written


def _set(row: int, column: str, value: Any) -> Any:
    """An edit of a table: one cell changed."""

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return edit


def _add_case(case_id: str) -> Any:
    """An edit of a table: a copy of its first row for another case."""
    return lambda frame: pd.concat([frame, frame.iloc[:1].assign(case_id=case_id)])


@pytest.mark.parametrize(
    ("which", "edit", "message"),
    [
        (1, lambda f: f.drop(index=3), r"task1\.csv.*no prediction for case\(s\) case_00036"),
        (2, _set(5, "case_id", "case_00004"), r"task2\.csv.*more than once: case_00004"),
        (1, _set(0, "CanAT-score", 1.5), r"task1\.csv.*\[0, 1\].*case_00039"),
        (2, _set(2, "B-score", 0.9), r"task2\.csv.*sum to 1.*case_00002"),
        (2, lambda f: f.drop(columns="HR-score"), r"task2\.csv.*lacks column\(s\) \['HR-score'\]"),
        (1, _add_case("case_99999"), r"task1\.csv.*not in the targets: case_99999"),
        ("targets", _set(3, "Task1-target", 0), r"targets\.csv.*case_00003 disagree"),
    ],
)
def test_scorer_rejects_malformed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: Any, edit: Any, message: str
) -> None:
    files = _hand_made_files(tmp_path)["files"]
    edit(pd.read_csv(files[which])).to_csv(files[which], index=False)
    scorer = _example("eval")
    with pytest.raises(scorer["SubmissionError"], match=message):
        scorer["score"](files["targets"], files[1], files[2], tmp_path / "out", bootstraps=10, plots=False)
    argv = ["--targets", str(files["targets"]), "--task1", str(files[1]), "--task2", str(files[2])]
    assert scorer["main"]([*argv, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
