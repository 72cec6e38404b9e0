"""FuseMedML's evaluation examples, reproduced with fuse-eval on FuseMedML's own input files.

Each ``example_*`` function below is one of FuseMedML 0.4.1's ``fuse/eval/examples`` written with the public
``fuse.eval`` API: it builds a dict of metrics, runs ``EvaluatorDefault().eval(...)``, prints a short summary,
writes the report to ``<out>/<example name>/`` (``results.txt``, ``results.json``, ``results.md``, plus plots
when matplotlib is installed) and returns the results ``NDict``. The numbers are FuseMedML's (e.g. example_1's
AUC 0.845, example_4's 95% CI [0.7125, 0.95375] with 10,000 bootstraps) except where fuse-eval deliberately
differs, which a comment says (docs/migration.md lists every difference).

=================  ===============================================================================================
example_1          binary AUC from two CSV files (predictions, targets) joined on ``id``
example_2          cross-validation: one predictions file per fold, AUC overall and per fold
example_3          subgroup analysis: AUC per gender
example_4          AUC with a bootstrap confidence interval (stratified, 10,000 resamplings, seed 1234)
example_5          model comparison: paired bootstrap of two models' sensitivities
example_6          DeLong's test, two-class probability vectors (one-vs-rest per class)
example_7          DeLong's test, scalar scores from three DataFrames (two models, one target)
example_8          five classes: AUC, AUC-PR, sensitivity / specificity / precision, accuracy, confusion, BSS, ROC
example_13         calibration: reliability diagram, ECE, temperature scaling
example_14         ensemble of five MNIST classifiers (averaged probabilities) and its accuracy
example_seg_0      segmentation: binary Dice of three label groups on four CT label maps (NIfTI)
example_seg_2      segmentation: multi-label Dice on the same label maps
=================  ===============================================================================================

Run::

    python examples/evaluation/fusemedml_eval_examples.py --help
    python examples/evaluation/fusemedml_eval_examples.py                        # every example
    python examples/evaluation/fusemedml_eval_examples.py example_4 example_13   # some of them
    python examples/evaluation/fusemedml_eval_examples.py --fixtures DIR --out report/

The inputs are FuseMedML's ``fuse/eval/examples/inputs`` files, found in ``--fixtures DIR``, else in
``$FUSE_COMPAT_FIXTURES``, else in ``<repo>/../shared/fixtures/fusemedml-eval``. Nothing is downloaded.
Everything is written under ``--out`` (default ``fusemedml-eval-examples/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import NDict, progress
from fuse.eval import (
    CI,
    EvaluatorDefault,
    GroupAnalysis,
    MetricAccuracy,
    MetricApplyTemperature,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricAUCROC,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricDelongsTest,
    MetricDice,
    MetricECE,
    MetricEnsemble,
    MetricFindTemperature,
    MetricReliabilityDiagram,
    MetricROCCurve,
    PairedBootstrap,
)

FIXTURES_ENV = "FUSE_COMPAT_FIXTURES"
DEFAULT_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "fusemedml-eval"
# example1_targets.csv holds two tasks: Task1 is binary (40 x 0, 20 x 1), Task2 has five classes
TASK1 = "target.Task1-target"
TASK2 = "target.Task2-target"
TASK2_CLASSES = ["B", "LR", "IR", "HR", "VHR"]
# example_seg_0 scores groups of labels, each merged into one binary mask (FuseMedML's LABEL_MAPPING)
LABEL_GROUPS = {"label_1": (1, 2, 3), "label_2": (2, 3), "label_3": (2,)}


# --- inputs and outputs -------------------------------------------------------------------------------------------


def find_fixtures(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder of FuseMedML's example inputs: ``path``, else ``$FUSE_COMPAT_FIXTURES``, else the default.

    Raises ``FileNotFoundError`` saying how to point at them when the folder does not hold them.
    """
    if path is not None:
        folder, source = Path(path), "--fixtures"
    elif os.environ.get(FIXTURES_ENV):
        folder, source = Path(os.environ[FIXTURES_ENV]), f"${FIXTURES_ENV}"
    else:
        folder, source = DEFAULT_FIXTURES, "the default location"
    if not (folder / "example1_predictions.csv").is_file():
        raise FileNotFoundError(
            f"FuseMedML's example inputs (example1_predictions.csv, ...) are not in {folder} ({source}). "
            f"Pass --fixtures DIR or set {FIXTURES_ENV}=DIR, where DIR is a copy of FuseMedML 0.4.1's "
            "fuse/eval/examples/inputs (the fuse repository keeps one in ../shared/fixtures/fusemedml-eval)."
        )
    return folder


