"""CMMD mammography: classify each mammogram's lesion as benign or malignant with a 2-D CNN.

FuseMedML's CMMD example (``fuse_examples/imaging/classification/cmmd/runner.py``, target ``classification``)
redone with fuse. The steps, each a function below:

1. data: fuse-imaging's ``CMMD`` wrapper joins the clinical sheet with each DICOM file's laterality and view, and
   caches the static pipeline (the mammogram with the breast on the left, cropped to it, normalised to [0, 1],
   resized and padded); the images are split into 5 folds balanced on the label, a patient's images all in one fold
   (``dataset_balanced_division_to_folds``; folds 0-2 train, 3 validation, 4 test; the split is saved and reused);
   training batches are class-balanced (``BatchSamplerDefault``) and augmented by the wrapper's dynamic pipeline;
2. model: ``BackboneInceptionResnetV2`` for one channel (14 logical units, 384 features, as FuseMedML) and a
   ``HeadGlobalPoolingClassifier`` (average pooling, a 256-unit layer, dropout 0.5, 2 classes); ``--weights``
   starts the backbone from a LOCAL state dict file (nothing is downloaded);
3. training with ``LightningModuleDefault`` (cross-entropy; the validation AUC picks the best epoch), then
   inference on the test fold with the best checkpoint;
4. fuse-eval: the report on the test images (``write_report``): ROC AUC and AUC-PR with 95% bootstrap intervals that
   resample whole patients (a patient's images are not independent), and sensitivity, specificity, PPV, NPV and
   accuracy at probability 0.5 with Wilson intervals on the patients' effective number of images.

Make a synthetic set first (see make_synthetic_cmmd.py), then train::

    python examples/cmmd/make_synthetic_cmmd.py --out cmmd_data --patients 80 --size 64
    python examples/cmmd/train_and_evaluate.py --cmmd-dir cmmd_data --out cmmd_run --image-size 56 48 \
        --padding 4 4 --logical-units 3 --epochs 8 --batch-size 16 --lr 1e-3 --bn-momentum 0.1

On the real data, ``--cmmd-dir`` is the folder holding ``CMMD/`` (from TCIA's NBIA Data Retriever) and
``CMMD_clinicaldata_revision.xlsx`` (or its CSV conversion). ``python examples/cmmd/train_and_evaluate.py --help``
lists the options.

Everything is written under ``--out``: ``misc/`` (the joined table of files and labels), ``cache/``, ``split.pkl``,
``model/`` (``best_epoch.ckpt``, weights only; ``last.ckpt``), ``logs/``, ``predictions.csv`` (one row per test
image: its file, patient, probability of malignancy and label) and ``report/`` (``report.html``, ``results.md``,
``results.json`` and the figures when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple


# ------------------------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--cmmd-dir", type=Path, required=True, help="the folder holding CMMD/ and the clinical sheet (data_dir)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the cache, model, predictions and report")
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(2200, 1200),
        metavar=("ROWS", "COLUMNS"),
        help="the breast is resized to fit this (default: %(default)s, as FuseMedML)",
    )
    parser.add_argument(
        "--padding",
        type=int,
        nargs=2,
        default=(60, 60),
        metavar=("ROWS", "COLUMNS"),
        help="margin added on each side after resizing (default: %(default)s)",
    )
    parser.add_argument(
        "--weights", type=Path, help="a LOCAL state dict file to start the backbone from; default: random"
    )
    parser.add_argument(
        "--logical-units",
        type=int,
        default=14,
        help="InceptionResNetV2 logical units to keep, 0-43 (default: %(default)s, as FuseMedML)",
    )
    parser.add_argument(
        "--bn-momentum",
        type=float,
        default=0.01,
        help="momentum of the backbone's BatchNorm running statistics (default: %(default)s, FuseMedML's, for "
        "pretrained weights; from random weights use 0.1: at 0.01 the statistics used for evaluation lag the "
        "training ones for hundreds of steps)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default: %(default)s)")
    parser.add_argument(
        "--bootstraps",
        type=int,
        default=1000,
        help="bootstrap resamplings of the AUC intervals; 0: none (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split, the sampler, the model and the augmentations"
    )
    parser.add_argument(
        "--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu, ... (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="data loading and caching processes (default: %(default)s)"
    )
    return parser


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    build_parser().parse_args(sys.argv[1:])

try:
    import lightning.pytorch as pl
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from fuse.core import set_seed
    from fuse.data import BatchSamplerDefault, CollateDefault, DatasetDefault, dataset_balanced_division_to_folds
    from fuse.dl import (
        BackboneInceptionResnetV2,
        HeadGlobalPoolingClassifier,
        LightningModuleDefault,
        LossDefault,
        ModelMultiHead,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricAUCROC, ReportSettings, write_report
    from fuse.imaging.datasets import CMMD
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


TARGET = "classification"  # the clinical column: Benign (0) / Malignant (1)
LABEL = "data.gt.classification"
PATIENT = "data.patientID"
CLASS_NAMES = ("benign", "malignant")  # malignant is the positive class
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 folds balanced on the label, by patient
THRESHOLD = 0.5  # an image is called malignant when the predicted probability is > 0.5


class Splits(NamedTuple):
    """The three datasets of a run."""

    train: DatasetDefault
    validation: DatasetDefault
    test: DatasetDefault


# ------------------------------------------------------------------------------------------------ 1. data
def cmmd_datasets(args: argparse.Namespace) -> tuple[Splits, dict[str, list[str]]]:
    """The train / validation / test datasets (fuse.imaging.CMMD), split by patient and balanced on the label."""

    def dataset(sample_ids: list[str] | None, train: bool) -> DatasetDefault:
        return CMMD.dataset(
            args.cmmd_dir,
            args.out / "misc",
            TARGET,
            args.out / "cache",
            num_workers=args.workers,
            sample_ids=sample_ids,
            train=train,
            resize_to=tuple(args.image_size),
            padding=tuple(args.padding),
        )

    folds = dataset_balanced_division_to_folds(
        dataset(None, train=False),
        output_split_filename=args.out / "split.pkl",
        keys_to_balance=[LABEL],
        nfolds=sum(len(numbers) for numbers in FOLDS.values()),
        id=PATIENT,  # a patient's images never in two folds
        workers=args.workers,
        seed=args.seed,
    )
    split = {name: [image for fold in numbers for image in folds[fold]] for name, numbers in FOLDS.items()}
    splits = Splits(
        dataset(split["train"], train=True), dataset(split["validation"], False), dataset(split["test"], False)
    )
    return splits, split


def _loader(dataset: DatasetDefault, args: argparse.Namespace) -> DataLoader[Any]:
    """A plain, ordered loader (validation and test)."""
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )


# ------------------------------------------------------------------------------------------------ 2. model
def create_model(logical_units: int = 14, weights: Path | None = None) -> ModelMultiHead:
    """FuseMedML's CMMD model: one-channel InceptionResNetV2 features, average-pooled, a 256-unit layer, dropout 0.5
    and 2 class scores; ``model.logits.head_0`` and ``model.output.head_0`` (softmax), ``[B, 2]``.

    :raises ValueError: ``weights`` is not a state dict of this network (the message names the file and keys).
    """
    try:
        backbone = BackboneInceptionResnetV2(logical_units_num=logical_units, input_channels_num=1, weights=weights)
    except (ValueError, TypeError, FileNotFoundError) as error:
        if weights is None:
            raise
        raise ValueError(f"--weights {str(weights)!r} cannot start the backbone: {error}") from error
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=backbone,
        heads=[
            HeadGlobalPoolingClassifier(
                head_name="head_0",
                conv_inputs=[("model.backbone_features", backbone.get_feature_depth())],
                layers_description=(256,),
                dropout_rate=0.5,
                num_classes=len(CLASS_NAMES),
                pooling="avg",
            )
        ],
    )


def set_batch_norm_momentum(model: torch.nn.Module, momentum: float) -> None:
    """Set the momentum of every BatchNorm layer's running statistics (the ones evaluation uses).

    FuseMedML's InceptionResNetV2 uses 0.01 (Cadene's 0.1), suited to fine-tuning ImageNet weights whose statistics
    are already right; from random weights, after n steps only ``1 - 0.99**n`` of the running statistics come from
    the data (66% after 100 steps), and a network that fits its training batches predicts at chance in evaluation.
    """
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            module.momentum = momentum


# ------------------------------------------------------------------------------------------------ 3. train, infer
def train(model: ModelMultiHead, datasets: Splits, model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the best validation AUC."""
    sampler = BatchSamplerDefault(datasets.train, LABEL, batch_size=args.batch_size, seed=args.seed)
    train_loader: DataLoader[Any] = DataLoader(
        datasets.train,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )
    losses = {"cls_loss": LossDefault(pred="model.logits.head_0", target=LABEL, callable=F.cross_entropy)}
    validation_metrics = {"auc": MetricAUCROC(pred="model.output.head_0", target=LABEL)}

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        optimizer = torch.optim.Adam(module.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "validation.losses.total_loss"},
        }

    module = LightningModuleDefault(
        model_dir=model_dir,
        model=model,
        losses=losses,
        validation_metrics=validation_metrics,
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max", "save_weights_only": True},
        optimizers_and_lr_schs=optimizers_and_lr_schs,
    )
    trainer = pl.Trainer(
        default_root_dir=model_dir,
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(model_dir.parent, name="logs"),
        log_every_n_steps=1,
    )
    trainer.fit(module, train_loader, _loader(datasets.validation, args))
    return model_dir / "best_epoch.ckpt"


