"""Write ``fusemedml_saved/``: a modular tokenizer built and saved by FuseMedML 0.4.1's own code, and ``expected.json``,
what FuseMedML's code returned for a set of calls on it. The tests load the folder with fuse's ``ModularTokenizer``
and compare (an independent check of the port). The tests do not run this script.

Re-run it in a throwaway environment with FuseMedML's source (it needs ``transformers`` and ``omegaconf``, which
fuse does not; torch is stubbed when missing, FuseMedML's tokenizer only uses ``torch.Tensor``)::

    python3.11 -m venv /tmp/fmml_tok_venv
    /tmp/fmml_tok_venv/bin/pip install tokenizers transformers omegaconf
    /tmp/fmml_tok_venv/bin/python tests/data/tokenizers/make_fusemedml_fixture.py --fusemedml-src /path/to/fuse-med-ml/

``--check DIR`` instead loads a folder that fuse's ``ModularTokenizer.save`` wrote with FuseMedML's ``load`` and
checks that FuseMedML's answers on it equal ``expected.json`` (that FuseMedML reads our format).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "fusemedml_saved"
SPECIAL_TOKENS_LIST = ["<EOS>", "<MASK>"]
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
GENES = ["BRCA1", "TP53", "EGFR", "KRAS", "MYC"]
# (type, string, max_len, truncate_mode) pieces and encode_list keyword arguments
ENCODE_LIST_CASES: list[dict[str, Any]] = [
    {
        "inputs": [["AA", "ACDEFGH", None, None], ["SMILES", "CCO", None, None], ["GENES", "TP53 EGFR", None, None]],
        "kwargs": {"max_len": 20},
    },
    {
        "inputs": [["AA", "ACDEFGHIKLMN", 5, "RIGHT"], ["SMILES", "c1ccccc1", 4, None], ["AA", "<EOS>", None, None]],
        "kwargs": {"max_len": 8},
    },
    {"inputs": [["AA", AMINO_ACIDS, None, None], ["GENES", "KRAS", None, None]], "kwargs": {}},
    {"inputs": [["AA", "<MASK>ACD<EOS>", None, None], ["SMILES", "CC(=O)O<SEP>CCN", None, None]], "kwargs": {}},
    {
        "inputs": [["AA", "ACXZ", None, None], ["GENES", "TP53 ABC1", None, None]],
        "kwargs": {"on_unknown": "warn", "max_len": 12},
    },
]
ENCODE_CASES: list[dict[str, Any]] = [
    {
        "sequence": "<@TOKENIZER-TYPE=AA@MAX-LEN=3>ACDEF<@TOKENIZER-TYPE=GENES>BRCA1 KRAS<@TOKENIZER-TYPE=AA><EOS>",
        "kwargs": {"max_len": 12},
    },
]
RAND_CASE = [["AA", "ACDEFGHIKLMNPQ", 4, "RAND"], ["SMILES", "c1ccccc1CCO", 5, "RAND"]]
TOKEN_TO_ID: list[list[str | None]] = [
    ["<PAD>", None],
    ["<EOS>", None],
    ["<SEP>", None],
    ["A", "AA"],
    ["C", "AA"],
    ["C", "SMILES"],
    ["CC", "SMILES"],
    ["TP53", "GENES"],
    ["nope", None],
    ["nope", "GENES"],
    ["KRAS", None],
]


def load_fusemedml(src: Path) -> Any:
    """FuseMedML's ``modular_tokenizer`` module, loaded by file path (its ``fuse.*`` import is the standalone
    special_tokens.py)."""
    folder = src / "fuse" / "data" / "tokenizers" / "modular_tokenizer"
    for name in ("fuse", "fuse.data", "fuse.data.tokenizers", "fuse.data.tokenizers.modular_tokenizer"):
        sys.modules[name] = types.ModuleType(name)
    import transformers  # type: ignore[import-not-found]

    transformers.PreTrainedTokenizerBase  # noqa: B018 - resolve the lazy module before torch is stubbed
    if importlib.util.find_spec("torch") is None:
        torch = types.ModuleType("torch")
        torch.Tensor = type("Tensor", (), {})  # type: ignore[attr-defined]
        sys.modules["torch"] = torch
    modules = {}
    for short in ("special_tokens", "modular_tokenizer"):
        full = f"fuse.data.tokenizers.modular_tokenizer.{short}"
        spec = importlib.util.spec_from_file_location(full, folder / f"{short}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        modules[short] = module
    return modules["modular_tokenizer"]


def write_sources(folder: Path) -> list[dict[str, Any]]:
    """Three small sub-tokenizers: amino acids (characters), SMILES (a BPE with a few merges), genes (words)."""
    from tokenizers import Regex, Tokenizer
    from tokenizers.models import BPE, WordLevel
    from tokenizers.pre_tokenizers import Split, WhitespaceSplit

    aa = Tokenizer(WordLevel({a: i for i, a in enumerate(AMINO_ACIDS)}, unk_token="<UNK>"))
    aa.pre_tokenizer = Split(Regex("."), "isolated")
    aa.add_special_tokens(["<PAD>", "<UNK>"])
    chars = ["C", "c", "O", "N", "(", ")", "=", "1", "2", "[", "]", "<UNK>"]
    merges = [("C", "C"), ("C", "O"), ("c", "1"), ("c", "c")]
    vocab = {token: i for i, token in enumerate([*chars, *("".join(m) for m in merges)])}
    smiles = Tokenizer(BPE(vocab, merges, unk_token="<UNK>"))
    smiles.add_special_tokens(["<PAD>", "<UNK>", "<SEP>"])
    genes = Tokenizer(WordLevel({"<UNK>": 0, **{g: i + 1 for i, g in enumerate(GENES)}}, unk_token="<UNK>"))
    genes.pre_tokenizer = WhitespaceSplit()
    genes.add_special_tokens(["<PAD>", "<UNK>"])
    infos = []
    for index, (name, tok, extra) in enumerate(
        [("AA", aa, {"max_len": 12}), ("SMILES", smiles, {}), ("GENES", genes, {"minimal_token_id": 100})]
    ):
        path = folder / f"{name.lower()}.json"
        tok.save(str(path))
        infos.append(
            {
                "name": name,
                "tokenizer_id": index,
                "json_path": str(path),
                "modular_json_path": str(folder / "modular" / f"{name.lower()}.json"),
                **extra,
            }
        )
    return infos


def record(mt: Any, tokenizer: Any) -> dict[str, Any]:
    """What FuseMedML's ``tokenizer`` answers to the calls the tests replay."""

    def encoding(enc: Any) -> dict[str, Any]:
        return {
            "ids": enc.ids,
            "tokens": enc.tokens,
            "attention_mask": enc.attention_mask,
            "type_ids": enc.type_ids,
            "special_tokens_mask": enc.special_tokens_mask,
            "sequence_ids": enc.sequence_ids,  # FuseMedML's, odd as they are: callers may rely on them
            "offsets": [list(o) for o in enc.offsets],
        }

    def pieces(inputs: list[list[Any]]) -> list[Any]:
        return [mt.TypedInput(*piece) for piece in inputs]

    out: dict[str, Any] = {"encode_list": [], "encode": [], "token_to_id": [], "decode": []}
    for case in ENCODE_LIST_CASES:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            enc, overflow = tokenizer.encode_list(pieces(case["inputs"]), return_overflow_info=True, **case["kwargs"])
        out["encode_list"].append(
            {**case, "encoding": encoding(enc), "overflow": overflow, "unknowns": tokenizer.count_unknowns(enc)}
        )
        out["decode"].append(
            {
                "ids": enc.ids,
                "text": tokenizer.decode(enc.ids),
                "text_skip_special": tokenizer.decode(enc.ids, skip_special_tokens=True),
            }
        )
    for case in ENCODE_CASES:
        enc, overflow = tokenizer.encode(case["sequence"], return_overflow_info=True, **case["kwargs"])
        out["encode"].append({**case, "encoding": encoding(enc), "overflow": overflow})
    out["decode"].append(
        {
            "ids": [0, 9999],
            "text": tokenizer.decode([0, 9999]),
            "text_skip_special": tokenizer.decode([0, 9999], skip_special_tokens=True),
        }
    )
    for token, t_type in TOKEN_TO_ID:
        try:
            answer: Any = tokenizer.token_to_id(token, t_type)
        except Exception as error:  # noqa: BLE001 - the recorded outcome is "FuseMedML raised"
            answer = f"error: {type(error).__name__}"
        out["token_to_id"].append([token, t_type, answer])
    out["id_to_token"] = {i: tokenizer.id_to_token(i) for i in [0, 1, 2, 3, 4, 9, 10, 11, 40, 100, 105, 106]}
    out["get_vocab_size"] = tokenizer.get_vocab_size()
    out["get_max_id"] = tokenizer.get_max_id()
    out["max_mapped_id"] = tokenizer._get_max_mapped_id()
    out["get_added_vocab"] = tokenizer.get_added_vocab()
    out["get_tokenizer_types"] = tokenizer.get_tokenizer_types()
    out["diagnose"] = list(tokenizer.diagnose())
    return out


