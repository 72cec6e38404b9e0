"""examples/bright: the synthetic BRIGHT files and the challenge scorer; its scores are checked against
scikit-learn's F1 and a Brier skill score computed here from the files, and malformed submissions against their
error messages."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bright"
CLASSES = {1: ("Noncancerous", "Precancerous", "Cancerous"), 2: ("PB", "UDH", "FEA", "ADH", "DCIS", "IC")}
BOOTSTRAPS = 200


def _example(name: str) -> dict[str, Any]:
    """The example script's namespace (its `main` and helpers), without running its `__main__` block."""
    return runpy.run_path(str(EXAMPLE / f"{name}.py"))


@pytest.fixture(scope="module")
def scorer() -> dict[str, Any]:
    return _example("eval")


@pytest.fixture
def files(tmp_path: Path) -> dict[Any, Path]:
    argv = ["--out", str(tmp_path / "in"), "--n", "48", "--label-flips", "0.2", "--seed", "3"]
    assert _example("make_synthetic_bright")["main"](argv) == 0
    return {"targets": tmp_path / "in" / "targets.csv", 1: tmp_path / "in" / "task1_predictions.csv",
            2: tmp_path / "in" / "task2_predictions.csv"}  # fmt: skip


def _brier_skill_score(probabilities: np.ndarray, target: np.ndarray) -> float:
    """1 - BS / BS_ref, the reference predicting each class's prevalence; written out here, independently."""
    one_hot = np.eye(probabilities.shape[1])[target]
    brier = np.mean(np.sum((probabilities - one_hot) ** 2, axis=1))
    reference = np.mean(np.sum((one_hot.mean(axis=0)[None, :] - one_hot) ** 2, axis=1))
    return float(1 - brier / reference)


