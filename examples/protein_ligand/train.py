"""Protein-ligand binding from sequences: a modular tokenizer (amino acids + SMILES) feeding a tiny model.

The steps, each a function below:

1. fuse-data: build a modular tokenizer with ``tokenizers`` (character-level amino acids; SMILES atoms, ``Br`` and
   ``Cl`` kept whole; shared special tokens such as ``<PAD>``, ``<SEP>``, ``<EOS>`` and ``<SCALAR>``) and save it,
   or load a saved one (``--tokenizer``: ours, or one saved by FuseMedML);
2. fuse-data: a pipeline writes each pair as one tagged query,
   ``<@TOKENIZER-TYPE=AA><BINDING><@TOKENIZER-TYPE=SCALARS_LITERALS>3.1<@TOKENIZER-TYPE=AA@MAX-LEN=..>MKT..<SEP>
   <@TOKENIZER-TYPE=SMILES@MAX-LEN=..>CC(Br)..<EOS>``, and ``ModularTokenizerOp`` turns it into token ids, an
   attention mask and the injected scalar (the ligand's length / 10, a stand-in for a measured descriptor) with
   the position of its ``<SCALAR>`` token;
3. fuse-dl: a bag-of-tokens model (token embeddings, the scalar written over its placeholder's embedding, mean and
   max pooling, an MLP) trained with ``LightningModuleDefault``, keeping the epoch with the best validation AUC;
4. fuse-eval: the report on the test pairs (``write_report``): ROC AUC with a bootstrap interval, sensitivity,
   specificity and the rest at probability 0.5.

Make pairs first (see make_synthetic_pairs.py), then train::

    python examples/protein_ligand/make_synthetic_pairs.py --out protein_ligand_pairs
    python examples/protein_ligand/train.py --pairs protein_ligand_pairs/pairs.csv --out protein_ligand_run

Everything is written under ``--out``: ``tokenizer/`` (the modular tokenizer, FuseMedML's layout), ``split.csv``,
``model/`` (``best_epoch.ckpt``), ``logs/``, ``predictions.csv`` (``pair_id``, ``binds``, ``prob_binds``) and
``report/`` (``results.json``, ``results.md``, ``report.html``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple


# ------------------------------------------------------------------------------------------------ command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=Path, required=True, help="pairs.csv: pair_id, protein, ligand, binds")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tokenizer, model, predictions, report")
    parser.add_argument(
        "--tokenizer",
        help="a saved modular tokenizer to use (a folder, ours or FuseMedML's, or a Hugging Face Hub id) with "
        "sub-tokenizers AA and SMILES; default: build one",
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--dim", type=int, default=32, help="token embedding size (default: %(default)s)")
    parser.add_argument(
        "--bootstraps", type=int, default=1000, help="bootstrap resamplings of the AUC interval (default: %(default)s)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write the report without figures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the model and the batches")
    parser.add_argument("--accelerator", default="cpu", help="Lightning accelerator (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import tokenizers
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    raise SystemExit(
        f'{Path(__file__).name} needs the modular tokenizer\'s extra ({missing}): pip install "fuse-data[tokenizers]"'
    ) from None

try:
    import lightning.pytorch as pl
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader

    from fuse.core import NDict, read_dataframe, set_seed
    from fuse.data import (
        CollateDefault,
        DatasetDefault,
        ModularTokenizer,
        ModularTokenizerOp,
        OpFunc,
        OpReadDataframe,
        OpToTensor,
        PipelineDefault,
        balanced_division,
    )
    from fuse.dl import LightningModuleDefault, LossDefault, convert_predictions_to_dataframe
    from fuse.eval import MetricAUCROC, ReportSettings, write_report
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl"}:
        raise
    raise SystemExit(
        f'{Path(__file__).name} needs fuse-dl and fuse-eval ({missing}): pip install "fuse-data[tokenizers]" '
        "fuse-dl fuse-eval"
    ) from None


LABEL = "data.label"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWYX"
SMILES_TOKENS = ("Br", "Cl", *"BCNOPSFIbcnops()[]=#+-@/\\%.0123456789")
SPECIAL_TOKENS = ["<PAD>", "<UNK>", "<EOS>", "<SEP>", "<BINDING>", "<SCALAR>", "<EMBEDDINGS>"]
MAX_PROTEIN, MAX_LIGAND = 64, 64  # tokens kept of each molecule (each part's MAX-LEN)
MAX_LEN = 2 + MAX_PROTEIN + 1 + MAX_LIGAND + 1  # <BINDING>, the scalar, the protein, <SEP>, the ligand, <EOS>
FOLDS = {"train": (0, 1, 2), "validation": (3,), "test": (4,)}  # of 5 balanced folds
CLASS_NAMES = ("no binding", "binding")


class Splits(NamedTuple):
    """The three datasets of a run."""

    train: DatasetDefault
    validation: DatasetDefault
    test: DatasetDefault


# ------------------------------------------------------------------------------------------------ 1. tokenizer
def _sub_tokenizer(path: Path, tokens: tuple[str, ...]) -> None:
    """A tokenizer.json that splits into ``tokens`` (longest first: ``Br`` before ``B``) and knows only those."""
    ordered = sorted(dict.fromkeys(tokens), key=len, reverse=True)
    vocab = {token: index for index, token in enumerate(["<PAD>", "<UNK>", *ordered])}
    tokenizer = tokenizers.Tokenizer(WordLevel(vocab, unk_token="<UNK>"))
    pattern = "|".join(re.escape(token) for token in ordered) + "|."
    tokenizer.pre_tokenizer = Split(tokenizers.Regex(pattern), behavior="isolated")
    tokenizer.add_special_tokens(["<PAD>", "<UNK>"])
    tokenizer.save(str(path))


def build_tokenizer(folder: Path) -> Path:
    """Merge an amino-acid and a SMILES tokenizer into one modular tokenizer saved in ``folder``."""
    sources = folder.parent / "tokenizer_sources"
    sources.mkdir(parents=True, exist_ok=True)
    infos = []
    vocabularies: dict[str, tuple[str, ...]] = {"AA": tuple(AMINO_ACIDS), "SMILES": SMILES_TOKENS}
    for tokenizer_id, (name, tokens) in enumerate(vocabularies.items()):
        _sub_tokenizer(sources / f"{name}.json", tokens)
        infos.append(
            {
                "name": name,
                "tokenizer_id": tokenizer_id,
                "json_path": str(sources / f"{name}.json"),
                "modular_json_path": str(sources / f"{name}_modular.json"),
            }
        )
    ModularTokenizer(infos, special_tokens_list=SPECIAL_TOKENS).save(folder)
    return folder


def tokenizer_op(args: argparse.Namespace) -> ModularTokenizerOp:
    """The tokenizer op: of ``--tokenizer`` if given (with the special tokens this example needs added), else of a
    tokenizer built here; the one used is saved to ``<out>/tokenizer``."""
    if args.tokenizer is None:
        return ModularTokenizerOp.from_pretrained(build_tokenizer(args.out / "tokenizer"), max_size=MAX_LEN)
    op = ModularTokenizerOp.from_pretrained(args.tokenizer, max_size=MAX_LEN)
    op.add_new_special_tokens(SPECIAL_TOKENS)  # those it already has are kept as they are
    op.save_pretrained(args.out / "tokenizer")
    return op


# ------------------------------------------------------------------------------------------------ 2. data
def query(protein: str, ligand: str) -> str:
    """One pair as a tagged query: a task token, a scalar (the ligand's length / 10), the protein, the ligand."""
    return (
        f"<@TOKENIZER-TYPE=AA><BINDING><@TOKENIZER-TYPE=SCALARS_LITERALS>{len(ligand) / 10:.1f}"
        f"<@TOKENIZER-TYPE=AA@MAX-LEN={MAX_PROTEIN}>{protein}<SEP>"
        f"<@TOKENIZER-TYPE=SMILES@MAX-LEN={MAX_LIGAND}>{ligand}<EOS>"
    )


def pipeline(pairs_file: Path, op: ModularTokenizerOp) -> PipelineDefault:
    """A pair's row -> its query -> token ids, attention mask and the scalar (values and where they go)."""
    return PipelineDefault(
        "protein_ligand",
        [
            (
                OpReadDataframe(
                    data_filename=pairs_file,
                    key_column="pair_id",
                    rename_columns={"protein": "data.protein", "ligand": "data.ligand", "binds": LABEL},
                ),
                {},
            ),
            (OpFunc(query), {"inputs": {"data.protein": "protein", "data.ligand": "ligand"}, "outputs": "data.query"}),
            (
                op,
                {
                    "key_in": "data.query",
                    "key_out_tokens_ids": "data.tokens.ids",
                    "key_out_attention_mask": "data.tokens.mask",
                    "key_out_scalars": "data.tokens.scalars",
                    "on_unknown": "raise",  # a character outside the vocabularies is a data error here
                },
            ),
            (OpToTensor(), {"key": "data.tokens.ids", "dtype": torch.int64}),
            (OpToTensor(), {"key": "data.tokens.mask", "dtype": torch.bool}),
        ],
    )


def datasets(
    pairs_file: Path, pairs: pd.DataFrame, op: ModularTokenizerOp, seed: int
) -> tuple[Splits, dict[str, list[str]]]:
    """Train / validation / test datasets of 5 folds balanced on the label."""
    folds = balanced_division(pairs, "pair_id", ["binds"], nfolds=5, seed=seed)
    split = {name: folds.loc[folds["fold"].isin(f), "pair_id"].tolist() for name, f in FOLDS.items()}
    steps = pipeline(pairs_file, op)

    def dataset(name: str) -> DatasetDefault:
        created = DatasetDefault(split[name], steps)
        created.create()
        return created

    return Splits(dataset("train"), dataset("validation"), dataset("test")), split


# ------------------------------------------------------------------------------------------------ 3. model
class BagOfTokens(nn.Module):
    """Token embeddings (each ``<SCALAR>`` placeholder's replaced by its value times a learned vector), mean- and
    max-pooled over the unpadded tokens, then an MLP: writes ``model.logits.binding`` and ``model.output.binding``
    (softmax), ``[B, 2]``."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.scalar_direction = nn.Parameter(torch.randn(dim) / dim**0.5)
        self.head = nn.Sequential(nn.Linear(2 * dim, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, batch: NDict) -> NDict:
        tokens = self.embedding(batch["data.tokens.ids"])  # [B, L, D]
        scalars = batch["data.tokens.scalars.values"].unsqueeze(-1)  # [B, L, 1], -1000 off the placeholders
        on_scalar = batch["data.tokens.scalars.valid_mask"].unsqueeze(-1)
        tokens = torch.where(on_scalar, scalars * self.scalar_direction, tokens)
        mask = batch["data.tokens.mask"].unsqueeze(-1)
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1)
        largest = tokens.masked_fill(~mask, float("-inf")).amax(1)
        logits = self.head(torch.cat([mean, largest], dim=1))
        batch["model.logits.binding"] = logits
        batch["model.output.binding"] = logits.softmax(dim=1)
        return batch


def train(data: Splits, vocab_size: int, model_dir: Path, args: argparse.Namespace) -> Path:
    """Fit the model; returns the checkpoint of the epoch with the best validation AUC."""
    module = LightningModuleDefault(
        model_dir=model_dir,
        model=BagOfTokens(vocab_size, args.dim),
        losses={"ce": LossDefault(pred="model.logits.binding", target=LABEL, callable=F.cross_entropy)},
        validation_metrics={"auc": MetricAUCROC(pred="model.output.binding", target=LABEL)},
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max", "save_weights_only": True},
        optimizers_and_lr_schs=lambda m: torch.optim.Adam(m.parameters(), lr=args.lr),
    )
    trainer = pl.Trainer(
        default_root_dir=model_dir,
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(model_dir.parent, name="logs"),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    generator = torch.Generator().manual_seed(args.seed)
    trainer.fit(module, _loader(data.train, args, shuffle=True, generator=generator), _loader(data.validation, args))
    # the callback's own record: a rerun into the same folder writes best_epoch-v1.ckpt, not best_epoch.ckpt
    [best] = [
        c
        for c in trainer.checkpoint_callbacks
        if isinstance(c, ModelCheckpoint) and c.monitor == "validation.metrics.auc"
    ]
    return Path(best.best_model_path)


def _loader(
    dataset: DatasetDefault, args: argparse.Namespace, shuffle: bool = False, generator: Any = None
) -> DataLoader[Any]:
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=CollateDefault(),
    )


def predict(dataset: DatasetDefault, checkpoint: Path, vocab_size: int, args: argparse.Namespace) -> pd.DataFrame:
    """The best checkpoint's probability of binding for every test pair, with the true label."""
    module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=checkpoint.parent, model=BagOfTokens(vocab_size, args.dim), weights_only=True
    )
    module.set_predictions_keys(["model.output.binding", LABEL])
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=1, logger=False, enable_model_summary=False, enable_progress_bar=False
    )
    frame = convert_predictions_to_dataframe(trainer.predict(module, _loader(dataset, args)))  # type: ignore[arg-type]
    table: pd.DataFrame = pd.DataFrame(
        {
            "pair_id": frame["id"],
            "binds": frame[LABEL].astype(int),
            "prob_binds": [float(p[1]) for p in frame["model.output.binding"]],
        }
    )
    return table


