"""PI-CAI-style 3-D lesion segmentation: a U-Net finds clinically significant prostate cancer in bi-parametric MRI.

FuseMedML's PI-CAI segmentation example (``fuse_examples/imaging/segmentation/picai/runner.py``) redone with fuse.
The steps, each a function below:

1. split the studies into train / validation / test folds, patients kept whole and balanced on csPCa (fuse-data
   ``balanced_division``);
2. fuse-data + fuse-imaging: a static pipeline reads each study with PI-CAI's ops (``OpLoadPICAIImage`` for the T2W,
   ADC and high b-value volumes, ``OpLoadPICAISegmentation`` for the csPCa lesion delineation, checked against the
   marksheet's ISUP grade), marks every lesion voxel 1, resizes the volumes to the network size and normalises each
   to [0, 1]; it is cached by ``SamplesCacher``. The dynamic pipeline is ``PICAI.dynamic_pipeline`` (tensors, and a
   random in-plane affine per study for training, the same for the volumes and the mask);
3. fuse-dl: a 3-D ``UNet`` backbone (the three sequences as input channels) and a ``HeadDenseSegmentation`` head
   (background / lesion per voxel) in ``ModelMultiHead``, trained with a soft ``DiceLoss`` by
   ``LightningModuleDefault``, which keeps the epoch with the lowest validation loss; Lightning predicts the test
   studies with it;
4. fuse-eval: each test study's lesion probability map is resized back to its T2W grid and thresholded; ``dice`` and
   ``hausdorff_distance`` (in mm, from the T2W's spacing) score it against the delineation per study, and
   ``MetricDice`` / ``MetricHausdorff`` average them over the csPCa studies. Studies without csPCa have no lesion to
   overlap: their line is whether any lesion was predicted (a false positive).

Make a synthetic data set first (see make_synthetic_picai.py), then train::

    python examples/picai/make_synthetic_picai.py --out picai_data
    python examples/picai/train_and_evaluate.py --images-dir picai_data/images \\
        --labels-dir picai_data/picai_labels --out picai_run

On the real data, ``--images-dir`` is the unpacked PI-CAI images (``<patient_id>/<patient_id>_<study_id>_t2w.mha``
...) and ``--labels-dir`` a clone of https://github.com/DIAGNijmegen/picai_labels. Needs SimpleITK
(``pip install "fuse-imaging[itk]"``). ``--help`` lists the options.

Everything is written under ``--out``: ``cache/``, ``split.csv``, ``model/`` (``best_epoch.ckpt``, weights only),
``logs/`` (Lightning's CSV log: ``train.losses.total_loss`` per epoch ...), ``predictions/<id>.nii.gz`` and
``references/<id>.nii.gz`` (the predicted and the delineated lesion masks of each test study, 0/1, on the T2W grid
with its affine: array axes as SimpleITK reads the T2W, ``[z, y, x]``), ``per_case.csv`` (each test study's Dice and
Hausdorff distance) and ``report/`` (``results.json`` and ``results.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple


# ------------------------------------------------------------------------------------------------ command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--images-dir", type=Path, required=True, help="PI-CAI images: <patient_id>/<patient_id>_<study_id>_t2w.mha"
    )
    parser.add_argument(
        "--labels-dir",
        type=Path,
        required=True,
        help="picai_labels: clinical_information/marksheet.csv and csPCa_lesion_delineations/human_expert/resampled",
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
    parser.add_argument(
        "--sequences", nargs="+", default=["_t2w", "_adc", "_hbv"], help="input sequences (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--base-channels", type=int, default=8, help="U-Net channels at full size (default: 8)")
    parser.add_argument("--depth", type=int, default=2, help="U-Net downsamplings (default: %(default)s)")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="lesion probability a voxel is called lesion above (default: 0.5)"
    )
    parser.add_argument("--augment", action="store_true", help="random in-plane affine augmentation in training")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the model and the augmentations")
    parser.add_argument(
        "--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu, ... (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="data loading and caching processes (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.depth < 0 or any(size < 2**args.depth or size % 2**args.depth for size in args.shape):
        parser.error(f"--shape sizes must be multiples of 2 ** --depth (the U-Net halves them), got {args.shape}")
    if not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must be in (0, 1), got {args.threshold}")
    return args


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import lightning.pytorch as pl
    import nibabel as nib
    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from fuse.core import create_initial_sample, set_seed
    from fuse.data import (
        CollateDefault,
        DatasetDefault,
        OpLambda,
        OpReadDataframe,
        OpRepeat,
        OpToNumpy,
        PipelineDefault,
        SamplesCacher,
        balanced_division,
    )
    from fuse.dl import (
        DiceLoss,
        HeadDenseSegmentation,
        LightningModuleDefault,
        ModelMultiHead,
        UNet,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricDice, MetricHausdorff, dice, hausdorff_distance
    from fuse.imaging import OpNormalizeAgainstSelf, OpResizeTo, load_image
    from fuse.imaging.datasets import PICAI, OpLoadPICAIImage, OpLoadPICAISegmentation, OpPICAISampleIDDecode
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "nibabel", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl"} | {
        "fuse.imaging"
    }:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


MARKSHEET = "clinical_information/marksheet.csv"
LESIONS = "csPCa_lesion_delineations/human_expert/resampled"
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 folds balanced on csPCa
SEG = "data.gt.seg"
AUGMENTATION = {
    "apply_aug_prob": 0.5,
    "rotate": (-10.0, 10.0),
    "scale": (0.95, 1.05),
    "flip": 0.5,
    "translate": (-2, 2),
}
LESION = 1  # the label of lesion voxels in the training masks, the predictions and the references


class Splits(NamedTuple):
    """The three datasets of a run."""

    train: DatasetDefault
    validation: DatasetDefault
    test: DatasetDefault


# ------------------------------------------------------------------------------------------------ 1. split
def read_marksheet(labels_dir: Path) -> pd.DataFrame:
    """PI-CAI's marksheet with an ``index`` column, ``<patient_id>_<study_id>``: the studies' sample ids."""
    path = labels_dir / MARKSHEET
    if not path.is_file():
        raise SystemExit(f"marksheet {str(path)!r} not found: --labels-dir must be a clone of picai_labels")
    table = pd.read_csv(path)
    table["index"] = table["patient_id"].astype(str) + "_" + table["study_id"].astype(str)
    return table


def split_studies(table: pd.DataFrame, seed: int) -> dict[str, list[str]]:
    """Sample ids per split (``FOLDS``); a patient's studies stay in one fold."""
    folds = balanced_division(table, "patient_id", ["case_csPCa"], nfolds=5, seed=seed)
    return {name: folds.loc[folds["fold"].isin(numbers), "index"].tolist() for name, numbers in FOLDS.items()}


