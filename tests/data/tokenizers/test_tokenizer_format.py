"""The on-disk format: FuseMedML's folders load and answer as FuseMedML did; ours round-trip and keep its layout."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

tokenizers = pytest.importorskip("tokenizers")
yaml = pytest.importorskip("yaml")

from fuse.data import ModularTokenizer, TypedInput

FIXTURE = Path(__file__).parent / "fusemedml_saved"
# the fixture's BPE JSON stores merges as pairs, a format tokenizers reads from 0.20 on
OLD_TOKENIZERS = tuple(int(p) for p in tokenizers.__version__.split(".")[:2]) < (0, 20)
needs_tokenizers_0_20 = pytest.mark.skipif(OLD_TOKENIZERS, reason="the fixture needs tokenizers>=0.20")
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


def _encoding(enc: Any) -> dict[str, Any]:
    return {
        "ids": enc.ids,
        "tokens": enc.tokens,
        "attention_mask": enc.attention_mask,
        "type_ids": enc.type_ids,
        "special_tokens_mask": enc.special_tokens_mask,
        "sequence_ids": enc.sequence_ids,
        "offsets": [list(o) for o in enc.offsets],
    }


@pytest.fixture(scope="module")
def fusemedml_saved() -> ModularTokenizer:
    if OLD_TOKENIZERS:
        pytest.skip("the fixture needs tokenizers>=0.20")
    return ModularTokenizer.load(FIXTURE)


def test_a_fusemedml_folder_encodes_as_fusemedml_did(fusemedml_saved: ModularTokenizer) -> None:
    tok = fusemedml_saved
    for case in EXPECTED["encode_list"]:
        pieces = [TypedInput(*piece) for piece in case["inputs"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown tokens (on_unknown="warn"), AA's max_len truncation
            enc, overflow = tok.encode_list(pieces, return_overflow_info=True, **case["kwargs"])
        assert _encoding(enc) == case["encoding"], case["inputs"]
        assert overflow == case["overflow"]
        assert tok.count_unknowns(enc) == case["unknowns"]
    for case in EXPECTED["encode"]:
        enc, overflow = tok.encode(case["sequence"], return_overflow_info=True, **case["kwargs"])
        assert (_encoding(enc), overflow) == (case["encoding"], case["overflow"])


def test_a_fusemedml_folder_decodes_and_looks_up_as_fusemedml_did(fusemedml_saved: ModularTokenizer) -> None:
    tok = fusemedml_saved
    for case in EXPECTED["decode"]:
        assert tok.decode(case["ids"]) == case["text"]
        assert tok.decode(case["ids"], skip_special_tokens=True) == case["text_skip_special"]
    for token, t_type, answer in EXPECTED["token_to_id"]:
        assert tok.token_to_id(token, t_type) == answer, (token, t_type)
    assert {str(i): tok.id_to_token(int(i)) for i in EXPECTED["id_to_token"]} == EXPECTED["id_to_token"]
    assert tok.get_vocab_size() == EXPECTED["get_vocab_size"]
    assert tok.get_max_id() == EXPECTED["get_max_id"]
    assert tok._get_max_mapped_id() == EXPECTED["max_mapped_id"]
    assert tok.get_added_vocab() == EXPECTED["get_added_vocab"]
    assert tok.get_tokenizer_types() == EXPECTED["get_tokenizer_types"]
    assert list(tok.diagnose()) == EXPECTED["diagnose"]


@needs_tokenizers_0_20
def test_a_fusemedml_folder_draws_the_same_windows_and_new_ids() -> None:
    tok = ModularTokenizer.load(FIXTURE)  # seeded as FuseMedML's load seeds it
    rand_case = [TypedInput("AA", "ACDEFGHIKLMNPQ", 4, "RAND"), TypedInput("SMILES", "c1ccccc1CCO", 5, "RAND")]
    with pytest.warns(UserWarning, match="max_len=12"):
        assert [tok.encode_list(rand_case).ids for _ in range(4)] == EXPECTED["rand_ids"]
    tok = ModularTokenizer.load(FIXTURE)
    added = EXPECTED["add_special_tokens"]
    assert tok.add_special_tokens(added["tokens"]) == added["count"]
    assert {t: tok.token_to_id(t) for t in added["ids"]} == added["ids"]
    assert tok.get_vocab_size() == added["vocab_size"]


def test_save_writes_fusemedml_s_layout_and_loads_back(fusemedml_saved: ModularTokenizer, tmp_path: Path) -> None:
    fusemedml_saved.save(tmp_path / "ours")
    ours = tmp_path / "ours"
    assert sorted(p.name for p in ours.iterdir()) == sorted(
        p.name for p in FIXTURE.iterdir() if p.name != "expected.json"
    )
    config, theirs = (yaml.safe_load((d / "config.yaml").read_text()) for d in (ours, FIXTURE))
    assert config == theirs  # same keys, same relative paths
    for name in ("aa.json", "smiles.json", "genes.json"):
        assert json.loads((ours / name).read_text()) == json.loads((FIXTURE / name).read_text())
    again = ModularTokenizer.load(ours / "config.yaml")
    pieces = [TypedInput("AA", "<MASK>ACD"), TypedInput("SMILES", "CC(=O)O"), TypedInput("GENES", "KRAS MYC")]
    assert again.encode_list(pieces, max_len=14).ids == fusemedml_saved.encode_list(pieces, max_len=14).ids
    assert not list(ours.glob(".*"))  # no temporary files left


def test_a_built_tokenizer_round_trips_through_save(sources: list[dict[str, Any]], tmp_path: Path) -> None:
    tok = ModularTokenizer(
        [{**info, "json_path": Path(info["json_path"])} for info in sources],  # paths as Path objects
        special_tokens_list=["<EOS>", "<MASK>"],
        max_special_token_id=9,
        max_possible_token_id=200,
    )
    tok.add_special_tokens(["<TASK>"])
    tok.save(tmp_path / "saved")
    config = yaml.safe_load((tmp_path / "saved" / "config.yaml").read_text())
    assert config["max_special_token_id"] == 9
    assert config["max_possible_token_id"] == 200
    assert [e["json_path"] for e in config["tokenizers_info"]] == ["./aa.json", "./smiles.json", "./genes.json"]
    shutil.move(tmp_path / "saved", tmp_path / "moved")  # the folder is relocatable
    loaded = ModularTokenizer.from_file(tmp_path / "moved" / "aa.json")
    assert loaded.decoder_dict == tok.decoder_dict
    assert loaded.get_max_id() == 200
    pieces = [TypedInput("AA", "<TASK>MKV"), TypedInput("SMILES", "c1CCO"), TypedInput("GENES", "EGFR")]
    assert loaded.encode_list(pieces).ids == tok.encode_list(pieces).ids


def test_files_of_the_same_name_do_not_overwrite_each_other(tmp_path: Path, sources: list[dict[str, Any]]) -> None:
    for info in sources:  # every source JSON is called tokenizer.json, in its own folder
        folder = Path(info["json_path"]).parent / info["name"]
        folder.mkdir()
        info["json_path"] = str(Path(info["json_path"]).rename(folder / "tokenizer.json"))
    tok = ModularTokenizer(sources)
    tok.save(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").glob("*.json")) == [
        "AA_tokenizer.json",
        "GENES_tokenizer.json",
        "SMILES_tokenizer.json",
    ]
    assert ModularTokenizer.load(tmp_path / "saved").decoder_dict == tok.decoder_dict


def test_save_jsons_writes_the_remapped_jsons(
    make_tokenizer: Callable[..., Any], sources: list[dict[str, Any]]
) -> None:
    tok = make_tokenizer()
    tok.save_jsons()
    assert ModularTokenizer.load_from_jsons(sources).decoder_dict == tok.decoder_dict


@needs_tokenizers_0_20
def test_a_missing_json_names_the_file_and_the_fix(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "saved")
    (tmp_path / "saved" / "smiles.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"smiles.json: the modular_json_path of sub-tokenizer 'SMILES' does "):
        ModularTokenizer.load(tmp_path / "saved")
    with pytest.raises(FileNotFoundError, match=r"no config.yaml; give the folder that ModularTokenizer.save wrote"):
        ModularTokenizer.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"not a folder with config.yaml"):
        ModularTokenizer.from_pretrained("ibm/some-hub-repo")


def test_a_missing_source_json_names_it(sources: list[dict[str, Any]]) -> None:
    sources[1]["json_path"] = "/nowhere/smiles.json"
    with pytest.raises(FileNotFoundError, match=r"/nowhere/smiles.json: the json_path of sub-tokenizer 'SMILES'"):
        ModularTokenizer(sources)


@needs_tokenizers_0_20
def test_inconsistent_id_spaces_are_refused_with_the_files(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "saved")
    genes = tmp_path / "saved" / "genes.json"
    data = json.loads(genes.read_text())
    data["model"]["vocab"]["KRAS"] = 10  # A's id in the AA sub-tokenizer
    genes.write_text(json.dumps(data))
    with pytest.raises(
        ValueError,
        match=r"do not share one id space: \{'ID collisions across vocabs': \['GENES:\{10\}'\]\}.*genes.json",
    ):
        ModularTokenizer.load(tmp_path / "saved")
    data["model"]["vocab"]["KRAS"] = 103
    data["model"]["vocab"]["<EOS>"] = 7  # a special token on another id than in the other sub-tokenizers
    genes.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"'special token consistency': \['GENES'\]"):
        ModularTokenizer.load(tmp_path / "saved")


@needs_tokenizers_0_20
def test_a_corrupt_config_is_named(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "saved")
    (tmp_path / "saved" / "config.yaml").write_text("tokenizers_info: [{name: AA}]\n")
    with pytest.raises(ValueError, match=r"config.yaml: tokenizers_info\[0\] needs a 'name' and a 'modular_json_path'"):
        ModularTokenizer.load(tmp_path / "saved")
    (tmp_path / "saved" / "config.yaml").write_text("tokenizers_info: [\n")
    with pytest.raises(ValueError, match=r"config.yaml: not valid YAML"):
        ModularTokenizer.load(tmp_path / "saved")


def test_a_save_that_dies_mid_file_leaves_the_old_file(
    make_tokenizer: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fuse.data.tokenizers import _format

    tok = make_tokenizer()
    tok.save(tmp_path / "saved")
    before = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    tok.add_special_tokens(["<NEW>"])

    def die(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(f"{_format.__name__}.os.replace", die)
    with pytest.raises(KeyboardInterrupt):
        tok.save(tmp_path / "saved")
    assert {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()} == before  # no partial file, no debris


@needs_tokenizers_0_20
@pytest.mark.parametrize("op_name", ["ModularTokenizerOp", "ModularTokenizerWithoutInjectOp"])
def test_the_pipeline_ops_read_a_fusemedml_folder_and_give_fusemedmls_ids(op_name: str) -> None:
    """``from fuse.data import ModularTokenizerOp`` on a folder FuseMedML saved: the ids FuseMedML's ``encode`` gave."""
    import fuse.data
    from fuse.core import create_initial_sample

    op = getattr(fuse.data, op_name)(FIXTURE, pad_token="<PAD>")
    for case in EXPECTED["encode"]:
        sample = create_initial_sample("query-0")
        sample["data.query"] = case["sequence"]
        out = op(
            sample,
            key_in="data.query",
            key_out_tokens_ids="data.ids",
            key_out_attention_mask="data.mask",
            max_seq_len=case["kwargs"]["max_len"],
        )
        assert list(out["data.ids"]) == case["encoding"]["ids"]
        assert [int(m) for m in out["data.mask"]] == case["encoding"]["attention_mask"]
