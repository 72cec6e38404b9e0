"""examples/knight: the synthetic KNIGHT data, the baseline (train, predict, challenge files) and the challenge
scorer, run for real with tiny settings; the scorer is also checked against scikit-learn on hand-made files and on
malformed files."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fuse.data import DatasetDefault
from fuse.eval import auc_roc
from fuse.imaging.datasets import KNIGHT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "knight"
SCORE_COLUMNS = {1: ["NoAT-score", "CanAT-score"], 2: ["B-score", "LR-score", "IR-score", "HR-score", "VHR-score"]}


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
    assert (scores / "task1_roc.png").is_file()
    assert (scores / "task2_roc.png").is_file()


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
