"""The fuse demo: train and evaluate a breast-cancer classifier end to end, on real data, in under a minute on a CPU.

The data is the Wisconsin diagnostic breast cancer table bundled with scikit-learn (569 fine-needle aspirates,
30 features computed from a digitised image of each one, diagnosis benign or malignant; nothing is downloaded).
**Malignant is the positive class** (label 1), the clinically meaningful choice: sensitivity is the share of
cancers found. The steps, each one function below, in the order they run:

1. the table, split into train / validation / test (60 / 20 / 20 %, stratified by the diagnosis);
2. fuse-data: a static pipeline reads a row, gathers the 30 features and z-scores them with the *training* split's
   statistics; its output is cached (``SamplesCacher``); a dynamic pipeline makes float32 tensors; a
   class-balanced ``BatchSamplerDefault`` and ``CollateDefault`` make the training batches;
3. fuse-dl: an MLP backbone and a ``Head1D`` classification head in a ``ModelMultiHead``, trained by
   ``LightningModuleDefault`` (cross-entropy, ROC AUC logged per epoch; the best validation AUC epoch kept);
4. prediction of the validation and test splits with the best checkpoint;
5. fuse-eval: a decision threshold chosen on the *validation* split (the highest specificity with sensitivity
   >= ``--min-sensitivity``), then the report on the *test* split (:func:`fuse.eval.write_report`): ROC AUC and
   AUC-PR with 95% stratified bootstrap intervals; sensitivity, specificity, PPV, NPV and accuracy at that threshold
   with their counts and 95% Wilson intervals; the confusion matrix; calibration (ECE, calibration plot) and the ROC
   and precision-recall curves.

Run it::

    python -m fuse.dl.demo                # after pip install fuse-dl; plots need pip install "fuse-eval[plot]"
    nox -s demo                           # from a clone of the repository
    python examples/hello_world.py        # runs this file
    python -m fuse.dl.demo --help         # --out DIR, --epochs N, --seed S, --bootstraps B, --quiet, ...

What it writes under ``--out`` (default: a new temporary directory, printed at the start and the end, so that the
demo runs from any directory and never overwrites anything)::

    report/report.html      the report: one page to open in a browser (set-up, tables, figures; self-contained)
    report/results.md       the same tables in Markdown
    report/results.json     the same numbers for programs
    report/*.png            the ROC, precision-recall and calibration figures (with matplotlib)
    predictions.csv         id, split, label, probability of malignancy for the validation and test samples
    model/                  best_epoch.ckpt, last.ckpt and the epoch summaries (best epoch against each epoch)

The sample cache lives in a temporary directory inside ``--out`` and is removed at the end, unless ``--cache-dir``
names a directory to keep it in (a second run with the same ``--seed`` then reads the samples instead of computing
them; another seed gives other training statistics, hence other samples, cached beside them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from torch.utils.data import DataLoader

from fuse.core import set_seed
from fuse.data import (
    BatchSamplerDefault,
    CollateDefault,
    DatasetDefault,
    OpConcat,
    OpDeleteKeypaths,
    OpReadDataframe,
    OpToTensor,
    OpZScoreNorm,
    PipelineDefault,
    SamplesCacher,
    balanced_division,
)
from fuse.dl import (
    BackboneMultilayerPerceptron,
    Head1D,
    LightningModuleDefault,
    LossDefault,
    ModelMultiHead,
    convert_predictions_to_dataframe,
)
from fuse.dl.training._output import interactive_output
from fuse.eval import EvaluatorDefault, MetricAUCROC, MetricOperatingPoint, ReportSettings, write_report

__all__ = ["main", "run"]

NUM_FEATURES = 30
SPLITS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # five balanced folds -> 60 / 20 / 20 %
PRED, TARGET = "model.output.malignancy", "data.label"  # the batch keys the metrics read
CLASS_NAMES = ["benign", "malignant"]


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m fuse.dl.demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m fuse.dl.demo",
        description="Train and evaluate a breast-cancer (malignant vs benign) classifier with fuse, end to end, on "
        "scikit-learn's bundled Wisconsin table; writes a report with confidence intervals and plots.",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: a new temporary one)")
    parser.add_argument("--epochs", type=int, default=20, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=1234, metavar="S", help="seed of the split, training, bootstrap (%(default)s)"
    )
    parser.add_argument(
        "--bootstraps", type=int, default=1000, metavar="B", help="resamplings per confidence interval (%(default)s)"
    )
    parser.add_argument(
        "--min-sensitivity",
        type=float,
        default=0.95,
        metavar="S",
        help="the decision threshold is the one with the highest validation specificity among those reaching this "
        "validation sensitivity (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="keep the sample cache there (default: temporary, removed)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or step messages: the summary only")
    return parser


# ---------------------------------------------------------------------------------------------------------------------
# 1. the table and the split


def load_table() -> pd.DataFrame:
    """One row per sample: ``sample_id``, the 30 features as ``feature.<name>`` and ``label`` (1 = malignant).

    scikit-learn codes the diagnosis 0 = malignant, 1 = benign; it is flipped so that the positive class, the one
    sensitivity and the AUC are about, is the cancer.
    """
    bundle = load_breast_cancer()
    names = [str(name).replace(" ", "_") for name in bundle.feature_names]  # "mean radius" -> "mean_radius"
    table: pd.DataFrame = pd.DataFrame(bundle.data, columns=[f"feature.{name}" for name in names])
    table.insert(0, "sample_id", [f"case_{i:03d}" for i in range(len(table))])
    table["label"] = 1 - bundle.target
    return table


def split_ids(table: pd.DataFrame, seed: int) -> dict[str, list[str]]:
    """Train / validation / test sample ids from five folds balanced on the label.

    ``balanced_division`` keeps all rows of one ``no_mixture_id`` in one fold; with a patient id there (several
    images per patient), no patient lands in two splits. Here every row has its own id.
    """
    folds = balanced_division(table, no_mixture_id="sample_id", keys_to_balance=["label"], nfolds=5, seed=seed)
    return {
        name: folds.loc[folds["fold"].isin(fold_numbers), "sample_id"].tolist() for name, fold_numbers in SPLITS.items()
    }


# ---------------------------------------------------------------------------------------------------------------------
# 2. fuse-data: pipelines, cache, sampler


def build_dataset(table: pd.DataFrame, train_ids: Sequence[str], cache_dir: Path, verbose: bool) -> DatasetDefault:
    """A cached dataset of every sample: ``data.input.features`` (30 z-scored float32 values) and ``data.label``.

    A fuse sample is an ``NDict`` (nested dict with dotted keys). The *static* pipeline runs once per sample and
    its output is cached on disk; its cache is keyed by the ops' code and arguments, the normalisation statistics
    included, so a change never serves stale samples. The *dynamic* pipeline runs on every read (augmentations
    would go there).
    """
    features = [column for column in table.columns if column.startswith("feature.")]
    feature_keys = [f"data.{column}" for column in features]  # OpReadDataframe turns dotted columns into keypaths
    train_rows = table[table["sample_id"].isin(train_ids)]
    mean = train_rows[features].to_numpy().mean(axis=0)  # training statistics only: nothing leaks from the test set
    std = train_rows[features].to_numpy().std(axis=0)
    static = PipelineDefault(
        "breast_cancer_static",
        [
            (OpReadDataframe(table), {"prefix": "data"}),  # the row of data.sample_id -> data.feature.*, data.label
            (OpConcat(), {"keys_in": feature_keys, "key_out": "data.input.features"}),
            (OpDeleteKeypaths(), {"keypaths": ["data.feature"]}),
            (OpZScoreNorm(), {"key": "data.input.features", "mean": mean, "std": std}),
        ],
    )
    dynamic = PipelineDefault(
        "breast_cancer_dynamic", [(OpToTensor(dtype=torch.float32), {"key": "data.input.features"})]
    )
    bars = verbose and interactive_output()
    cacher = SamplesCacher("breast_cancer", static, cache_dirs=str(cache_dir), workers=0, verbose=int(bars))
    dataset = DatasetDefault(table["sample_id"].tolist(), static, dynamic, cacher)
    dataset.create()  # computes and caches every sample that is not cached yet
    return dataset


def split_datasets(dataset: DatasetDefault, ids: dict[str, list[str]]) -> dict[str, DatasetDefault]:
    """One view of ``dataset`` per split (``subset`` shares the cache; nothing is recomputed)."""
    position = {sample_id: index for index, sample_id in enumerate(dataset.get_all_sample_ids())}
    return {name: dataset.subset([position[i] for i in split]) for name, split in ids.items()}


def build_loaders(datasets: dict[str, DatasetDefault], seed: int) -> dict[str, DataLoader[Any]]:
    """Training batches balanced between benign and malignant (16 + 16); plain batches for the other splits."""
    # the sampler reads each sample's class from the cached static output, without running the dynamic pipeline
    sampler = BatchSamplerDefault(datasets["train"], balanced_class_name="data.label", batch_size=32, seed=seed)
    collate = CollateDefault()  # a list of sample NDicts -> one batch NDict (tensors stacked, ids kept as a list)
    # DatasetDefault has the map-style protocol (len, [index]) but is not a torch Dataset subclass: hence the ignores
    train_loader: DataLoader[Any] = DataLoader(
        datasets["train"],  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=collate,
    )
    loaders = {"train": train_loader}
    for name in ("validation", "test"):
        loaders[name] = DataLoader(datasets[name], batch_size=64, collate_fn=collate)  # type: ignore[arg-type]
    return loaders


# ---------------------------------------------------------------------------------------------------------------------
# 3. fuse-dl: model, training


def build_model() -> ModelMultiHead:
    """An MLP backbone and one classification head.

    A fuse model reads its inputs from the batch dict and writes into it: the backbone's output goes to
    ``model.backbone_features``, the head writes ``model.logits.malignancy`` and ``model.output.malignancy``
    (softmax probabilities of benign and malignant).
    """
    return ModelMultiHead(
        conv_inputs=(("data.input.features", NUM_FEATURES),),
        backbone=BackboneMultilayerPerceptron(layers=(64, 32), mlp_input_size=NUM_FEATURES, dropout_rate=0.1),
        heads=[
            Head1D(
                head_name="malignancy",
                mode="classification",
                conv_inputs=[("model.backbone_features", 32)],
                num_outputs=2,
                layers_description=(16,),
                dropout_rate=0.1,
            )
        ],
    )


def train(loaders: dict[str, DataLoader[Any]], model_dir: Path, epochs: int, verbose: bool) -> tuple[pl.Trainer, str]:
    """Fit the model; returns the trainer and the checkpoint of the epoch with the best validation AUC
    (``model_dir/best_epoch.ckpt``).

    Losses and metrics name the batch keys they read. Metrics are fuse-eval metrics: the same classes evaluate
    the report below.
    """
    module = LightningModuleDefault(
        model_dir=model_dir,
        model=build_model(),
        losses={"ce": LossDefault(pred="model.logits.malignancy", target=TARGET, callable=F.cross_entropy)},
        train_metrics={"auc": MetricAUCROC(pred=PRED, target=TARGET)},
        validation_metrics={"auc": MetricAUCROC(pred=PRED, target=TARGET)},
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max"},
        optimizers_and_lr_schs=lambda m: torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4),
        print_epoch_summary=False,  # the best epoch against each epoch goes to model_dir/epoch_summary_*.txt
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        default_root_dir=model_dir,
        logger=False,  # the per-epoch results go to the epoch summary file; add a CSVLogger for curves
        enable_progress_bar=verbose and interactive_output(),  # redirected to a file, a bar only adds lines
        enable_model_summary=verbose,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loaders["train"], loaders["validation"])
    return trainer, trainer.checkpoint_callback.best_model_path  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------------
# 4. prediction


def predict(trainer: pl.Trainer, loader: DataLoader[Any], checkpoint: str) -> pd.DataFrame:
    """Predictions of ``checkpoint``: one row per sample, ``id``, ``model.output.malignancy`` (the two class
    probabilities) and ``data.label``."""
    module = trainer.lightning_module
    assert isinstance(module, LightningModuleDefault)
    module.set_predictions_keys([PRED, TARGET])
    batches = trainer.predict(module, loader, ckpt_path=checkpoint)
    return convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]


def save_predictions(predictions: dict[str, pd.DataFrame], path: Path) -> None:
    """The predictions as a plain table: ``id``, ``split``, ``label`` (1 = malignant), ``p_malignant``."""
    rows = [
        pd.DataFrame(
            {
                "id": frame["id"],
                "split": split,
                "label": frame[TARGET].astype(int),
                "p_malignant": np.stack(frame[PRED].to_list())[:, 1],
            }
        )
        for split, frame in predictions.items()
    ]
    pd.concat(rows).to_csv(path, index=False)


# ---------------------------------------------------------------------------------------------------------------------
# 5. fuse-eval: operating point and report


def choose_threshold(validation: pd.DataFrame, min_sensitivity: float) -> dict[str, float]:
    """The operating point on the validation split: ``{"threshold", "sensitivity", "specificity"}``.

    Choosing it on the test split would report an optimistic sensitivity; the test split only measures it.
    A sample is called malignant when its probability is ``> threshold``.
    """
    metric = MetricOperatingPoint(pred=PRED, target=TARGET, method="specificity_at_sensitivity", value=min_sensitivity)
    results = EvaluatorDefault().eval(ids=None, data=validation, metrics={"operating_point": metric})
    point: dict[str, float] = results["metrics.operating_point"]
    return point


def report(
    test: pd.DataFrame, point: dict[str, float], args: argparse.Namespace, sizes: dict[str, int], report_dir: Path
) -> dict[str, Any]:
    """The report on the test split (``report.html``, ``results.md``, ``results.json`` and the figures).

    Proportions (sensitivity, specificity, PPV, NPV, accuracy) get Wilson intervals from their counts; the AUCs a
    stratified bootstrap (benign and malignant cases resampled separately).
    """
    probability = np.stack(test[PRED].to_list())[:, 1]  # the head's softmax: column 1 is p(malignant)
    rule = (
        f"the highest specificity on the validation split ({sizes['validation']} cases) with sensitivity >= "
        f"{args.min_sensitivity}; there: sensitivity {point['sensitivity']:.3f}, specificity "
        f"{point['specificity']:.3f}"
    )
    settings = ReportSettings(
        threshold=point["threshold"],
        threshold_rule=rule,
        proportion_ci="wilson",
        bootstraps=args.bootstraps,
        seed=args.seed,
        title="fuse demo: breast cancer (malignant vs benign), test split",
        description=(
            "Wisconsin diagnostic breast cancer table (scikit-learn), an MLP trained on "
            f"{sizes['train']} cases, its epoch and threshold chosen on {sizes['validation']} validation cases, "
            f"evaluated on {sizes['test']} held-out test cases."
        ),
        verbose=not args.quiet and interactive_output(),  # the bootstraps' progress bars
        warn_noted=False,  # main() prints the notes: each said once
    )
    return write_report(report_dir, probability, test[TARGET].astype(int).to_numpy(), CLASS_NAMES, settings=settings)


def summary(results: dict[str, Any], out: Path) -> str:
    """The headline numbers, as printed at the end."""
    metrics, setup = results["metrics"], results["setup"]

    def with_ci(key: str) -> str:
        stat = metrics[key]
        counts = f"  ({stat['successes']}/{stat['n']})" if "n" in stat else ""
        return f"{stat['value']:.3f} [95% CI {stat['low']:.3f}, {stat['high']:.3f}]{counts}"

    return "\n".join(
        [
            (
                f"test split ({setup['cases']} cases), malignant = positive, threshold {setup['threshold']:.3f} "
                "(chosen on the validation split):"
            ),
            f"  ROC AUC      {with_ci('auc')}",
            f"  sensitivity  {with_ci('sensitivity')}",
            f"  specificity  {with_ci('specificity')}",
            f"  ECE          {results['calibration']['ece']:.3f}",
            f"report: {out / 'report' / 'report.html'}",
        ]
    )


# ---------------------------------------------------------------------------------------------------------------------
# the whole run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo with ``argv`` (``sys.argv[1:]`` when ``None``); returns the exit code (0)."""
    args = build_parser().parse_args(argv)
    with _demo_settings(verbose=not args.quiet):
        run(args, own_process=argv is None)
    return 0