def predict(dataset: DatasetDefault, checkpoint: Path, model_dir: Path, args: argparse.Namespace) -> pd.DataFrame:
    """The best checkpoint's probability of malignancy for every test image, with its patient and label."""
    # Checkpoints hold weights only (no pickled code): rebuild the model, then load them into it.
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=model_dir, model=create_model(args.logical_units), weights_only=True
    )
    module.set_predictions_keys(["model.output.head_0", LABEL, PATIENT])  # what predict_step returns
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, default_root_dir=model_dir
    )
    batches = trainer.predict(module, _loader(dataset, args))
    frame = convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]
    table: pd.DataFrame = pd.DataFrame(
        {
            "file": frame["id"],
            "patient": frame[PATIENT],
            "prob_malignant": [float(probabilities[1]) for probabilities in frame["model.output.head_0"]],
            "malignant": frame[LABEL].astype(int),
        }
    )
    return table


# ------------------------------------------------------------------------------------------------ 4. evaluation
def evaluate(
    predictions: pd.DataFrame, report_dir: Path, bootstraps: int, seed: int, split_sizes: Mapping[str, int]
) -> dict[str, Any]:
    """The report on the test images, written to ``report_dir``; returns its content (see
    :func:`fuse.eval.write_report`). The bootstrap intervals resample patients, not images."""
    patients = predictions["patient"].nunique()
    settings = ReportSettings(
        threshold=THRESHOLD,
        threshold_rule=f"fixed in advance at probability {THRESHOLD}, not tuned",
        proportion_ci="wilson",
        bootstraps=bootstraps,
        seed=seed,
        title="CMMD benign / malignant classification, test mammograms",
        description=(
            f"InceptionResNetV2 trained on {split_sizes['train']} mammograms, its epoch chosen on "
            f"{split_sizes['validation']} validation mammograms, evaluated on {split_sizes['test']} held-out test "
            f"mammograms of {patients} patients."
        ),
    )
    return write_report(
        report_dir,
        predictions["prob_malignant"].to_numpy(),
        predictions["malignant"].to_numpy(),
        list(CLASS_NAMES),
        settings=settings,
        clusters=predictions["patient"].to_numpy(),
    )


