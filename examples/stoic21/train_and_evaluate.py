"""STOIC21-style multimodal 3-D classification: a chest CT volume plus 8 clinical features -> severe COVID-19.

FuseMedML's STOIC21 example redone with fuse: a 3-D ResNet (r3d_18) reads the CT, an MLP reads the clinical vector
(sex, age one-hot, slice thickness), and a ``Head3D`` fuses both to predict ``probSevere`` (intubation or death
within a month). The steps, each a function below:

1. split the patients into train / validation / test folds balanced on the label (fuse-data ``balanced_division``);
2. fuse-data + fuse-imaging: a static pipeline (load the NIfTI with ``OpLoadImage``, reorient it, shrink it with
   ``OpResizeTo``, window it to -200..800 HU and map that to [0, 1] with ``OpClip`` / ``OpToRange``, encode the
   clinical CSV row read by ``OpReadDataframe``) cached by ``SamplesCacher``, and a dynamic pipeline with a random
   in-plane affine augmentation for training;
3. fuse-dl: ``ModelMultiHead(BackboneResnet3D + Head3D)``, ``LossDefault``, ``MetricAUCROC``, a class-balanced
   ``BatchSamplerDefault`` and ``LightningModuleDefault`` keeping the epoch with the best validation AUC; Lightning's
   ``Trainer`` fits it and predicts the test patients with the best checkpoint;
4. fuse-eval: the report on the test patients (``write_report``): ROC AUC and AUC-PR with 95% bootstrap intervals
   (each outcome resampled separately); sensitivity, specificity, PPV, NPV and accuracy at probability 0.5 with their
   counts and 95% Wilson intervals (a bootstrap interval of a proportion collapses to [1, 1] when, say, every severe
   patient is found; Wilson's does not); the confusion matrix, calibration and the ROC, precision-recall and
   calibration figures.

Make a synthetic cohort first (see make_synthetic_cohort.py), then train::

    python examples/stoic21/make_synthetic_cohort.py --out stoic21_cohort
    python examples/stoic21/train_and_evaluate.py --cohort stoic21_cohort --out stoic21_run

``--stoic21-dir`` trains on the real STOIC2021 data (or on ``make_synthetic_cohort.py --format stoic21``) through
``fuse.imaging.datasets.STOIC21``, which reads the MHA files with SimpleITK and encodes the clinical features from
their headers the same way. ``python examples/stoic21/train_and_evaluate.py --help`` lists the options.

Everything is written under ``--out``: ``cache/`` (the static pipeline's samples), ``split.csv`` (each patient's
split), ``model/`` (``best_epoch.ckpt``, weights only; ``last.ckpt``, everything needed to resume), ``logs/``
(Lightning's CSV log), ``predictions.csv`` (the test patients' predicted probability of a severe outcome) and
``report/`` (``report.html``, one self-contained page to open in a browser; ``results.md``, the same tables in
Markdown; ``results.json``, the same numbers for programs; ``roc.png``, ``precision_recall.png`` and
``calibration.png`` and ``decision_curve.png`` when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple


# ------------------------------------------------------------------------------------------------ command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cohort", type=Path, help="a cohort written by make_synthetic_cohort.py (NIfTI layout)")
    source.add_argument(
        "--stoic21-dir", type=Path, help="the STOIC2021 training data (data/mha/*.mha, metadata/reference.csv)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the cache, model, predictions and report")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(16, 32, 32),
        metavar=("SLICES", "ROWS", "COLUMNS"),
        help="network input size the volumes are resized to (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument(
        "--bootstraps",
        type=int,
        default=1000,
        help="bootstrap resamplings of the AUC and AUC-PR intervals; 0: none (default: %(default)s)",
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

    from fuse.core import RandBool, Uniform, read_dataframe, set_seed
    from fuse.data import (
        BatchSamplerDefault,
        CollateDefault,
        DatasetDefault,
        OpConcat,
        OpLambda,
        OpLookup,
        OpRandApply,
        OpReadDataframe,
        OpSample,
        OpToFloat,
        OpToOneHot,
        OpToTensor,
        PipelineDefault,
        SamplesCacher,
        balanced_division,
    )
    from fuse.dl import (
        BackboneResnet3D,
        Head3D,
        LightningModuleDefault,
        LossDefault,
        ModelMultiHead,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricAUCROC, ReportSettings, write_report
    from fuse.imaging import OpAugAffine2D, OpClip, OpLoadImage, OpReorient, OpResizeTo, OpToRange
    from fuse.imaging.datasets import STOIC21
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


LABEL = "data.gt.probSevere"
CLIP_RANGE_HU = (-200.0, 800.0)  # FuseMedML's STOIC21 window
# STOIC21's clinical encoding (fuse.imaging.datasets.STOIC21): sex, then the age bin one-hot, then slice thickness.
AGE_BINS = {"035Y": 0, "045Y": 1, "055Y": 2, "065Y": 3, "075Y": 4, "085Y": 5}
SEX = {"F": 0, "M": 1}
NUM_CLINICAL_FEATURES = 1 + len(AGE_BINS) + 1
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 balanced folds
CLASS_NAMES = ("not severe", "severe")  # probSevere 0 and 1: severe is the positive class
THRESHOLD = 0.5  # a patient is called severe when the predicted probability is > 0.5


class Splits(NamedTuple):
    """The three datasets of a run."""

    train: DatasetDefault
    validation: DatasetDefault
    test: DatasetDefault


# ------------------------------------------------------------------------------------------------ 1. split
def split_patients(table: pd.DataFrame, id_column: str, label_column: str, seed: int) -> dict[str, list[Any]]:
    """Sample ids per split (``FOLDS``): 5 folds that each hold about the same share of every label value."""
    folds = balanced_division(table, id_column, [label_column], nfolds=5, seed=seed)
    return {
        name: folds.loc[folds["fold"].isin(fold_numbers), id_column].tolist() for name, fold_numbers in FOLDS.items()
    }


def save_split(split: dict[str, list[Any]], path: Path) -> None:
    """Write ``split`` as a two-column CSV (sample id, split name)."""
    rows = [(sample_id, name) for name, ids in split.items() for sample_id in ids]
    pd.DataFrame(rows, columns=["sample_id", "split"]).to_csv(path, index=False)


# ------------------------------------------------------------------------------------------------ 2. data
def to_depth_first(volume: np.ndarray) -> np.ndarray:
    """NIfTI arrays are ``[x, y, z]``; the network wants ``[z, y, x]`` (slices first, as SimpleITK reads MHA)."""
    return np.ascontiguousarray(volume.transpose(2, 1, 0))


def add_channel_axis(volume: torch.Tensor) -> torch.Tensor:
    """``[D, H, W]`` -> ``[1, D, H, W]``: one input channel for the 3-D convolutions."""
    return volume.unsqueeze(0)


def static_pipeline(cohort_dir: Path, shape: tuple[int, int, int]) -> PipelineDefault:
    """What is computed once per patient and cached: the volume resized to ``shape``, windowed and normalised,
    the clinical vector and the labels. A sample starts as its id (the ``PatientID``)."""
    return PipelineDefault(
        "stoic21_synthetic_static",
        [
            # The patient's row of clinical.csv -> data.input.img_path, data.metadata.*, data.gt.*.
            (
                OpReadDataframe(
                    data_filename=cohort_dir / "clinical.csv",
                    key_column="PatientID",
                    rename_columns={
                        "image": "data.input.img_path",
                        "PatientAge": "data.metadata.PatientAge",
                        "PatientSex": "data.metadata.PatientSex",
                        "SliceThickness": "data.metadata.SliceThickness",
                        "probCOVID": "data.gt.probCOVID",
                        "probSevere": LABEL,
                    },
                ),
                {},
            ),
            # The volume as a numpy array, with its geometry (spacing, affine, ...) under data.metadata.
            (
                OpLoadImage(cohort_dir),
                {"key_in": "data.input.img_path", "key_out": "data.input.img", "key_metadata_out": "data.metadata"},
            ),
            # Every volume in the same anatomical orientation whatever the converter wrote (flips, no interpolation):
            # DICOM's patient axes (x to the Left, y to the Posterior, z to the Superior), which SimpleITK also uses,
            # so that the [z, y, x] array below matches the real data's MHA volumes.
            (OpReorient(), {"key": "data.input.img", "key_metadata": "data.metadata", "orientation": "LPS"}),
            (OpLambda(to_depth_first), {"key": "data.input.img"}),
            # Resize, then window and map to [0, 1], in the order (and with the arguments) of the STOIC21 wrapper,
            # so that both give the same numbers.
            (
                OpResizeTo(channels_first=False),
                {
                    "key": "data.input.img",
                    "output_shape": shape,
                    "mode": "reflect",
                    "anti_aliasing": True,
                    "preserve_range": True,
                },
            ),
            (OpClip(), {"key": "data.input.img", "clip": CLIP_RANGE_HU}),
            (OpToRange(), {"key": "data.input.img", "from_range": CLIP_RANGE_HU, "to_range": (0.0, 1.0)}),
            # The clinical vector: sex (0/1), age bin one-hot (6), slice thickness in mm -> 8 numbers.
            (OpLookup(SEX), {"key_in": "data.metadata.PatientSex", "key_out": "data.input.gender"}),
            (OpLookup(AGE_BINS), {"key_in": "data.metadata.PatientAge", "key_out": "data.input.age"}),
            (OpToOneHot(len(AGE_BINS)), {"key_in": "data.input.age", "key_out": "data.input.age_one_hot"}),
            (OpToFloat(), {"key": "data.metadata.SliceThickness"}),
            (
                OpConcat(),
                {
                    "keys_in": ["data.input.gender", "data.input.age_one_hot", "data.metadata.SliceThickness"],
                    "key_out": "data.input.clinical",
                },
            ),
        ],
    )


def dynamic_pipeline(train: bool) -> PipelineDefault:
    """What runs on every read: tensors, and for training a random in-plane rotation, scaling and left-right flip
    (the same for every slice) applied to half of the samples."""
    steps: list[tuple[Any, dict[str, Any]]] = [
        (OpToTensor(), {"key": ["data.input.img", "data.input.clinical"], "dtype": torch.float32}),
    ]
    if train:
        steps.append(
            (
                # OpSample draws the Uniform / RandBool parameters anew for each sample (reproducible under
                # set_seed); OpRandApply applies the op with probability 0.5. The slices act as channels here.
                OpRandApply(OpSample(OpAugAffine2D()), 0.5),
                {
                    "key": "data.input.img",
                    "rotate": Uniform(-15.0, 15.0),
                    "scale": Uniform(0.9, 1.1),
                    "flip": (False, RandBool(0.5)),
                },
            )
        )
    steps.append((OpLambda(add_channel_axis), {"key": "data.input.img"}))
    return PipelineDefault("stoic21_synthetic_dynamic", steps)


def synthetic_datasets(
    cohort_dir: Path, out: Path, shape: tuple[int, int, int], seed: int, workers: int
) -> tuple[Splits, dict[str, list[Any]]]:
    """The train / validation / test datasets of a cohort written by make_synthetic_cohort.py (NIfTI layout)."""
    split = split_patients(read_dataframe(cohort_dir / "clinical.csv"), "PatientID", "probSevere", seed)
    static = static_pipeline(cohort_dir, shape)

    def dataset(name: str) -> DatasetDefault:
        # The cache key covers every op, its arguments and the pipeline's name: change any of them and the
        # samples are recomputed into a new folder; the three datasets share one cache.
        cacher = SamplesCacher("stoic21_synthetic", static, out / "cache", workers=workers)
        created = DatasetDefault(split[name], static, dynamic_pipeline(train=name == "train"), cacher)
        created.create()
        return created

    return Splits(dataset("train"), dataset("validation"), dataset("test")), split


def stoic21_datasets(
    data_dir: Path, out: Path, shape: tuple[int, int, int], seed: int, workers: int
) -> tuple[Splits, dict[str, list[Any]]]:
    """The datasets of the real STOIC2021 layout (``data/mha/*.mha`` + ``metadata/reference.csv``), built by
    fuse-imaging's ``STOIC21`` wrapper: the same keys and clinical encoding as :func:`synthetic_datasets`."""
    reference = read_dataframe(data_dir / "metadata" / "reference.csv")
    sample_ids = [f"data/mha/{patient_id}.mha" for patient_id in reference["PatientID"]]  # the wrapper's ids
    reference = reference[np.isin(sample_ids, STOIC21.sample_ids(data_dir))]  # patients whose volume is there
    split = {
        name: [f"data/mha/{patient_id}.mha" for patient_id in patient_ids]
        for name, patient_ids in split_patients(reference, "PatientID", "probSevere", seed).items()
    }

    def dataset(name: str) -> DatasetDefault:
        return STOIC21.dataset(
            data_dir,
            out / "cache",
            num_workers=workers,
            sample_ids=split[name],
            train=name == "train",
            output_shape=shape,
            clip_range=CLIP_RANGE_HU,
        )

    return Splits(dataset("train"), dataset("validation"), dataset("test")), split


# ------------------------------------------------------------------------------------------------ 3. model
def create_model(
    imaging_dropout: float = 0.5, clinical_dropout: float = 0.0, fused_dropout: float = 0.0
) -> ModelMultiHead:
    """FuseMedML's STOIC21 model: r3d_18 features (512 channels) max-pooled, the 8 clinical features through an
    MLP (256, 128), concatenated and classified into not severe / severe.

    It reads ``data.input.img`` ``[B, 1, D, H, W]`` and ``data.input.clinical`` ``[B, 8]`` and writes
    ``model.logits.classification`` and ``model.output.classification`` (softmax), ``[B, 2]``.
    """
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=BackboneResnet3D(in_channels=1),
        heads=[
            Head3D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 512)],
                dropout_rate=imaging_dropout,
                append_dropout_rate=clinical_dropout,
                fused_dropout_rate=fused_dropout,
                num_outputs=2,
                append_features=[("data.input.clinical", NUM_CLINICAL_FEATURES)],
                append_layers_description=(256, 128),
            )
        ],
    )


def train(datasets: Splits, model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the best validation AUC."""
    # Every batch holds as many severe as non-severe patients; the class of each sample is read from the cache.
    sampler = BatchSamplerDefault(datasets.train, LABEL, batch_size=args.batch_size, seed=args.seed)
    train_loader: DataLoader[Any] = DataLoader(
        datasets.train,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),  # sample dicts -> one batch dict, tensors stacked
        num_workers=args.workers,
    )
    validation_loader = _loader(datasets.validation, args)
    losses = {"cls_loss": LossDefault(pred="model.logits.classification", target=LABEL, callable=F.cross_entropy)}
    validation_metrics = {"auc": MetricAUCROC(pred="model.output.classification", target=LABEL)}

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        optimizer = torch.optim.Adam(module.parameters(), lr=args.lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "validation.losses.total_loss"},
        }

    module = LightningModuleDefault(
        model_dir=model_dir,
        model=create_model(),
        losses=losses,
        validation_metrics=validation_metrics,
        # Logged as validation.metrics.auc; the best epoch is saved as model_dir/best_epoch.ckpt (ModelCheckpoint
        # arguments: weights only, 133 MB instead of 400 MB with Adam's state; last.ckpt keeps everything to resume).
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
    trainer.fit(module, train_loader, validation_loader)
    return model_dir / "best_epoch.ckpt"


def _loader(dataset: DatasetDefault, args: argparse.Namespace) -> DataLoader[Any]:
    """A plain, ordered loader (validation and test)."""
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )


def predict(dataset: DatasetDefault, checkpoint: Path, model_dir: Path, args: argparse.Namespace) -> pd.DataFrame:
    """The best checkpoint's probability of a severe outcome for every test patient, with the true label."""
    # Checkpoints hold weights only (no pickled code): rebuild the model, then load them into it.
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=model_dir, model=create_model(), weights_only=True
    )
    module.set_predictions_keys(["model.output.classification", LABEL])  # what predict_step returns
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, default_root_dir=model_dir
    )
    batches = trainer.predict(module, _loader(dataset, args))
    frame = convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]
    table: pd.DataFrame = pd.DataFrame(
        {
            "id": frame["id"],
            "prob_severe": [float(probabilities[1]) for probabilities in frame["model.output.classification"]],
            "probSevere": frame[LABEL].astype(int),
        }
    )
    return table


# ------------------------------------------------------------------------------------------------ 4. evaluation
def evaluate(
    predictions: pd.DataFrame, report_dir: Path, bootstraps: int, seed: int, split_sizes: Mapping[str, int]
) -> dict[str, Any]:
    """The report on the test patients, written to ``report_dir`` (``report.html``, ``results.md``,
    ``results.json`` and the figures); returns its content (see :func:`fuse.eval.write_report`).

    The proportions (sensitivity, specificity, PPV, NPV, accuracy) at probability ``THRESHOLD`` get Wilson
    intervals from their counts; the AUCs a percentile bootstrap that resamples severe and non-severe patients
    separately.
    """
    settings = ReportSettings(
        threshold=THRESHOLD,
        threshold_rule=(
            f"fixed in advance at probability {THRESHOLD}, not tuned; the checkpoint was chosen by validation AUC, "
            "which ranks patients but does not calibrate the probabilities"
        ),
        proportion_ci="wilson",
        bootstraps=bootstraps,
        seed=seed,
        title="STOIC21-style severe COVID-19 outcome (CT + clinical features), test patients",
        description=(
            f"3-D ResNet (r3d_18) + clinical MLP trained on {split_sizes['train']} patients, its epoch chosen on "
            f"{split_sizes['validation']} validation patients, evaluated on {split_sizes['test']} held-out test "
            "patients."
        ),
    )
    labels = predictions["probSevere"].astype(int).to_numpy()
    return write_report(report_dir, predictions["prob_severe"].to_numpy(), labels, list(CLASS_NAMES), settings=settings)


def summary(report: Mapping[str, Any]) -> str:
    """The headline numbers of the report, one per line, each with its 95% interval (and counts for proportions)."""
    metrics = report["metrics"]

    def line(name: str, key: str) -> str:
        stat = metrics[key]
        how = f" ({stat['successes']}/{stat['n']}, Wilson)" if "n" in stat else " (bootstrap)"
        if stat["method"] == "bootstrap" and stat["low"] == stat["high"]:
            # e.g. an AUC of 1 on few patients: every resampling separates the classes too
            how = " (bootstrap; width zero: every resampling gave the same value, which is not certainty)"
        return f"  {name:<12} {stat['value']:.3f} [95% CI {stat['low']:.3f}-{stat['high']:.3f}]{how}"

    return "\n".join(
        [
            f"test patients: {report['setup']['cases']}, severe = positive, called severe when p > {THRESHOLD}:",
            line("ROC AUC", "auc"),
            line("sensitivity", "sensitivity"),
            line("specificity", "specificity"),
            line("accuracy", "accuracy"),
        ]
    )


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Split, cache, train, predict and evaluate; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)  # random, numpy and torch
    args.out.mkdir(parents=True, exist_ok=True)
    shape = (args.shape[0], args.shape[1], args.shape[2])
    if args.cohort is not None:
        datasets, split = synthetic_datasets(args.cohort, args.out, shape, args.seed, args.workers)
    else:
        datasets, split = stoic21_datasets(args.stoic21_dir, args.out, shape, args.seed, args.workers)
    save_split(split, args.out / "split.csv")
    print(", ".join(f"{name}: {len(ids)} patients" for name, ids in split.items()))

    checkpoint = train(datasets, args.out / "model", args)
    predictions = predict(datasets.test, checkpoint, args.out / "model", args)
    predictions.to_csv(args.out / "predictions.csv", index=False)
    sizes = {name: len(ids) for name, ids in split.items()}
    report = evaluate(predictions, args.out / "report", args.bootstraps, args.seed, sizes)

    for note in report["notes"]:
        print(f"note: {note}")  # e.g. an AUC undefined without a severe test patient, no figures without matplotlib
    print(summary(report))
    print(f"best checkpoint: {checkpoint}")
    print(f"predictions:     {args.out / 'predictions.csv'}")
    print(f"report:          {args.out / 'report' / 'report.html'} (also results.md, results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
