"""``ModularTokenizerOp`` / ``ModularTokenizerWithoutInjectOp`` on a small modular tokenizer built here (character
level amino acids and SMILES with ``tokenizers``; nothing downloaded)."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tokenizers", reason='pip install "fuse-data[tokenizers]"')
torch = pytest.importorskip("torch")

from fuse.core import create_initial_sample
from fuse.data import DatasetDefault, MissingSampleKeyError, PipelineDefault, SamplesCacher
from fuse.data.tokenizers._inject_op import ModularTokenizerOp
from fuse.data.tokenizers._inputs import TypedInput
from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer
from fuse.data.tokenizers._op import FastModularTokenizer, ModularTokenizerWithoutInjectOp

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
SMILES = "CNOSPFIclBr()=#123456[]@+-"
SPECIALS = ["<PAD>", "<UNK>", "<EOS>", "<SEP>", "<SCALAR>", "<EMBEDDINGS>", "<SENTINEL_ID_3>", "<SENTINEL_ID_7>"]


def _sub_tokenizer(folder: Path, name: str, alphabet: str) -> dict[str, Any]:
    from tokenizers import Regex, Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split

    tokenizer = Tokenizer(WordLevel({c: i for i, c in enumerate(dict.fromkeys(alphabet))}, unk_token="<UNK>"))
    tokenizer.pre_tokenizer = Split(Regex("."), behavior="isolated")
    tokenizer.add_special_tokens(["<PAD>", "<UNK>"])
    tokenizer.save(str(folder / f"{name}.json"))
    return {"name": name, "tokenizer_id": 0, "json_path": str(folder / f"{name}.json"), "modular_json_path": ""}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    infos = [_sub_tokenizer(source, "AA", AMINO_ACIDS), _sub_tokenizer(source, "SMILES", SMILES)]
    for info in infos:
        info["modular_json_path"] = str(source / f"{info['name']}_modular.json")
    saved = tmp_path_factory.mktemp("saved")
    ModularTokenizer(infos, special_tokens_list=SPECIALS).save(saved)
    return saved


def _sample(query: Any, sample_id: str = "case_1") -> Any:
    sample = create_initial_sample(sample_id)
    sample["data.query"] = query
    return sample


OUT = {"key_out_tokens_ids": "data.ids", "key_out_attention_mask": "data.mask"}


# ------------------------------------------------------------------------------------------------ encoding
def test_ids_decode_back_to_the_query_and_each_piece_uses_its_own_sub_tokenizer(tokenizer_dir: Path) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir)
    sample = op(
        _sample("<@TOKENIZER-TYPE=AA>MKCL<@TOKENIZER-TYPE=SMILES>CC(=O)N<@TOKENIZER-TYPE=AA><EOS>"), "data.query", **OUT
    )
    assert op.decode(sample["data.ids"]) == "MKCLCC(=O)N<EOS>"
    assert sample["data.mask"] == [True] * 12
    # the amino acid C and the SMILES C are different tokens
    assert (
        sample["data.ids"][2] == op.get_token_id("C", "AA") != sample["data.ids"][4] == op.get_token_id("C", "SMILES")
    )


def test_a_list_of_typed_inputs_encodes_as_its_tagged_string(tokenizer_dir: Path) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir)
    typed = [TypedInput("AA", "MKCLV", max_len=3), TypedInput("SMILES", "CCO<EOS>")]
    warnings.simplefilter("error")  # a piece's own MAX-LEN is by design: no truncation warning
    as_list = op(_sample(typed), "data.query", **OUT)["data.ids"]
    as_string = op(_sample("<@TOKENIZER-TYPE=AA@MAX-LEN=3>MKCLV<@TOKENIZER-TYPE=SMILES>CCO<EOS>"), "data.query", **OUT)
    assert as_list == as_string["data.ids"]
    assert op.decode(as_list) == "MKCCCO<EOS>"


def test_the_op_runs_in_a_cached_pipeline_of_a_dataset(tokenizer_dir: Path, tmp_path: Path) -> None:
    queries = {"p1": "MKTAYIAK", "p2": "GHH", "p3": "ACDEFGHIKLMN"}
    op = ModularTokenizerOp(tokenizer_dir, max_size=10)
    static = PipelineDefault(
        "tokenize",
        [
            (lambda s: s | {"data.query": f"<@TOKENIZER-TYPE=AA>{queries[s['data.sample_id']]}<EOS>"}, {}),
            (op, {"key_in": "data.query", **OUT, "verbose": 0}),
        ],
    )
    dataset = DatasetDefault(list(queries), static, cacher=SamplesCacher("tok", static, tmp_path, verbose=0))
    dataset.create()
    for index, (sample_id, protein) in enumerate(queries.items()):
        sample = dataset[index]
        assert sample["data.sample_id"] == sample_id
        assert len(sample["data.ids"]) == 10
        length = min(len(protein) + 1, 10)
        assert sample["data.mask"] == [True] * length + [False] * (10 - length)
        assert op.decode(sample["data.ids"][:length]) == "".join([*protein, "<EOS>"][:length])


# ------------------------------------------------------------------------------------------------ length
def test_max_seq_len_pads_with_the_pad_token_and_truncates_with_a_warning_naming_the_sample(
    tokenizer_dir: Path,
) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir)
    pad = op.get_token_id("<PAD>")
    short = op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT, max_seq_len=6)
    assert short["data.ids"][3:] == [pad] * 3
    assert short["data.mask"] == [True] * 3 + [False] * 3
    with pytest.warns(UserWarning, match=r"sample 'case_long', key 'data.query'.*truncated.*OVERALL:6=>4.*max_seq_len"):
        long = op(_sample("<@TOKENIZER-TYPE=AA>MKTAY<EOS>", "case_long"), "data.query", **OUT, max_seq_len=4)
    assert op.decode(long["data.ids"]) == "MKTA"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op(_sample("<@TOKENIZER-TYPE=AA>MKTAY<EOS>"), "data.query", **OUT, max_seq_len=4, verbose=0)


def test_max_size_of_the_constructor_applies_to_every_call_and_a_call_overrides_it(tokenizer_dir: Path) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir, max_size=8, pad_token="<SEP>")
    assert op.get_max_len() == 8
    assert op.get_max_len(5) == 5
    ids = op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT)["data.ids"]
    assert ids[3:] == [op.get_token_id("<SEP>")] * 5
    assert len(op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT, max_seq_len=12)["data.ids"]) == 12
    mask = op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT, convert_attention_mask_to_bool=False)
    assert mask["data.mask"] == [1, 1, 1, 0, 0, 0, 0, 0]


# ------------------------------------------------------------------------------------------------ checks
def test_a_query_without_eos_is_refused_naming_the_sample_the_key_and_the_fix(tokenizer_dir: Path) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir)
    with pytest.raises(
        ValueError, match=r"sample 'case_9', key 'data.query'.*'MKT'.*append <EOS>.*validate_ends_with_eos=False"
    ):
        op(_sample("<@TOKENIZER-TYPE=AA>MKT", "case_9"), "data.query", **OUT)
    with pytest.raises(ValueError, match="not '<EOS>'"):
        op(_sample([TypedInput("AA", "MK<EOS>"), TypedInput("SMILES", "CC")]), "data.query", **OUT)
    assert op(_sample("<@TOKENIZER-TYPE=AA>MKT"), "data.query", **OUT, validate_ends_with_eos=False)["data.ids"]
    lenient = ModularTokenizerWithoutInjectOp(tokenizer_dir, validate_ends_with_eos=False)
    assert lenient(_sample("<@TOKENIZER-TYPE=AA>MKT"), "data.query", **OUT)["data.ids"]
    with pytest.raises(ValueError, match="eos='<END>' is not in the tokenizer"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir, eos="<END>")


def test_unknown_tokens_warn_or_raise_naming_the_sample_and_their_positions(tokenizer_dir: Path) -> None:
    op = ModularTokenizerWithoutInjectOp(tokenizer_dir)
    query = "<@TOKENIZER-TYPE=AA>MKZB<EOS>"  # Z and B are not amino acids of this vocabulary
    with pytest.warns(
        UserWarning, match=r"sample 'case_u', key 'data.query': 2 unknown token\(s\) of 5 at position\(s\) \[2, 3\]"
    ):
        ids = op(_sample(query, "case_u"), "data.query", **OUT)["data.ids"]
    assert ids[2] == ids[3] == op.get_token_id("<UNK>")
    with pytest.raises(ValueError, match=r"sample 'case_u'.*2 unknown token"):
        op(_sample(query, "case_u"), "data.query", **OUT, on_unknown="raise")
    strict = ModularTokenizerWithoutInjectOp(tokenizer_dir, on_unknown_default_value="raise")
    with pytest.raises(ValueError, match="unknown token"):
        strict(_sample(query), "data.query", **OUT)
    with pytest.warns(UserWarning, match="unknown token"):
        strict(_sample(query), "data.query", **OUT, on_unknown="warn")
    with pytest.raises(ValueError, match="on_unknown must be one of"):
        op(_sample(query), "data.query", **OUT, on_unknown="ignore")
    with pytest.raises(ValueError, match="on_unknown_default_value"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir, on_unknown_default_value="ignore")


def test_bad_inputs_name_the_sample_and_the_key(tokenizer_dir: Path) -> None:
    op = ModularTokenizerOp(tokenizer_dir)
    with pytest.raises(MissingSampleKeyError, match=r"'case_1'.*'data.absent'"):
        op(_sample("x"), "data.absent", **OUT)
    for bad in (42, ["AA", "MK"], []):
        with pytest.raises(TypeError, match=r"sample 'case_1', key 'data.query'"):
            op(_sample(bad), "data.query", **OUT)
        with pytest.raises(TypeError, match=r"sample 'case_1', key 'data.query'"):
            ModularTokenizerWithoutInjectOp(tokenizer_dir)(_sample(bad), "data.query", **OUT)
    with pytest.raises(ValueError, match=r"sample 'case_1', key 'data.query'.*must start with"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir)(_sample("MK<EOS>"), "data.query", **OUT)
    with pytest.raises(ValueError, match="unknown tokenizer type 'DNA'"):
        op(_sample("<@TOKENIZER-TYPE=DNA>ACGT<EOS>"), "data.query", **OUT)
    with pytest.raises(ValueError, match="max_seq_len"):
        op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT, max_seq_len=0)
    with pytest.warns(UserWarning, match="neither key_out_tokens_ids nor key_out_tokenized_object"):
        op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query")


def test_constructor_arguments_are_checked(tokenizer_dir: Path) -> None:
    with pytest.raises(ValueError, match="pad_token='<BLANK>' is not in the tokenizer"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir, pad_token="<BLANK>")
    with pytest.raises(ValueError, match="max_size"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir, max_size=0)
    with pytest.raises(FileNotFoundError, match=r"config\.yaml"):
        ModularTokenizerWithoutInjectOp(tokenizer_dir / "absent")


# ------------------------------------------------------------------------------------------------ injection
def test_scalars_and_embeddings_land_on_their_placeholder_tokens(tokenizer_dir: Path) -> None:
    op = ModularTokenizerOp(tokenizer_dir, max_size=16)
    sample = _sample(
        "<@TOKENIZER-TYPE=AA>MK<@TOKENIZER-TYPE=SCALARS_LITERALS>0.5,-2<@TOKENIZER-TYPE=SMILES>CCO"
        "<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.protein:2"
        "<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.affinity<@TOKENIZER-TYPE=AA><EOS>"
    )
    sample["data.protein"] = "MKTAYIAK"
    sample["data.affinity"] = torch.tensor([7.25])
    out = op(sample, "data.query", **OUT, key_out_scalars="data.scalars", key_out_external_embeddings_info="data.emb")
    ids = out["data.ids"]
    scalar_id, embeddings_id = op.get_token_id("<SCALAR>"), op.get_token_id("<EMBEDDINGS>")
    # MK | 2 scalars at 2, 3 | CCO 4..6 | 2 embeddings at 7, 8 | 1 scalar at 9 | <EOS> 10 | 5 pads
    assert out["data.scalars.valid_mask"].tolist() == [token == scalar_id for token in ids]
    assert out["data.scalars.values"][[2, 3, 9]].tolist() == [0.5, -2.0, 7.25]
    assert set(out["data.scalars.values"][~out["data.scalars.valid_mask"]].tolist()) == {-1000.0}
    [info] = out["data.emb"]["ESM"]
    assert (info.location, info.embedding_input, info.length) == (7, "MKTAYIAK", 2)
    assert ids[7:9] == [embeddings_id] * 2
    assert len(ids) == len(out["data.scalars.values"]) == 16
    assert "data.query.with_placeholders" not in out  # no bookkeeping written into the sample


def test_injection_needs_no_output_key_but_the_ids(tokenizer_dir: Path) -> None:
    op = ModularTokenizerOp(tokenizer_dir)
    out = op(
        _sample("<@TOKENIZER-TYPE=SCALARS_LITERALS>1<@TOKENIZER-TYPE=AA><EOS>"),
        "data.query",
        key_out_tokenized_object="data.enc",
        key_out_scalars="data.s",
    )
    assert out["data.enc"].ids[0] == op.get_token_id("<SCALAR>")
    assert out["data.s.values"].tolist() == [1.0, -1000.0]


def test_scalars_cut_by_truncation_warn_or_raise_with_the_sample_id(tokenizer_dir: Path) -> None:
    op = ModularTokenizerOp(tokenizer_dir)
    query = "<@TOKENIZER-TYPE=AA>MKT<@TOKENIZER-TYPE=SCALARS_LITERALS>1,2<@TOKENIZER-TYPE=AA><EOS>"
    with pytest.warns(UserWarning, match=r"'case_c'.*1 scalar\(s\)"):
        out = op(_sample(query, "case_c"), "data.query", **OUT, max_seq_len=4, key_out_scalars="data.s", verbose=0)
    assert out["data.s.valid_mask"].tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match=r"'case_c'.*truncated to 4"):
        op(_sample(query, "case_c"), "data.query", **OUT, max_seq_len=4, verbose=0, crop_report="raise")


def test_a_plain_query_gives_the_same_ids_with_or_without_injection(tokenizer_dir: Path) -> None:
    query = "<@TOKENIZER-TYPE=AA@MAX-LEN=3>MKTAY<@TOKENIZER-TYPE=SMILES>c1ccccc1<EOS>"
    plain = ModularTokenizerWithoutInjectOp(tokenizer_dir, max_size=20)(_sample(query), "data.query", **OUT)
    injected = ModularTokenizerOp(tokenizer_dir, max_size=20)(
        _sample(query), "data.query", **OUT, key_out_scalars="data.s"
    )
    assert plain["data.ids"] == injected["data.ids"]
    assert plain["data.mask"] == injected["data.mask"]
    assert not injected["data.s.valid_mask"].any()


# ------------------------------------------------------------------------------------------------ helpers
def test_vocabulary_helpers(tokenizer_dir: Path) -> None:
    op = FastModularTokenizer(tokenizer_dir)
    assert FastModularTokenizer is ModularTokenizerWithoutInjectOp
    assert op.get_min_max_sentinels() == (3, 7)
    token, max_id = op.get_max_token_id()
    assert op.get_token_id(token, "SMILES" if token in SMILES else "AA") == max_id
    assert op.get_vocab_size() == len(SPECIALS) + len(set(AMINO_ACIDS)) + len(dict.fromkeys(SMILES))
    with pytest.raises(KeyError, match="'<NOPE>' is not a token"):
        op.get_token_id("<NOPE>")
    assert op.add_new_special_tokens(["<NEW>", "<EOS>"]) == 1
    assert op.decode([op.get_token_id("<NEW>")]) == "<NEW>"
    with pytest.raises(ValueError, match="no added token contains"):
        op.get_min_max_sentinels(sentinel_prefix="<MASK_")


def test_the_cache_identity_follows_the_tokenizer_content(tokenizer_dir: Path) -> None:
    first, second = ModularTokenizerOp(tokenizer_dir), ModularTokenizerOp(tokenizer_dir)
    assert first.cache_identity() == second.cache_identity()
    assert ModularTokenizerOp(tokenizer_dir, max_size=9).cache_identity() != first.cache_identity()
    second.add_new_special_tokens(["<TASK>"])
    assert second.cache_identity() != first.cache_identity()


# ------------------------------------------------------------------------------------------------ sharing
def test_save_pretrained_and_from_pretrained_round_trip(tokenizer_dir: Path, tmp_path: Path) -> None:
    op = ModularTokenizerOp.from_pretrained(tokenizer_dir, max_size=12)
    op.add_new_special_tokens(["<TASK>"])
    op.save_pretrained(tmp_path / "copy")
    again = ModularTokenizerOp.from_pretrained(tmp_path / "copy", max_size=12, eos="<SEP>")
    query = "<@TOKENIZER-TYPE=AA><TASK>MKT<@TOKENIZER-TYPE=SMILES>CCN<SEP>"
    ids = again(_sample(query), "data.query", **OUT)["data.ids"]
    assert ids == op(_sample(query), "data.query", **OUT, validate_ends_with_eos=False)["data.ids"]
    assert again.decode(ids[:8]) == "<TASK>MKTCCN<SEP>"
    # a folder holding the tokenizer as tokenizer/ (a Hub repository's layout) is read too
    op.save_pretrained(tmp_path / "repo" / "tokenizer")
    assert ModularTokenizerOp.from_pretrained(tmp_path / "repo").get_token_id("<TASK>") == op.get_token_id("<TASK>")


class _FakeHub:
    """``huggingface_hub``'s download and upload, recorded and served from a local folder."""

    def __init__(self, repo: Path) -> None:
        self.repo, self.calls = repo, []  # type: ignore[var-annotated]

    def snapshot_download(self, repo_id: str, *, allow_patterns: Any = None, **options: Any) -> str:
        self.calls.append(("snapshot_download", repo_id, allow_patterns, options))
        return str(self.repo)

    def HfApi(self, token: Any = None) -> Any:
        hub = self

        class Api:
            def create_repo(self, repo_id: str, private: bool, exist_ok: bool) -> Any:
                hub.calls.append(("create_repo", repo_id, private, exist_ok))
                return type("RepoUrl", (), {"repo_id": f"user/{repo_id}"})()

            def upload_folder(self, *, repo_id: str, folder_path: str, **options: Any) -> str:
                import shutil

                shutil.copytree(folder_path, hub.repo, dirs_exist_ok=True)
                hub.calls.append(("upload_folder", repo_id, options["commit_message"]))
                return "commit-info"

        return Api()