def summary(report: Mapping[str, Any]) -> str:
    """The headline numbers of the report, one per line, each with its 95% interval."""
    metrics = report["metrics"]

    def line(name: str, key: str) -> str:
        stat = metrics[key]
        if stat["value"] is None:
            return f"  {name:<12} undefined"
        how = f" ({stat['successes']}/{stat['n']}, Wilson)" if "n" in stat else " (bootstrap by patient)"
        interval = "" if stat.get("low") is None else f" [95% CI {stat['low']:.3f}-{stat['high']:.3f}]"
        return f"  {name:<12} {stat['value']:.3f}{interval}{how}"

    return "\n".join(
        [
            f"test mammograms: {report['setup']['cases']}, malignant = positive, called malignant when p > {THRESHOLD}:",
            line("ROC AUC", "auc"),
            line("sensitivity", "sensitivity"),
            line("specificity", "specificity"),
            line("accuracy", "accuracy"),
        ]
    )


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Split, cache, train, predict and evaluate; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.logical_units <= 43:
        parser.error(f"--logical-units must be in 0..43, got {args.logical_units}")
    if not 0.0 < args.bn_momentum <= 1.0:
        parser.error(f"--bn-momentum must be in (0, 1], got {args.bn_momentum}")
    set_seed(args.seed)
    try:  # first, so that a wrong weights file stops the run before any caching or training
        model = create_model(args.logical_units, args.weights)
        set_batch_norm_momentum(model, args.bn_momentum)
    except ValueError as error:
        print(f"{Path(__file__).name}: error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    datasets, split = cmmd_datasets(args)
    print(", ".join(f"{name}: {len(ids)} mammograms" for name, ids in split.items()))

    checkpoint = train(model, datasets, args.out / "model", args)
    predictions = predict(datasets.test, checkpoint, args.out / "model", args)
    predictions.to_csv(args.out / "predictions.csv", index=False)
    sizes = {name: len(ids) for name, ids in split.items()}
    report = evaluate(predictions, args.out / "report", args.bootstraps, args.seed, sizes)

    for note in report["notes"]:
        print(f"note: {note}")
    print(summary(report))
    print(f"best checkpoint: {checkpoint}")
    print(f"predictions:     {args.out / 'predictions.csv'}")
    print(f"report:          {args.out / 'report' / 'report.html'} (also results.md, results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
