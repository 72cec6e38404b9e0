"""FuseMedML's ``fuse/eval/examples/examples.py``, classification part, written with the public ``fuse.eval`` API.

Every ``example_*`` runs with no argument, as FuseMedML's does, and returns the results ``NDict``. The optional
arguments: ``fixtures``, the folder of FuseMedML's input files (default: see ``eval_example_inputs.find_fixtures``);
``out``, a folder under which the example writes its report (``out/<example>/results.*``) and files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from eval_example_inputs import TASK1, TASK2, TASK2_CLASSES, find_fixtures, header, plot_file, subfolder, work_folder

from fuse.core import NDict
from fuse.eval import (
    CI,
    EvaluatorDefault,
    Filter,
    GroupAnalysis,
    MetricAccuracy,
    MetricApplyTemperature,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricAUCROC,
    MetricAUCROCMultLabel,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricECE,
    MetricEnsemble,
    MetricFindTemperature,
    MetricReliabilityDiagram,
    MetricROCCurve,
)

# --- binary classification ----------------------------------------------------------------------------------------


def example_0(*, fixtures: Path | None = None, out: Path | None = None) -> NDict:
    """Binary AUC from one pickled DataFrame of ``id``, ``pred`` (a probability vector per row) and ``target``.

    FuseMedML ships that file as ``inputs/example0.pickle``; it holds example_1's cases, so it is generated here from
    example_1's two CSV files (into ``out/example_0/``, else a temporary folder, removed afterwards).
    """
    header("example_0", "AUC from one pickled DataFrame")
    folder = find_fixtures(fixtures)
    predictions = pd.read_csv(folder / "example1_predictions.csv")
    targets = pd.read_csv(folder / "example1_targets.csv")
    cases = targets.merge(predictions, on="id", validate="one_to_one")
    frame = pd.DataFrame(
        {
            "id": cases["id"],
            "pred": list(cases[["NoAT-score", "CanAT-score"]].to_numpy()),  # [p(NoAT), p(CanAT)] per case
            "target": cases["Task1-target"],
        }
    )
    # a file path as data: read by its suffix (csv, pickle, gz, ...); a pickle can run code: read only your own
    metrics = {"auc": MetricAUCROC(pred="pred", target="target")}
    with work_folder(out, "example_0") as generated:
        input_filename = generated / "example0.pickle"
        frame.to_pickle(input_filename)
        results = EvaluatorDefault().eval(
            ids=None, data=str(input_filename), metrics=metrics, output_dir=subfolder(out, "example_0")
        )
    print(f"AUC = {results['metrics.auc']:.4f} on {len(frame)} cases")
    return results


def two_class_scores(sample: NDict) -> NDict:
    """A pre-collect function: runs on every sample (one row of the joined data) before the metric collects it.

    Here it stacks the two score columns into one probability vector ``[p(NoAT), p(CanAT)]``.
    """
    sample["pred.array"] = np.array([sample["pred.NoAT-score"], sample["pred.CanAT-score"]])
    return sample


def example_1(fixtures: Path | None = None, out: Path | None = None) -> NDict:
    """Binary AUC from a predictions CSV and a targets CSV, joined on their ``id`` column."""
    header("example_1", "AUC from a predictions file and a targets file")
    fixtures = find_fixtures(fixtures)
    # a dict of sources: each one's columns are prefixed with its key ("pred.NoAT-score", "target.Task1-target")
    # and the sources are joined on id
    data = {"pred": fixtures / "example1_predictions.csv", "target": fixtures / "example1_targets.csv"}
    # metrics name the values they read by those keys; with a probability vector the last column is class 1
    metrics = {"auc": MetricAUCROC(pred="pred.array", target=TASK1, pre_collect_process_func=two_class_scores)}
    # evaluate exactly the cases of the targets file (the predictions file may hold more)
    ids = pd.read_csv(fixtures / "example1_targets.csv")["id"].tolist()
    results = EvaluatorDefault().eval(ids=ids, data=data, metrics=metrics, output_dir=subfolder(out, "example_1"))
    print(f"AUC = {results['metrics.auc']:.4f} on {len(ids)} cases")
    return results


def example_2(fixtures: Path | None = None, out: Path | None = None) -> NDict:
    """Cross-validation: one predictions file per fold, evaluated together and per fold."""
    header("example_2", "AUC over all folds and per fold")
    fixtures = find_fixtures(fixtures)
    # a list of files is concatenated; the column `evaluator_fold` tells which file (fold) a row came from
    folds = [fixtures / "example2_predictions_fold0.csv", fixtures / "example2_predictions_fold1.csv"]
    data = {"pred": folds, "target": fixtures / "example2_targets.csv"}
    metrics = {
        "auc": MetricAUCROC(pred="pred.CanAT-score", target=TASK1),
        # GroupAnalysis evaluates a metric on every group separately, then the groups' mean, std and median
        "auc_per_fold": GroupAnalysis(MetricAUCROC(pred="pred.CanAT-score", target=TASK1), group="pred.evaluator_fold"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=subfolder(out, "example_2"))
    print(f"AUC (all folds) = {results['metrics.auc']:.4f}")
    for fold in range(len(folds)):
        print(f"AUC fold {fold} = {results[f'metrics.auc_per_fold.{fold}']:.4f}")
    print(f"mean = {results['metrics.auc_per_fold.mean']:.4f}, std = {results['metrics.auc_per_fold.std']:.4f}")
    return results


def example_3(out: Path | None = None) -> NDict:
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
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=subfolder(out, "example_3"))
    for group in ("female", "male"):
        print(f"AUC {group} = {results[f'metrics.auc_per_group.{group}']:.4f}")
    return results


def example_4(fixtures: Path | None = None, out: Path | None = None, num_of_bootstraps: int = 10_000) -> NDict:
    """AUC with a 95% bootstrap confidence interval, resampling within each target class."""
    header("example_4", f"AUC with a 95% confidence interval ({num_of_bootstraps} bootstraps)")
    fixtures = find_fixtures(fixtures)
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
    results = EvaluatorDefault().eval(
        ids=None, data=data, metrics={"auc": auc_ci}, output_dir=subfolder(out, "example_4")
    )
    print(
        f"AUC = {results['metrics.auc.org']:.4f}, "
        f"95% CI [{results['metrics.auc.conf_lower']:.4f}, {results['metrics.auc.conf_upper']:.4f}]"
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


def example_8(fixtures: Path | None = None, out: Path | None = None) -> NDict:
    """Five classes: one-vs-rest AUC and AUC-PR, sensitivity / specificity / precision per class, accuracy,
    confusion matrix, Brier skill score and ROC curves.
    """
    header("example_8", "five-class evaluation")
    fixtures = find_fixtures(fixtures)
    folder = subfolder(out, "example_8")
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
            pred="pred.output", class_names=TASK2_CLASSES, output_filename=plot_file(folder, "roc.png"), **common
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=folder)
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


def example_9(*, fixtures: Path | None = None) -> NDict:
    """Accuracy of random digit predictions over the 10,000 MNIST test labels, fed as an iterator of samples
    collated five at a time.

    FuseMedML downloads MNIST with torchvision for its labels; the labels are in FuseMedML's MNIST inference files
    (``ensemble_mnist/model_0.test_set_infer.gz``, column ``data.label``), read here instead: no download, no torch.
    """
    header("example_9", "an iterator of samples, batch_size=5")
    inference = pd.read_pickle(find_fixtures(fixtures) / "ensemble_mnist" / "model_0.test_set_infer.gz")
    labels = inference.sort_values("id")["data.label"].to_numpy()
    # FuseMedML's set_seed(1234), then one np.random.randint(0, 10) per sample: the same stream, from a local
    # generator (the global one stays untouched)
    rng = np.random.RandomState(1234)

    def data_iter() -> Iterator[dict[str, Any]]:
        for sample_index, label in enumerate(labels):
            yield {"id": sample_index, "pred": rng.randint(0, 10), "label": int(label)}

    metrics = {"accuracy": MetricAccuracy(pred="pred", target="label")}  # class predictions: no threshold needed
    results = EvaluatorDefault().eval(ids=None, data=data_iter(), batch_size=5, metrics=metrics)
    print(f"accuracy of random guesses = {results['metrics.accuracy']:.4f} (chance: 0.1)")
    return results


def example_11() -> NDict:
    """``Filter``: evaluate a metric on some samples only. A sample whose filter value is ``True`` is left out."""
    header("example_11", "accuracy of the male samples (Filter)")
    data = pd.DataFrame(
        {
            "id": [0, 1, 2, 3, 4],
            "pred": [0, 1, 0, 0, 0],
            "gender": ["male", "female", "female", "male", "female"],
            "target": [0, 1, 1, 1, 0],
        }
    )

    def pre_collect_process(sample: NDict) -> NDict:
        sample["filter"] = sample["gender"] != "male"  # True: leave the sample out
        return sample

    accuracy = MetricAccuracy(pred="pred", target="target")
    metrics = {"accuracy": Filter(accuracy, "filter", pre_collect_process_func=pre_collect_process)}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    print(f"accuracy (male samples) = {results['metrics.accuracy']:.4f}")
    return results


def example_12() -> NDict:
    """A metric pipeline: a per-sample operation (thresholds -> class predictions), then accuracy on its result."""
    header("example_12", "thresholds, then accuracy through 'results:'")
    target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    pred = np.array([0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89])
    ids = np.arange(len(target))
    data = {"pred": pd.DataFrame({"id": ids, "pred": pred}), "target": pd.DataFrame({"id": ids, "target": target})}
    metrics = {
        "apply_thresh": MetricApplyThresholds(pred="pred.pred", operation_point=0.5),  # class 1 iff p > 0.5
        "acc": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="target.target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    print(f"accuracy at threshold 0.5 = {results['metrics.acc']:.4f}")
    return results


def example_13(fixtures: Path | None = None, out: Path | None = None) -> NDict:
    """Calibration: reliability diagram and ECE, a fitted temperature, then both again on the calibrated scores."""
    header("example_13", "calibration and temperature scaling")
    fixtures = find_fixtures(fixtures)
    data = {"target": fixtures / "example1_targets.csv", "pred": fixtures / "example7_predictions.csv"}
    folder = subfolder(out, "example_13")
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


def example_14(fixtures: Path | None = None, out: Path | None = None, num_models: int = 5) -> NDict:
    """An ensemble of MNIST classifiers: average their class probabilities, take the argmax, measure accuracy.

    Each ``model_<k>.test_set_infer.gz`` is a gzip-pickled DataFrame of one model's inference on the 10,000 test
    images (``id``, ``model.output.classification`` = 10 probabilities, ``data.label``). ``num_models`` ensembles
    the first models only. With ``out``, the averaged probabilities are written to ``out/example_14/ensemble.gz``.
    """
    header("example_14", f"ensemble of {num_models} MNIST classifiers")
    fixtures = find_fixtures(fixtures)
    folder = subfolder(out, "example_14")
    data = {str(k): fixtures / "ensemble_mnist" / f"model_{k}.test_set_infer.gz" for k in range(num_models)}
    pred_keys = [f"{k}.model.output.classification" for k in range(num_models)]
    output_file = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)  # MetricEnsemble writes its output_file into an existing folder
        output_file = folder / "ensemble.gz"
    metrics = {
        # averages the models' probability vectors per case, and writes them to a gzip-pickled DataFrame
        "ensemble": MetricEnsemble(pred_keys=pred_keys, target="0.data.label", output_file=output_file),
        # operation_point=None: the predicted class is the argmax of the averaged probabilities
        "apply_thresh": MetricApplyThresholds(pred="results:metrics.ensemble.preds", operation_point=None),
        "accuracy": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="0.data.label"),
        # each model alone, for comparison (accuracy takes the argmax of a probability vector)
        **{f"accuracy_model_{k}": MetricAccuracy(pred=key, target="0.data.label") for k, key in enumerate(pred_keys)},
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=folder)
    singles = [results[f"metrics.accuracy_model_{k}"] for k in range(num_models)]
    print(f"accuracy of each model: {', '.join(f'{a:.4f}' for a in singles)}")
    print(f"accuracy of the ensemble: {results['metrics.accuracy']:.4f}")
    return results


def example_18() -> NDict:
    """Multi-label AUC: each sample may have several of 4 labels; micro and macro averaged ``roc_auc_score``."""
    header("example_18", "multi-label AUC, micro and macro")
    # FuseMedML's np.random.seed(42) then randint and rand: the same stream, from a local generator
    rng = np.random.RandomState(42)
    targets = rng.randint(0, 2, size=(100, 4))
    preds = rng.rand(100, 4)
    ids = np.arange(len(targets))
    data = {
        "pred": pd.DataFrame({"id": ids, "pred": preds.tolist()}),  # a list (one vector) per cell
        "target": pd.DataFrame({"id": ids, "target": targets.tolist()}),
    }
    metrics = {
        "multi_label_auc_micro": MetricAUCROCMultLabel(pred="pred.pred", target="target.target", average="micro"),
        "multi_label_auc_macro": MetricAUCROCMultLabel(pred="pred.pred", target="target.target", average="macro"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    print(
        f"AUC micro = {results['metrics.multi_label_auc_micro']:.4f}, "
        f"macro = {results['metrics.multi_label_auc_macro']:.4f} (random scores: about 0.5)"
    )
    return results
