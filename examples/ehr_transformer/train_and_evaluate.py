"""EHR transformer: predict in-hospital death from 48 hours of ICU measurements (PhysioNet Challenge 2012).

FuseMedML's ``ehr_transformer`` example redone with fuse. The steps, each a function below:

1. read ``set-a/<RecordID>.txt`` and ``Outcomes-a.txt`` with a strict parser (``physionet2012.py``: a malformed
   file stops the run naming its line), remove implausible values and too short stays (FuseMedML's rules);
2. split the stays into train / validation / test folds balanced on the outcome (fuse-data ``balanced_division``);
3. tokenize (``ehr_tokens.py``): every value becomes a word ``<Parameter>_<bin>`` with bins fitted on the training
   stays only; the measurements are grouped into time windows ("visits") closed by ``SEP``; the sequence is
   ``CLS``, static words (age, gender, BMI), ``SEP_STATIC``, then the latest windows that fit ``--max-len``. A
   fuse-data ``DatasetDefault`` runs the tokenizer in its dynamic pipeline, with FuseMedML's random sub-trajectory
   augmentation for training;
4. fuse-dl: a small BERT-like encoder (token and position embeddings, ``torch.nn.TransformerEncoder``, the ``CLS``
   output) under ``Head1D``, ``LossDefault``, ``MetricAUCROC``, a class-balanced ``BatchSamplerDefault`` and
   ``LightningModuleDefault`` keeping the epoch with the best validation AUC; Lightning's ``Trainer`` fits it and
   predicts the test stays with that checkpoint;
5. fuse-eval: the report on the test stays (``write_report``): ROC AUC and AUC-PR with 95% bootstrap intervals,
   sensitivity, specificity, PPV, NPV and accuracy at probability 0.5 with Wilson intervals, calibration, figures.

Synthetic data first (see make_synthetic_physionet.py), then train::

    python examples/ehr_transformer/make_synthetic_physionet.py --out physionet_synthetic
    python examples/ehr_transformer/train_and_evaluate.py --physionet-dir physionet_synthetic --out ehr_run

The real data: download PhysioNet 2012's ``set-a`` and ``Outcomes-a.txt`` into one folder and pass it as
``--physionet-dir``. Under ``--out``: ``split.csv``, ``vocabulary.json``, ``model/`` (``best_epoch.ckpt``),
``logs/``, ``predictions.csv`` (``RecordID, prob_death, in_hospital_death``) and ``report/`` (``report.html``,
``results.md``, ``results.json``, figures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple


# ------------------------------------------------------------------------------------------------ command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--physionet-dir", type=Path, required=True, help="folder holding set-<SET>/ and Outcomes-<SET>.txt"
    )
    parser.add_argument("--set", default="a", help="which set of the folder: a, b or c (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model, predictions and report")
    parser.add_argument(
        "--window-minutes",
        type=int,
        default=60,
        help="measurements in one window form one visit; 1 groups exact time stamps as FuseMedML (default: "
        "%(default)s)",
    )
    parser.add_argument("--max-len", type=int, default=256, help="tokens per sequence (default: %(default)s)")
    parser.add_argument("--num-bins", type=int, default=4, help="quantile bins per measurement (default: %(default)s)")
    parser.add_argument(
        "--min-hours", type=int, default=46, help="keep stays measured this long (default: %(default)s)"
    )
    parser.add_argument(
        "--min-windows", type=int, default=10, help="keep stays with this many windows (default: %(default)s)"
    )
    parser.add_argument("--d-model", type=int, default=64, help="embedding size (default: %(default)s)")
    parser.add_argument("--layers", type=int, default=2, help="transformer layers (default: %(default)s)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (default: %(default)s)")
    parser.add_argument(
        "--bootstraps", type=int, default=1000, help="bootstrap resamplings of the AUC intervals (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, sampler, model and augmentation")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="data loading processes (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import json
    from collections.abc import Mapping, Sequence

    import lightning.pytorch as pl
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from ehr_tokens import Binning, fit_binning, random_sub_trajectory, token_ids, tokens
    from lightning.pytorch.loggers import CSVLogger
    from physionet2012 import Record, drop_implausible, keep_long_stays, read_set
    from torch import nn
    from torch.utils.data import DataLoader

    from fuse.core import NDict, set_seed
    from fuse.data import (
        BatchSamplerDefault,
        CollateDefault,
        DatasetDefault,
        OpBase,
        PipelineDefault,
        balanced_division,
    )
    from fuse.dl import (
        Head1D,
        LightningModuleDefault,
        LossDefault,
        ModelWrapSeqToDict,
        convert_predictions_to_dataframe,
    )
    from fuse.eval import MetricAUCROC, ReportSettings, write_report
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas", "torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl ({missing}): pip install fuse-dl, or in a clone: pip install -c "
        "testing/constraints.txt -e packages/fuse-core -e packages/fuse-data -e packages/fuse-eval -e packages/fuse-dl"
    ) from None

LABEL = "data.gt.death"
TOKENS = "data.input.token_ids"
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 balanced folds
CLASS_NAMES = ("survived", "died")  # in-hospital death is the positive class
THRESHOLD = 0.5


class Cohort(NamedTuple):
    """The stays kept for training and evaluation and their outcomes, by record id."""

    records: dict[str, Record]
    deaths: dict[str, int]


# ------------------------------------------------------------------------------------------------ 1. read
def load_cohort(data_dir: Path, set_name: str, min_hours: int, min_windows: int, window_minutes: int) -> Cohort:
    """Read the set, clean it, and keep the stays long enough to learn from."""
    records, deaths = read_set(data_dir / f"set-{set_name}", data_dir / f"Outcomes-{set_name}.txt")
    dropped = drop_implausible(records)
    kept, kept_deaths = keep_long_stays(records, deaths, min_hours, min_windows, window_minutes)
    print(
        f"read {len(records)} stays; removed {dropped} implausible values; kept {len(kept)} stays measured for "
        f"{min_hours} hours in {min_windows}+ windows ({sum(kept_deaths)} in-hospital deaths)"
    )
    if len(kept) < 10:
        raise SystemExit(f"{data_dir}: only {len(kept)} stays left after the filters: lower --min-hours/--min-windows")
    return Cohort({r.record_id: r for r in kept}, dict(zip((r.record_id for r in kept), kept_deaths, strict=True)))


# ------------------------------------------------------------------------------------------------ 2. split
def split_stays(cohort: Cohort, seed: int) -> dict[str, list[str]]:
    """Record ids per split (``FOLDS``): 5 folds each holding about the same share of deaths."""
    table = pd.DataFrame({"RecordID": list(cohort.deaths), "death": list(cohort.deaths.values())})
    folds = balanced_division(table, "RecordID", ["death"], nfolds=5, seed=seed)
    return {name: folds.loc[folds["fold"].isin(numbers), "RecordID"].tolist() for name, numbers in FOLDS.items()}


# ------------------------------------------------------------------------------------------------ 3. tokens
class OpTokenizeStay(OpBase):
    """Sample id (a record id) -> ``data.input.token_ids`` (int64 ``[max_len]``) and ``data.gt.death``.

    With ``augment`` (training), a random sub-trajectory of the stay's windows is kept each time the sample is read.
    """

    def __init__(
        self,
        cohort: Cohort,
        binning: Binning,
        vocabulary: Mapping[str, int],
        window_minutes: int,
        max_len: int,
        augment: bool = False,
    ) -> None:
        super().__init__()
        self._cohort, self._binning, self._vocabulary = cohort, binning, vocabulary
        self._window_minutes, self._max_len, self._augment = window_minutes, max_len, augment

    def __call__(self, sample_dict: NDict) -> NDict:
        record_id = sample_dict["data.sample_id"]
        record = self._cohort.records[record_id]
        window_range = None
        if self._augment:
            n_windows = len({event.minute // self._window_minutes for event in record.events})
            window_range = random_sub_trajectory(n_windows)
        words = tokens(
            record, self._binning, window_minutes=self._window_minutes, max_len=self._max_len, window_range=window_range
        )
        sample_dict[TOKENS] = torch.tensor(token_ids(words, self._vocabulary), dtype=torch.int64)
        sample_dict[LABEL] = self._cohort.deaths[record_id]
        return sample_dict


def make_datasets(
    cohort: Cohort, split: Mapping[str, Sequence[str]], args: argparse.Namespace
) -> tuple[dict[str, DatasetDefault], dict[str, int]]:
    """The three datasets and the vocabulary, the bins fitted on the training stays only."""
    binning = fit_binning((cohort.records[i] for i in split["train"]), num_bins=args.num_bins)
    vocabulary = binning.vocabulary()
    datasets = {}
    for name, ids in split.items():
        op = OpTokenizeStay(cohort, binning, vocabulary, args.window_minutes, args.max_len, augment=name == "train")
        dataset = DatasetDefault(list(ids), dynamic_pipeline=PipelineDefault(f"ehr_{name}", [(op, {})]))
        dataset.create()
        datasets[name] = dataset
    return datasets, vocabulary


# ------------------------------------------------------------------------------------------------ 4. model
class EHREncoder(nn.Module):
    """A small BERT-like encoder: token + position embeddings, ``nn.TransformerEncoder`` (pre-norm, GELU), the
    normalised ``CLS`` output (position 0). ``PAD`` (index 0) is masked out of attention."""

    def __init__(self, vocab_size: int, max_len: int, d_model: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.positions = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` token ids -> ``[B, d_model]``."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        hidden = self.tokens(ids) + self.positions(positions)[None]
        hidden = self.encoder(hidden, src_key_padding_mask=ids == 0)
        output: torch.Tensor = self.norm(hidden[:, 0])
        return output


def create_model(vocab_size: int, args: argparse.Namespace) -> nn.Module:
    """Encoder -> ``model.z`` -> ``Head1D`` -> ``model.logits.death`` / ``model.output.death`` (``[B, 2]``)."""
    return nn.Sequential(
        ModelWrapSeqToDict(
            model=EHREncoder(vocab_size, args.max_len, args.d_model, args.layers, args.heads, dropout=0.1),
            model_inputs=[TOKENS],
            model_outputs=["model.z"],
        ),
        Head1D(
            head_name="death",
            conv_inputs=[("model.z", args.d_model)],
            num_outputs=2,
            layers_description=(args.d_model,),
            dropout_rate=0.1,
        ),
    )


def _loader(dataset: DatasetDefault, args: argparse.Namespace) -> DataLoader[Any]:
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )


def train(datasets: Mapping[str, DatasetDefault], vocab_size: int, model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the best validation AUC."""
    sampler = BatchSamplerDefault(datasets["train"], LABEL, batch_size=args.batch_size, seed=args.seed)
    train_loader: DataLoader[Any] = DataLoader(
        datasets["train"],  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=args.workers,
    )

    def optimizers(module: pl.LightningModule) -> dict[str, Any]:
        return {"optimizer": torch.optim.AdamW(module.parameters(), lr=args.lr, weight_decay=0.01)}

    module = LightningModuleDefault(
        model_dir=model_dir,
        model=create_model(vocab_size, args),
        losses={"ce": LossDefault(pred="model.logits.death", target=LABEL, callable=F.cross_entropy)},
        validation_metrics={"auc": MetricAUCROC(pred="model.output.death", target=LABEL)},
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max", "save_weights_only": True},
        optimizers_and_lr_schs=optimizers,
    )
    trainer = pl.Trainer(
        default_root_dir=model_dir,
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(model_dir.parent, name="logs"),
        log_every_n_steps=1,
        enable_progress_bar=False,
    )
    trainer.fit(module, train_loader, _loader(datasets["validation"], args))
    return model_dir / "best_epoch.ckpt"


