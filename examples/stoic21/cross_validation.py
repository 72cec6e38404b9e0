"""STOIC21 k-fold cross-validation with ``fuse.dl.run_cross_validation`` (FuseMedML's ``ml_pipelines/stoic21``).

The patients are split once, balanced on ``probSevere`` (fuse-data ``balanced_division``): a fifth is held out as
the test set, the rest divided into ``--folds`` folds. The runner gets these folds explicitly
(``sample_ids_per_fold``, as FuseMedML's STOIC21 pipeline did) and, for each of the first ``--folds-used`` folds, in
a process of its own: trains the CT + clinical model of ``train_and_evaluate.py`` on the other folds (the best
epoch picked on this fold's validation AUC), predicts and evaluates this fold, then predicts and evaluates the test
patients. The folds' test probabilities are then averaged (the ensemble) and evaluated too; everything
``--repetitions`` times, with seeds 0, 1, .... The data pipelines (static, cached per fold by ``SamplesCacher``;
dynamic with augmentation for training) are ``train_and_evaluate.py``'s; ``--width`` narrows the r3d_18 backbone
(its default, 64, is FuseMedML's model).

    python examples/stoic21/make_synthetic_cohort.py --out stoic21_cohort
    python examples/stoic21/cross_validation.py --cohort stoic21_cohort --out stoic21_cv [--folds 4] [--help]

``--stoic21-dir`` reads the real STOIC2021 layout through ``fuse.imaging.datasets.STOIC21`` instead (see README.md).
Writes, under ``--out`` (``<r>`` the repetition, ``<f>`` the fold):

- ``split.csv``: every patient (sample id) and its part: ``test`` or the fold that validates it;
- ``cache_dir/rep_<r>/<f>/``: the static pipeline's samples; ``model_dir/rep_<r>/<f>/``: ``best_epoch.ckpt``
  (weights only), ``last.ckpt``, ``logs/`` and ``train_ids.csv`` (the patients it trained on);
- ``infer_dir/{validation,test}/rep_<r>/<f>/infer.gz`` and ``infer_dir/test/rep_<r>/ensemble/infer.gz``: one row
  per patient: ``id``, ``model.output.classification`` (probabilities of not severe / severe), ``data.gt.probSevere``;
- ``eval_dir/{validation,test}/rep_<r>/<f or ensemble>/``: ``results.json`` (ROC AUC with a 95% bootstrap CI
  stratified by the outcome) and ``report/`` (fuse-eval's report: AUC and AUC-PR, sensitivity, specificity, PPV,
  NPV and accuracy at probability 0.5 with counts and Wilson CIs, the confusion matrix, calibration);
- ``summary.csv`` and ``summary.md``: one row per fold and the ensemble.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cohort", type=Path, help="a cohort written by make_synthetic_cohort.py (NIfTI layout)")
    source.add_argument("--stoic21-dir", type=Path, help="the STOIC2021 data (data/mha/*.mha, metadata/reference.csv)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the caches, models, predictions, reports")
    parser.add_argument("--folds", type=int, default=4, help="folds of the train/validation patients (default 4)")
    parser.add_argument("--folds-used", type=int, help="how many of them to train (default: all)")
    parser.add_argument("--repetitions", type=int, default=1, help="repetitions, seeds 0, 1, ... (default 1)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs to use; 0 runs every fold on the CPU (default 0)")
    parser.add_argument("--gpus-per-fold", type=int, default=1, help="GPUs per fold process (default 1)")
    parser.add_argument(
        "--shape", type=int, nargs=3, default=(16, 32, 32), metavar=("SLICES", "ROWS", "COLUMNS"),
        help="network input size the volumes are resized to (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--width", type=int, default=64, help="channels of the backbone's first layer (default 64)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument("--batch-size", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--bootstraps", type=int, default=1000, help="bootstrap resamplings of the AUC CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient split (default 0)")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu (default auto)")
    parser.add_argument("--workers", type=int, default=0, help="data loading and caching processes (default 0)")
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
    import lightning.pytorch as pl
    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader
    from train_and_evaluate import (
        CLASS_NAMES,
        CLIP_RANGE_HU,
        LABEL,
        NUM_CLINICAL_FEATURES,
        THRESHOLD,
        dynamic_pipeline,
        static_pipeline,
    )

    from fuse.core import read_dataframe, save_dataframe, save_text_file
    from fuse.data import BatchSamplerDefault, CollateDefault, DatasetDefault, SamplesCacher, balanced_division
    from fuse.dl import (
        BackboneResnet3D,
        Head3D,
        LightningModuleDefault,
        LossDefault,
        ModelMultiHead,
        convert_predictions_to_dataframe,
        run_cross_validation,
    )
    from fuse.eval import CI, EvaluatorDefault, MetricAUCROC, ReportSettings, write_report
    from fuse.imaging.datasets import STOIC21
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


INFER_FILENAME = "infer.gz"  # the name run_cross_validation ensembles
PROBABILITIES = "model.output.classification"
TEST_FOLD_COUNT = 5  # the test set is one of this many balanced folds of all patients


# ------------------------------------------------------------------------------------------------ the split
def split_patients(table: pd.DataFrame, id_column: str, num_folds: int, seed: int) -> pd.DataFrame:
    """``sample_id, part`` per patient: ``test`` for a balanced fifth, else the fold (0 .. num_folds-1) that
    validates it; the folds too are balanced on ``probSevere``."""
    outer = balanced_division(table, id_column, ["probSevere"], nfolds=TEST_FOLD_COUNT, seed=seed)
    test = outer["fold"] == TEST_FOLD_COUNT - 1
    inner = balanced_division(
        table[table[id_column].isin(outer.loc[~test, id_column])], id_column, ["probSevere"], nfolds=num_folds,
        seed=seed,
    )  # fmt: skip
    parts = [(sample_id, "test") for sample_id in outer.loc[test, id_column]]
    parts += [(sample_id, str(fold)) for sample_id, fold in zip(inner[id_column], inner["fold"], strict=True)]
    split: pd.DataFrame = pd.DataFrame(parts, columns=["sample_id", "part"])
    return split


def folds_of(split: pd.DataFrame, num_folds: int) -> list[tuple[list[Any], list[Any]]]:
    """The runner's ``sample_ids_per_fold``: ``(train_ids, validation_ids)`` of each fold."""
    train_val = split[split["part"] != "test"]
    return [
        (train_val.loc[train_val["part"] != str(fold), "sample_id"].tolist(),
         train_val.loc[train_val["part"] == str(fold), "sample_id"].tolist())
        for fold in range(num_folds)
    ]  # fmt: skip


