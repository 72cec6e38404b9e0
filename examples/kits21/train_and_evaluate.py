"""KiTS21-style 3-D kidney and kidney-tumour segmentation of abdominal CT with a U-Net.

FuseMedML's KiTS21 data (``fuseimg/datasets/kits21.py``) with a 3-D segmentation model in the shape of its PI-CAI
segmentation runner (``fuse_examples/imaging/segmentation/picai/runner.py``), redone with fuse. The steps, each a
function below:

1. split the cases into train / validation / test folds at random (fuse-data ``balanced_division`` with nothing to
   balance);
2. fuse-imaging: ``KITS21.dataset`` reads each case (``imaging.nii.gz`` clipped to [-500, 500] HU and mapped to
   [0, 1], ``aggregated_MAJ_seg.nii.gz``, last axis moved first), caches it, and resizes image (linear) and labels
   (nearest) to the network size on every read; ``--augment`` adds its random in-plane affine and intensity changes;
3. fuse-dl: a 3-D ``UNet`` backbone and a ``HeadDenseSegmentation`` head (background / kidney / tumour per voxel) in
   ``ModelMultiHead``, trained with a soft multi-class ``DiceLoss`` by ``LightningModuleDefault``, which keeps the
   epoch with the lowest validation loss; Lightning predicts the test cases with it;
4. fuse-eval: each test case's class probabilities are resized back to its CT grid and the most probable class taken;
   ``dice`` and ``hausdorff_distance`` (in mm, from the CT's voxel size) score kidney and tumour per case against
   ``aggregated_MAJ_seg.nii.gz``, and ``MetricDice`` / ``MetricHausdorff`` average them over the cases.

KiTS21 also labels cysts (3); they are kidney tissue here (KiTS21's "kidney and masses" region includes them), in
training and in the references.

Make a synthetic data set first (see make_synthetic_kits21.py), then train::

    python examples/kits21/make_synthetic_kits21.py --out kits21_data
    python examples/kits21/train_and_evaluate.py --data-dir kits21_data --out kits21_run

On the real data, ``--data-dir`` is a folder of ``case_NNNNN/`` folders, e.g. one filled by
``fuse.imaging.datasets.KITS21.download(path, cases)``. ``--help`` lists the options.

Everything is written under ``--out``: ``cache/``, ``split.csv``, ``model/`` (``best_epoch.ckpt``, weights only),
``logs/`` (Lightning's CSV log), ``predictions/<case>.nii.gz`` and ``references/<case>.nii.gz`` (the predicted and
the reference labels of each test case, 0 background, 1 kidney, 2 tumour, on the CT's grid with its affine, so they
overlay ``imaging.nii.gz``), ``per_case.csv`` (each test case's Dice and Hausdorff distance per class) and
``report/`` (``results.json`` and ``results.md``).
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
        "--data-dir",
        type=Path,
        required=True,
        help="KiTS21 cases: case_NNNNN/imaging.nii.gz, aggregated_MAJ_seg.nii.gz",
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
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=2, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--base-channels", type=int, default=8, help="U-Net channels at full size (default: 8)")
    parser.add_argument("--depth", type=int, default=2, help="U-Net downsamplings (default: %(default)s)")
    parser.add_argument("--augment", action="store_true", help="KITS21's random affine and intensity augmentation")
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

    from fuse.core import NDict, set_seed
    from fuse.data import CollateDefault, DatasetDefault, balanced_division
    from fuse.dl import (
        DiceLoss,
        HeadDenseSegmentation,
        LightningModuleDefault,
        ModelMultiHead,
        UNet,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricDice, MetricHausdorff, dice, hausdorff_distance
    from fuse.imaging import load_image
    from fuse.imaging.datasets import KITS21
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


FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 random folds
SEG = "data.gt.seg"
IMAGE_FILE, SEG_FILE = "imaging.nii.gz", "aggregated_MAJ_seg.nii.gz"
CLASSES = {1: "kidney", 2: "tumour"}  # and 0, background
KITS21_CYST, KIDNEY = 3, 1


class Splits(NamedTuple):
    """The three datasets of a run."""

    train: DatasetDefault
    validation: DatasetDefault
    test: DatasetDefault


# ------------------------------------------------------------------------------------------------ 1. split
def split_cases(cases: list[str], seed: int) -> dict[str, list[str]]:
    """Case ids per split (``FOLDS``): 5 random folds of about the same size."""
    folds = balanced_division(pd.DataFrame({"case": cases}), "case", [], nfolds=5, seed=seed)
    return {name: folds.loc[folds["fold"].isin(numbers), "case"].tolist() for name, numbers in FOLDS.items()}


# ------------------------------------------------------------------------------------------------ 2. data
def datasets(args: argparse.Namespace, split: dict[str, list[str]]) -> Splits:
    """The train / validation / test datasets of ``KITS21.dataset``; the three share one cache."""

    def dataset(name: str) -> DatasetDefault:
        return KITS21.dataset(
            args.data_dir,
            args.out / "cache",
            num_workers=args.workers,
            sample_ids=split[name],
            resize_to=tuple(args.shape),
            augment=args.augment and name == "train",
        )

    return Splits(dataset("train"), dataset("validation"), dataset("test"))


def labels(seg: np.ndarray) -> np.ndarray:
    """KiTS21 labels -> this example's: cysts (3) become kidney (1); background, kidney and tumour stay."""
    mapped: np.ndarray = np.where(seg == KITS21_CYST, KIDNEY, seg).astype(np.uint8)
    return mapped


