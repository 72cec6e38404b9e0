"""The ``fuse-eval`` command line: end to end against sklearn, FuseMedML's example numbers, and input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from statsmodels.stats.proportion import proportion_confint

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricAUCROC,
)
from fuse.eval.cli._inputs import _class_names
from fuse.eval.cli._main import build_parser, main

BOOTSTRAPS = "200"


def _sk_auc_pr(positive: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = sk.precision_recall_curve(positive, scores)
    return float(sk.auc(recall, precision))


def _standard_ece(probabilities: np.ndarray, target: np.ndarray, bins: int = 10) -> tuple[float, float]:
    """ECE / MCE with 10 equal-width bins, [lo, hi) and the last closed, each bin against its mean confidence."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == target
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap = abs(correct[members].mean() - confidence[members].mean())
            ece += members.sum() * gap / len(target)
            mce = max(mce, gap)
    return ece, mce


def _binary_files(folder: Path, n: int = 90, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    prob = np.clip(rng.normal(0.35 + 0.3 * target, 0.2), 0.001, 0.999)
    ids = [f"case_{i:03d}" for i in range(n)]
    pred = pd.DataFrame({"id": ids, "prob": prob})
    targets = pd.DataFrame({"id": ids, "target": target, "site": rng.choice(["north", "south", "east"], n)})
    pred.to_csv(folder / "pred.csv", index=False)
    targets.sample(frac=1.0, random_state=1).to_csv(folder / "target.csv", index=False)  # another row order
    return pred, targets


def _run(*argv: str) -> int:
    return main([*argv, "--bootstraps", BOOTSTRAPS]) if "--bootstraps" not in argv else main(list(argv))


def _results(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "results.json").read_text())
    return loaded


def _assert_ci(stats: dict[str, Any], expected: float) -> None:
    """A bootstrap interval around the expected value."""
    assert stats["value"] == pytest.approx(expected, abs=1e-12)
    assert stats["low"] < stats["value"] < stats["high"]
    assert stats["method"] == "bootstrap"


def _assert_wilson(stats: dict[str, Any], successes: int, n: int) -> None:
    """A proportion with its counts and statsmodels' Wilson interval."""
    assert (stats["successes"], stats["n"]) == (successes, n)
    assert stats["value"] == pytest.approx(successes / n, abs=1e-12)
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert (stats["low"], stats["high"]) == pytest.approx((low, high), abs=1e-12)
    assert stats["method"] == "wilson"