def predict(
    dataset: DatasetDefault, checkpoint: Path, vocab_size: int, model_dir: Path, args: argparse.Namespace
) -> pd.DataFrame:
    """The best checkpoint's probability of in-hospital death for every test stay, with the outcome."""
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=model_dir, model=create_model(vocab_size, args), weights_only=True
    )
    module.set_predictions_keys(["model.output.death", LABEL])
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, default_root_dir=model_dir,
        enable_progress_bar=False,
    )  # fmt: skip
    frame = convert_predictions_to_dataframe(trainer.predict(module, _loader(dataset, args)))  # type: ignore[arg-type]
    table: pd.DataFrame = pd.DataFrame(
        {
            "RecordID": frame["id"],
            "prob_death": [float(p[1]) for p in frame["model.output.death"]],
            "in_hospital_death": frame[LABEL].astype(int),
        }
    )
    return table


# ------------------------------------------------------------------------------------------------ 5. evaluation
def evaluate(
    predictions: pd.DataFrame, report_dir: Path, args: argparse.Namespace, sizes: Mapping[str, int]
) -> dict[str, Any]:
    """The fuse-eval report on the test stays (see :func:`fuse.eval.write_report`)."""
    settings = ReportSettings(
        threshold=THRESHOLD,
        threshold_rule=f"fixed in advance at probability {THRESHOLD}; the checkpoint was chosen by validation AUC",
        bootstraps=args.bootstraps,
        seed=args.seed,
        title="EHR transformer: in-hospital death after 48 hours in the ICU (PhysioNet 2012), test stays",
        description=(
            f"Transformer over {args.window_minutes}-minute windows of binned measurements, trained on "
            f"{sizes['train']} stays, its epoch chosen on {sizes['validation']}, evaluated on {sizes['test']} "
            "held-out stays."
        ),
    )
    labels = predictions["in_hospital_death"].to_numpy()
    return write_report(report_dir, predictions["prob_death"].to_numpy(), labels, list(CLASS_NAMES), settings=settings)