def test_scores_match_scikit_learn_on_the_files(
    scorer: dict[str, Any], files: dict[Any, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--targets", str(files["targets"]), "--task1", str(files[1]), "--task2", str(files[2])]
    assert scorer["main"]([*argv, "--out", str(out), "--bootstraps", str(BOOTSTRAPS), "--no-plots"]) == 0
    assert "Task2-BSS" in capsys.readouterr().out
    table = pd.read_csv(out / "results.csv").set_index("score")
    targets = pd.read_csv(files["targets"]).set_index("image_name")
    # task 1 is the group of task 2's subtype
    assert (targets["Task1-target"] == targets["Task2-target"] // 2).all()
    for task, names in CLASSES.items():
        predictions = pd.read_csv(files[task]).set_index("image_name").loc[targets.index]
        labels, truth = predictions["predicted_label"].to_numpy(), targets[f"Task{task}-target"].to_numpy()
        probabilities = predictions[[f"{name}-score" for name in names]].to_numpy()
        # the synthetic participant's labels are not always its argmax: F1 must come from the labels
        assert (labels != probabilities.argmax(axis=1)).any()
        per_class = f1_score(truth, labels, labels=range(len(names)), average=None)
        assert table.loc[f"Task{task}-F1", "value"] == pytest.approx(per_class.mean(), abs=1e-12)
        assert table.loc[f"Task{task}-F1", "value"] == pytest.approx(f1_score(truth, labels, average="macro"))
        for index, name in enumerate(names):
            assert table.loc[f"Task{task}-F1-{name}VsRest", "value"] == pytest.approx(per_class[index], abs=1e-12)
        normalised = probabilities / probabilities.sum(axis=1, keepdims=True)  # the CSV's 6 decimals
        expected_bss = _brier_skill_score(normalised, truth)
        assert table.loc[f"Task{task}-BSS", "value"] == pytest.approx(expected_bss, abs=1e-12)
        assert abs(_brier_skill_score(probabilities, truth) - expected_bss) < 1e-4  # rounding only
        # the report: the most probable class's accuracy, counted here; it notes the labels that differ
        report = json.loads((out / "report" / f"task{task}" / "results.json").read_text())
        correct = int((normalised.argmax(axis=1) == truth).sum())
        assert (report["metrics"]["accuracy"]["successes"], report["metrics"]["accuracy"]["n"]) == (correct, 48)
        disagree = int((labels != probabilities.argmax(axis=1)).sum())
        assert any(f"{disagree} of 48 images have a predicted_label" in note for note in report["notes"])
    assert (table["ci_lower"] <= table["value"]).all()
    assert (table["value"] <= table["ci_upper"]).all()
    assert (table["ci_lower"] < table["ci_upper"]).all()
    markdown = (out / "results.md").read_text()
    assert "# Task 1 - 3-class" in markdown
    assert "# Task 2 - 6-class" in markdown
    assert (out / "fuse_eval" / "results.json").is_file()
    for task in (1, 2):
        for name in ("report.html", "results.md", "results.json"):
            assert (out / "report" / f"task{task}" / name).is_file()


def test_seeded_intervals_repeat_and_one_task_alone(
    scorer: dict[str, Any], files: dict[Any, Path], tmp_path: Path
) -> None:
    score = scorer["score"]
    first = score(files["targets"], files[1], None, tmp_path / "a", bootstraps=BOOTSTRAPS, seed=5, plots=False)
    again = score(files["targets"], files[1], None, tmp_path / "b", bootstraps=BOOTSTRAPS, seed=5, plots=False)
    pd.testing.assert_frame_equal(first, again)
    assert first["score"].tolist() == ["Task1-F1", *(f"Task1-F1-{n}VsRest" for n in CLASSES[1]), "Task1-BSS"]
    assert "Task 2" not in (tmp_path / "a" / "results.md").read_text()


def _broken(files: dict[Any, Path], tmp_path: Path, task: int, edit: Any) -> Path:
    table = pd.read_csv(files[task], dtype={"image_name": str})
    edited = edit(table)
    path = tmp_path / f"broken_task{task}.csv"
    edited.to_csv(path, index=False)
    return path


def _set(row: int, column: str, value: Any) -> Any:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
        return table

    return edit


@pytest.mark.parametrize(
    ("task", "edit", "expected"),
    [
        (1, lambda t: t.drop(index=4), ["has no prediction for image(s) BRACS_"]),
        (2, lambda t: pd.concat([t, t.iloc[[0]]]), ["more than once"]),
        (2, lambda t: t.drop(columns=["IC-score"]), ["lacks column(s) ['IC-score']"]),
        (1, _set(3, "predicted_label", 7), ["predicted_label must be an integer in 0..2", "(line 5)", "hold 7"]),
        (2, _set(0, "predicted_label", "DCIS"), ["predicted_label must be an integer in 0..5", "(line 2)"]),
        (2, _set(6, "FEA-score", np.nan), ["probabilities in [0, 1]", "(line 8)", "['FEA-score']"]),
        (1, _set(2, "Cancerous-score", 0.5), ["must sum to 1 (within 0.05)"]),
        (1, _set(1, "image_name", np.nan), ["rows without an image_name (lines 3)"]),
    ],
)
def test_malformed_submissions_name_the_file_the_image_and_the_column(
    scorer: dict[str, Any],
    files: dict[Any, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    task: int,
    edit: Any,
    expected: list[str],
) -> None:
    broken = _broken(files, tmp_path, task, edit)
    given = {1: files[1], 2: files[2], task: broken}
    argv = ["--targets", str(files["targets"]), "--task1", str(given[1]), "--task2", str(given[2])]
    assert scorer["main"]([*argv, "--out", str(tmp_path / "out"), "--bootstraps", "10"]) == 2
    error = capsys.readouterr().err
    assert f"task {task} predictions file {str(broken)!r}" in error
    for part in expected:
        assert part in error
    if "line" in " ".join(expected):  # the image named is the one on that line
        line = int(next(p for p in expected if "line" in p).split("line")[1].strip(" s)"))
        image = pd.read_csv(broken, dtype={"image_name": str})["image_name"].iloc[line - 2]
        assert pd.isna(image) or f"{image!s} (line {line})" in error
    assert not (tmp_path / "out" / "results.csv").exists()


def test_inconsistent_or_bad_targets_are_refused(
    scorer: dict[str, Any], files: dict[Any, Path], tmp_path: Path
) -> None:
    targets = pd.read_csv(files["targets"], dtype={"image_name": str})
    error_type = scorer["SubmissionError"]
    wrong_group = targets.copy()
    wrong_group.loc[0, "Task1-target"] = (wrong_group.loc[0, "Task1-target"] + 1) % 3
    wrong_group.to_csv(tmp_path / "t1.csv", index=False)
    first = str(targets["image_name"].iloc[0])
    with pytest.raises(error_type, match=rf"Task1-target must be the group of Task2-target.*{first} \(line 2\)"):
        scorer["read_targets"](tmp_path / "t1.csv")
    missing = targets.astype({"Task2-target": float})
    missing.loc[2, "Task2-target"] = np.nan
    missing.to_csv(tmp_path / "t2.csv", index=False)
    with pytest.raises(error_type, match=r"Task2-target must be an integer in 0\.\.5.*\(line 4\)"):
        scorer["read_targets"](tmp_path / "t2.csv")
    targets.iloc[:0].to_csv(tmp_path / "t3.csv", index=False)
    with pytest.raises(error_type, match="has no images"):
        scorer["read_targets"](tmp_path / "t3.csv")
    with pytest.raises(error_type, match="not found"):
        scorer["read_targets"](tmp_path / "absent.csv")