def test_a_hub_id_is_downloaded_with_snapshot_download(
    tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _FakeHub(tmp_path / "snapshot")
    ModularTokenizerOp.from_pretrained(tokenizer_dir).save_pretrained(hub.repo / "tokenizer")
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    op = ModularTokenizerOp.from_pretrained("ibm/some-tokenizer", max_size=7, revision="v1", token="secret")
    assert op(_sample("<@TOKENIZER-TYPE=AA>MK<EOS>"), "data.query", **OUT)["data.mask"] == [True] * 3 + [False] * 4
    [(name, repo_id, patterns, options)] = hub.calls
    assert (name, repo_id, patterns) == ("snapshot_download", "ibm/some-tokenizer", "tokenizer/*")
    assert options["revision"] == "v1"
    assert options["token"] == "secret"


def test_hub_failures_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = _FakeHub(tmp_path)
    monkeypatch.setitem(sys.modules, "huggingface_hub", empty)
    with pytest.raises(FileNotFoundError, match="no tokenizer/ folder"):
        ModularTokenizerOp.from_pretrained("ibm/no-tokenizer")

    def offline(**_: Any) -> str:
        raise ConnectionError("no network")

    monkeypatch.setattr(empty, "snapshot_download", offline)
    with pytest.raises(OSError, match=r"'ibm/x' is not a local folder.*no network"):
        ModularTokenizerOp.from_pretrained("ibm/x")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ModuleNotFoundError, match="pip install huggingface_hub"):
        ModularTokenizerOp.from_pretrained("ibm/x")