def run(args: argparse.Namespace, own_process: bool = False) -> dict[str, Any]:
    """Every step, in order, with a line about each; returns the test split's report (see
    :func:`fuse.eval.write_report`). ``own_process``: the process was started for the demo (the command line), so
    its whole run time, imports included, is reported too."""
    verbose = not args.quiet
    say: Callable[..., None] = print if verbose else _silent
    start = time.perf_counter()
    out: Path = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="fuse-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    say(f"fuse demo: writing to {out}")
    set_seed(args.seed, deterministic_mode=False)

    table = load_table()
    ids = split_ids(table, args.seed)
    sizes = {name: len(split) for name, split in ids.items()}
    malignant = int(table["label"].sum())
    say(f"1. data: {len(table)} samples, {NUM_FEATURES} features, {malignant} malignant (the positive class) and "
        f"{len(table) - malignant} benign; split {sizes['train']} / {sizes['validation']} / {sizes['test']} "
        "(train / validation / test)")  # fmt: skip

    with sample_cache_dir(args.cache_dir, out) as cache_dir:
        say(f"2. fuse-data: caching the static pipeline's output in {cache_dir}"
            + ("" if args.cache_dir is not None else " (temporary)"))  # fmt: skip
        datasets = split_datasets(build_dataset(table, ids["train"], cache_dir, verbose), ids)
        loaders = build_loaders(datasets, args.seed)

        say(f"3. fuse-dl: training an MLP + Head1D for {args.epochs} epochs (balanced batches of 16 + 16)")
        trainer, best_checkpoint = train(loaders, out / "model", args.epochs, verbose)
        say(f"   best epoch kept: {best_checkpoint}")

        say("4. predicting the validation and test splits with the best checkpoint")
        predictions = {name: predict(trainer, loaders[name], best_checkpoint) for name in ("validation", "test")}
    save_predictions(predictions, out / "predictions.csv")

    point = choose_threshold(predictions["validation"], args.min_sensitivity)
    say(f"5. fuse-eval: threshold {point['threshold']:.4f} (validation sensitivity {point['sensitivity']:.3f} >= "
        f"{args.min_sensitivity}, specificity {point['specificity']:.3f}); evaluating the test split with "
        f"{args.bootstraps} bootstraps")  # fmt: skip
    results = report(predictions["test"], point, args, sizes, out / "report")
    for note in results["notes"]:
        print(f"note: {note}")  # e.g. no figures without matplotlib

    print(summary(results, out))
    steps = time.perf_counter() - start
    whole = _seconds_since_process_start() if own_process else None
    timing = f"steps 1-5 took {steps:.0f} s"
    if whole is not None:
        timing = f"{whole:.0f} s in all ({timing}; the rest is starting Python and importing torch and Lightning)"
    say(f"done: {timing}; everything is in {out}")
    return results