def _row(subsets: dict[str, Any], value: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [row for row in subsets["rows"] if row["value"] == value]
    assert len(rows) == 1, value
    return rows[0]


# --- end to end -------------------------------------------------------------------------------------------------------


def test_binary_end_to_end_with_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, targets = _binary_files(tmp_path)
    out = tmp_path / "report"
    code = _run("--pred", str(tmp_path / "pred.csv"), "--target", str(tmp_path / "target.csv"), "--group", "site",
                "--out", str(out))  # fmt: skip
    assert code == 0
    merged = pred.merge(targets, on="id")
    y, p = merged["target"].to_numpy(), merged["prob"].to_numpy()
    predicted = (p > 0.5).astype(int)
    tn, fp, fn, tp = (int(v) for v in sk.confusion_matrix(y, predicted).ravel())
    report = _results(out)
    results = report["metrics"]
    _assert_ci(results["auc"], sk.roc_auc_score(y, p))
    _assert_ci(results["auc_pr"], _sk_auc_pr(y == 1, p))
    _assert_ci(results["balanced_accuracy"], sk.balanced_accuracy_score(y, predicted))
    _assert_wilson(results["accuracy"], tp + tn, len(y))
    _assert_wilson(results["sensitivity"], tp, tp + fn)
    _assert_wilson(results["specificity"], tn, tn + fp)
    _assert_wilson(results["ppv"], tp, tp + fp)
    _assert_wilson(results["npv"], tn, tn + fn)
    assert report["confusion_matrix"] == {"classes": ["0", "1"], "counts": [[tn, fp], [fn, tp]]}
    setup = report["setup"]
    assert (setup["cases"], setup["positives"], setup["negatives"]) == (90, int(y.sum()), int((y == 0).sum()))
    assert setup["prevalence"] == pytest.approx(y.mean())
    assert (setup["threshold"], setup["threshold_rule"]) == (0.5, "the default, fixed in advance")
    assert (setup["proportion_ci"], setup["bootstraps"], setup["seed"]) == ("wilson", int(BOOTSTRAPS), 1234)
    ece, mce = _standard_ece(np.column_stack((1 - p, p)), y)
    assert report["calibration"]["ece"] == pytest.approx(ece, abs=1e-12)
    assert report["calibration"]["mce"] == pytest.approx(mce, abs=1e-12)
    per_site = {site: sk.roc_auc_score(g["target"], g["prob"]) for site, g in merged.groupby("site")}
    for site, value in per_site.items():
        assert _row(report["groups"], site)["metrics"]["auc"]["value"] == pytest.approx(value, abs=1e-12)
    assert report["groups"]["spread"]["auc_mean"] == pytest.approx(np.mean(list(per_site.values())), abs=1e-12)
    north = (merged.site == "north").to_numpy()
    _, _, north_fn, north_tp = sk.confusion_matrix(y[north], predicted[north]).ravel()
    _assert_wilson(_row(report["groups"], "north")["metrics"]["sensitivity"], int(north_tp), int(north_tp + north_fn))

    printed = capsys.readouterr()
    assert "90 samples, 2 classes (1 iff p > 0.5)" in printed.out
    assert f"ROC AUC                     {sk.roc_auc_score(y, p):.4f}   [" in printed.out
    assert f"Sensitivity (recall)        {tp / (tp + fn):.4f}   [" in printed.out
    assert f"{tp}/{tp + fn}" in printed.out
    assert "ROC AUC per --group site: " in printed.out
    assert f"report: {out / 'report.html'}" in printed.out
    assert "bootstrap" in printed.err  # progress of the bootstraps
    markdown = (out / "results.md").read_text()
    assert f"| Sensitivity (recall) | {tp / (tp + fn):.3f} |" in markdown
    assert "metrics.auc" not in markdown  # no raw keys
    if _has_matplotlib():
        for name in ("roc.png", "precision_recall.png", "calibration.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({name})" in markdown
    else:
        assert "pip install 'fuse-eval[plot]'" in printed.err


def test_threshold_quiet_and_no_bootstraps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, targets = _binary_files(tmp_path, seed=3)
    out = tmp_path / "report"
    code = main(["--pred", str(tmp_path / "pred.csv"), "--target", str(tmp_path / "target.csv"), "--threshold", "0.3",
                 "--bootstraps", "0", "--no-plots", "--quiet", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert capsys.readouterr() == ("", "")
    merged = pred.merge(targets, on="id")
    predicted = (merged["prob"] > 0.3).astype(int)
    report = _results(out)
    results = report["metrics"]
    assert results["accuracy"]["value"] == pytest.approx(sk.accuracy_score(merged["target"], predicted), abs=1e-12)
    assert results["sensitivity"]["value"] == pytest.approx(sk.recall_score(merged["target"], predicted))
    assert results["auc"]["value"] == pytest.approx(sk.roc_auc_score(merged["target"], merged["prob"]), abs=1e-12)
    assert results["auc"]["low"] is None  # no bootstrap, no interval: null in the JSON, not NaN
    assert results["sensitivity"]["low"] is not None  # the Wilson interval needs no bootstrap
    assert report["setup"]["threshold"] == 0.3
    assert report["setup"]["threshold_rule"] == "given on the command line (--threshold)"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.json", "results.md"]


def test_multiclass_end_to_end_names_and_folds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    n, names = 120, ["cat", "dog", "bird"]
    target = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.2 * np.eye(3)[target]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ids = np.arange(1000, 1000 + n)
    pred = pd.DataFrame({"id": ids, **{name: prob[:, c] for c, name in enumerate(names)}, "fold": ids % 3})
    pred.to_csv(tmp_path / "pred.csv", index=False)
    pd.DataFrame({"id": ids, "label": [names[t] for t in target]}).to_csv(
        tmp_path / "target.tsv", sep="\t", index=False
    )
    out = tmp_path / "report"
    code = _run("--pred", str(tmp_path / "pred.csv"), "--target", str(tmp_path / "target.tsv"), "--target-col", "label",
                "--fold", "fold", "--no-plots", "--out", str(out))  # fmt: skip
    assert code == 0
    report = _results(out)
    per_class = report["per_class"]
    for c, name in enumerate(names):
        _assert_ci(per_class[name]["auc"], sk.roc_auc_score(target == c, prob[:, c]))
        _assert_ci(per_class[name]["auc_pr"], _sk_auc_pr(target == c, prob[:, c]))
    aucs = [sk.roc_auc_score(target == c, prob[:, c]) for c in range(3)]
    _assert_ci(report["metrics"]["auc"], float(np.mean(aucs)))
    predicted = prob.argmax(axis=1)
    _assert_wilson(report["metrics"]["accuracy"], int((predicted == target).sum()), n)
    _assert_ci(report["metrics"]["balanced_accuracy"], sk.balanced_accuracy_score(target, predicted))
    for c, name in enumerate(names):
        _assert_wilson(
            per_class[name]["sensitivity"], int(((predicted == c) & (target == c)).sum()), int((target == c).sum())
        )
        _assert_wilson(
            per_class[name]["ppv"], int(((predicted == c) & (target == c)).sum()), int((predicted == c).sum())
        )
    ece, _ = _standard_ece(prob, target)
    assert report["calibration"]["ece"] == pytest.approx(ece, abs=1e-12)
    for fold in range(3):
        members = ids % 3 == fold
        row = _row(report["folds"], str(fold))
        assert row["metrics"]["accuracy"]["value"] == pytest.approx(
            sk.accuracy_score(target[members], predicted[members]), abs=1e-12
        )
        expected = np.mean([sk.roc_auc_score(target[members] == c, prob[members, c]) for c in range(3)])
        assert row["metrics"]["auc"]["value"] == pytest.approx(expected, abs=1e-12)
    assert report["confusion_matrix"]["counts"] == sk.confusion_matrix(target, predicted).tolist()
    printed = capsys.readouterr().out
    assert "120 samples, 3 classes (the highest score (argmax))" in printed
    assert "ROC AUC (macro average)" in printed
    assert "ROC AUC per --fold fold: 0=" in printed


def test_scores_that_are_not_probabilities_skip_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    target = np.tile([0, 1, 2], 10)
    logits = rng.normal(size=(30, 3)) + 2 * np.eye(3)[target]
    pd.DataFrame({"id": range(30), "a": logits[:, 0], "b": logits[:, 1], "c": logits[:, 2]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    pd.DataFrame({"id": range(30), "target": target}).to_csv(tmp_path / "t.csv", index=False)
    assert _run("--pred", str(tmp_path / "p.csv"), "--target", str(tmp_path / "t.csv"), "--bootstraps", "0",
                "--no-plots", "--out", str(tmp_path / "out")) == 0  # fmt: skip
    report = _results(tmp_path / "out")
    assert report["calibration"] is None
    assert report["per_class"]["b"]["auc"]["value"] == pytest.approx(
        sk.roc_auc_score(target == 1, logits[:, 1]), abs=1e-12
    )
    assert "calibration: not reported, the class scores are not probabilities" in capsys.readouterr().err


def test_fusemedml_example1_fixture(fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = _run("--pred", str(fixtures_dir / "example1_predictions.csv"), "--target",
                str(fixtures_dir / "example1_targets.csv"), "--pred-cols", "CanAT-score", "--target-col",
                "Task1-target", "--no-plots", "--quiet", "--out", str(out))  # fmt: skip
    assert code == 0
    auc = _results(out)["metrics"]["auc"]
    assert auc["value"] == 0.845  # FuseMedML example_1 / example_4, exactly
    # the interval is CI(MetricAUCROC) stratified by the target, as EvaluatorDefault computes it directly
    data = {
        "pred": str(fixtures_dir / "example1_predictions.csv"),
        "target": str(fixtures_dir / "example1_targets.csv"),
    }
    metric = MetricAUCROC(pred="pred.CanAT-score", target="target.Task1-target")
    direct = EvaluatorDefault().eval(
        ids=None, data=data, metrics={"auc": CI(metric, stratum="target.Task1-target", num_of_bootstraps=200)}
    )
    assert (auc["low"], auc["high"]) == pytest.approx(
        (direct["metrics.auc.conf_lower"], direct["metrics.auc.conf_upper"]), abs=1e-12
    )


def test_two_probability_columns_and_fold_files(fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    folds = [str(fixtures_dir / f"example2_predictions_fold{k}.csv") for k in (0, 1)]
    code = main(["--pred", *folds, "--target", str(fixtures_dir / "example2_targets.csv"), "--target-col",
                 "Task1-target", "--bootstraps", "0", "--no-plots", "--quiet", "--out", str(out)])  # fmt: skip
    assert code == 0
    report = _results(out)
    # two columns (NoAT-score, CanAT-score): binary, CanAT-score is p(class 1); FuseMedML example_2's numbers
    assert report["metrics"]["auc"]["value"] == pytest.approx(0.845, abs=1e-12)
    assert _row(report["folds"], "0")["metrics"]["auc"]["value"] == pytest.approx(0.8412698412698412, abs=1e-12)
    assert _row(report["folds"], "1")["metrics"]["auc"]["value"] == pytest.approx(0.8373205741626795, abs=1e-12)
    assert report["folds"]["spread"]["auc_std"] == pytest.approx(0.0019746335535808512, abs=1e-12)
    # class names without FuseMedML's "-score" suffix
    assert report["setup"]["class_names"] == ["NoAT", "CanAT"]
    assert report["setup"]["positive_class"] == "CanAT"


def test_one_file_as_predictions_and_targets(tmp_path: Path) -> None:
    pred, targets = _binary_files(tmp_path, n=50, seed=5)
    both = pred.merge(targets, on="id")
    both.to_csv(tmp_path / "both.csv", index=False)
    out = tmp_path / "out"
    code = main(["--pred", str(tmp_path / "both.csv"), "--target", str(tmp_path / "both.csv"), "--group", "site",
                 "--bootstraps", "0", "--no-plots", "--quiet", "--out", str(out)])  # fmt: skip
    assert code == 0  # the target and group columns are not taken as prediction columns
    auc = _results(out)["metrics"]["auc"]["value"]
    assert auc == pytest.approx(sk.roc_auc_score(both["target"], both["prob"]), abs=1e-12)


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    _binary_files(tmp_path, n=40)
    completed = subprocess.run(
        [sys.executable, "-m", "fuse.eval", "--pred", str(tmp_path / "pred.csv"), "--target",
         str(tmp_path / "target.csv"), "--bootstraps", "50", "--no-plots", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "40 samples, 2 classes" in completed.stdout
    assert (tmp_path / "out" / "results.json").is_file()


def test_missing_matplotlib_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _binary_files(tmp_path, n=30)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "out"
    assert main(["--pred", str(tmp_path / "pred.csv"), "--target", str(tmp_path / "target.csv"), "--bootstraps", "0",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "figures: not drawn, matplotlib is not installed (pip install 'fuse-eval[plot]')" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.json", "results.md"]
    assert "No figures in this report (not drawn, matplotlib is not installed" in (out / "report.html").read_text()


def test_class_names_drop_fusemedml_score_suffix() -> None:
    assert _class_names(["NoAT-score", "CanAT-score"]) == ["NoAT", "CanAT"]
    assert _class_names(["a_score", "b_score", "c_score"]) == ["a", "b", "c"]
    assert _class_names(["NoAT-score", "other"]) == ["NoAT-score", "other"]  # only when every column has it
    assert _class_names(["x-score", "x_score"]) == ["x-score", "x_score"]  # ... and the names stay distinct
    assert _class_names(["v1.0", "v2.0"]) == ["v1_0", "v2_0"]


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--pred-cols" in shown
    assert "only load pickle files you trust" in shown  # unpickling runs code: said where users see --pred
    assert main(["--pred", "p.csv"]) == 2  # --target is required
    assert "the following arguments are required: --target" in capsys.readouterr().err
    assert build_parser().parse_args(["--pred", "a.csv", "b.csv", "--target", "t.csv"]).pred == ["a.csv", "b.csv"]


# --- input errors -----------------------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    pd.DataFrame({"id": ["a", "b", "c", "d"], "prob": [0.1, 0.8, 0.3, 0.6], "site": list("xxyy")}).to_csv(
        tmp_path / "pred.csv", index=False
    )
    pd.DataFrame({"id": ["d", "c", "b", "a"], "target": [1, 0, 1, 0]}).to_csv(tmp_path / "target.csv", index=False)
    return tmp_path


def _error(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str, pred: Any = None, target: Any = None) -> str:
    if pred is not None:
        pred.to_csv(folder / "pred.csv", index=False)
    if target is not None:
        target.to_csv(folder / "target.csv", index=False)
    argv = ["--pred", str(folder / "pred.csv"), "--target", str(folder / "target.csv"), "--out", str(folder / "out")]
    code = main([*argv, "--bootstraps", "10", "--no-plots", *extra])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("fuse-eval: error: ")
    assert not (folder / "out").exists()
    return captured.err


def test_files_valid_fixture_runs(files: Path) -> None:
    args = ["--pred", str(files / "pred.csv"), "--target", str(files / "target.csv"), "--group", "site"]
    assert main([*args, "--bootstraps", "10", "--no-plots", "--quiet", "--out", str(files / "out")]) == 0


def test_error_missing_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "target.csv").unlink()
    assert f"targets file not found: {files / 'target.csv'}" in _error(files, capsys)
    (files / "target.txt").write_text("id,target\n")
    err = _error(files, capsys, "--target", str(files / "target.txt"))
    assert "cannot read targets file" in err
    assert "suffix must be one of" in err


def test_error_missing_columns(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(files, capsys, "--id", "case")
    assert "predictions file" in err
    assert "has no id column 'case' (--id); its columns: ['id', 'prob', 'site']" in err
    err = _error(files, capsys, "--pred-cols", "score")
    assert "pred columns ['score'] (--pred-cols) are not in" in err
    assert "its columns: ['id', 'prob', 'site']" in err
    err = _error(files, capsys, "--target-col", "label")
    assert "has no target column 'label' (--target-col); its columns: ['id', 'target']" in err
    err = _error(files, capsys, "--group", "sex")
    assert "column 'sex' (--group) is in neither file" in err
    assert "['id', 'target']" in err
    assert "['id', 'prob', 'site']" in err


def test_error_bad_predictions(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "prob": ["0.1", "high", "0.3", "0.6"]})
    err = _error(files, capsys, pred=frame)
    assert "pred column 'prob' of" in err
    assert "holds non-numeric values such as ['high'] (ids ['b']); predictions must be numbers\n" in err
    err = _error(files, capsys, pred=frame.assign(prob=[0.1, None, 0.3, 0.6]))
    assert "has 1 missing or infinite values, e.g. ids ['b']" in err
    err = _error(files, capsys, pred=frame.assign(prob=[0.1, 1.7, 0.3, 0.6]))
    assert "holds values outside [0, 1] such as [1.7]: one pred column is the probability of class 1" in err
    err = _error(files, capsys, pred=frame.assign(prob=[0.1, 0.7, 0.3, 0.6], other=[0.2, 0.2, 0.2, 0.2]))
    assert "two pred columns ['prob', 'other'] must be the probabilities of class 0 and class 1" in err


def test_error_bad_targets(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(files, capsys, target=pd.DataFrame({"id": ["a", "b", "c", "d"], "target": [0, 2, 1, 0]}))
    assert "pred column 'site' of" in err  # every column but the id is a pred column by default
    assert "choose with --pred-cols" in err
    err = _error(files, capsys, "--pred-cols", "prob")
    assert "target column 'target' holds values outside the 2 classes for 1 samples: [2] (e.g. ids ['b'])" in err
    assert "allowed: class indices 0..1" in err
    missing = pd.DataFrame({"id": ["a", "b", "c", "d"], "target": [0, None, 1, 0]})
    err = _error(files, capsys, "--pred-cols", "prob", target=missing)
    assert "target column 'target' has 1 missing values, e.g. ids ['b']" in err
    # multi-class: names must be pred columns
    three = pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [0.2] * 4, "y": [0.3] * 4, "z": [0.5] * 4})
    err = _error(files, capsys, pred=three, target=pd.DataFrame({"id": ["a", "b", "c", "d"], "target": list("xyzw")}))
    assert "values outside the 3 classes for 1 samples: ['w']" in err
    assert "allowed: class indices 0..2 or the class names ['x', 'y', 'z']" in err
    mixed = pd.DataFrame({"id": ["a", "b", "c", "d"], "target": ["x", "2", "7", "z"]})  # names and indices as text
    assert "values outside the 3 classes for 1 samples: ['7']" in _error(files, capsys, target=mixed)
    err = _error(files, capsys, "--threshold", "0.4")
    assert "--threshold 0.4 applies to binary predictions; the 3 class scores are classified by argmax" in err


def test_error_empty_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "empty.csv").write_text("")
    err = _error(files, capsys, "--target", str(files / "empty.csv"))
    assert f"targets file {files / 'empty.csv'} is empty (0 bytes): nothing to evaluate" in err
    (files / "header.csv").write_text("id,prob\n")
    err = _error(files, capsys, "--pred", str(files / "header.csv"))
    assert f"predictions file {files / 'header.csv'} has no rows (its columns: ['id', 'prob'])" in err
    (files / "header.csv").write_text("id,target\n")
    err = _error(files, capsys, "--target", str(files / "header.csv"))
    assert "targets file" in err
    assert "has no rows" in err


def test_error_more_score_columns_than_target_classes(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    five = pd.DataFrame({"id": ["a", "b", "c", "d"], **{f"c{k}": [0.2] * 4 for k in range(5)}})
    err = _error(files, capsys, pred=five)  # the targets are 0/1
    assert "target column 'target': the targets hold 2 classes ['c0', 'c1'] but there are 5 score columns" in err
    assert "no case of ['c2', 'c3', 'c4']" in err
    assert "give one pred column (the probability of class 1, --pred-cols)" in err


def test_error_ids_do_not_match(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = pd.DataFrame({"id": ["a", "b", "e", "f", "g"], "target": [0, 1, 0, 1, 1]})
    err = _error(files, capsys, target=target)
    assert "the ids of the two files do not match" in err
    assert "2 of 4 ids of" in err
    assert "are not in" in err
    assert "['c', 'd']" in err
    assert "3 of 5 ids of" in err
    assert "['e', 'f', 'g']" in err
    err = _error(files, capsys, target=pd.DataFrame({"id": ["a", "b", "c", "d", "a"], "target": [0, 1, 0, 1, 0]}))
    assert "has 1 ids appearing more than once, e.g. ['a']" in err


def test_error_settings(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--confidence is a percentage in (0, 100), got 100.0" in _error(files, capsys, "--confidence", "100")
    assert "--bootstraps must be >= 0" in _error(files, capsys, "--bootstraps", "-1")
    assert "--threshold must be in [0, 1] (a probability), got 1.5" in _error(files, capsys, "--threshold", "1.5")


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_the_console_script_and_python_m_run_this_main() -> None:
    tomllib = pytest.importorskip("tomllib")
    import importlib

    import fuse.eval.__main__ as python_m

    pyproject = Path(__file__).resolve().parents[3] / "packages" / "fuse-eval" / "pyproject.toml"
    target = tomllib.loads(pyproject.read_text())["project"]["scripts"]["fuse-eval"]
    module_name, function_name = target.split(":")
    assert getattr(importlib.import_module(module_name), function_name) is main
    assert python_m.main is main