# ------------------------------------------------------------------------------ the runner's four user functions
# Each runs in a spawned fold process (the ensemble's evaluation in this one): module-level functions, importable.
def _dataset(sample_ids: list[Any], train: bool, paths: dict[str, str], params: dict[str, Any]) -> DatasetDefault:
    shape = tuple(params["shape"])
    if params.get("stoic21_dir"):
        return STOIC21.dataset(
            params["stoic21_dir"], paths["cache_dir"], num_workers=params["workers"], sample_ids=sample_ids,
            train=train, output_shape=shape, clip_range=CLIP_RANGE_HU,
        )  # fmt: skip
    static = static_pipeline(Path(params["cohort"]), shape)
    cacher = SamplesCacher("stoic21_synthetic", static, paths["cache_dir"], workers=params["workers"])
    dataset = DatasetDefault(sample_ids, static, dynamic_pipeline(train=train), cacher)
    dataset.create()
    return dataset


def create_dataset(
    train_val_sample_ids: tuple[list[Any], list[Any]] | None, paths: dict[str, str], params: dict[str, Any]
) -> tuple[DatasetDefault | None, DatasetDefault]:
    """A fold's ``(train_ids, validation_ids)``: its training and validation datasets; ``None``: the test
    patients' dataset (second; the first, the train/validation patients, is not needed with explicit folds)."""
    if train_val_sample_ids is None:
        return None, _dataset(params["test_ids"], False, paths, params)
    train_ids, validation_ids = train_val_sample_ids
    return _dataset(train_ids, True, paths, params), _dataset(validation_ids, False, paths, params)


def create_model(width: int = 64) -> ModelMultiHead:
    """``train_and_evaluate.create_model`` (FuseMedML's STOIC21 model) with a backbone ``width`` channels wide
    (64: r3d_18, 512 features)."""
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=BackboneResnet3D(in_channels=1, first_channel_dim=width),
        heads=[
            Head3D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 8 * width)],
                dropout_rate=0.5,
                num_outputs=2,
                append_features=[("data.input.clinical", NUM_CLINICAL_FEATURES)],
                append_layers_description=(256, 128),
            )
        ],
    )


def _loader(dataset: DatasetDefault, params: dict[str, Any]) -> DataLoader[Any]:
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=params["batch_size"],
        collate_fn=CollateDefault(),
        num_workers=params["workers"],
    )