# ------------------------------------------------------------------------------------------------ 2. data
def lesion_mask(grades: np.ndarray) -> np.ndarray:
    """ISUP grade per voxel -> 1 in every csPCa lesion, 0 elsewhere."""
    return (grades > 0).astype(np.int32)


def static_pipeline(
    table: pd.DataFrame, images_dir: Path, lesions_dir: Path, sequences: list[str], shape: tuple[int, int, int]
) -> PipelineDefault:
    """What is computed once per study and cached. A sample starts as its id, ``<patient_id>_<study_id>``."""
    images = [{"key": f"data.input.img{seq}"} for seq in sequences]
    return PipelineDefault(
        "picai_lesions_static",
        [
            (OpPICAISampleIDDecode(), {}),  # the id -> data.input.img_path
            # data.input.img_t2w, data.input.img_adc, ... [z, y, x]; a study missing one is dropped with a warning
            (OpLoadPICAIImage(images_dir, sequences), {"key_in": "data.input.img_path", "key_out": "data.input.img"}),
            (
                OpReadDataframe(
                    table,
                    key_column="index",
                    key_name="data.input.img_path",
                    columns_to_extract=["patient_id", "case_ISUP", "case_csPCa"],
                    rename_columns={
                        "patient_id": "data.patientID",
                        "case_ISUP": "data.gt.subtype",
                        "case_csPCa": "data.gt.classification",
                    },
                ),
                {},
            ),
            # the lesion delineation (ISUP grade per voxel) on the T2W grid; a study whose delineation contradicts its
            # case ISUP grade is dropped with a warning
            (
                OpLoadPICAISegmentation(images_dir, lesions_dir),
                {"key_in": "data.input.img_path", "key_out": SEG, "gt": "data.gt.subtype"},
            ),
            (OpLambda(lesion_mask), {"key": SEG}),
            (
                OpRepeat(OpResizeTo(channels_first=False), images),
                {"output_shape": shape, "mode": "reflect", "anti_aliasing": True, "preserve_range": True},
            ),
            (
                OpResizeTo(channels_first=False),
                {"key": SEG, "output_shape": shape, "order": 0, "preserve_range": True, "anti_aliasing": False},
            ),
            (OpRepeat(OpNormalizeAgainstSelf(), images), {}),
            (OpRepeat(OpToNumpy(), images), {"dtype": np.float32}),
        ],
    )


