"""examples/evaluation: FuseMedML's 28 eval examples run end to end (through their ``main``) on FuseMedML's input files,
checked against numbers computed independently (scikit-learn, scipy, statsmodels, pycocotools, numpy) from the same
data, and against the numbers FuseMedML 0.4.1 published, read back from the reports the examples write.

The examples run once, at test size (all bootstraps, 2 of the 5 ensembled models, 1 of the 4 NIfTI cases).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, roc_auc_score

from fuse_test_support import REPO_ROOT, fusemedml_fixtures

FOLDER = REPO_ROOT / "examples" / "evaluation"
SCRIPT = FOLDER / "fusemedml_eval_examples.py"
FIXTURES_MISSING = "FuseMedML example inputs not found: set FUSE_COMPAT_FIXTURES or keep ../shared beside the repo"
# examples skipped (with a note) when their optional dependency is missing
NEEDS = {
    "example_seg_0": "nibabel",
    "example_seg_2": "nibabel",
    "example_seg_4": "pycocotools",
    "example_seq_gen_0": "torch",
    "example_seq_gen_1": "torch",
    "example_seq_gen_2": "torch",
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _load_script() -> ModuleType:
    if str(FOLDER) not in sys.path:
        sys.path.insert(0, str(FOLDER))  # as `python <script>` does: the script imports its sibling modules
    spec = importlib.util.spec_from_file_location("fusemedml_eval_examples", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixtures() -> Path:
    found = fusemedml_fixtures()
    if found is None:
        pytest.skip(FIXTURES_MISSING)
    return found


@pytest.fixture(scope="module")
def report(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every example once through ``main``; the report folder."""
    out = tmp_path_factory.mktemp("fusemedml-eval-examples")
    argv = ["--fixtures", str(fixtures), "--out", str(out), "--ensemble-models", "2", "--seg-cases", "1"]
    skipped = any(not _installed(module) for module in NEEDS.values())
    assert _load_script().main(argv) == (1 if skipped else 0)
    return out


def _results(report: Path, example: str) -> dict[str, Any]:
    if example in NEEDS:
        pytest.importorskip(NEEDS[example])
    metrics: dict[str, Any] = json.loads((report / example / "results.json").read_text())["metrics"]
    return metrics


def test_every_example_writes_its_report(report: Path) -> None:
    names = _load_script().EXAMPLE_NAMES
    assert len(names) == 28
    ran = [name for name in names if name not in NEEDS or _installed(NEEDS[name])]
    assert sorted(p.name for p in report.iterdir()) == sorted(ran)
    for name in ran:
        for file in ("results.txt", "results.json", "results.md"):
            assert (report / name / file).stat().st_size > 0, (name, file)


