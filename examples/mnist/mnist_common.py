"""What the two MNIST examples share: the fuse-style model, its loss and metrics, the data, the trainer, and the
evaluation of a predictions file with fuse-eval.

Read ``simple_mnist_starter.py`` or ``run_mnist_custom_pl_imp.py`` first; they call the functions below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lenet import LeNet
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch.utils.data import DataLoader

from fuse.core import NDict, read_dataframe, save_dataframe
from fuse.data import BatchSamplerDefault, CollateDefault, DatasetDefault, dataset_balanced_division_to_folds
from fuse.dl import LossDefault, ModelWrapSeqToDict, convert_predictions_to_dataframe
from fuse.eval import CI, EvaluatorDefault, MetricAccuracy, MetricAUCROC, MetricBase, ReportSettings, write_report
from fuse.imaging.datasets import MNIST

NUM_CLASSES = 10
CLASS_NAMES = [str(digit) for digit in range(NUM_CLASSES)]
# Batch dict keys. A fuse sample (and a batch of samples) is an NDict: a dict addressed by dotted key paths.
# fuse-imaging's MNIST writes "data.image" ([1, 28, 28] float tensor) and "data.label" (int); the model writes
# "model.*"; the losses write "losses.*".
IMAGE, LABEL = "data.image", "data.label"
LOGITS, PROBABILITIES = "model.logits.classification", "model.output.classification"
# what prediction keeps of each test batch (besides the sample ids), and what the evaluation reads
PREDICTION_KEYS = [PROBABILITIES, LABEL]
# the epoch whose checkpoint is kept as best_epoch.ckpt: the one with the highest validation accuracy
BEST_EPOCH_SOURCE = {"monitor": "validation.metrics.accuracy", "mode": "max"}


# ---------------------------------------------------------------------------------------------------- model
def perform_softmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and the class probabilities (what ``model_outputs`` below names, in this order)."""
    return logits, F.softmax(logits, dim=1)


def wrap_model(model: torch.nn.Module | None = None) -> ModelWrapSeqToDict:
    """A plain torch model made a fuse model: ``ModelWrapSeqToDict`` reads its input from the batch dict and writes
    its outputs (logits and softmax probabilities) back into it, so that losses and metrics find them by key."""
    return ModelWrapSeqToDict(
        model=model if model is not None else LeNet(NUM_CLASSES),
        model_inputs=[IMAGE],
        post_forward_processing_function=perform_softmax,
        model_outputs=[LOGITS, PROBABILITIES],
    )


def make_losses() -> dict[str, LossDefault]:
    """``{name: loss}``: ``LossDefault`` calls ``F.cross_entropy(batch[LOGITS], batch[LABEL])``; the total of the
    losses is what the optimizer minimises."""
    return {"cls_loss": LossDefault(pred=LOGITS, target=LABEL, callable=F.cross_entropy)}


def make_metrics() -> dict[str, MetricBase]:
    """``{name: metric}`` of fuse-eval metrics computed over a whole epoch: each batch's values are collected (by
    sample id), and the metric is evaluated at the epoch end. New instances on every call: training and
    validation each need their own."""
    return {
        "accuracy": MetricAccuracy(pred=PROBABILITIES, target=LABEL),  # the argmax of the probabilities
        "auc": MetricAUCROC(pred=PROBABILITIES, target=LABEL, class_names=CLASS_NAMES),  # one-vs-rest, per class
    }


def make_optimizer(
    parameters: Iterator[torch.nn.Parameter], lr: float, weight_decay: float
) -> OptimizerLRSchedulerConfig:
    """Adam, its learning rate reduced when the validation loss stops improving (in ``configure_optimizers``'s
    format; the monitored name is the one fuse logs the validation total loss under)."""
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "validation.losses.total_loss"}}


# ---------------------------------------------------------------------------------------------------- data
class MNISTDataModule(pl.LightningDataModule):
    """MNIST read with fuse-imaging's ``MNIST`` wrapper from the four IDX files in ``data_dir`` (never downloaded
    here; see README.md).

    - training: the training split minus a validation fold, in batches balanced over the ten labels;
    - validation: one of ``num_folds`` folds of the training split, balanced over the labels (FuseMedML validated
      on the test split; keeping it out of model selection keeps the test report unbiased);
    - prediction: the test split.
    """

    def __init__(self, data_dir: str | Path, batch_size: int, num_workers: int = 0, num_folds: int = 10) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.num_folds = num_folds
        self.train_dataset: DatasetDefault | None = None
        self.validation_dataset: DatasetDefault | None = None
        self.test_dataset: DatasetDefault | None = None

    def setup(self, stage: str) -> None:
        """Build the datasets a stage needs ("fit": training and validation; "predict" and "test": test)."""
        if stage in ("fit", "validate") and self.train_dataset is None:
            # A fuse dataset maps sample ids (here ("mnist-train", i)) to samples through its pipelines.
            full = MNIST.dataset(self.data_dir, train=True, download=False)
            # fuse-data's split: folds with the same share of every label; fold 0 validates, the others train.
            folds = dataset_balanced_division_to_folds(
                full, None, [LABEL], nfolds=self.num_folds, workers=self.num_workers
            )
            train_ids = [sample_id for fold in range(1, self.num_folds) for sample_id in folds[fold]]
            self.train_dataset = MNIST.dataset(self.data_dir, train=True, sample_ids=train_ids, download=False)
            self.validation_dataset = MNIST.dataset(self.data_dir, train=True, sample_ids=folds[0], download=False)
        if stage in ("predict", "test") and self.test_dataset is None:
            self.test_dataset = MNIST.dataset(self.data_dir, train=False, download=False)

    def train_dataloader(self) -> DataLoader[Any]:
        """Batches of ``batch_size`` samples whose labels are drawn with equal probabilities ("approx" mode, as in
        FuseMedML); ``CollateDefault`` stacks the samples into one batch dict."""
        assert self.train_dataset is not None, "setup('fit') first"
        batch_sampler = BatchSamplerDefault(
            dataset=self.train_dataset,
            balanced_class_name=LABEL,
            batch_size=self.batch_size,
            mode="approx",
        )
        return DataLoader(
            self.train_dataset,  # type: ignore[arg-type]
            batch_sampler=batch_sampler,
            collate_fn=CollateDefault(),
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader[Any]:
        assert self.validation_dataset is not None, "setup('fit') first"
        return self._in_order(self.validation_dataset)

    def predict_dataloader(self) -> DataLoader[Any]:
        assert self.test_dataset is not None, "setup('predict') first"
        return self._in_order(self.test_dataset)

    def _in_order(self, dataset: DatasetDefault) -> DataLoader[Any]:
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            collate_fn=CollateDefault(),
            num_workers=self.num_workers,
        )