def can_plot() -> bool:
    """Whether matplotlib is installed: metrics given an ``output_filename`` need it (``fuse-eval[plot]``)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_file(out: Path, name: str) -> Path | None:
    """``out/name`` when plots can be drawn, else ``None`` (the metric then computes without drawing)."""
    return out / name if can_plot() else None


def header(name: str, what: str) -> None:
    """Print an example's title line."""
    print(f"\n=== {name}: {what}")


# --- binary classification ----------------------------------------------------------------------------------------


def two_class_scores(sample: NDict) -> NDict:
    """A pre-collect function: runs on every sample (one row of the joined data) before the metric collects it.

    Here it stacks the two score columns into one probability vector ``[p(NoAT), p(CanAT)]``.
    """
    sample["pred.array"] = np.array([sample["pred.NoAT-score"], sample["pred.CanAT-score"]])
    return sample


def example_1(fixtures: Path, out: Path) -> NDict:
    """Binary AUC from a predictions CSV and a targets CSV, joined on their ``id`` column."""
    header("example_1", "AUC from a predictions file and a targets file")
    # a dict of sources: each one's columns are prefixed with its key ("pred.NoAT-score", "target.Task1-target")
    # and the sources are joined on id
    data = {"pred": fixtures / "example1_predictions.csv", "target": fixtures / "example1_targets.csv"}
    # metrics name the values they read by those keys; with a probability vector the last column is class 1
    metrics = {"auc": MetricAUCROC(pred="pred.array", target=TASK1, pre_collect_process_func=two_class_scores)}
    # evaluate exactly the cases of the targets file (the predictions file may hold more)
    ids = pd.read_csv(fixtures / "example1_targets.csv")["id"].tolist()
    results = EvaluatorDefault().eval(ids=ids, data=data, metrics=metrics, output_dir=out / "example_1")
    print(f"AUC = {results['metrics.auc']:.4f} on {len(ids)} cases")
    return results


def example_2(fixtures: Path, out: Path) -> NDict:
    """Cross-validation: one predictions file per fold, evaluated together and per fold."""
    header("example_2", "AUC over all folds and per fold")
    # a list of files is concatenated; the column `evaluator_fold` tells which file (fold) a row came from
    folds = [fixtures / "example2_predictions_fold0.csv", fixtures / "example2_predictions_fold1.csv"]
    data = {"pred": folds, "target": fixtures / "example2_targets.csv"}
    metrics = {
        "auc": MetricAUCROC(pred="pred.CanAT-score", target=TASK1),
        # GroupAnalysis evaluates a metric on every group separately, then the groups' mean, std and median
        "auc_per_fold": GroupAnalysis(MetricAUCROC(pred="pred.CanAT-score", target=TASK1), group="pred.evaluator_fold"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "example_2")
    print(f"AUC (all folds) = {results['metrics.auc']:.4f}")
    for fold in range(len(folds)):
        print(f"AUC fold {fold} = {results[f'metrics.auc_per_fold.{fold}']:.4f}")
    print(f"mean = {results['metrics.auc_per_fold.mean']:.4f}, std = {results['metrics.auc_per_fold.std']:.4f}")
    return results


def example_3(out: Path) -> NDict:
    """Subgroup analysis: the AUC of each gender (an in-memory DataFrame as input)."""
    header("example_3", "AUC per gender")
    data = pd.DataFrame(
        {
            "id": range(10),
            "pred": [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9],
            "target": [0, 0, 1, 1, 1, 0, 0, 1, 1, 1],
            "gender": ["female"] * 5 + ["male"] * 5,
        }
    )
    metrics = {"auc_per_group": GroupAnalysis(MetricAUCROC(pred="pred", target="target"), group="gender")}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "example_3")
    for group in ("female", "male"):
        print(f"AUC {group} = {results[f'metrics.auc_per_group.{group}']:.4f}")
    return results