def test_every_example_runs_with_fusemedmls_call(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FuseMedML calls ``example_k()`` (``example_seq_gen_k(seed=1234)``): no example needs an argument."""
    module = _load_script()
    for name in module.EXAMPLE_NAMES:
        parameters = inspect.signature(getattr(module, name)).parameters.values()
        assert [p.name for p in parameters if p.default is p.empty] == [], name
    assert inspect.signature(module.example_seq_gen_0).parameters["seed"].default == 1234
    monkeypatch.setenv("FUSE_COMPAT_FIXTURES", str(fixtures))
    assert module.example_0()["metrics.auc"] == 0.845  # its input file is made in a temporary folder
    assert module.example_1()["metrics.auc"] == 0.845
    assert module.example_12()["metrics.acc"] == pytest.approx(8 / 13, abs=1e-15)


def test_example_0_pickled_dataframe(report: Path) -> None:
    frame = pd.read_pickle(report / "example_0" / "example0.pickle")  # the equivalent of FuseMedML's example0.pickle
    assert len(frame) == 60
    assert frame["target"].value_counts().to_dict() == {0: 40, 1: 20}
    expected = roc_auc_score(frame["target"], np.stack(frame["pred"].to_list())[:, 1])
    assert _results(report, "example_0")["auc"] == pytest.approx(expected, abs=1e-15)
    assert _results(report, "example_0")["auc"] == 0.845  # FuseMedML's test


def test_example_1_auc_from_two_csv_files(report: Path) -> None:
    assert _results(report, "example_1")["auc"] == 0.845


def test_example_2_auc_per_fold(report: Path) -> None:
    results = _results(report, "example_2")
    assert results["auc"] == 0.845
    per_fold = results["auc_per_fold"]
    assert per_fold["0"] == pytest.approx(0.8412698412698412, abs=1e-12)
    assert per_fold["1"] == pytest.approx(0.8373205741626795, abs=1e-12)
    assert per_fold["mean"] == pytest.approx(0.8392952077162603, abs=1e-12)
    assert per_fold["std"] == pytest.approx(0.0019746335535808512, abs=1e-12)


def test_example_3_auc_per_gender(report: Path) -> None:
    per_group = _results(report, "example_3")["auc_per_group"]
    assert per_group["male"] == pytest.approx(0.6666666666666666, abs=1e-12)
    assert per_group["female"] == 1.0


def test_example_4_confidence_interval(report: Path) -> None:
    auc = _results(report, "example_4")["auc"]
    assert auc["org"] == 0.845
    assert auc["conf_interval"] == 95
    assert auc["conf_lower"] == pytest.approx(0.7125, abs=1e-12)
    assert auc["conf_upper"] == pytest.approx(0.95375, abs=1e-12)
    assert auc["mean"] == pytest.approx(0.8456068750000001, abs=1e-12)
    assert auc["std"] == pytest.approx(0.06216615072919004, abs=1e-12)


def test_example_5_paired_bootstrap(report: Path) -> None:
    # model a finds 2 of the 3 positives, model b 1 of 3: a's sensitivity is higher in most resamplings
    comparison = _results(report, "example_5")["compare_a_to_b"]["sensitivity"]
    assert comparison["count"] == 10_000
    assert 0.5 * comparison["count"] < comparison["count_superior"] < comparison["count"]
    assert comparison["p_value"] == pytest.approx(1 - comparison["count_superior"] / comparison["count"])
    assert 0.0 < comparison["diff"] < 1.0


def test_examples_6_and_7_delong(report: Path) -> None:
    delong_6 = _results(report, "example_6")["delongs_test"]
    for cls in ("negative", "positive", "macro_avg"):
        assert delong_6["p_value"][cls] == pytest.approx(0.31731050786291437, abs=1e-9)
        assert delong_6["z"][cls] == pytest.approx(1.0, abs=1e-9)
        assert delong_6["auc1"][cls] == 1.0
        assert delong_6["auc2"][cls] == pytest.approx(2 / 3, abs=1e-12)
    delong_7 = _results(report, "example_7")["delongs_test"]
    assert delong_7["p_value"] == pytest.approx(0.09453, abs=5e-6)  # FuseMedML's test: 5 places
    assert delong_7["z"] == pytest.approx(1.672, abs=5e-4)


def test_example_8_five_classes(report: Path, fixtures: Path) -> None:
    results = _results(report, "example_8")
    frame = pd.read_csv(fixtures / "example1_targets.csv").merge(pd.read_csv(fixtures / "example7_predictions.csv"))
    scores = frame[[f"{name}-score" for name in ("B", "LR", "IR", "HR", "VHR")]].to_numpy()
    target = frame["Task2-target"].to_numpy()
    assert results["accuracy"] == pytest.approx(np.mean(scores.argmax(axis=1) == target), abs=1e-12)
    assert results["confusion_matrix"]["count"]["total"] == {"B": 3, "LR": 33, "IR": 4, "HR": 7, "VHR": 13}
    assert 0.5 < results["auc"]["macro_avg"] < 1.0
    if importlib.util.find_spec("matplotlib") is not None:
        assert (report / "example_8" / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_example_13_calibration(report: Path) -> None:
    results = _results(report, "example_13")
    assert results["reliability"]["num_samples_per_bin"] == [0, 0, 2, 16, 26, 13, 2, 1, 0, 0]  # FuseMedML's bins
    assert results["ece"]["ece"] == pytest.approx(0.12666666666666665, abs=1e-12)  # FuseMedML's upper-edge ECE
    assert results["find_temperature"] == pytest.approx(0.894781876, rel=1e-6)  # the cross-entropy minimum
    assert sum(results["reliability_calibrated"]["num_samples_per_bin"]) == 60
    assert results["ece_standard_calibrated"]["ece"] < results["ece_standard"]["ece"]  # scaling improves calibration
    if importlib.util.find_spec("matplotlib") is not None:
        for image in ("reliability.png", "reliability_calibrated.png"):
            assert (report / "example_13" / image).read_bytes()[:4] == b"\x89PNG"


def test_example_14_ensemble(report: Path) -> None:
    results = _results(report, "example_14")
    written = pd.read_pickle(report / "example_14" / "ensemble.gz", compression="gzip")
    assert len(written) == 10_000
    ensemble_accuracy = np.mean(np.stack(written["preds"].to_list()).argmax(axis=1) == written["target"].to_numpy())
    assert results["accuracy"] == pytest.approx(ensemble_accuracy, abs=1e-12)
    assert results["accuracy"] > 0.98
    assert results["accuracy"] >= min(results["accuracy_model_0"], results["accuracy_model_1"])


def test_segmentation_examples_match_numpy(report: Path, fixtures: Path) -> None:
    nib = pytest.importorskip("nibabel")
    folder = fixtures / "semantic_segmentation"
    pred = np.asarray(nib.load(folder / "predicted" / "id_0.nii.gz").dataobj)
    label = np.asarray(nib.load(folder / "labeled" / "id_0" / "seg.nii.gz").dataobj)

    def dice(x: np.ndarray, y: np.ndarray) -> float:
        return float(2 * np.count_nonzero(x & y) / (np.count_nonzero(x) + np.count_nonzero(y)))

    def in_labels(label_map: np.ndarray, labels: list[int]) -> np.ndarray:
        return functools.reduce(np.logical_or, [label_map == value for value in labels])

    seg_0 = _results(report, "example_seg_0")
    for group, labels in {"label_1": [1, 2, 3], "label_2": [2, 3], "label_3": [2]}.items():
        expected = dice(in_labels(pred, labels), in_labels(label, labels))
        assert seg_0[f"dice_{group}"]["1"] == pytest.approx(expected, rel=1e-12), group
    dice_2 = _results(report, "example_seg_2")["dice"]
    assert set(dice_2) == {"1", "2", "average"}  # the non-zero labels of this target
    for value in (1, 2):
        assert dice_2[str(value)] == pytest.approx(dice(pred == value, label == value), rel=1e-12)
        assert 0.5 < dice_2[str(value)] <= 1.0


def test_example_9_random_guesses_over_the_mnist_labels(report: Path, fixtures: Path) -> None:
    labels = pd.read_pickle(fixtures / "ensemble_mnist" / "model_0.test_set_infer.gz").sort_values("id")["data.label"]
    rng = np.random.RandomState(1234)  # FuseMedML's set_seed(1234), then one randint per sample
    guesses = [rng.randint(0, 10) for _ in range(len(labels))]
    accuracy = _results(report, "example_9")["accuracy"]
    assert accuracy == pytest.approx(accuracy_score(labels, guesses), abs=1e-15)
    assert accuracy == pytest.approx(0.1, abs=0.005)  # FuseMedML's test: 0.1 to 2 places


def test_example_10_mcnemar(report: Path) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    truth = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    right1 = np.array([0, 1, 1, 1, 0, 1, 1, 0, 1, 1]) == truth
    right2 = np.array([1, 1, 0, 1, 0, 1, 1, 0, 0, 1]) == truth
    table = [[np.sum(right1 & right2), np.sum(right1 & ~right2)], [np.sum(~right1 & right2), np.sum(~right1 & ~right2)]]
    expected = mcnemar(table, exact=True)
    test = _results(report, "example_10")["mcnemars_test"]
    assert test["p_value"] == pytest.approx(expected.pvalue, abs=1e-15)
    assert test["statistic"] == pytest.approx(expected.statistic, abs=1e-15)
    assert (test["n1"], test["n2"]) == (2, 1)  # FuseMedML's numbers: p 1.0, statistic 1.0


def test_examples_11_and_12_filter_and_thresholds(report: Path) -> None:
    # example_11 evaluates the male samples only (ids 0 and 3)
    assert _results(report, "example_11")["accuracy"] == accuracy_score([0, 1], [0, 0]) == 0.5
    target = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    pred = np.array([0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89])
    assert _results(report, "example_12")["acc"] == pytest.approx(accuracy_score(target, pred > 0.5), abs=1e-15)


def _harrell_c_index(risk: Sequence[float], times: Sequence[float], observed: Sequence[int]) -> float:
    """Brute force: a pair is comparable when the earlier time is an event (or the times tie, an event against a
    censored sample); concordant when the earlier one has the higher risk; tied risks count one half."""
    concordant = comparable = 0.0
    for i in range(len(risk)):
        for j in range(len(risk)):
            if observed[i] and (times[i] < times[j] or (times[i] == times[j] and not observed[j])):
                comparable += 1
                concordant += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return concordant / comparable


def test_examples_15_to_17_c_index(report: Path) -> None:
    pred = [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9]
    times = [0, 0, 1, 1, 1, 0, 0, 1, 1, 1]
    for example, observed in (("example_15", [1] * 10), ("example_16", [1 - t for t in times])):
        per_group = _results(report, example)["cindex_per_group"]
        event_times = times if example == "example_15" else [1] * 10
        for group, rows in (("female", slice(0, 5)), ("male", slice(5, 10))):
            expected = _harrell_c_index(pred[rows], event_times[rows], observed[rows])
            assert per_group[group] == pytest.approx(expected, abs=1e-15), (example, group)
        assert (per_group["female"], per_group["male"]) == pytest.approx((0.0, 1 / 3), abs=1e-15)  # FuseMedML's
    risk = [0.1, 0.2, 0.3, 0.4, 0.5, 0.2, 0.1, 0.4, 0.3, 0.7]
    expected = _harrell_c_index(risk, [1, 2, 3, 4, 5] * 2, [0] * 5 + [1] * 5)
    assert _results(report, "example_17")["c_index_test"] == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.24, abs=1e-15)  # FuseMedML's number


def test_example_18_multi_label_auc(report: Path) -> None:
    rng = np.random.RandomState(42)
    targets, preds = rng.randint(0, 2, size=(100, 4)), rng.rand(100, 4)
    results = _results(report, "example_18")
    for average in ("micro", "macro"):
        expected = roc_auc_score(targets, preds, average=average)
        assert results[f"multi_label_auc_{average}"] == pytest.approx(expected, abs=1e-15)


def _overlap_counts(pred: np.ndarray, target: np.ndarray) -> tuple[int, int, int]:
    return int(np.count_nonzero(pred & target)), int(np.count_nonzero(pred)), int(np.count_nonzero(target))


def test_example_seg_1_binary_overlap_metrics(report: Path) -> None:
    rng = np.random.RandomState(0)
    both, pred, target = _overlap_counts(rng.rand(10, 5, 5, 4) > 0.5, rng.rand(10, 5, 5, 4) > 0.5)
    expected = {
        "dice": 2 * both / (pred + target),
        "overlap": both / min(pred, target),
        "pixel_accuracy": both / target,
        "iou_jaccard": both / (pred + target - both),
    }
    fusemedml = {"dice": 0.499001996007984, "overlap": 0.5175983436853002, "pixel_accuracy": 0.4816955684007707,
                 "iou_jaccard": 0.3324468085106383}  # fmt: skip
    results = _results(report, "example_seg_1")
    for name, value in expected.items():
        assert results[name]["1"] == pytest.approx(value, abs=1e-15), name
        assert results[name]["1"] == pytest.approx(fusemedml[name], abs=1e-12), name


def test_example_seg_3_weights_and_hausdorff(report: Path) -> None:
    from scipy.spatial.distance import directed_hausdorff

    pred = np.array([[1, 0], [0, 1], [1, 0], [0, 1]]) == 1
    target = np.ones((4, 2), dtype=bool)
    both, n_pred, n_target = _overlap_counts(pred, target)  # uniform pixel weights leave the ratios as they are
    points_pred, points_target = np.argwhere(pred), np.argwhere(target)
    hausdorff = max(
        directed_hausdorff(points_pred, points_target)[0], directed_hausdorff(points_target, points_pred)[0]
    )
    expected = {
        "hausdorff": hausdorff,
        "dice": 2 * both / (n_pred + n_target),
        "overlap": both / min(n_pred, n_target),
        "pixel_accuracy": both / n_target,
        "iou_jaccard": both / (n_pred + n_target - both),
    }
    fusemedml = {"hausdorff": 1.0, "dice": 2 / 3, "overlap": 1.0, "pixel_accuracy": 0.5, "iou_jaccard": 0.5}
    results = _results(report, "example_seg_3")
    for name, value in expected.items():
        assert results[name]["average"] == pytest.approx(value, abs=1e-15), name
        assert results[name]["average"] == pytest.approx(fusemedml[name], abs=1e-15), name


def test_example_seg_4_coco_against_pycocotools(report: Path) -> None:
    results = _results(report, "example_seg_4")
    mask = pytest.importorskip("pycocotools.mask")
    folder = report / "example_seg_4"
    truth = json.loads((folder / "example_coco.json").read_text())
    detections = json.loads((folder / "example_coco_results.json").read_text())
    categories = {c["id"]: c["name"] for c in truth["categories"]}
    for category, name in categories.items():
        for kind in ("bbox", "polygon"):
            per_image: dict[str, list[float]] = {"iou": [], "recall": [], "precision": []}
            for image in truth["images"]:
                height, width = image["height"], image["width"]
                targets = [
                    a for a in truth["annotations"] if (a["image_id"], a["category_id"]) == (image["id"], category)
                ]
                found = [d for d in detections if (d["image_id"], d["category_id"]) == (image["id"], category)]
                if kind == "bbox":
                    dt, gt = [d["bbox"] for d in found], [a["bbox"] for a in targets]
                else:
                    rles = [d["segmentation"] for d in found]
                    dt = [{"size": rle["size"], "counts": rle["counts"].encode("ascii")} for rle in rles]
                    gt = [mask.merge(mask.frPyObjects(a["segmentation"], height, width)) for a in targets]
                ious = np.asarray(mask.iou(dt, gt, [0] * len(gt))).reshape(len(dt), len(gt))
                best = ious.max(axis=0) if ious.size else np.zeros(0)
                matched = best[best > 0.5]
                if len(matched):
                    per_image["iou"].append(matched.mean())
                if gt:
                    per_image["recall"].append(len(matched) / len(gt))
                if dt:
                    per_image["precision"].append(len(matched) / len(dt))
            for metric, values in per_image.items():
                assert results[f"{metric}_{kind}_{name}"] == pytest.approx(np.mean(values), abs=1e-12), (metric, kind)
    assert results["recall_bbox_person"] == 0.5  # one person missed in image 2, one found too far off in image 3
    assert results["recall_bbox_car"] == 1.0


def _token_predictions() -> tuple[np.ndarray, np.ndarray]:
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed=1234)  # FuseMedML's draws
    pred = torch.nn.functional.softmax(torch.randn(1000, 7, 100), dim=-1).numpy()
    return pred, torch.randint(0, 100, (1000, 7)).numpy()


def test_seq_gen_examples_perplexity_and_counts(report: Path) -> None:
    pred, target = _token_predictions()
    chosen = np.take_along_axis(pred.astype(np.float64), target[..., None], axis=-1)
    expected = float(np.exp(-np.mean(np.log(chosen))))
    for example in ("example_seq_gen_0", "example_seq_gen_1"):
        perplexity = _results(report, example)["perplexity"]
        assert perplexity == pytest.approx(expected, rel=1e-12), example
        assert perplexity == pytest.approx(162.87, abs=0.005), example  # FuseMedML's test: 2 places
    # tokens 0..4999 in 10 sequences of 500; 4999 is padding (ignore_index)
    assert _results(report, "example_seq_gen_2")["count"] == {"seq_num": 10, "token_num": 4999}


def test_example_pearson_correlation(report: Path) -> None:
    values = np.random.RandomState(0).randn(1000)
    expected = pearsonr(100 + 10 * values, -10 + 3 * values)
    result = _results(report, "example_pearson_correlation")["pearsonr"]
    assert result["statistic"] == pytest.approx(expected.statistic, abs=1e-15)
    assert result["statistic"] == pytest.approx(1.0, abs=1e-12)  # FuseMedML's test: 1.0 to 2 places


def test_missing_fixtures_say_how_to_point_at_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _load_script().main(["example_1", "--fixtures", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--fixtures" in error
    assert "FUSE_COMPAT_FIXTURES" in error
    assert not (tmp_path / "out").exists()


def test_a_missing_dependency_skips_its_example_with_the_pip_command(
    fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main = _load_script().main
    for module in ("pycocotools", "pycocotools.mask"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ModuleNotFoundError, as when not installed
    argv = ["example_seg_4", "example_12", "--fixtures", str(fixtures), "--out", str(tmp_path)]
    assert main(argv) == 1
    output = capsys.readouterr().out
    assert 'skipped example_seg_4: this example needs pycocotools.mask: pip install "fuse-eval[coco]"' in output
    assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example_12"]  # the others still run


def test_readme_fuse_eval_one_liner_gives_example_4s_interval(
    fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's ``fuse-eval`` command, run as ``python -m fuse.eval`` (in this process: no second start-up of
    pandas and scikit-learn), reproduces example_4's interval.
    """
    argv = [
        "fuse-eval",
        "--pred", str(fixtures / "example1_predictions.csv"), "--target", str(fixtures / "example1_targets.csv"),
        "--pred-cols", "NoAT-score", "CanAT-score", "--target-col", "Task1-target",
        "--out", str(tmp_path / "report"), "--no-plots", "--quiet",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("fuse.eval", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    auc = json.loads((tmp_path / "report" / "results.json").read_text())["metrics"]["auc"]
    assert auc["value"] == 0.845
    assert auc["low"] == pytest.approx(0.7125, abs=1e-12)
    assert auc["high"] == pytest.approx(0.95375, abs=1e-12)