def test_push_to_hub_uploads_the_tokenizer_folder_in_one_commit(
    tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _FakeHub(tmp_path / "remote")
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    op = ModularTokenizerOp.from_pretrained(tokenizer_dir)
    assert op.push_to_hub("tok", commit_message="first") == "commit-info"
    assert hub.calls == [("create_repo", "tok", False, True), ("upload_folder", "user/tok", "first")]
    pulled = ModularTokenizerOp.from_pretrained(hub.repo)
    query = "<@TOKENIZER-TYPE=AA>MKT<@TOKENIZER-TYPE=SMILES>CCN<EOS>"
    assert (
        pulled(_sample(query), "data.query", **OUT)["data.ids"] == op(_sample(query), "data.query", **OUT)["data.ids"]
    )


def test_the_public_names() -> None:
    import fuse.data

    names = (
        "EmbeddingInfo",
        "InjectorToModularTokenizerLib",
        "ModularTokenizerOp",
        "ModularTokenizerWithoutInjectOp",
        "FastModularTokenizer",
    )
    missing = [name for name in names if not hasattr(fuse.data, name)]
    if missing:
        pytest.skip(f"not published by fuse.data yet: {missing}")
    assert fuse.data.ModularTokenizerOp is ModularTokenizerOp
    assert fuse.data.FastModularTokenizer is ModularTokenizerWithoutInjectOp


def test_hub_ids_and_paths_are_told_apart_by_the_folder_existing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _FakeHub(tmp_path)
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    with pytest.raises(FileNotFoundError):
        ModularTokenizerOp.from_pretrained(str(tmp_path / "not-there"))
    assert re.fullmatch(r".*not-there", hub.calls[0][1])


def test_without_tokenizers_the_op_names_the_pip_command(tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("fuse.data.tokenizers._") and not m.endswith("_op")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ModuleNotFoundError, match=r'needs tokenizers: pip install "fuse-data\[tokenizers\]"'):
        ModularTokenizerOp(tokenizer_dir)