def example_4(fixtures: Path, out: Path, num_of_bootstraps: int = 10_000) -> NDict:
    """AUC with a 95% bootstrap confidence interval, resampling within each target class."""
    header("example_4", f"AUC with a 95% confidence interval ({num_of_bootstraps} bootstraps)")
    data = {"pred": fixtures / "example1_predictions.csv", "target": fixtures / "example1_targets.csv"}
    # CI wraps any metric: it re-evaluates it on resamplings of the cases (drawn as FuseMedML draws them, so the
    # interval is FuseMedML's) and reports org (the metric itself), mean, std, conf_lower and conf_upper
    auc_ci = CI(
        MetricAUCROC(pred="pred.CanAT-score", target=TASK1),
        stratum=TASK1,  # resample within each class: every resampling keeps 40 negatives and 20 positives
        num_of_bootstraps=num_of_bootstraps,
        rnd_seed=1234,
        verbose=True,  # a progress bar
    )
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"auc": auc_ci}, output_dir=out / "example_4")
    print(
        f"AUC = {results['metrics.auc.org']:.4f}, "
        f"95% CI [{results['metrics.auc.conf_lower']:.4f}, {results['metrics.auc.conf_upper']:.4f}]"
    )
    return results


def example_5(out: Path, num_of_bootstraps: int = 10_000) -> NDict:
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
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "example_5")
    comparison = results["metrics.compare_a_to_b.sensitivity"]
    print(
        f"sensitivity a - b: mean difference {comparison['diff']:.4f}, a superior in "
        f"{comparison['count_superior']}/{comparison['count']} resamplings, p = {comparison['p_value']:.4f}"
    )
    return results


# --- DeLong's test ------------------------------------------------------------------------------------------------


def example_6(out: Path) -> NDict:
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
        ids=None, data={"pred": pred_df, "target": target_df}, metrics=metrics, output_dir=out / "example_6"
    )
    print(
        f"AUC model 1 = {results['metrics.delongs_test.auc1.macro_avg']:.4f}, "
        f"model 2 = {results['metrics.delongs_test.auc2.macro_avg']:.4f}: "
        f"z = {results['metrics.delongs_test.z.macro_avg']:.4f}, "
        f"p = {results['metrics.delongs_test.p_value.macro_avg']:.4f}"
    )
    return results


def example_7(out: Path) -> NDict:
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
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "example_7")
    print(
        f"AUC model 1 = {results['metrics.delongs_test.auc1']:.4f}, "
        f"model 2 = {results['metrics.delongs_test.auc2']:.4f}: "
        f"z = {results['metrics.delongs_test.z']:.4f}, p = {results['metrics.delongs_test.p_value']:.4f}"
    )
    return results


# --- multi-class classification and calibration -------------------------------------------------------------------


def five_class_scores(sample: NDict) -> NDict:
    """Pre-collect: the five score columns as one probability vector, its argmax, and log-probabilities
    (logits up to a constant, for temperature scaling).
    """
    scores = np.array([sample[f"pred.{name}-score"] for name in TASK2_CLASSES])
    sample["pred.output"] = scores
    sample["pred.output_class"] = int(scores.argmax())
    sample["pred.logits"] = np.log(scores)
    return sample