# ---------------------------------------------------------------------------------------------------- training
def make_trainer(accelerator: str, num_epochs: int | None = None, log_dir: Path | None = None) -> pl.Trainer:
    """A one-device Lightning trainer. For training, give ``num_epochs`` and ``log_dir`` (where a CSV of every
    logged value goes); for prediction only, neither (no logger)."""
    logger = CSVLogger(log_dir, name="", version="") if log_dir is not None else False
    return pl.Trainer(accelerator=accelerator, devices=1, max_epochs=num_epochs, logger=logger)


def save_predictions(predictions: Sequence[Any] | None, path: Path) -> Path:
    """The per-batch outputs of ``trainer.predict`` as one table (a row per sample: ``id`` and the prediction
    keys), saved as a compressed pickle (a cell holds a vector of ten probabilities, which CSV cannot keep)."""
    if not predictions:
        raise ValueError("trainer.predict returned no predictions")
    frame = convert_predictions_to_dataframe(predictions)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataframe(frame, path)
    return path


# ---------------------------------------------------------------------------------------------------- evaluation
def evaluate(
    predictions_file: Path, eval_dir: Path, num_of_bootstraps: int = 1000, plots: bool = True, split: str = "test"
) -> NDict:
    """fuse-eval on a predictions file, two ways, both written to ``eval_dir``:

    - the evaluator (``EvaluatorDefault``, FuseMedML's way): accuracy with a 95% Wilson interval on the count of
      correctly classified images (``CI(..., ci_method="WILSON")``; a percentile bootstrap of an accuracy of 1
      collapses to [1, 1]) and the one-vs-rest ROC AUC of every digit plus their macro average, in
      ``results.txt``, ``results.json`` and ``results.md``;
    - the report (``write_report``) in ``eval_dir/report``: the AUCs and AUC-PRs with 95% bootstrap intervals
      (``num_of_bootstraps`` resamplings, each digit resampled separately), the accuracy and every digit's
      sensitivity, specificity, PPV and NPV with their counts and 95% Wilson intervals, the confusion matrix,
      calibration and figures (``report.html``, ``results.md``, ``results.json``, ``*.png`` unless not ``plots``).

    ``split`` names the predicted images in the report's title. Returns the evaluator's results
    (``results["metrics.accuracy.org"]``, ``...conf_lower``, ``...successes``).
    """
    predictions = read_dataframe(predictions_file)
    metrics: dict[str, MetricBase] = {
        "accuracy": CI(MetricAccuracy(pred=PROBABILITIES, target=LABEL), ci_method="WILSON"),
        "auc": MetricAUCROC(pred=PROBABILITIES, target=LABEL, class_names=CLASS_NAMES),
    }
    results = EvaluatorDefault().eval(ids=None, data=predictions, metrics=metrics, output_dir=eval_dir, silent=False)
    settings = ReportSettings(
        proportion_ci="wilson",
        bootstraps=num_of_bootstraps,
        title=f"MNIST digit classification (LeNet), {split} split",
        description=f"{len(predictions)} {split} images of {predictions_file.name}; the predicted digit is the argmax.",
        plots=plots,
    )
    probabilities = np.stack(predictions[PROBABILITIES].to_list())
    write_report(
        eval_dir / "report", probabilities, predictions[LABEL].astype(int).to_numpy(), CLASS_NAMES, settings=settings
    )
    return results


def print_summary(results: NDict, out: Path) -> None:
    """A few lines: the headline numbers and where everything went."""
    accuracy = results["metrics.accuracy"]
    print(
        f"\ntest accuracy {accuracy['org']:.3f} ({accuracy['successes']}/{accuracy['n']} correct; 95% Wilson CI "
        f"{accuracy['conf_lower']:.3f}-{accuracy['conf_upper']:.3f}), macro-average one-vs-rest AUC "
        f"{results['metrics.auc.macro_avg']:.3f}"
    )
    print(
        f"outputs in {out}: model/ (checkpoints), logs/metrics.csv, predictions.pkl.gz, eval/results.md, "
        "eval/report/report.html"
    )