def datasets(args: argparse.Namespace, table: pd.DataFrame, split: dict[str, list[str]]) -> Splits:
    """The train / validation / test datasets; the three share one cache."""
    shape = (args.shape[0], args.shape[1], args.shape[2])
    static = static_pipeline(table, args.images_dir, args.labels_dir / LESIONS, args.sequences, shape)
    images = [{"key": f"data.input.img{seq}"} for seq in args.sequences]

    def dataset(name: str) -> DatasetDefault:
        train = name == "train" and args.augment
        # tensors [1, D, H, W] (the mask int32); with --augment the same random in-plane affine for every slice of
        # the volumes and the mask (nearest neighbour), for half of the training studies
        dynamic = PICAI.dynamic_pipeline(images, train=train, aug_params=AUGMENTATION if train else None)
        cacher = SamplesCacher("picai_lesions", static, args.out / "cache", workers=args.workers)
        created = DatasetDefault(split[name], static, dynamic, cacher)
        created.create()
        return created

    return Splits(dataset("train"), dataset("validation"), dataset("test"))


# ------------------------------------------------------------------------------------------------ 3. model
def create_model(sequences: list[str], base_channels: int, depth: int) -> ModelMultiHead:
    """A 3-D U-Net (instance normalisation) over the sequences as channels, and a per-voxel background /
    lesion classifier: writes ``model.logits.seg`` and ``model.output.seg`` (softmax), ``[B, 2, D, H, W]``."""
    return ModelMultiHead(
        conv_inputs=[(f"data.input.img{seq}", 1) for seq in sequences],
        backbone=UNet(
            spatial_dims=3, in_channels=len(sequences), base_channels=base_channels, depth=depth, norm="instance"
        ),
        heads=[
            HeadDenseSegmentation(
                head_name="seg",
                conv_inputs=(("model.backbone_features", base_channels),),
                num_classes=2,
                layers_description=(),
                dropout_rate=0.0,
                spatial_dims=3,
            )
        ],
    )


def train(data: Splits, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the lowest validation loss."""
    train_loader: DataLoader[Any] = DataLoader(
        data.train,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )
    # soft Dice of the softmax of both classes (background and lesion) against the 0/1 mask, averaged
    losses = {"dice": DiceLoss(pred="model.logits.seg", target=SEG)}

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        return {"optimizer": torch.optim.Adam(module.parameters(), lr=args.lr)}

    module = LightningModuleDefault(
        model_dir=args.out / "model",
        model=create_model(args.sequences, args.base_channels, args.depth),
        losses=losses,
        best_epoch_source={"monitor": "validation.losses.total_loss", "mode": "min", "save_weights_only": True},
        optimizers_and_lr_schs=optimizers_and_lr_schs,
    )
    trainer = pl.Trainer(
        default_root_dir=args.out / "model",
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(args.out, name="logs"),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_loader, _loader(data.validation, args))
    return Path(args.out) / "model" / "best_epoch.ckpt"


def _loader(dataset: DatasetDefault, args: argparse.Namespace) -> DataLoader[Any]:
    """A plain, ordered loader (validation and test)."""
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )


def predict(dataset: DatasetDefault, checkpoint: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The best checkpoint's lesion probability map ``[D, H, W]`` (network size) of every test study, by id."""
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint,
        model_dir=args.out / "model",
        model=create_model(args.sequences, args.base_channels, args.depth),
        weights_only=True,
    )
    module.set_predictions_keys(["model.output.seg"])
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, enable_progress_bar=False
    )
    frame = convert_predictions_to_dataframe(trainer.predict(module, _loader(dataset, args)))  # type: ignore[arg-type]
    return {
        str(sample_id): np.asarray(probabilities)[LESION]
        for sample_id, probabilities in zip(frame["id"], frame["model.output.seg"], strict=True)
    }


