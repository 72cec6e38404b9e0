"""ISIC 2019 skin-lesion classification: a dermoscopic image plus age, sex and site -> one of eight diagnoses.

FuseMedML's ISIC example (``fuse_examples/imaging/classification/isic/isic_runner.py``, its CNN model) redone with
fuse. The steps, each a function or class below:

1. data (``ISICDataModule``, a Lightning ``LightningDataModule`` as FuseMedML's): fuse-imaging's ``ISIC`` wrapper
   caches the static pipeline (image loaded and mapped to [0, 1], labels, clinical one-hot encodings); the samples
   are split into 5 folds balanced on the label (``dataset_balanced_division_to_folds``; folds 0-2 train, 3
   validation, 4 test; the split is saved and reused); training batches are class-balanced (``BatchSamplerDefault``)
   and augmented by the wrapper's dynamic pipeline;
2. model: ``BackboneInceptionResnetV2`` (all 43 logical units, 1536 features, as FuseMedML) and a
   ``HeadGlobalPoolingClassifier`` that average-pools the features and concatenates the 19 clinical features
   (``--imaging-only`` leaves them out) before its 256-unit layer; ``--weights`` starts the backbone from a LOCAL
   state dict file (ImageNet weights: see the README; nothing is downloaded);
3. training with ``LightningModuleDefault`` (cross-entropy; validation macro-averaged one-vs-rest AUC picks the best
   epoch), then inference on the test fold with the best checkpoint;
4. fuse-eval: the report on the test images (``write_report``): macro one-vs-rest ROC AUC and AUC-PR with 95%
   bootstrap intervals, accuracy (the class with the highest probability) with its Wilson interval, and per class
   the AUC, sensitivity, specificity, PPV and NPV; the confusion matrix and figures.

Make a synthetic set first (see make_synthetic_isic.py), then train::

    python examples/isic/make_synthetic_isic.py --out isic_data --n 160 --size 40
    python examples/isic/train_and_evaluate.py --isic-dir isic_data --out isic_run --image-size 40 \
        --logical-units 3 --epochs 8 --batch-size 8 --lr 1e-3 --bn-momentum 0.1

(from random weights, as here, ``--bn-momentum 0.1``: see ``set_batch_norm_momentum``).

On the real data, ``--isic-dir`` is the folder holding ``ISIC2019/`` (``--download`` fetches it there first, 9 GB).
``python examples/isic/train_and_evaluate.py --help`` lists the options.

Everything is written under ``--out``: ``cache/`` (the static pipeline's samples), ``split.pkl`` (the folds: reused
when it exists), ``model/`` (``best_epoch.ckpt``, weights only; ``last.ckpt``), ``logs/`` (Lightning's CSV log),
``predictions.csv`` (one row per test image: its id, the probability of each class, the true class index) and
``report/`` (``report.html``, ``results.md``, ``results.json`` and the figures when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


# ------------------------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--isic-dir", type=Path, required=True, help="the folder holding ISIC2019/ (fuse.imaging.ISIC's data_path)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the cache, model, predictions and report")
    parser.add_argument(
        "--download", action="store_true", help="download ISIC 2019 into --isic-dir first when it is not there"
    )
    parser.add_argument(
        "--sample-ids",
        type=Path,
        help="a text file of image ids (one per line) to use instead of every image, e.g. FuseMedML's golden members",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        help="a LOCAL state dict file (Cadene's inceptionresnetv2 layout) to start the backbone from; default: random",
    )
    parser.add_argument(
        "--logical-units",
        type=int,
        default=43,
        help="InceptionResNetV2 logical units to keep, 0-43 (default: %(default)s, the whole network, as FuseMedML)",
    )
    parser.add_argument("--imaging-only", action="store_true", help="leave the clinical features out of the head")
    parser.add_argument(
        "--bn-momentum",
        type=float,
        default=0.01,
        help="momentum of the backbone's BatchNorm running statistics (default: %(default)s, FuseMedML's, for "
        "pretrained weights; from random weights use 0.1: at 0.01 the statistics used for evaluation lag the "
        "training ones for hundreds of steps)",
    )
    parser.add_argument(
        "--image-size", type=int, default=300, help="images are resized to this square (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s)")
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
    from fuse.imaging.datasets import ISIC
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


LABEL = "data.label"  # the index in ISIC.CLASS_NAMES of the image's class
CLINICAL = "data.input.clinical.all"  # site (9), sex (3) and age (7) one-hot encodings
NUM_CLINICAL_FEATURES = 19
CLASS_NAMES = tuple(ISIC.CLASS_NAMES)
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 folds balanced on the label, as FuseMedML


# ------------------------------------------------------------------------------------------------ 1. data
class ISICDataModule(pl.LightningDataModule):
    """ISIC's train, validation and test (predict) data, as FuseMedML's ``ISICDataModule``.

    The constructor caches every sample's static pipeline and splits the ids into 5 folds balanced on the label,
    saved to ``split_filename`` (read back, and checked against the dataset's size, when it exists); ``setup``
    builds the datasets of a stage (in every process under DDP).

    :param data_dir: the folder holding ``ISIC2019/``.
    :param cache_dir: where the static pipeline's samples are cached.
    :param split_filename: the folds' pickle.
    :param sample_ids: the image ids to use (default: every image found).
    :param resize_to: the images' ``(height, width)`` after the dynamic pipeline.
    :param balanced_batches: class-balanced training batches (``BatchSamplerDefault``); plain shuffled ones if false
        (FuseMedML turned it off under DDP).
    """

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        split_filename: Path,
        batch_size: int,
        num_workers: int = 0,
        sample_ids: Sequence[str] | None = None,
        resize_to: tuple[int, int] = (300, 300),
        balanced_batches: bool = True,
        download: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._data_dir, self._cache_dir = data_dir, cache_dir
        self._batch_size, self._num_workers = batch_size, num_workers
        self._resize_to, self._balanced_batches, self._seed = resize_to, balanced_batches, seed
        all_data = self._dataset(sample_ids, train=False, download=download)
        folds = dataset_balanced_division_to_folds(
            all_data,
            output_split_filename=split_filename,
            keys_to_balance=[LABEL],
            nfolds=sum(len(numbers) for numbers in FOLDS.values()),
            workers=num_workers,
            seed=seed,
        )
        self.split: dict[str, list[str]] = {
            name: [sample_id for fold in numbers for sample_id in folds[fold]] for name, numbers in FOLDS.items()
        }
        self.datasets: dict[str, DatasetDefault] = {}

    def _dataset(self, sample_ids: Sequence[str] | None, train: bool, download: bool = False) -> DatasetDefault:
        return ISIC.dataset(
            self._data_dir,
            self._cache_dir,
            train=train,
            num_workers=self._num_workers,
            samples_ids=sample_ids,
            download=download,
            resize_to=self._resize_to,
        )

    def setup(self, stage: str) -> None:
        """Build the datasets of ``stage``: ``"fit"`` (train, with augmentation, and validation) or ``"predict"``."""
        if stage == "fit":
            self.datasets["train"] = self._dataset(self.split["train"], train=True)
            self.datasets["validation"] = self._dataset(self.split["validation"], train=False)
        elif stage == "predict":
            self.datasets["test"] = self._dataset(self.split["test"], train=False)

    def train_dataloader(self) -> DataLoader[Any]:
        """Class-balanced batches (or shuffled ones without ``balanced_batches``)."""
        dataset = self.datasets["train"]
        if not self._balanced_batches:
            return self._loader(dataset, shuffle=True)
        sampler = BatchSamplerDefault(dataset, LABEL, batch_size=self._batch_size, seed=self._seed)
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_sampler=sampler,
            collate_fn=CollateDefault(),
            num_workers=self._num_workers,
        )

    def val_dataloader(self) -> DataLoader[Any]:
        """The validation fold, in order."""
        return self._loader(self.datasets["validation"])

    def predict_dataloader(self) -> DataLoader[Any]:
        """The test fold, in order."""
        return self._loader(self.datasets["test"])

    def _loader(self, dataset: DatasetDefault, shuffle: bool = False) -> DataLoader[Any]:
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=self._batch_size,
            shuffle=shuffle,
            collate_fn=CollateDefault(),
            num_workers=self._num_workers,
        )


def read_sample_ids(path: Path) -> list[str]:
    """The non-empty lines of ``path``, stripped."""
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"--sample-ids {str(path)!r} holds no image id; write one id (e.g. ISIC_0072637) per line")
    return ids


# ------------------------------------------------------------------------------------------------ 2. model
def create_backbone(logical_units: int = 43, weights: Path | None = None) -> BackboneInceptionResnetV2:
    """InceptionResNetV2 for RGB input, started from the local state dict ``weights`` when given.

    :raises ValueError: ``weights`` is not a state dict of this network; the message names the file and the keys
        that do not match.
    """
    if weights is None:
        return BackboneInceptionResnetV2(logical_units_num=logical_units, input_channels_num=3)
    try:
        return BackboneInceptionResnetV2(logical_units_num=logical_units, input_channels_num=3, weights=weights)
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise ValueError(f"--weights {str(weights)!r} cannot start the backbone: {error}") from error


def create_model(logical_units: int = 43, weights: Path | None = None, clinical: bool = True) -> ModelMultiHead:
    """FuseMedML's ISIC CNN: InceptionResNetV2 features average-pooled, concatenated with the clinical features
    (through a 128-unit layer) when ``clinical``, a 256-unit layer, dropout 0.5 and 8 class scores.

    It reads ``data.input.img`` ``[B, 3, H, W]`` (and ``data.input.clinical.all`` ``[B, 19]``) and writes
    ``model.logits.head_0`` and ``model.output.head_0`` (softmax), ``[B, 8]``.
    """
    backbone = create_backbone(logical_units, weights)
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 3),),
        backbone=backbone,
        heads=[
            HeadGlobalPoolingClassifier(
                head_name="head_0",
                conv_inputs=[("model.backbone_features", backbone.get_feature_depth())],
                tabular_data_inputs=[(CLINICAL, NUM_CLINICAL_FEATURES)] if clinical else None,
                layers_description=(256,),
                tabular_layers_description=(128,) if clinical else (),
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
def train(model: ModelMultiHead, data: ISICDataModule, model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the best validation macro AUC."""
    losses = {"cls_loss": LossDefault(pred="model.logits.head_0", target=LABEL, callable=F.cross_entropy)}
    validation_metrics = {"auc": MetricAUCROC(pred="model.output.head_0", target=LABEL, class_names=CLASS_NAMES)}

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        optimizer = torch.optim.Adam(module.parameters(), lr=args.lr, weight_decay=1e-3)
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
        # the macro average of the one-vs-rest AUCs of the classes present in the validation fold
        best_epoch_source={"monitor": "validation.metrics.auc.macro_avg", "mode": "max", "save_weights_only": True},
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
    trainer.fit(module, datamodule=data)
    return model_dir / "best_epoch.ckpt"


def predict(data: ISICDataModule, checkpoint: Path, model_dir: Path, args: argparse.Namespace) -> pd.DataFrame:
    """The best checkpoint's class probabilities for every test image, with its true class index."""
    # Checkpoints hold weights only (no pickled code): rebuild the model, then load them into it.
    model = create_model(args.logical_units, clinical=not args.imaging_only)
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=model_dir, model=model, weights_only=True
    )
    module.set_predictions_keys(["model.output.head_0", LABEL])  # what predict_step returns
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, default_root_dir=model_dir
    )
    batches = trainer.predict(module, datamodule=data)
    frame = convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]
    probabilities = pd.DataFrame(frame["model.output.head_0"].tolist(), columns=list(CLASS_NAMES))
    table: pd.DataFrame = pd.concat([frame[["id"]], probabilities], axis=1)
    table["label"] = frame[LABEL].astype(int)
    return table


