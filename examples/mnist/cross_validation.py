"""MNIST k-fold cross-validation with ``fuse.dl.run_cross_validation`` (FuseMedML's ``ml_pipelines/mnist``).

The training split is divided into ``--folds`` folds (``KFold``, shuffled, seed ``--split-seed``); for each of the
first ``--folds-used`` folds a process of its own trains LeNet on the other folds (the best epoch picked on this
fold), predicts this fold and evaluates those predictions, then predicts and evaluates the test split. The folds'
test probabilities are then averaged (the ensemble) and evaluated too; everything ``--repetitions`` times, with seeds
0, 1, .... The functions below are the runner's four user functions (``create_dataset``, ``run_train``,
``run_infer``, ``run_eval``); the model, loss, metrics and evaluation are those of the other MNIST examples
(``mnist_common.py``).

Run (the IDX files of MNIST in DATA_DIR; see README.md)::

    python examples/mnist/cross_validation.py --data-dir DATA_DIR --out OUT [--folds 5] [--gpus 0] [--help]

Writes, under OUT (``<r>`` the repetition, ``<f>`` the fold):

- ``folds.csv``: every training sample id and the fold that validates it;
- ``model_dir/rep_<r>/<f>/``: the fold's checkpoints (``best_epoch.ckpt``, ``last.ckpt``), ``logs/metrics.csv`` and
  ``train_ids.csv`` (the samples it trained on);
- ``infer_dir/validation/rep_<r>/<f>/infer.gz``: the fold's model on its validation fold; ``infer_dir/test/rep_<r>/
  <f>/infer.gz``: on the test split; ``infer_dir/test/rep_<r>/ensemble/infer.gz``: the mean of the folds' test
  probabilities (one row per image: ``id``, ``model.output.classification``, ``data.label``);
- ``eval_dir/{validation,test}/rep_<r>/<f or ensemble>/``: the evaluation of each of those files (``results.json``:
  accuracy with its 95% Wilson CI, one-vs-rest AUC per digit and macro average; ``report/``: the fuse-eval report);
- ``summary.csv`` and ``summary.md``: one row per fold and the ensemble with those headline numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mnist_cli import add_common_arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--folds", type=int, default=5, help="folds of the training split (default 5)")
    parser.add_argument("--folds-used", type=int, help="how many of them to train (default: all)")
    parser.add_argument("--repetitions", type=int, default=1, help="repetitions, seeds 0, 1, ... (default 1)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs to use; 0 runs every fold on the CPU (default 0)")
    parser.add_argument("--gpus-per-fold", type=int, default=1, help="GPUs per fold process (default 1)")
    parser.add_argument("--split-seed", type=int, default=1234, help="seed of the fold split (default 1234)")
    parser.add_argument("--no-plots", action="store_true", help="no figures in the reports (faster)")
    parser.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch's deterministic algorithms in every fold (default: on, as in FuseMedML; an op without a "
        "deterministic implementation on the GPU then raises, naming it: pass --no-deterministic)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import pandas as pd
    from mnist_common import (
        BEST_EPOCH_SOURCE,
        LABEL,
        PREDICTION_KEYS,
        PROBABILITIES,
        MNISTDataModule,
        evaluate,
        make_losses,
        make_metrics,
        make_optimizer,
        make_trainer,
        save_predictions,
        wrap_model,
    )

    from fuse.core import save_dataframe, save_text_file
    from fuse.data import DatasetDefault
    from fuse.dl import LightningModuleDefault, run_cross_validation
    from fuse.imaging.datasets import MNIST
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


INFER_FILENAME = "infer.gz"  # the name run_cross_validation ensembles


# ------------------------------------------------------------------------------ the runner's four user functions
# Each runs in a spawned fold process (the ensemble's evaluation in this one): module-level functions, importable.
def create_dataset(
    train_val_sample_ids: tuple[list[Any], list[Any]] | None, paths: dict[str, str], params: dict[str, Any]
) -> tuple[DatasetDefault, DatasetDefault]:
    """``None``: (the whole training split, the test split), which the runner splits into folds; a fold's
    ``(train_ids, validation_ids)``: its training and validation datasets."""
    data_dir = paths["data_dir"]
    if train_val_sample_ids is None:
        return MNIST.dataset(data_dir, train=True, download=False), MNIST.dataset(data_dir, train=False, download=False)
    train_ids, validation_ids = train_val_sample_ids
    return (
        MNIST.dataset(data_dir, train=True, sample_ids=train_ids, download=False),
        MNIST.dataset(data_dir, train=True, sample_ids=validation_ids, download=False),
    )


def _data_module(params: dict[str, Any], train: DatasetDefault | None, other: DatasetDefault) -> MNISTDataModule:
    """The shared data module (balanced training batches, ordered validation / prediction) over given datasets."""
    data = MNISTDataModule(params["data_dir"], batch_size=params["batch_size"], num_workers=params["num_workers"])
    data.train_dataset, data.validation_dataset, data.test_dataset = train, other, other  # setup() keeps them
    return data


def run_train(
    train_dataset: DatasetDefault,
    validation_dataset: DatasetDefault,
    paths: dict[str, str],
    train_params: dict[str, Any],
) -> None:
    """Train LeNet on the fold's training samples (listed in ``<model_dir>/train_ids.csv``); the best validation
    accuracy's epoch is kept as ``<model_dir>/best_epoch.ckpt``."""
    model_dir = Path(paths["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    train_ids = pd.DataFrame({"sample_id": list(train_dataset.get_all_sample_ids())})
    save_dataframe(train_ids, model_dir / "train_ids.csv", index=False)
    model = wrap_model()
    module = LightningModuleDefault(
        model_dir=model_dir,
        model=model,
        losses=make_losses(),
        train_metrics=make_metrics(),
        validation_metrics=make_metrics(),
        best_epoch_source=BEST_EPOCH_SOURCE,
        optimizers_and_lr_schs=make_optimizer(model.parameters(), train_params["lr"], train_params["weight_decay"]),
    )
    trainer = make_trainer(train_params["accelerator"], train_params["epochs"], model_dir / "logs")
    trainer.fit(module, datamodule=_data_module(train_params, train_dataset, validation_dataset))


def run_infer(dataset: DatasetDefault, paths: dict[str, str], infer_params: dict[str, Any]) -> None:
    """Predict ``dataset`` with the fold's best checkpoint into ``<inference_dir>/infer.gz``."""
    checkpoint = Path(paths["model_dir"]) / "best_epoch.ckpt"
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=paths["model_dir"], model=wrap_model(), weights_only=True
    )
    module.set_predictions_keys(PREDICTION_KEYS)
    predictions = make_trainer(infer_params["accelerator"]).predict(
        module, datamodule=_data_module(infer_params, None, dataset)
    )
    save_predictions(predictions, Path(paths["inference_dir"]) / INFER_FILENAME)


def run_eval(paths: dict[str, str], eval_params: dict[str, Any]) -> None:
    """Evaluate ``<inference_dir>/infer.gz`` into ``<eval_dir>`` (``mnist_common.evaluate``)."""
    evaluate(
        Path(paths["inference_dir"]) / INFER_FILENAME,
        Path(paths["eval_dir"]),
        num_of_bootstraps=eval_params["bootstraps"],
        plots=eval_params["plots"],
        split="validation fold" if Path(paths["eval_dir"]).parts[-3] == "validation" else "test",  # the runner's layout
    )


# ------------------------------------------------------------------------------------------------ the report
def summarize(eval_dir: Path, repetitions: int, folds_used: int) -> pd.DataFrame:
    """One row per repetition, fold (and ensemble) and split: accuracy [95% Wilson CI] and macro-average AUC, read
    from the ``results.json`` files the evaluations wrote."""
    rows = []
    for rep in range(repetitions):
        for split, models in (("validation", range(folds_used)), ("test", [*range(folds_used), "ensemble"])):
            for model in models:
                results = eval_dir / split / f"rep_{rep}" / str(model) / "results.json"
                metrics = json.loads(results.read_text())["metrics"]
                accuracy = metrics["accuracy"]
                rows.append(
                    {"repetition": rep, "model": str(model), "split": split, "n": accuracy["n"],
                     "accuracy": accuracy["org"], "accuracy_ci_lower": accuracy["conf_lower"],
                     "accuracy_ci_upper": accuracy["conf_upper"], "auc_macro": metrics["auc"]["macro_avg"]}
                )  # fmt: skip
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def markdown_summary(table: pd.DataFrame) -> str:
    """The summary as a Markdown table."""
    lines = [
        "| repetition | model | split | images | accuracy [95% Wilson CI] | macro AUC |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        accuracy = f"{row.accuracy:.3f} [{row.accuracy_ci_lower:.3f}-{row.accuracy_ci_upper:.3f}]"
        lines.append(f"| {row.repetition} | {row.model} | {row.split} | {row.n} | {accuracy} | {row.auc_macro:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Cross-validate, write the folds and the summary, print it."""
    args = parse_args(argv)
    folds_used = args.folds if args.folds_used is None else args.folds_used
    out: Path = args.out
    paths = {
        "data_dir": str(args.data_dir),
        "model_dir": str(out / "model_dir"),
        "inference_dir": str(out / "infer_dir"),
        "eval_dir": str(out / "eval_dir"),
    }
    loader = {"data_dir": str(args.data_dir), "batch_size": args.batch_size, "num_workers": args.num_workers}
    device = {"accelerator": args.accelerator}
    train_params = {**loader, **device, "epochs": args.epochs, "lr": args.lr, "weight_decay": args.weight_decay}
    folds = run_cross_validation(
        num_folds=args.folds,
        num_folds_used=folds_used,
        num_gpus_total=args.gpus,
        num_gpus_per_split=args.gpus_per_fold,
        num_repetitions=args.repetitions,
        dataset_func=create_dataset,
        train_func=run_train,
        infer_func=run_infer,
        eval_func=run_eval,
        dataset_params={"target_key": LABEL},
        train_params=train_params,
        infer_params={**loader, **device, "pred_key": PROBABILITIES},
        eval_params={"bootstraps": args.bootstraps, "plots": not args.no_plots},
        paths=paths,
        deterministic_mode=args.deterministic,
        split_seed=args.split_seed,
    )
    rows = [(sample_id, fold) for fold, (_, validation) in enumerate(folds) for sample_id in validation]
    save_dataframe(pd.DataFrame(rows, columns=["sample_id", "validation_fold"]), out / "folds.csv", index=False)
    table = summarize(out / "eval_dir", args.repetitions, folds_used)
    save_dataframe(table, out / "summary.csv", index=False)
    save_text_file(out / "summary.md", markdown_summary(table))
    print(markdown_summary(table))
    print(f"outputs in {out}: folds.csv, summary.md, model_dir/, infer_dir/, eval_dir/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