def training_labels(batch_dict: NDict) -> NDict:
    """The batch's resized label maps (float, from ``KITS21.dynamic_pipeline``) as integer classes, cysts as kidney."""
    seg = batch_dict[SEG]
    seg = (seg.round() if seg.is_floating_point() else seg).long()  # idempotent: safe to run twice
    batch_dict[SEG] = torch.where(seg == KITS21_CYST, KIDNEY, seg)
    return batch_dict


# ------------------------------------------------------------------------------------------------ 3. model
def create_model(base_channels: int, depth: int) -> ModelMultiHead:
    """A 3-D U-Net (instance normalisation) and a per-voxel classifier: writes ``model.logits.seg`` and
    ``model.output.seg`` (softmax), ``[B, 3, D, H, W]``."""
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=UNet(spatial_dims=3, in_channels=1, base_channels=base_channels, depth=depth, norm="instance"),
        heads=[
            HeadDenseSegmentation(
                head_name="seg",
                conv_inputs=(("model.backbone_features", base_channels),),
                num_classes=1 + len(CLASSES),
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
    # the soft Dice of the softmax of the three classes against the label map, averaged over classes and cases (the
    # small tumours weigh as much as the background); adding a focal loss made learning slower on these data
    losses = {"dice": DiceLoss(pred="model.logits.seg", target=SEG, preprocess_func=training_labels)}

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        return {"optimizer": torch.optim.Adam(module.parameters(), lr=args.lr)}

    module = LightningModuleDefault(
        model_dir=args.out / "model",
        model=create_model(args.base_channels, args.depth),
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
    """The best checkpoint's class probabilities ``[3, D, H, W]`` (network size) of every test case, by id."""
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=args.out / "model", model=create_model(args.base_channels, args.depth), weights_only=True
    )
    module.set_predictions_keys(["model.output.seg"])
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, enable_progress_bar=False
    )
    frame = convert_predictions_to_dataframe(trainer.predict(module, _loader(dataset, args)))  # type: ignore[arg-type]
    return {
        str(case): np.asarray(probabilities)
        for case, probabilities in zip(frame["id"], frame["model.output.seg"], strict=True)
    }


# ------------------------------------------------------------------------------------------------ 4. evaluation
def to_native_grid(probabilities: np.ndarray, stored_shape: tuple[int, ...]) -> np.ndarray:
    """Network-size class probabilities (the wrapper's axis order: the stored last axis first) -> the most probable
    class on the CT's grid, in the file's axis order (``uint8``)."""
    moved_shape = (stored_shape[-1], *stored_shape[:-1])
    resized = F.interpolate(torch.as_tensor(probabilities)[None], size=moved_shape, mode="trilinear")
    classes = resized[0].argmax(dim=0).numpy().astype(np.uint8)
    stored: np.ndarray = np.moveaxis(classes, 0, -1)  # undo the wrapper's move
    return stored


def evaluate(probabilities: dict[str, np.ndarray], args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every test case on its CT grid; write its predicted and reference labels, ``per_case.csv`` and the
    report. Returns the per-case table and the summary."""
    for folder in ("predictions", "references"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    collected: dict[str, list[Any]] = {"id": [], "pred": [], "target": [], "spacing": []}
    for case, probability in probabilities.items():
        image, image_meta = load_image(args.data_dir / case / IMAGE_FILE)
        seg, seg_meta = load_image(args.data_dir / case / SEG_FILE)
        if seg.shape != image.shape or not np.allclose(image_meta["affine"], seg_meta["affine"], atol=1e-4):
            raise SystemExit(f"{args.data_dir / case}: {SEG_FILE} is not on the grid of {IMAGE_FILE}")
        target = labels(seg)
        pred = to_native_grid(probability, target.shape)
        affine = np.asarray(image_meta["affine"])
        nib.save(nib.Nifti1Image(pred, affine), args.out / "predictions" / f"{case}.nii.gz")  # type: ignore[no-untyped-call]
        nib.save(nib.Nifti1Image(target, affine), args.out / "references" / f"{case}.nii.gz")  # type: ignore[no-untyped-call]
        spacing = tuple(float(s) for s in image_meta["spacing"])
        scores = dice(pred, target, labels=list(CLASSES))
        row: dict[str, Any] = {"id": case}
        for label, name in CLASSES.items():
            row[f"reference_voxels_{name}"] = int(np.sum(target == label))
            row[f"predicted_voxels_{name}"] = int(np.sum(pred == label))
            row[f"dice_{name}"] = scores[str(label)]
            row[f"hausdorff_mm_{name}"] = _hausdorff(pred, target, spacing, label)
        rows.append(row)
        for key, value in (("id", case), ("pred", pred), ("target", target), ("spacing", spacing)):
            collected[key].append(value)
    per_case = pd.DataFrame(rows)
    per_case.to_csv(args.out / "per_case.csv", index=False)
    summary = _summary(per_case, collected)
    _write_report(summary, per_case, args.out / "report")
    return per_case, summary


def _hausdorff(pred: np.ndarray, target: np.ndarray, spacing: tuple[float, ...], label: int) -> float:
    """The Hausdorff distance of ``label`` in mm; NaN (not a warning per case) when one of the two masks is empty
    (both empty: 0): the report counts those cases."""
    if (pred == label).any() != (target == label).any():
        return float("nan")
    return hausdorff_distance(pred, target, spacing=spacing, labels=[label])[str(label)]


def _summary(per_case: pd.DataFrame, collected: dict[str, list[Any]]) -> dict[str, Any]:
    """fuse-eval's averages over the test cases per class (``MetricDice``; ``MetricHausdorff`` over the cases where
    the class's distance is defined, the others counted)."""
    summary: dict[str, Any] = {"test_cases": len(per_case)}
    dice_metric = MetricDice(pred="pred", target="target", labels=list(CLASSES))
    dice_metric.collect(collected)
    dice_means = dice_metric.eval()
    for label, name in CLASSES.items():
        summary[f"mean_dice_{name}"] = dice_means[str(label)]
        defined = [i for i, value in enumerate(per_case[f"hausdorff_mm_{name}"]) if not np.isnan(value)]
        summary[f"hausdorff_undefined_cases_{name}"] = len(per_case) - len(defined)
        summary[f"mean_hausdorff_mm_{name}"] = None
        if defined:
            distance = MetricHausdorff(pred="pred", target="target", spacing="spacing", labels=[label])
            distance.collect({key: [values[i] for i in defined] for key, values in collected.items()})
            summary[f"mean_hausdorff_mm_{name}"] = distance.eval()[str(label)]
    return summary


def _plain(value: Any) -> Any:
    """A summary value for JSON: numpy numbers as Python numbers (full precision), NaN as null."""
    if value is None:
        return None
    number = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(number, float) and np.isnan(number) else number


def _number(value: Any) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.3f}"


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = [f"test cases: {summary['test_cases']}"]
    for name in CLASSES.values():
        lines.append(
            f"{name}: mean Dice {_number(summary[f'mean_dice_{name}'])}, mean Hausdorff distance "
            f"{_number(summary[f'mean_hausdorff_mm_{name}'])} mm ({summary[f'hausdorff_undefined_cases_{name}']} "
            "cases without it left out: the class predicted but absent, or absent but predicted)"
        )
    return lines


def _write_report(summary: dict[str, Any], per_case: pd.DataFrame, report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "results.json").write_text(
        json.dumps({key: _plain(value) for key, value in summary.items()}, indent=2)
    )
    lines = ["# KiTS21-style kidney and tumour segmentation, test cases", "", *_summary_lines(summary), ""]
    header = [f"{what} {name}" for name in CLASSES.values() for what in ("Dice", "Hausdorff (mm)")]
    lines += ["| case | " + " | ".join(header) + " |", "|---" * (1 + len(header)) + "|"]
    for row in per_case.to_dict("records"):
        values = [_number(row[f"{what}_{name}"]) for name in CLASSES.values() for what in ("dice", "hausdorff_mm")]
        lines.append(f"| {row['id']} | " + " | ".join(values) + " |")
    (report_dir / "results.md").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Split, cache, train, predict and evaluate; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)  # random, numpy and torch
    args.out.mkdir(parents=True, exist_ok=True)
    cases = KITS21.sample_ids(args.data_dir)
    if len(cases) < 5:
        raise SystemExit(f"{args.data_dir}: {len(cases)} complete KiTS21 cases found; the 5 folds need at least 5")
    split = split_cases(cases, args.seed)
    pd.DataFrame([(i, name) for name, ids in split.items() for i in ids], columns=["sample_id", "split"]).to_csv(
        args.out / "split.csv", index=False
    )
    data = datasets(args, split)
    print(", ".join(f"{name}: {len(ids)} cases" for name, ids in split.items()))
    checkpoint = train(data, args)
    per_case, summary = evaluate(predict(data.test, checkpoint, args), args)
    print("\n".join(_summary_lines(summary)))
    print(f"per case:        {args.out / 'per_case.csv'} ({len(per_case)} cases)")
    print(f"report:          {args.out / 'report' / 'results.md'} (also results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
