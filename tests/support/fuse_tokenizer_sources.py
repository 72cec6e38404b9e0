"""Small sub-tokenizers built locally with ``tokenizers`` (no download): amino acids and genes (word level), SMILES
(a BPE with a few merges), written as tokenizer JSONs with the ``tokenizers_info`` entries that merge them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
GENES = ["BRCA1", "TP53", "EGFR", "KRAS", "MYC"]


def write_sources(folder: Path, specials: tuple[str, ...] = ("<PAD>", "<UNK>")) -> list[dict[str, Any]]:
    """Three tokenizer JSONs in ``folder`` and their ``tokenizers_info`` entries (AA, SMILES, GENES)."""
    from tokenizers import Regex, Tokenizer
    from tokenizers.models import BPE, WordLevel
    from tokenizers.pre_tokenizers import Split, WhitespaceSplit

    aa = Tokenizer(WordLevel({a: i for i, a in enumerate(AMINO_ACIDS)}, unk_token="<UNK>"))
    aa.pre_tokenizer = Split(Regex("."), "isolated")
    aa.add_special_tokens(list(specials))
    merges = [("C", "C"), ("C", "O"), ("c", "1")]
    chars = ["C", "c", "O", "N", "(", ")", "=", "1", "<UNK>"]
    smiles = Tokenizer(BPE({t: i for i, t in enumerate([*chars, "CC", "CO", "c1"])}, merges, unk_token="<UNK>"))
    smiles.add_special_tokens([*specials, "<SEP>"])
    genes = Tokenizer(WordLevel({"<UNK>": 0, **{g: i + 1 for i, g in enumerate(GENES)}}, unk_token="<UNK>"))
    genes.pre_tokenizer = WhitespaceSplit()
    genes.add_special_tokens(list(specials))
    folder.mkdir(parents=True, exist_ok=True)
    infos = []
    for index, (name, tok) in enumerate([("AA", aa), ("SMILES", smiles), ("GENES", genes)]):
        path = folder / f"{name.lower()}.json"
        tok.save(str(path))
        infos.append(
            {
                "name": name,
                "tokenizer_id": index,
                "json_path": str(path),
                "modular_json_path": str(folder / "m" / path.name),
            }
        )
    return infos
