"""Image + clinical fusion on ISIC 2019: melanoma from a dermoscopic image and the patient's age, sex and lesion site.

FuseMedML's ``multimodality/image_clinical`` example (ISIC 2019 read by its ``ISIC`` dataset, a ResNet-18 whose
pooled features are concatenated with the 19-long clinical encoding before the classifier) redone with fuse, and
compared with each modality alone. The steps, each a function below:

1. fuse-imaging's ``ISIC`` dataset reads the layout (images, ground truth, metadata), encodes the clinical data
   (anatomical site one-hot 9, sex one-hot 3, age bin one-hot 7 -> ``data.input.clinical.all``) and caches the
   static pipeline, and augments the training images (``--no-augment`` skips it); the label is melanoma (MEL)
   against every other diagnosis;
2. train / validation / test folds balanced on the label (fuse-data ``balanced_division``);
3. fuse-dl, up to three models trained the same way (``LossDefault``, ``MetricAUCROC``, a class-balanced
   ``BatchSamplerDefault``, ``LightningModuleDefault`` keeping the epoch with the best validation AUC):

   - ``fusion``: ``ModelMultiHead(BackboneResnet)`` + ``HeadGlobalPoolingClassifier`` with the clinical vector as
     ``tabular_data_inputs`` (its own 128-unit MLP), concatenated with the pooled image features;
   - ``image``: the same without the clinical vector;
   - ``clinical``: ``Head1D`` on the clinical vector alone;

4. fuse-eval: a report per model on the test images (ROC AUC, AUC-PR with bootstrap intervals, sensitivity,
   specificity, ... with Wilson intervals) and a comparison table: each AUC with its interval and DeLong's test of
   the fusion model against each single-modality model on the same test images.

Synthetic data first (see make_synthetic_isic.py), then train::

    python examples/image_clinical/make_synthetic_isic.py --out isic_synthetic
    python examples/image_clinical/train_and_evaluate.py --isic-dir isic_synthetic --out image_clinical_run

Under ``--out``: ``cache/``, ``split.csv``, ``<model>/`` (checkpoints), ``logs/<model>/``, ``predictions_<model>.csv`` (``image,
prob_melanoma, melanoma``), ``report_<model>/`` and ``comparison.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MODELS = ("fusion", "image", "clinical")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--isic-dir", type=Path, required=True, help="the folder holding ISIC2019/ (as ISIC.download writes it)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the cache, models, predictions, reports")
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to train (default: all three)"
    )
    parser.add_argument("--size", type=int, default=64, help="network input side in pixels (default: %(default)s)")
    parser.add_argument(
        "--no-augment",
        action="store_true",
        help="train without ISIC's augmentation (rotation, flips, shifts up to 1/6 of the image, colour, noise)",
    )
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument(
        "--bootstraps", type=int, default=1000, help="bootstrap resamplings of the AUC intervals (default: %(default)s)"
    )
    parser.add_argument("--no-figures", action="store_true", help="reports without figures (faster)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, sampler and models")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="data loading and caching processes (default: 0)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    from collections.abc import Mapping, Sequence

    import lightning.pytorch as pl
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader

    from fuse.core import read_dataframe, set_seed
    from fuse.data import BatchSamplerDefault, CollateDefault, DatasetDefault, OpLookup, balanced_division
    from fuse.dl import (
        BackboneResnet,
        Head1D,
        HeadGlobalPoolingClassifier,
        LightningModuleDefault,
        LossDefault,
        ModelMultiHead,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricAUCROC, ReportSettings, delong_test, write_report
    from fuse.imaging.datasets import ISIC
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {
        "numpy",
        "pandas",
        "torch",
        "lightning",
        "fuse.core",
        "fuse.data",
        "fuse.eval",
        "fuse.dl",
        "fuse.imaging",
    }:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None

LABEL = "data.gt.melanoma"
CLINICAL = ("data.input.clinical.all", 19)  # site 9 + sex 3 + age bin 7, from the ISIC dataset
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 balanced folds
CLASS_NAMES = ("other", "melanoma")
THRESHOLD = 0.5
# data.label is the index in ISIC.CLASS_NAMES; MEL is index 0
MELANOMA = {index: int(name == "MEL") for index, name in enumerate(ISIC.CLASS_NAMES)}


# ------------------------------------------------------------------------------------------------ 1-2. data
def split_images(isic_dir: Path, seed: int) -> dict[str, list[str]]:
    """Image ids per split (``FOLDS``), each fold holding about the same share of melanomas."""
    ids = ISIC.sample_ids(isic_dir)
    truth = read_dataframe(isic_dir / "ISIC2019" / "ISIC_2019_Training_GroundTruth.csv")
    truth = truth[truth["image"].isin(ids)]
    folds = balanced_division(truth, "image", ["MEL"], nfolds=5, seed=seed)
    return {name: folds.loc[folds["fold"].isin(numbers), "image"].tolist() for name, numbers in FOLDS.items()}


def make_datasets(split: Mapping[str, Sequence[str]], args: argparse.Namespace) -> dict[str, DatasetDefault]:
    """The ISIC datasets of the three splits (one shared cache), with ``data.gt.melanoma`` (1: MEL)."""
    label = [(OpLookup(MELANOMA), {"key_in": "data.label", "key_out": LABEL})]
    return {
        name: ISIC.dataset(
            args.isic_dir,
            args.out / "cache",
            train=not args.no_augment and name == "train",
            num_workers=args.workers,
            append_dyn_pipeline=label,
            samples_ids=list(ids),
            download=False,
            resize_to=(args.size, args.size),
        )
        for name, ids in split.items()
    }


# ------------------------------------------------------------------------------------------------ 3. models
def create_model(kind: str) -> nn.Module:
    """One of :data:`MODELS`; each writes ``model.logits.melanoma`` and ``model.output.melanoma`` (``[B, 2]``)."""
    if kind == "clinical":
        return Head1D(
            head_name="melanoma",
            conv_inputs=None,
            append_features=[CLINICAL],
            append_layers_description=(128,),
            layers_description=(64,),
            dropout_rate=0.1,
        )
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 3),),
        backbone=BackboneResnet(in_channels=3, name="resnet18"),
        heads=[
            HeadGlobalPoolingClassifier(
                head_name="melanoma",
                conv_inputs=[("model.backbone_features", 512)],
                num_classes=2,
                tabular_data_inputs=[CLINICAL] if kind == "fusion" else None,
                tabular_layers_description=(128,) if kind == "fusion" else (),
                layers_description=(256,),
                dropout_rate=0.5,
                pooling="avg",
            )
        ],
    )


def _loader(dataset: DatasetDefault, args: argparse.Namespace) -> DataLoader[Any]:
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )


def train(kind: str, datasets: Mapping[str, DatasetDefault], model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit one model; returns the checkpoint of its epoch with the best validation AUC."""
    set_seed(args.seed)  # each model starts from the same state, whatever was trained before it
    sampler = BatchSamplerDefault(datasets["train"], LABEL, batch_size=args.batch_size, seed=args.seed)
    train_loader: DataLoader[Any] = DataLoader(
        datasets["train"],  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )

    def optimizers(module: pl.LightningModule) -> dict[str, Any]:
        return {"optimizer": torch.optim.Adam(module.parameters(), lr=args.lr, weight_decay=1e-4)}

    module = LightningModuleDefault(
        model_dir=model_dir,
        model=create_model(kind),
        losses={"ce": LossDefault(pred="model.logits.melanoma", target=LABEL, callable=F.cross_entropy)},
        validation_metrics={"auc": MetricAUCROC(pred="model.output.melanoma", target=LABEL)},
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max", "save_weights_only": True},
        optimizers_and_lr_schs=optimizers,
        print_epoch_summary=False,
    )
    trainer = pl.Trainer(
        default_root_dir=model_dir,
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(model_dir.parent / "logs", name=model_dir.name),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_loader, _loader(datasets["validation"], args))
    return model_dir / "best_epoch.ckpt"