# ------------------------------------------------------------------------------------------------ 4. evaluation
def to_native_grid(probability: np.ndarray, shape: tuple[int, ...], threshold: float) -> np.ndarray:
    """A network-size probability map resized (trilinear) to the T2W's ``shape`` and thresholded: 0/1 ``uint8``."""
    resized = F.interpolate(torch.as_tensor(probability)[None, None], size=shape, mode="trilinear")
    mask: np.ndarray = (resized[0, 0].numpy() > threshold).astype(np.uint8)
    return mask


def reference(study: pd.Series, images_dir: Path, lesions_dir: Path) -> np.ndarray | None:
    """The study's delineated lesions (0/1) on its T2W grid, read again from the label file (``None``: the study was
    dropped for a delineation that contradicts its case grade)."""
    sample = create_initial_sample(study["index"])
    sample["data.input.img_path"] = study["index"]
    sample["data.gt.subtype"] = study["case_ISUP"]
    loaded = OpLoadPICAISegmentation(images_dir, lesions_dir)(
        sample, key_in="data.input.img_path", key_out=SEG, gt="data.gt.subtype"
    )
    return None if loaded is None else lesion_mask(loaded[SEG]).astype(np.uint8)


def evaluate(
    probabilities: dict[str, np.ndarray], table: pd.DataFrame, args: argparse.Namespace
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every test study on its T2W grid; write its predicted and reference masks, ``per_case.csv`` and the
    report. Returns the per-case table and the summary."""
    for folder in ("predictions", "references"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    studies = table.set_index("index", drop=False)
    rows = []
    collected: dict[str, list[Any]] = {"id": [], "pred": [], "target": [], "spacing": []}
    for sample_id, probability in probabilities.items():
        study = studies.loc[sample_id]
        t2w = args.images_dir / str(study["patient_id"]) / f"{sample_id}_t2w.mha"
        _, meta = load_image(t2w)  # the grid: shape, spacing (mm, per array axis) and affine
        target = reference(study, args.images_dir, args.labels_dir / LESIONS)
        if target is None:
            raise RuntimeError(f"study {sample_id!r} was predicted but its delineation cannot be read")
        pred = to_native_grid(probability, target.shape, args.threshold)
        affine = np.asarray(meta["affine"])
        nib.save(nib.Nifti1Image(pred, affine), args.out / "predictions" / f"{sample_id}.nii.gz")  # type: ignore[no-untyped-call]
        nib.save(nib.Nifti1Image(target, affine), args.out / "references" / f"{sample_id}.nii.gz")  # type: ignore[no-untyped-call]
        cspca = bool(target.any())
        row = {
            "id": sample_id,
            "case_ISUP": int(study["case_ISUP"]),
            "csPCa_delineated": cspca,
            "reference_voxels": int(target.sum()),
            "predicted_voxels": int(pred.sum()),
            "dice": np.nan,
            "hausdorff_mm": np.nan,
        }
        if cspca:  # overlap and distance need a lesion to compare with
            row["dice"] = dice(pred, target, labels=[LESION])[str(LESION)]
            row["hausdorff_mm"] = _hausdorff(pred, target, meta["spacing"])
            for key, value in (("id", sample_id), ("pred", pred), ("target", target), ("spacing", meta["spacing"])):
                collected[key].append(value)
        rows.append(row)
    per_case = pd.DataFrame(rows)
    per_case.to_csv(args.out / "per_case.csv", index=False)
    summary = _summary(per_case, collected)
    _write_report(summary, per_case, args.out / "report")
    return per_case, summary


def _hausdorff(pred: np.ndarray, target: np.ndarray, spacing: tuple[float, ...]) -> float:
    """The Hausdorff distance in mm, NaN (not a warning per study) when nothing was predicted: the report counts
    those studies."""
    if not pred.any():
        return float("nan")
    return hausdorff_distance(pred, target, spacing=spacing, labels=[LESION])[str(LESION)]


def _summary(per_case: pd.DataFrame, collected: dict[str, list[Any]]) -> dict[str, Any]:
    """fuse-eval's averages over the csPCa studies (``MetricDice``, ``MetricHausdorff``; a study without any predicted
    voxel has no Hausdorff distance and is left out of its mean, and counted), and the false positives among the
    studies without csPCa."""
    positives = per_case[per_case["csPCa_delineated"]]
    negatives = per_case[~per_case["csPCa_delineated"]]
    summary: dict[str, Any] = {
        "test_studies": len(per_case),
        "csPCa_studies": len(positives),
        "mean_dice": None,
        "mean_hausdorff_mm": None,
        "hausdorff_undefined_studies": int(positives["hausdorff_mm"].isna().sum()),
        "studies_without_csPCa": len(negatives),
        "false_positive_studies": int((negatives["predicted_voxels"] > 0).sum()),
    }
    if len(positives):
        dice_metric = MetricDice(pred="pred", target="target", labels=[LESION])
        dice_metric.collect(collected)
        summary["mean_dice"] = dice_metric.eval()[str(LESION)]
    found = [index for index, pred in enumerate(collected["pred"]) if pred.any()]
    if found:
        distance = MetricHausdorff(pred="pred", target="target", spacing="spacing", labels=[LESION])
        distance.collect({key: [values[index] for index in found] for key, values in collected.items()})
        summary["mean_hausdorff_mm"] = distance.eval()[str(LESION)]
    return summary


def _write_report(summary: dict[str, Any], per_case: pd.DataFrame, report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "results.json").write_text(
        json.dumps({key: _plain(value) for key, value in summary.items()}, indent=2)
    )
    lines = ["# PI-CAI-style csPCa lesion segmentation, test studies", "", *_summary_lines(summary), ""]
    lines += [
        "| study | case ISUP | reference voxels | predicted voxels | Dice | Hausdorff (mm) |",
        "|---|---|---|---|---|---|",
    ]
    for row in per_case.itertuples():
        lines.append(
            f"| {row.id} | {row.case_ISUP} | {row.reference_voxels} | {row.predicted_voxels} | "
            f"{_number(row.dice)} | {_number(row.hausdorff_mm)} |"
        )
    (report_dir / "results.md").write_text("\n".join(lines) + "\n")


def _plain(value: Any) -> Any:
    """A summary value for JSON: numpy numbers as Python numbers (full precision), NaN as null."""
    if value is None:
        return None
    number = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(number, float) and np.isnan(number) else number


def _number(value: Any) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.3f}"


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    return [
        f"test studies: {summary['test_studies']}, with csPCa: {summary['csPCa_studies']}",
        f"mean Dice (csPCa studies): {_number(summary['mean_dice'])}",
        (
            f"mean Hausdorff distance (csPCa studies with a predicted lesion; "
            f"{summary['hausdorff_undefined_studies']} without one left out): {_number(summary['mean_hausdorff_mm'])} mm"
        ),
        (
            f"studies without csPCa with a predicted lesion (false positives): {summary['false_positive_studies']} of "
            f"{summary['studies_without_csPCa']}"
        ),
    ]


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Split, cache, train, predict and evaluate; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)  # random, numpy and torch
    args.out.mkdir(parents=True, exist_ok=True)
    table = read_marksheet(args.labels_dir)
    split = split_studies(table, args.seed)
    pd.DataFrame([(i, name) for name, ids in split.items() for i in ids], columns=["sample_id", "split"]).to_csv(
        args.out / "split.csv", index=False
    )
    data = datasets(args, table, split)
    print(", ".join(f"{name}: {len(dataset)} studies" for name, dataset in zip(Splits._fields, data, strict=True)))
    checkpoint = train(data, args)
    per_case, summary = evaluate(predict(data.test, checkpoint, args), table, args)
    print("\n".join(_summary_lines(summary)))
    print(f"per study:       {args.out / 'per_case.csv'} ({len(per_case)} studies)")
    print(f"report:          {args.out / 'report' / 'results.md'} (also results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