def example_8(fixtures: Path, out: Path) -> NDict:
    """Five classes: one-vs-rest AUC and AUC-PR, sensitivity / specificity / precision per class, accuracy,
    confusion matrix, Brier skill score and ROC curves.
    """
    header("example_8", "five-class evaluation")
    data = {"target": fixtures / "example1_targets.csv", "pred": fixtures / "example7_predictions.csv"}
    # arguments shared by the metrics: the target and the pre-collect function building the score vectors
    common: dict[str, Any] = {"target": TASK2, "pre_collect_process_func": five_class_scores}
    metrics = {
        # with class_names, a metric is computed per class (one vs rest) plus the macro average
        "auc": MetricAUCROC(pred="pred.output", class_names=TASK2_CLASSES, **common),
        "auc_pr": MetricAUCPR(pred="pred.output", class_names=TASK2_CLASSES, **common),
        "confusion": MetricConfusion(
            pred="pred.output_class",
            class_names=TASK2_CLASSES,
            metrics=["sensitivity", "specificity", "precision"],
            **common,
        ),
        "accuracy": MetricAccuracy(pred="pred.output_class", **common),
        "confusion_matrix": MetricConfusionMatrix(cls_pred="pred.output_class", class_names=TASK2_CLASSES, **common),
        "bss": MetricBSS(pred="pred.output", **common),
        "roc": MetricROCCurve(
            pred="pred.output",
            class_names=TASK2_CLASSES,
            output_filename=plot_file(out / "example_8", "roc.png"),
            **common,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "example_8")
    print(f"{'class':<6}{'AUC':>8}{'AUC-PR':>8}{'sens':>8}{'spec':>8}{'prec':>8}")
    for name in [*TASK2_CLASSES, "macro_avg"]:
        row = [
            results[f"metrics.auc.{name}"],
            results[f"metrics.auc_pr.{name}"],
            *(results[f"metrics.confusion.{m}.{name}"] for m in ("sensitivity", "specificity", "precision")),
        ]
        print(f"{name:<6}" + "".join(f"{value:8.3f}" for value in row))
    print(f"accuracy = {results['metrics.accuracy']:.4f}, Brier skill score = {results['metrics.bss']:.4f}")
    print("confusion matrix (rows: target, columns: predicted):")
    print(results["metrics.confusion_matrix.count"].to_string())
    return results


def example_13(fixtures: Path, out: Path) -> NDict:
    """Calibration: reliability diagram and ECE, a fitted temperature, then both again on the calibrated scores."""
    header("example_13", "calibration and temperature scaling")
    data = {"target": fixtures / "example1_targets.csv", "pred": fixtures / "example7_predictions.csv"}
    folder = out / "example_13"
    common: dict[str, Any] = {"target": TASK2, "pre_collect_process_func": five_class_scores}
    calibrated = "results:metrics.apply_temperature"  # the calibrated probabilities, an earlier metric's result
    metrics = {
        "reliability": MetricReliabilityDiagram(
            pred="pred.output",
            num_bins=10,
            output_filename=plot_file(folder, "reliability.png"),
            title="Reliability diagram, before temperature scaling",
            **common,
        ),
        # FuseMedML's ECE compares each bin's accuracy with the bin's upper edge; method="mean_confidence" is the
        # standard ECE, which compares it with the bin's mean confidence
        "ece": MetricECE(pred="pred.output", num_bins=10, **common),
        "ece_standard": MetricECE(pred="pred.output", num_bins=10, method="mean_confidence", **common),
        # the temperature T minimising the cross-entropy of softmax(logits / T); optimizer="fusemedml_lbfgs"
        # replays FuseMedML's 50 LBFGS steps instead, which stop before the minimum (T = 0.8076 here)
        "find_temperature": MetricFindTemperature(pred="pred.logits", **common),
        "apply_temperature": MetricApplyTemperature(
            pred="pred.logits",
            temperature="results:metrics.find_temperature",
            pre_collect_process_func=five_class_scores,
        ),
        "ece_calibrated": MetricECE(pred=calibrated, num_bins=10, **common),
        "ece_standard_calibrated": MetricECE(pred=calibrated, num_bins=10, method="mean_confidence", **common),
        "reliability_calibrated": MetricReliabilityDiagram(
            pred=calibrated,
            num_bins=10,
            output_filename=plot_file(folder, "reliability_calibrated.png"),
            title="Reliability diagram, after temperature scaling",
            **common,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=folder)
    print(f"temperature T = {results['metrics.find_temperature']:.4f}")
    print(f"{'':<16}{'ECE':>8}{'MCE':>8}{'ECE (standard)':>16}  samples per confidence bin")
    for stage, suffix in (("before scaling", ""), ("after scaling", "_calibrated")):
        ece, standard = results[f"metrics.ece{suffix}"], results[f"metrics.ece_standard{suffix}"]
        bins = results[f"metrics.reliability{suffix}.num_samples_per_bin"].tolist()
        print(f"{stage:<16}{ece['ece']:8.4f}{ece['mce']:8.4f}{standard['ece']:16.4f}  {bins}")
    return results


# --- ensembling ---------------------------------------------------------------------------------------------------


def example_14(fixtures: Path, out: Path, num_models: int = 5) -> NDict:
    """An ensemble of MNIST classifiers: average their class probabilities, take the argmax, measure accuracy.

    Each ``model_<k>.test_set_infer.gz`` is a gzip-pickled DataFrame of one model's inference on the 10,000 test
    images (``id``, ``model.output.classification`` = 10 probabilities, ``data.label``). ``num_models`` ensembles
    the first models only.
    """
    header("example_14", f"ensemble of {num_models} MNIST classifiers")
    folder = out / "example_14"
    data = {str(k): fixtures / "ensemble_mnist" / f"model_{k}.test_set_infer.gz" for k in range(num_models)}
    pred_keys = [f"{k}.model.output.classification" for k in range(num_models)]
    metrics = {
        # averages the models' probability vectors per case, and writes them to a gzip-pickled DataFrame
        "ensemble": MetricEnsemble(pred_keys=pred_keys, target="0.data.label", output_file=folder / "ensemble.gz"),
        # operation_point=None: the predicted class is the argmax of the averaged probabilities
        "apply_thresh": MetricApplyThresholds(pred="results:metrics.ensemble.preds", operation_point=None),
        "accuracy": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="0.data.label"),
        # each model alone, for comparison (accuracy takes the argmax of a probability vector)
        **{f"accuracy_model_{k}": MetricAccuracy(pred=key, target="0.data.label") for k, key in enumerate(pred_keys)},
    }
    folder.mkdir(parents=True, exist_ok=True)  # MetricEnsemble writes its output_file into an existing folder
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=folder)
    singles = [results[f"metrics.accuracy_model_{k}"] for k in range(num_models)]
    print(f"accuracy of each model: {', '.join(f'{a:.4f}' for a in singles)}")
    print(f"accuracy of the ensemble: {results['metrics.accuracy']:.4f}")
    return results