def run_train(
    train_dataset: DatasetDefault,
    validation_dataset: DatasetDefault,
    paths: dict[str, str],
    train_params: dict[str, Any],
) -> None:
    """Train on the fold's training patients (listed in ``<model_dir>/train_ids.csv``) in balanced batches; the
    epoch with the best validation AUC is kept as ``<model_dir>/best_epoch.ckpt``."""
    model_dir = Path(paths["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    train_ids = pd.DataFrame({"sample_id": list(train_dataset.get_all_sample_ids())})
    save_dataframe(train_ids, model_dir / "train_ids.csv", index=False)
    sampler = BatchSamplerDefault(train_dataset, LABEL, batch_size=train_params["batch_size"], seed=0)
    train_loader: DataLoader[Any] = DataLoader(
        train_dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=train_params["workers"],
    )
    lr = train_params["lr"]

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "validation.losses.total_loss"},
        }

    module = LightningModuleDefault(
        model_dir=model_dir,
        model=create_model(train_params["width"]),
        losses={"cls_loss": LossDefault(pred="model.logits.classification", target=LABEL, callable=F.cross_entropy)},
        validation_metrics={"auc": MetricAUCROC(pred=PROBABILITIES, target=LABEL)},
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max", "save_weights_only": True},
        optimizers_and_lr_schs=optimizers_and_lr_schs,
    )
    trainer = pl.Trainer(
        default_root_dir=model_dir,
        max_epochs=train_params["epochs"],
        accelerator=train_params["accelerator"],
        devices=1,
        logger=CSVLogger(model_dir, name="logs"),
        log_every_n_steps=1,
        enable_progress_bar=False,
    )
    trainer.fit(module, train_loader, _loader(validation_dataset, train_params))


def run_infer(dataset: DatasetDefault, paths: dict[str, str], infer_params: dict[str, Any]) -> None:
    """Predict ``dataset`` with the fold's best checkpoint into ``<inference_dir>/infer.gz``."""
    module = LightningModuleDefault.load_from_checkpoint(
        Path(paths["model_dir"]) / "best_epoch.ckpt",
        model_dir=paths["model_dir"],
        model=create_model(infer_params["width"]),
        weights_only=True,
    )
    module.set_predictions_keys([PROBABILITIES, LABEL])
    trainer = pl.Trainer(
        accelerator=infer_params["accelerator"], devices=1, logger=False, enable_model_summary=False,
        enable_progress_bar=False, default_root_dir=paths["model_dir"],
    )  # fmt: skip
    batches = trainer.predict(module, _loader(dataset, infer_params))
    frame = convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]
    frame[LABEL] = frame[LABEL].astype(int)
    Path(paths["inference_dir"]).mkdir(parents=True, exist_ok=True)
    save_dataframe(frame, Path(paths["inference_dir"]) / INFER_FILENAME)


def run_eval(paths: dict[str, str], eval_params: dict[str, Any]) -> None:
    """Evaluate ``<inference_dir>/infer.gz`` into ``<eval_dir>``: the evaluator's ROC AUC with a 95% bootstrap CI
    (``results.json``) and the report (``report/``)."""
    predictions = read_dataframe(Path(paths["inference_dir"]) / INFER_FILENAME)
    eval_dir = Path(paths["eval_dir"])
    auc = CI(
        MetricAUCROC(pred=PROBABILITIES, target=LABEL),
        stratum=LABEL,
        num_of_bootstraps=eval_params["bootstraps"],
        rnd_seed=eval_params["seed"],
    )
    EvaluatorDefault().eval(ids=None, data=predictions, metrics={"auc": auc}, output_dir=eval_dir)
    what = "validation fold" if eval_dir.parts[-3] == "validation" else "test patients"  # the runner's layout
    settings = ReportSettings(
        threshold=THRESHOLD,
        threshold_rule=f"fixed in advance at probability {THRESHOLD}, not tuned",
        proportion_ci="wilson",
        bootstraps=eval_params["bootstraps"],
        seed=eval_params["seed"],
        title=f"STOIC21-style severe COVID-19 outcome, cross-validation: {eval_dir.name} on the {what}",
        description=f"{len(predictions)} patients of {eval_dir.as_posix()}.",
        plots=eval_params["plots"],
    )
    severe = np.stack(predictions[PROBABILITIES].to_list())[:, 1]
    write_report(eval_dir / "report", severe, predictions[LABEL].to_numpy(), list(CLASS_NAMES), settings=settings)


