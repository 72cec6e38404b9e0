"""The KNIGHT challenge baseline (FuseMedML's `knight/baseline`), end to end with fuse.

KNIGHT asks for a kidney cancer patient's AUA risk group from the pre-operative CT and clinical data. Task 1:
candidate for adjuvant therapy (high or very high risk) or not; task 2: the five risk groups (benign, low,
intermediate, high, very high). This script

1. splits the labelled cases into balanced folds (fuse-data's `balanced_division` on the risk group) and keeps one
   fold for validation;
2. builds the cached KNIGHT datasets (`fuse.imaging.datasets.KNIGHT`: CT clipped, normalised and resized, the 11
   clinical features encoded, training augmentation);
3. trains a 3-D ResNet (`BackboneResnet3D`) with one `Head3D` per task, on the image, the clinical features or
   both (`--inputs`), with `LightningModuleDefault`, balanced batches and fuse-eval AUCs per epoch;
4. predicts the validation cases (and the test cases, when `<data>/features.json` exists) with the best
   checkpoint and writes the challenge's files, which `eval.py` scores.

    python examples/knight/baseline.py --help
    python examples/knight/make_synthetic_data.py --out data/knight --n 100 --n-test 30
    python examples/knight/baseline.py --data data/knight --out runs/knight
    python examples/knight/eval.py --targets runs/knight/validation_targets.csv \\
        --task1 runs/knight/validation_task1_predictions.csv --task2 runs/knight/validation_task2_predictions.csv \\
        --out runs/knight/validation_scores

FuseMedML's baseline used the real data at 70x256x256 with a full-width r3d_18 on a GPU: `--resize 70 256 256
--width 64 --batch-size 2 --lr 1e-4 --accelerator gpu`. The defaults here suit the synthetic data on a CPU.

Writes to --out: split.json, cache/ (the datasets' sample caches), model/ (checkpoints, epoch summaries),
lightning_logs/ (every epoch's metrics), validation_targets.csv, validation_task{1,2}_predictions.csv and, with test
cases, test_task{1,2}_predictions.csv.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="KNIGHT folder (knight.json, case_NNNNN/...)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model, caches and prediction files")
    parser.add_argument("--tasks", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="tasks to train (both)")
    parser.add_argument(
        "--inputs", choices=("image", "clinical", "both"), default="both", help="what the model sees (both)"
    )
    parser.add_argument(
        "--resize", type=int, nargs=3, default=(16, 64, 64), metavar=("D", "H", "W"), help="CT size (16 64 64)"
    )
    parser.add_argument("--width", type=int, default=16, help="channels of the ResNet's first layer (16; r3d_18: 64)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (20)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size (8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--folds", type=int, default=5, help="number of folds; one is the validation set (5)")
    parser.add_argument("--val-fold", type=int, default=0, help="the validation fold (0)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the split, the model and the batches (1234)")
    parser.add_argument("--accelerator", default="cpu", help="Lightning accelerator: cpu, gpu or auto (cpu)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader and caching worker processes (0)")
    parser.add_argument("--reset-cache", action="store_true", help="rebuild the sample caches")
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

    from fuse.core import save_dataframe, save_text_file, set_seed
    from fuse.data import BatchSamplerDefault, CollateDefault, DatasetDefault, balanced_division
    from fuse.dl import (
        BackboneResnet3D,
        Head3D,
        LightningModuleDefault,
        LossDefault,
        ModelMultiHead,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricAccuracy, MetricAUCROC, MetricBase
    from fuse.imaging.datasets import KNIGHT
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


# The challenge's class names, aligned with the labels (as in eval.py).
CLASS_NAMES = {1: ("NoAT", "CanAT"), 2: ("B", "LR", "IR", "HR", "VHR")}
CLINICAL_FEATURES = 11  # the length of KNIGHT's data.input.clinical.all


def label_key(task: int) -> str:
    """The sample key of a task's label (written by the KNIGHT static pipeline)."""
    return f"data.gt.gt_global.task_{task}_label"


def make_split(data: Path, folds: int, val_fold: int, seed: int) -> dict[str, list[str]]:
    """Train / validation case ids: the labelled cases on disk in `folds` folds, each with about the same share of
    every risk group (fuse-data's `balanced_division`); fold `val_fold` validates."""
    records = json.loads((data / "knight.json").read_text(encoding="utf-8"))
    on_disk = set(KNIGHT.sample_ids(data))
    cases = pd.DataFrame(
        [(r["case_id"], r["aua_risk_group"]) for r in records if r["case_id"] in on_disk],
        columns=["case_id", "aua_risk_group"],
    )
    assigned = balanced_division(cases, "case_id", ["aua_risk_group"], nfolds=folds, seed=seed)
    is_val = assigned["fold"] == val_fold
    return {"train": assigned.loc[~is_val, "case_id"].tolist(), "val": assigned.loc[is_val, "case_id"].tolist()}