def _seconds_since_process_start() -> float | None:
    """Seconds since this process started (Linux: from /proc), or ``None`` where that is not known."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, in clock ticks after boot
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextlib.contextmanager
def sample_cache_dir(keep_in: Path | None, out: Path) -> Iterator[Path]:
    """``keep_in`` when given; else a temporary directory inside ``out``, removed (with the cache) at the end."""
    if keep_in is not None:
        yield keep_in
        return
    with tempfile.TemporaryDirectory(prefix="cache-", dir=out, ignore_cleanup_errors=True) as temporary:
        yield Path(temporary)


def _silent(*args: Any, **kwargs: Any) -> None:
    """``print`` under ``--quiet``."""


@contextlib.contextmanager
def _demo_settings(verbose: bool) -> Iterator[None]:
    """One torch thread, and Lightning's notes that do not concern the demo hidden; restored afterwards.

    The model is tiny: splitting its arithmetic between threads costs more than it saves (a training step is ~10x
    faster on one thread).
    """
    threads = torch.get_num_threads()
    lightning_logger = logging.getLogger("lightning.pytorch")
    level = lightning_logger.level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers")  # one process is intended here
        torch.set_num_threads(1)
        if not verbose:
            lightning_logger.setLevel(logging.WARNING)  # "GPU available: False", tips
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            lightning_logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