# ------------------------------------------------------------------------------------------------ the report
def summarize(eval_dir: Path, repetitions: int, folds_used: int) -> pd.DataFrame:
    """One row per repetition, fold (and ensemble) and split: the ROC AUC [95% bootstrap CI] and the accuracy at
    probability 0.5 [95% Wilson CI], read from the files the evaluations wrote."""
    rows = []
    for rep in range(repetitions):
        for split, models in (("validation", range(folds_used)), ("test", [*range(folds_used), "ensemble"])):
            for model in models:
                folder = eval_dir / split / f"rep_{rep}" / str(model)
                auc = json.loads((folder / "results.json").read_text())["metrics"]["auc"]
                accuracy = json.loads((folder / "report" / "results.json").read_text())["metrics"]["accuracy"]
                rows.append(
                    {"repetition": rep, "model": str(model), "split": split, "n": accuracy["n"], "auc": auc["org"],
                     "auc_ci_lower": auc["conf_lower"], "auc_ci_upper": auc["conf_upper"],
                     "accuracy": accuracy["value"], "accuracy_ci_lower": accuracy["low"],
                     "accuracy_ci_upper": accuracy["high"]}
                )  # fmt: skip
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def markdown_summary(table: pd.DataFrame) -> str:
    """The summary as a Markdown table."""

    def shown(value: Any, low: Any, high: Any) -> str:
        return "undefined" if pd.isna(value) else f"{value:.3f} [{low:.3f}-{high:.3f}]"

    lines = ["| repetition | model | split | patients | ROC AUC [95% CI] | accuracy at 0.5 [95% Wilson CI] |"]
    lines.append("|---|---|---|---|---|---|")
    for row in table.itertuples():
        auc = shown(row.auc, row.auc_ci_lower, row.auc_ci_upper)
        accuracy = shown(row.accuracy, row.accuracy_ci_lower, row.accuracy_ci_upper)
        lines.append(f"| {row.repetition} | {row.model} | {row.split} | {row.n} | {auc} | {accuracy} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Split, cross-validate, write the split and the summary, print it."""
    args = parse_args(argv)
    folds_used = args.folds if args.folds_used is None else args.folds_used
    out: Path = args.out
    if args.cohort is not None:
        split = split_patients(read_dataframe(args.cohort / "clinical.csv"), "PatientID", args.folds, args.seed)
    else:
        reference = read_dataframe(args.stoic21_dir / "metadata" / "reference.csv")
        reference["sample_id"] = [f"data/mha/{patient_id}.mha" for patient_id in reference["PatientID"]]
        reference = reference[reference["sample_id"].isin(STOIC21.sample_ids(args.stoic21_dir))]  # volume there
        split = split_patients(reference, "sample_id", args.folds, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    save_dataframe(split, out / "split.csv", index=False)
    paths = {name: str(out / name) for name in ("cache_dir", "model_dir")}
    paths |= {"inference_dir": str(out / "infer_dir"), "eval_dir": str(out / "eval_dir")}
    common = {"accelerator": args.accelerator, "batch_size": args.batch_size, "workers": args.workers}
    run_cross_validation(
        num_folds=args.folds,
        num_folds_used=folds_used,
        num_gpus_total=args.gpus,
        num_gpus_per_split=args.gpus_per_fold,
        num_repetitions=args.repetitions,
        dataset_func=create_dataset,
        train_func=run_train,
        infer_func=run_infer,
        eval_func=run_eval,
        dataset_params={
            "target_key": LABEL,
            "cohort": args.cohort and str(args.cohort),
            "stoic21_dir": args.stoic21_dir and str(args.stoic21_dir),
            "shape": list(args.shape),
            "workers": args.workers,
            "test_ids": split.loc[split["part"] == "test", "sample_id"].tolist(),
        },
        train_params={**common, "width": args.width, "epochs": args.epochs, "lr": args.lr},
        infer_params={**common, "width": args.width, "pred_key": PROBABILITIES},
        eval_params={"bootstraps": args.bootstraps, "seed": args.seed, "plots": not args.no_plots},
        paths=paths,
        deterministic_mode=args.deterministic,
        sample_ids_per_fold=folds_of(split, args.folds),
    )
    table = summarize(out / "eval_dir", args.repetitions, folds_used)
    save_dataframe(table, out / "summary.csv", index=False)
    save_text_file(out / "summary.md", markdown_summary(table))
    print(markdown_summary(table))
    print(f"outputs in {out}: split.csv, summary.md, model_dir/, infer_dir/, eval_dir/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