# --- segmentation -------------------------------------------------------------------------------------------------


def read_label_map(path: Path) -> np.ndarray:
    """The voxels of a NIfTI label map.

    nibabel comes with fuse-imaging, whose ``load_image`` also returns the geometry (spacing, orientation); Dice
    needs only the voxels, and reading them with nibabel alone keeps this evaluation torch-free.
    """
    import nibabel as nib

    return np.asarray(nib.Nifti1Image.from_filename(path).dataobj)


def segmentation_cases(fixtures: Path, max_cases: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield one sample per case, ``{"id", "pred.array", "label.array"}`` (predicted and target label maps).

    The volumes are read one case at a time, so a single pair is in memory at once; ``max_cases`` reads the first
    cases only (sorted by id).
    """
    folder = fixtures / "semantic_segmentation"
    predicted = sorted((folder / "predicted").glob("*.nii.gz"))[:max_cases]
    for path in progress(predicted, total=len(predicted), desc="NIfTI cases"):
        case_id = path.name.removesuffix(".nii.gz")
        yield {
            "id": case_id,
            "pred.array": read_label_map(path),
            "label.array": read_label_map(folder / "labeled" / case_id / "seg.nii.gz"),
        }


def label_group_mask(group: str) -> Callable[[NDict], NDict]:
    """A pre-collect function turning both label maps of a sample into binary masks of the group's labels."""
    labels = LABEL_GROUPS[group]

    def in_group(label_map: np.ndarray) -> np.ndarray:
        # zeros_like and elementwise comparisons keep the volume's memory order (NIfTI arrays are Fortran-ordered;
        # mixing orders, as np.isin does, copies the volume through strided reads: many times slower)
        mask = np.zeros_like(label_map, dtype=bool)
        for label in labels:
            mask |= label_map == label
        return mask

    def to_mask(sample: NDict) -> NDict:
        sample[f"pred.{group}"] = in_group(sample["pred.array"])
        sample[f"label.{group}"] = in_group(sample["label.array"])
        return sample

    return to_mask


def example_seg_0(fixtures: Path, out: Path, max_cases: int | None = None) -> NDict:
    """Binary Dice of three label groups (each merged into one mask), averaged over the cases."""
    header("example_seg_0", "Dice of label groups " + ", ".join(f"{g} = {v}" for g, v in LABEL_GROUPS.items()))
    # segmentation metrics score each sample when it is collected and keep only the scores
    metrics = {
        f"dice_{group}": MetricDice(
            pred=f"pred.{group}", target=f"label.{group}", pre_collect_process_func=label_group_mask(group)
        )
        for group in LABEL_GROUPS
    }
    # batch_size=1: `data` is an iterable of samples, collected one at a time (no DataFrame is built)
    results = EvaluatorDefault().eval(
        ids=None,
        data=segmentation_cases(fixtures, max_cases),
        batch_size=1,
        metrics=metrics,
        output_dir=out / "example_seg_0",
    )
    for group in LABEL_GROUPS:
        print(f"Dice {group} = {results[f'metrics.dice_{group}.1']:.4f}")  # a binary mask's foreground is label 1
    return results


def example_seg_2(fixtures: Path, out: Path, max_cases: int | None = None) -> NDict:
    """Multi-label Dice: every non-zero label of the target maps scored separately, then their average."""
    header("example_seg_2", "Dice per label")
    metrics = {"dice": MetricDice(pred="pred.array", target="label.array")}
    results = EvaluatorDefault().eval(
        ids=None,
        data=segmentation_cases(fixtures, max_cases),
        batch_size=1,
        metrics=metrics,
        output_dir=out / "example_seg_2",
    )
    for key, value in results["metrics.dice"].items():  # the labels found in the targets, then "average"
        print(f"Dice {key if key == 'average' else f'label {key}'} = {value:.4f}")
    return results


# --- command line -------------------------------------------------------------------------------------------------

EXAMPLE_NAMES = [
    "example_1",
    "example_2",
    "example_3",
    "example_4",
    "example_5",
    "example_6",
    "example_7",
    "example_8",
    "example_13",
    "example_14",
    "example_seg_0",
    "example_seg_2",
]


def run_examples(names: Sequence[str], args: argparse.Namespace) -> dict[str, NDict]:
    """Run the named examples with the command-line settings; returns each one's results."""
    fixtures, out = args.fixtures, args.out
    runners: dict[str, Callable[[], NDict]] = {
        "example_1": lambda: example_1(fixtures, out),
        "example_2": lambda: example_2(fixtures, out),
        "example_3": lambda: example_3(out),
        "example_4": lambda: example_4(fixtures, out, num_of_bootstraps=args.bootstraps),
        "example_5": lambda: example_5(out, num_of_bootstraps=args.bootstraps),
        "example_6": lambda: example_6(out),
        "example_7": lambda: example_7(out),
        "example_8": lambda: example_8(fixtures, out),
        "example_13": lambda: example_13(fixtures, out),
        "example_14": lambda: example_14(fixtures, out, num_models=args.ensemble_models),
        "example_seg_0": lambda: example_seg_0(fixtures, out, max_cases=args.seg_cases),
        "example_seg_2": lambda: example_seg_2(fixtures, out, max_cases=args.seg_cases),
    }
    results: dict[str, NDict] = {}
    for name in names:
        start = time.perf_counter()
        results[name] = runners[name]()
        print(f"({time.perf_counter() - start:.1f} s; report in {out / name})")
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="FuseMedML's evaluation examples reproduced with fuse-eval on FuseMedML's input files.",
    )
    parser.add_argument(
        "examples", nargs="*", metavar="EXAMPLE", help=f"examples to run (default: all): {', '.join(EXAMPLE_NAMES)}"
    )
    parser.add_argument(
        "--fixtures",
        metavar="DIR",
        help=f"FuseMedML's example inputs (default: ${FIXTURES_ENV}, else {DEFAULT_FIXTURES})",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("fusemedml-eval-examples"), help="report folder (default: %(default)s)"
    )
    parser.add_argument(
        "--bootstraps", type=int, default=10_000, help="resamplings of examples 4 and 5 (default: %(default)s)"
    )
    parser.add_argument(
        "--ensemble-models", type=int, default=5, choices=range(1, 6), metavar="{1..5}",
        help="models in example_14's ensemble (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--seg-cases", type=int, default=None, choices=range(1, 5), metavar="{1..4}",
        help="NIfTI cases in the segmentation examples (default: all 4)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the examples chosen on the command line; 0 on success, 2 when the inputs are missing."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.examples if name not in EXAMPLE_NAMES]
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(EXAMPLE_NAMES)}")
    try:
        args.fixtures = find_fixtures(args.fixtures)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = args.examples or EXAMPLE_NAMES
    if not can_plot():
        print("matplotlib is not installed: no plots (pip install 'fuse-eval[plot]')")
    run_examples(names, args)
    print(f"\n{len(names)} example(s) done; reports in {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