# ------------------------------------------------------------------------------------------------ 4. evaluation
def evaluate(predictions: pd.DataFrame, report_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The report on the test pairs (``report_dir``): see :func:`fuse.eval.write_report`."""
    settings = ReportSettings(
        bootstraps=args.bootstraps,
        seed=args.seed,
        plots=not args.no_plots,
        title="Protein-ligand binding from sequences, test pairs",
        description="bag-of-tokens model on modular-tokenizer ids (amino acids + SMILES + one injected scalar)",
    )
    return write_report(
        report_dir,
        predictions["prob_binds"].to_numpy(),
        predictions["binds"].to_numpy(),
        list(CLASS_NAMES),
        settings=settings,
    )


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Tokenize, train, predict and evaluate; returns the exit status."""
    args = parse_args(argv)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = read_dataframe(args.pairs)
    missing = {"pair_id", "protein", "ligand", "binds"} - set(pairs.columns)
    if missing:
        raise SystemExit(f"{args.pairs}: missing column(s) {sorted(missing)}; see make_synthetic_pairs.py")
    op = tokenizer_op(args)
    data, split = datasets(args.pairs, pairs, op, args.seed)
    pd.DataFrame([(i, name) for name, ids in split.items() for i in ids], columns=["pair_id", "split"]).to_csv(
        args.out / "split.csv", index=False
    )
    print(", ".join(f"{name}: {len(ids)} pairs" for name, ids in split.items()))
    vocab_size = op.get_max_token_id()[1] + 1
    checkpoint = train(data, vocab_size, args.out / "model", args)
    predictions = predict(data.test, checkpoint, vocab_size, args)
    predictions.to_csv(args.out / "predictions.csv", index=False)
    report = evaluate(predictions, args.out / "report", args)
    auc = report["metrics"]["auc"]
    print(f"test ROC AUC {auc['value']:.3f} [95% CI {auc['low']:.3f}-{auc['high']:.3f}] on {len(predictions)} pairs")
    print(f"predictions: {args.out / 'predictions.csv'}")
    print(f"report:      {args.out / 'report' / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