def make_model(inputs: str, tasks: Sequence[int], width: int, imaging_dropout: float = 0.5) -> ModelMultiHead:
    """A 3-D ResNet backbone on the CT and one classification head per task (FuseMedML's `make_model`).

    The heads max-pool the backbone's feature map and append the clinical features (through a small MLP) when
    `inputs` includes them; with `inputs="clinical"` the backbone is skipped and the heads see the clinical data only.
    """
    if inputs in ("image", "both"):
        backbone: torch.nn.Module = BackboneResnet3D(in_channels=1, first_channel_dim=width)
        conv_inputs: list[tuple[str, int]] | None = [("model.backbone_features", width * 8)]
    else:
        backbone, conv_inputs = torch.nn.Identity(), None
    append_features = [("data.input.clinical.all", CLINICAL_FEATURES)] if inputs in ("clinical", "both") else None
    # A fuse model reads its inputs from the batch dict and writes model.logits.<head> / model.output.<head> into it.
    return ModelMultiHead(
        conv_inputs=(("data.input.img", 1),),
        backbone=backbone,
        heads=[
            Head3D(
                head_name=f"task_{task}",
                mode="classification",
                conv_inputs=conv_inputs,
                dropout_rate=imaging_dropout,
                num_outputs=len(CLASS_NAMES[task]),
                append_features=append_features,
                append_layers_description=(256, 128),
                fused_dropout_rate=0.5,
            )
            for task in tasks
        ],
    )


def make_dataloaders(
    train_ds: DatasetDefault, val_ds: DatasetDefault, task: int, batch_size: int, seed: int, num_workers: int
) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """Training batches balanced over the classes of `task` (read from the cache, not by loading the images) and
    plain validation batches; `CollateDefault` stacks the samples' tensors into a batch dict."""
    sampler = BatchSamplerDefault(
        dataset=train_ds,
        balanced_class_name=label_key(task),
        num_balanced_classes=len(CLASS_NAMES[task]),
        batch_size=batch_size,
        mode="approx",
        seed=seed,
    )
    # DatasetDefault works as a torch map-style dataset but is not typed as one (hence the ignores).
    train_dl: DataLoader[Any] = DataLoader(
        train_ds,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=num_workers,
    )
    val_dl: DataLoader[Any] = DataLoader(
        val_ds,  # type: ignore[arg-type]
        batch_size=batch_size,
        collate_fn=CollateDefault(),
        num_workers=num_workers,
    )
    return train_dl, val_dl


def make_losses(tasks: Sequence[int]) -> dict[str, LossDefault]:
    """Cross-entropy of each task's logits against its label; the total loss is their sum."""
    return {
        f"task_{task}_ce": LossDefault(
            pred=f"model.logits.task_{task}", target=label_key(task), callable=F.cross_entropy
        )
        for task in tasks
    }


def make_metrics(tasks: Sequence[int]) -> dict[str, MetricBase]:
    """Per task, fuse-eval's AUC (one vs rest per class, and their macro average) and accuracy; the training module
    collects them batch by batch and evaluates them on the whole epoch."""
    metrics: dict[str, MetricBase] = {}
    for task in tasks:
        output = f"model.output.task_{task}"
        metrics[f"task{task}_auc"] = MetricAUCROC(pred=output, target=label_key(task), class_names=CLASS_NAMES[task])
        metrics[f"task{task}_accuracy"] = MetricAccuracy(pred=output, target=label_key(task))
    return metrics


def make_predictions_file(predictions: pd.DataFrame, task: int, path: Path) -> None:
    """The challenge's prediction file of `task`: case_id and one probability column per class."""
    probabilities = np.stack(predictions[f"model.output.task_{task}"].to_list())
    table = pd.DataFrame(probabilities, columns=[f"{name}-score" for name in CLASS_NAMES[task]])
    table.insert(0, "case_id", predictions["id"].to_list())
    save_dataframe(table, path, index=False)