# ------------------------------------------------------------------------------------------------ 4. evaluation
def evaluate(
    predictions: pd.DataFrame, report_dir: Path, bootstraps: int, seed: int, split_sizes: Mapping[str, int]
) -> dict[str, Any]:
    """The report on the test images, written to ``report_dir``; returns its content (see
    :func:`fuse.eval.write_report`): ``metrics.auc`` is the macro average of the one-vs-rest AUCs, ``per_class``
    each class's, ``metrics.accuracy`` the share of images whose most probable class is the true one."""
    settings = ReportSettings(
        proportion_ci="wilson",
        bootstraps=bootstraps,
        seed=seed,
        title="ISIC 2019 skin-lesion classification, test images",
        description=(
            f"InceptionResNetV2 + clinical features trained on {split_sizes['train']} images, its epoch chosen on "
            f"{split_sizes['validation']} validation images, evaluated on {split_sizes['test']} held-out test images."
        ),
    )
    scores = predictions[list(CLASS_NAMES)].to_numpy()
    labels = predictions["label"].to_numpy()
    return write_report(report_dir, scores, labels, list(CLASS_NAMES), settings=settings)


def summary(report: Mapping[str, Any]) -> str:
    """The headline numbers of the report, with their 95% intervals."""

    def line(name: str, stat: Mapping[str, Any]) -> str:
        if stat["value"] is None:
            return f"  {name:<12} undefined"
        how = f" ({stat['successes']}/{stat['n']}, Wilson)" if "n" in stat else f" ({stat['method']})"
        interval = "" if stat.get("low") is None else f" [95% CI {stat['low']:.3f}-{stat['high']:.3f}]"
        return f"  {name:<12} {stat['value']:.3f}{interval}{how}"

    lines = [f"test images: {report['setup']['cases']}, predicted class = the most probable one:"]
    lines.append(line("macro AUC", report["metrics"]["auc"]))
    lines.append(line("accuracy", report["metrics"]["accuracy"]))
    lines += [line(f"AUC {name}", stats["auc"]) for name, stats in report["per_class"].items()]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Split, cache, train, predict and evaluate; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.logical_units <= 43:
        parser.error(f"--logical-units must be in 0..43, got {args.logical_units}")
    if not 0.0 < args.bn_momentum <= 1.0:
        parser.error(f"--bn-momentum must be in (0, 1], got {args.bn_momentum}")
    set_seed(args.seed)  # random, numpy and torch
    try:  # first, so that a wrong weights file stops the run before any caching or training
        model = create_model(args.logical_units, args.weights, clinical=not args.imaging_only)
        set_batch_norm_momentum(model, args.bn_momentum)
        sample_ids = None if args.sample_ids is None else read_sample_ids(args.sample_ids)
    except ValueError as error:
        print(f"{Path(__file__).name}: error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    data = ISICDataModule(
        args.isic_dir,
        args.out / "cache",
        args.out / "split.pkl",
        batch_size=args.batch_size,
        num_workers=args.workers,
        sample_ids=sample_ids,
        resize_to=(args.image_size, args.image_size),
        download=args.download,
        seed=args.seed,
    )
    print(", ".join(f"{name}: {len(ids)} images" for name, ids in data.split.items()))

    checkpoint = train(model, data, args.out / "model", args)
    predictions = predict(data, checkpoint, args.out / "model", args)
    predictions.to_csv(args.out / "predictions.csv", index=False)
    sizes = {name: len(ids) for name, ids in data.split.items()}
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