def record_fresh(mt: Any, folder: Path) -> dict[str, Any]:
    """Calls whose answer depends on the state of a just-loaded tokenizer: the seeded RAND windows, new tokens."""
    tokenizer = mt.ModularTokenizer.load(str(folder))
    rand = [tokenizer.encode_list([mt.TypedInput(*p) for p in RAND_CASE]).ids for _ in range(4)]
    tokenizer = mt.ModularTokenizer.load(str(folder))
    added = tokenizer.add_special_tokens(["<TASK_B>", "<TASK_A>", "<PAD>"])
    return {
        "rand_ids": rand,
        "add_special_tokens": {
            "tokens": ["<TASK_B>", "<TASK_A>", "<PAD>"],
            "count": added,
            "ids": {t: tokenizer.token_to_id(t) for t in ["<TASK_A>", "<TASK_B>", "<PAD>", "<EOS>"]},
            "vocab_size": tokenizer.get_vocab_size(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fusemedml-src", type=Path, required=True, help="FuseMedML's src/ (holding fuse/data/...)")
    parser.add_argument("--check", type=Path, help="a folder saved by fuse: check FuseMedML reads it the same")
    args = parser.parse_args()
    mt = load_fusemedml(args.fusemedml_src)
    if args.check is not None:
        expected = json.loads((HERE / "expected.json").read_text())
        got = json.loads(
            json.dumps({**record(mt, mt.ModularTokenizer.load(str(args.check))), **record_fresh(mt, args.check)})
        )
        bad = [key for key in expected if expected[key] != got.get(key)]
        print("FuseMedML reads the folder identically" if not bad else f"differences in {bad}")
        sys.exit(1 if bad else 0)
    with tempfile.TemporaryDirectory() as tmp:
        infos = write_sources(Path(tmp))
        built = mt.ModularTokenizer(
            infos, special_tokens_list=SPECIAL_TOKENS_LIST, max_possible_token_id=150, max_special_token_id=9
        )
        built.save(str(HERE))
    loaded = mt.ModularTokenizer.load(str(HERE))
    expected = {**record(mt, loaded), **record_fresh(mt, HERE)}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {HERE}")


if __name__ == "__main__":
    main()