def predict(kind: str, dataset: DatasetDefault, checkpoint: Path, args: argparse.Namespace) -> pd.DataFrame:
    """The checkpoint's probability of melanoma for every test image, with the label."""
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=checkpoint.parent, model=create_model(kind), weights_only=True
    )
    module.set_predictions_keys(["model.output.melanoma", LABEL])
    trainer = pl.Trainer(
        accelerator=args.accelerator,
        devices=1,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        default_root_dir=checkpoint.parent,
    )
    frame = convert_predictions_to_dataframe(trainer.predict(module, _loader(dataset, args)))  # type: ignore[arg-type]
    table: pd.DataFrame = pd.DataFrame(
        {
            "image": frame["id"],
            "prob_melanoma": [float(p[1]) for p in frame["model.output.melanoma"]],
            "melanoma": frame[LABEL].astype(int),
        }
    )
    return table


# ------------------------------------------------------------------------------------------------ 4. evaluation
def report(kind: str, predictions: pd.DataFrame, report_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The fuse-eval report of one model on the test images."""
    settings = ReportSettings(
        threshold=THRESHOLD,
        threshold_rule=f"fixed in advance at probability {THRESHOLD}; the checkpoint was chosen by validation AUC",
        bootstraps=args.bootstraps,
        seed=args.seed,
        title=f"ISIC 2019 melanoma, {kind} model, test images",
        plots=not args.no_figures,
    )
    labels = predictions["melanoma"].to_numpy()
    return write_report(
        report_dir, predictions["prob_melanoma"].to_numpy(), labels, list(CLASS_NAMES), settings=settings
    )


def compare(predictions: Mapping[str, pd.DataFrame], reports: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model: test AUC with its bootstrap interval, and DeLong's test against the fusion model (both
    scored on the same test images)."""
    rows = []
    for kind, table in predictions.items():
        auc = reports[kind]["metrics"]["auc"]
        row: dict[str, Any] = {"model": kind, "auc": auc["value"], "auc_low": auc["low"], "auc_high": auc["high"]}
        row["delong_p_vs_fusion"] = None
        if kind != "fusion" and "fusion" in predictions and auc["value"] is not None:
            fusion = predictions["fusion"]
            if fusion["image"].tolist() != table["image"].tolist():
                raise RuntimeError("compare: the models were scored on different test images")
            test = delong_test(
                fusion["prob_melanoma"].to_numpy(), table["prob_melanoma"].to_numpy(), table["melanoma"].to_numpy()
            )
            row["delong_p_vs_fusion"] = test["p_value"]
        rows.append(row)
    comparison: pd.DataFrame = pd.DataFrame(rows)
    return comparison


def main(argv: list[str] | None = None) -> int:
    """Split, cache, train each model, predict, report and compare; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    split = split_images(args.isic_dir, args.seed)
    pd.DataFrame([(i, name) for name, ids in split.items() for i in ids], columns=["image", "split"]).to_csv(
        args.out / "split.csv", index=False
    )
    print(", ".join(f"{name}: {len(ids)} images" for name, ids in split.items()))
    datasets = make_datasets(split, args)

    predictions: dict[str, pd.DataFrame] = {}
    reports: dict[str, dict[str, Any]] = {}
    for kind in args.models:
        checkpoint = train(kind, datasets, args.out / kind, args)
        predictions[kind] = predict(kind, datasets["test"], checkpoint, args)
        predictions[kind].to_csv(args.out / f"predictions_{kind}.csv", index=False)
        reports[kind] = report(kind, predictions[kind], args.out / f"report_{kind}", args)
    comparison = compare(predictions, reports)
    comparison.to_csv(args.out / "comparison.csv", index=False)

    print(f"test images: {len(split['test'])} ({sum(predictions[args.models[0]]['melanoma'])} melanomas)")
    for row in comparison.to_dict("records"):
        name, auc, p_value = str(row["model"]), row["auc"], row["delong_p_vs_fusion"]
        if auc is None or pd.isna(auc):
            print(f"  {name:<9} ROC AUC undefined (one class only among the test images)")
            continue
        delong = "" if p_value is None or pd.isna(p_value) else f"; DeLong p vs fusion = {p_value:.3g}"
        print(f"  {name:<9} ROC AUC {auc:.3f} [95% CI {row['auc_low']:.3f}-{row['auc_high']:.3f}]{delong}")
    print(f"comparison: {args.out / 'comparison.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