def main(argv: list[str] | None = None) -> int:
    """Read, split, tokenize, train, predict and evaluate; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    cohort = load_cohort(args.physionet_dir, args.set, args.min_hours, args.min_windows, args.window_minutes)
    split = split_stays(cohort, args.seed)
    pd.DataFrame([(i, name) for name, ids in split.items() for i in ids], columns=["RecordID", "split"]).to_csv(
        args.out / "split.csv", index=False
    )
    datasets, vocabulary = make_datasets(cohort, split, args)
    (args.out / "vocabulary.json").write_text(json.dumps(vocabulary, indent=1))
    print(", ".join(f"{name}: {len(ids)} stays" for name, ids in split.items()) + f"; {len(vocabulary)} words")

    checkpoint = train(datasets, len(vocabulary), args.out / "model", args)
    predictions = predict(datasets["test"], checkpoint, len(vocabulary), args.out / "model", args)
    predictions.to_csv(args.out / "predictions.csv", index=False)
    report = evaluate(predictions, args.out / "report", args, {name: len(ids) for name, ids in split.items()})
    for note in report["notes"]:
        print(f"note: {note}")
    auc = report["metrics"]["auc"]
    if auc["value"] is None:
        print("test ROC AUC: undefined (the test stays hold one outcome only)")
    else:
        print(f"test ROC AUC: {auc['value']:.3f} [95% CI {auc['low']:.3f}-{auc['high']:.3f}]")
    print(f"predictions: {args.out / 'predictions.csv'}")
    print(f"report:      {args.out / 'report' / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