def make_targets_file(dataset: DatasetDefault, path: Path) -> None:
    """The challenge's targets file (case_id, Task1-target, Task2-target), from the labels the KNIGHT pipeline
    derived; `get_static_values` reads them from the cache without loading any image."""
    table = pd.DataFrame(
        {
            "case_id": dataset.get_static_values("data.input.case_id"),
            "Task1-target": dataset.get_static_values(label_key(1)),
            "Task2-target": dataset.get_static_values(label_key(2)),
        }
    )
    save_dataframe(table, path, index=False)


def predict(
    trainer: pl.Trainer,
    module: LightningModuleDefault,
    checkpoint: str,
    dataset: DatasetDefault,
    batch_size: int,
    tasks: Sequence[int],
) -> pd.DataFrame:
    """The class probabilities of every case in `dataset` with the weights of `checkpoint`: an `id` column and one
    `model.output.task_<n>` column per task."""
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=batch_size,
        collate_fn=CollateDefault(),
    )
    module.set_predictions_keys([f"model.output.task_{task}" for task in tasks])
    batches = trainer.predict(module, dataloaders=loader, ckpt_path=checkpoint)
    assert batches is not None
    return convert_predictions_to_dataframe(batches)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Split, train, predict, write the challenge's files and print where they went."""
    args = parse_args(argv)
    tasks = sorted(set(args.tasks))
    set_seed(args.seed)  # python, numpy and torch
    args.out.mkdir(parents=True, exist_ok=True)

    split = make_split(args.data, args.folds, args.val_fold, args.seed)
    save_text_file(args.out / "split.json", json.dumps(split, indent=1))
    print(f"{len(split['train'])} training and {len(split['val'])} validation cases")

    # Cached datasets: the static pipeline (load, clip, normalise, resize, encode the clinical data) runs once per
    # case and is stored under cache/; the dynamic pipeline (tensors, augmentation) runs on every access.
    datasets = KNIGHT.dataset(
        args.data,
        args.out / "cache",
        split=split,
        reset_cache=args.reset_cache,
        resize_to=args.resize,
        num_workers=args.num_workers,
    )
    assert isinstance(datasets, tuple)
    train_ds, val_ds = datasets
    train_dl, val_dl = make_dataloaders(train_ds, val_ds, tasks[0], args.batch_size, args.seed, args.num_workers)

    module = LightningModuleDefault(
        model_dir=args.out / "model",
        model=make_model(args.inputs, tasks, args.width),
        losses=make_losses(tasks),
        train_metrics=make_metrics(tasks),
        validation_metrics=make_metrics(tasks),
        # best_epoch.ckpt is the epoch with the lowest validation loss (summed over the tasks); FuseMedML trained one
        # task at a time and kept the epoch with its best AUC: "validation.metrics.task1_auc.macro_avg", mode "max"
        best_epoch_source={"monitor": "validation.losses.total_loss", "mode": "min"},
        optimizers_and_lr_schs=lambda m: torch.optim.Adam(m.parameters(), lr=args.lr, weight_decay=1e-3),
    )
    trainer = pl.Trainer(
        default_root_dir=args.out,
        logger=CSVLogger(args.out),  # every epoch's losses and metrics in <out>/lightning_logs/version_<n>/metrics.csv
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    trainer.fit(module, train_dl, val_dl)
    best = trainer.checkpoint_callback.best_model_path  # type: ignore[union-attr]

    predictions = predict(trainer, module, best, val_ds, args.batch_size, tasks)
    written = [args.out / "validation_targets.csv"]
    make_targets_file(val_ds, written[0])
    for task in tasks:
        written.append(args.out / f"validation_task{task}_predictions.csv")
        make_predictions_file(predictions, task, written[-1])

    if (args.data / "features.json").is_file():  # the challenge's test cases: predictions only, no labels
        test_ids = [r["case_id"] for r in json.loads((args.data / "features.json").read_text(encoding="utf-8"))]
        test_ds = KNIGHT.dataset(
            args.data, args.out / "cache", split={"test": test_ids}, resize_to=args.resize, num_workers=args.num_workers
        )
        assert isinstance(test_ds, DatasetDefault)
        test_predictions = predict(trainer, module, best, test_ds, args.batch_size, tasks)
        for task in tasks:
            written.append(args.out / f"test_task{task}_predictions.csv")
            make_predictions_file(test_predictions, task, written[-1])

    print(f"best checkpoint: {best}")
    print("wrote:\n  " + "\n  ".join(str(path) for path in written))
    print(f"score them: python {Path(__file__).parent / 'eval.py'} --help")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
