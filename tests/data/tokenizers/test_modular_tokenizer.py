"""ModularTokenizer: merged id spaces, typed encoding, truncation, padding, unknown tokens, decoding, growing."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from tokenizers import Tokenizer

from fuse.data import ModularTokenizer, TypedInput, list_to_tokenizer_string
from fuse_tokenizer_sources import AMINO_ACIDS, GENES, write_sources

Make = Callable[..., ModularTokenizer]


def test_the_id_spaces_are_merged_without_collisions(make_tokenizer: Make, sources: list[dict[str, Any]]) -> None:
    tok = make_tokenizer()
    specials = tok.get_added_vocab()
    assert list(specials) == ["<EOS>", "<MASK>", "<PAD>", "<UNK>", "<SEP>"]  # the list first, then as met
    assert sorted(specials.values()) == list(range(5))
    ids_by_type = {}
    for info in sources:
        source = Tokenizer.from_file(info["json_path"])
        regular = [t for t in source.get_vocab(with_added_tokens=False) if t not in specials]
        ids = {t: tok.token_to_id(t, info["name"]) for t in regular}
        assert None not in ids.values()
        # each type keeps its tokens in their original order
        assert sorted(ids, key=lambda t: ids[t] or 0) == sorted(regular, key=lambda t: source.token_to_id(t) or 0)
        ids_by_type[info["name"]] = {i for i in ids.values() if i is not None}
        for token, token_id in specials.items():  # shared: the same id in every sub-tokenizer
            assert tok.token_to_id(token, info["name"]) == token_id
    all_ids = [i for ids in ids_by_type.values() for i in ids] + list(specials.values())
    assert len(all_ids) == len(set(all_ids)) == tok.get_vocab_size()
    assert tok.get_max_id() == max(all_ids)
    assert tok.is_consistent()


def test_a_repeated_special_token_takes_one_id(make_tokenizer: Make) -> None:
    tok = make_tokenizer(special_tokens_list=["<EOS>", "<EOS>", "<PAD>"])
    assert list(tok.get_added_vocab().items())[:3] == [("<EOS>", 0), ("<PAD>", 1), ("<UNK>", 2)]
    assert tok.is_consistent()


def test_encode_list_matches_each_source_tokenizer(make_tokenizer: Make, sources: list[dict[str, Any]]) -> None:
    tok = make_tokenizer()
    pieces = [TypedInput("AA", "MKVL"), TypedInput("SMILES", "CC(=O)c1"), TypedInput("GENES", "TP53 KRAS")]
    enc = tok.encode_list(pieces)
    expected_tokens = []
    for piece in pieces:
        info = next(i for i in sources if i["name"] == piece.input_type)
        expected_tokens += Tokenizer.from_file(info["json_path"]).encode(piece.input_string).tokens
    assert enc.tokens == expected_tokens
    assert enc.ids == [tok.token_to_id(t, p.input_type) for p, ts in _split(pieces, tok) for t in ts]
    assert tok.decode(enc.ids) == "MKVLCC(=O)c1TP53KRAS"  # WhitespaceSplit drops the space


def _split(pieces: list[TypedInput], tok: ModularTokenizer) -> list[tuple[TypedInput, list[str]]]:
    return [(p, tok.encode_list([p]).tokens) for p in pieces]


def test_the_tagged_string_is_the_same_input(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    pieces = [TypedInput("AA", "MKVLAA", 3, "RIGHT"), TypedInput("GENES", "EGFR"), TypedInput("AA", "<EOS>")]
    tagged = list_to_tokenizer_string(pieces)
    assert tok.encode(tagged).ids == tok.encode_list(pieces).ids
    assert tok.decode(tok.encode(tagged).ids) == "MKVEGFR<EOS>"


def test_max_len_per_input_then_overall(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    enc, overflow = tok.encode_list(
        [TypedInput("AA", "ACDEFGH", max_len=3), TypedInput("GENES", "TP53 EGFR KRAS")],
        max_len=5,
        return_overflow_info=True,
    )
    assert tok.decode(enc.ids) == "ACDTP53EGFR"
    assert overflow == "AA:7=>3|OVERALL:6=>5|"
    assert enc.overflowing  # what was cut stays inspectable


def test_a_sub_tokenizer_max_len_truncates_and_warns(sources: list[dict[str, Any]]) -> None:
    sources[0]["max_len"] = 4
    tok = ModularTokenizer(sources)
    with pytest.warns(UserWarning, match="truncated a AA input to the sub-tokenizer's max_len=4"):
        enc = tok.encode_list([TypedInput("AA", "ACDEFGH")])
    assert tok.decode(enc.ids) == "ACDE"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok.encode_list([TypedInput("AA", "ACDEFGH")], verbose=0)


def test_rand_truncation_is_a_seeded_window(make_tokenizer: Make) -> None:
    text = AMINO_ACIDS
    windows = set()
    tok = make_tokenizer(seed=7)
    for _ in range(30):
        window = tok.decode(tok.encode_list([TypedInput("AA", text, 5, "RAND")]).ids)
        assert len(window) == 5
        assert window in text  # a contiguous window of the input
        windows.add(window)
    assert len(windows) > 3
    # the same draws as FuseMedML's: rng.randint(max_len, n) tokens kept from the right, then the first max_len
    rng = random.Random(7)
    first = make_tokenizer(seed=7)
    for _ in range(5):
        keep = rng.randint(5, len(text))
        expected = text[len(text) - keep :][:5]
        assert first.decode(first.encode_list([TypedInput("AA", text, 5, "RAND")]).ids) == expected


def test_padding_to_max_len(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    enc = tok.encode_list([TypedInput("AA", "ACD")], max_len=6)
    pad = tok.token_to_id("<PAD>")
    assert enc.ids[3:] == [pad] * 3
    assert enc.attention_mask == [1, 1, 1, 0, 0, 0]
    tok.enable_padding(pad_token="<EOS>", length=5)
    assert tok.get_expected_max_len() == 5
    assert tok.encode_list([TypedInput("AA", "AC")], padding_token=None).ids[2:] == [tok.token_to_id("<EOS>")] * 3
    assert tok.pad_token_id == tok.token_to_id("<EOS>")
    with pytest.warns(UserWarning, match="'<NOPE>'.*not in the vocabulary"):
        tok.encode_list([TypedInput("AA", "AC")], padding_token="<NOPE>")
    with pytest.raises(ValueError, match="pad_token '<NOPE>' is not in the vocabulary"):
        tok.enable_padding(pad_token="<NOPE>")
    for unsupported in ({"direction": "left"}, {"pad_to_multiple_of": 8}):  # injected positions count from the left
        with pytest.raises(ValueError, match="pads on the right to a fixed length only"):
            tok.enable_padding(pad_token="<PAD>", length=5, **unsupported)
    assert tok.get_expected_max_len() == 5  # a refused call changes nothing
    for unsupported_cut in ({"direction": "left"}, {"stride": 2}, {"strategy": "only_first"}):
        with pytest.raises(ValueError, match="cuts its merged sequence from the right"):
            tok.enable_truncation(4, **unsupported_cut)
    tok.enable_truncation(4)
    assert tok.get_expected_max_len() == 4
    with pytest.raises(ValueError, match="not pad_id=9"):
        tok.enable_padding(pad_token="<PAD>", pad_id=9)


def test_unknown_tokens_raise_warn_or_stay_quiet(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    pieces = [TypedInput("AA", "ACXZ"), TypedInput("GENES", "TP53 ABC1")]
    with pytest.raises(RuntimeError, match=r"3 unknown tokens out of 6 .*'ACXZ'.*on_unknown='warn'"):
        tok.encode_list(pieces)
    with pytest.warns(UserWarning, match="Encountered 3 unknown tokens out of 6"):
        enc = tok.encode_list(pieces, on_unknown="warn", verbose=3)
    assert tok.count_unknowns(enc) == 3 == tok.count_unknowns(enc.ids)
    assert tok.count_unknowns(enc, unk_token="<PAD>") == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok.encode_list(pieces, on_unknown="warn", verbose=0)
    with pytest.raises(ValueError, match="on_unknown='wran'"):
        tok.encode_list([TypedInput("AA", "ACD")], on_unknown="wran")  # checked even when nothing is unknown


def test_decode_round_trips_and_marks_missing_ids(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    enc = tok.encode_list([TypedInput("AA", "<MASK>ACD<EOS>"), TypedInput("SMILES", "CCO")], max_len=10)
    assert tok.decode(enc.ids) == "<MASK>ACD<EOS>CCO<PAD><PAD><PAD>"
    assert tok.decode(enc.ids, skip_special_tokens=True) == "ACDCCO"
    assert tok.decode(np.array(enc.ids)) == tok.decode(enc.ids)
    assert tok.decode([0, 999]) == "<EOS><@TOKEN_MISSING-999>"
    assert tok.decode_batch([enc.ids, [0]]) == ["ACDCCO", ""]
    with pytest.raises(TypeError):
        tok.decode([0.9])  # type: ignore[list-item]  # never rounded to a token
    assert tok.id_to_token(np.int64(0)) == "<EOS>"
    assert tok.id_to_token(999) is None
    with pytest.raises(TypeError):
        tok.id_to_token("0")  # type: ignore[arg-type]


def test_token_to_id_needs_the_type_when_types_disagree(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    assert tok.token_to_id("KRAS") == tok.token_to_id("KRAS", "GENES")
    assert tok.token_to_id("nope") is None
    with pytest.raises(ValueError, match=r"'C' has different ids per sub-tokenizer.*give t_type"):
        tok.token_to_id("C")
    with pytest.raises(ValueError, match=r"unknown tokenizer type 'DNA'.*'AA', 'SMILES', 'GENES'"):
        tok.token_to_id("A", "DNA")


def test_a_bad_tagged_string_names_the_problem(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    with pytest.raises(ValueError, match=r"unknown tokenizer type 'DNA'.*add_single_tokenizer"):
        tok.encode("<@TOKENIZER-TYPE=DNA>ACGT")
    with pytest.raises(ValueError, match="must start with a <@TOKENIZER-TYPE=NAME> tag"):
        tok.encode("ACD<@TOKENIZER-TYPE=AA>ACD")  # FuseMedML dropped the leading text silently
    with pytest.raises(ValueError, match="unsupported option 'TRUNC-MODE=LEFT'"):
        tok.encode("<@TOKENIZER-TYPE=AA@MAX-LEN=2@TRUNC-MODE=LEFT>ACD")
    with pytest.raises(ValueError, match="unsupported truncate_mode 'LEFT'"):
        tok.encode_list([TypedInput("AA", "ACD", 2, "LEFT")])


def test_add_special_tokens_keeps_every_existing_id(make_tokenizer: Make) -> None:
    tok = make_tokenizer()
    before = dict(tok.decoder_dict)
    assert tok.add_special_tokens(["<TASK_B>", "<TASK_A>", "<EOS>"]) == 2
    assert all(tok.decoder_dict[i] == entry for i, entry in before.items())
    new_ids = [tok.token_to_id("<TASK_A>"), tok.token_to_id("<TASK_B>")]
    assert new_ids == [max(before) + 1, max(before) + 2]  # sorted names, after the last id
    assert tok.is_consistent()
    assert tok.encode_list([TypedInput("GENES", "<TASK_A> KRAS")]).ids[0] == new_ids[0]
    assert tok.add_special_tokens(["<TASK_A>"]) == 0
    with pytest.raises(TypeError, match=r"write \['<X>'\]"):
        tok.add_special_tokens("<X>")  # not the tokens '<', 'X', '>'
    with pytest.raises(ValueError, match=r"\['KRAS'\] are regular tokens"):
        tok.add_special_tokens(["KRAS"])


def test_special_tokens_fill_the_reserved_range_exactly(make_tokenizer: Make) -> None:
    tok = make_tokenizer(max_special_token_id=6)  # 5 special tokens on 0..4: room for exactly 2 more
    assert tok.token_to_id("A", "AA") == 7
    assert tok.add_special_tokens(["<X>", "<Y>"]) == 2
    assert [tok.token_to_id("<X>"), tok.token_to_id("<Y>")] == [5, 6]
    with pytest.raises(ValueError, match=r"no room for 1 new special tokens.*max_special_token_id=6"):
        tok.add_special_tokens(["<Z>"])
    with pytest.raises(ValueError, match="max_special_token_id=3 leaves no room for the 5 special tokens"):
        make_tokenizer(max_special_token_id=3)
    make_tokenizer(max_special_token_id=4)  # exactly full is fine (FuseMedML refused it)


def test_max_possible_token_id_caps_every_id(make_tokenizer: Make) -> None:
    top = make_tokenizer().get_max_id()
    with pytest.raises(ValueError, match=f"reach {top}, above max_possible_token_id={top - 1}"):
        make_tokenizer(max_possible_token_id=top - 1)
    tok = make_tokenizer(max_possible_token_id=top + 1)
    assert tok.get_max_id() == top + 1
    assert tok.add_special_tokens(["<X>"]) == 1  # FuseMedML crashed here (self.self)
    with pytest.raises(ValueError, match="max_possible_token_id"):
        tok.add_special_tokens(["<Y>"])


def test_add_single_tokenizer_keeps_ids_and_shares_its_special_tokens(make_tokenizer: Make, tmp_path: Path) -> None:
    tok = make_tokenizer()
    before = dict(tok.decoder_dict)
    more = write_sources(tmp_path / "more", specials=("<PAD>", "<UNK>", "<CLS>"))[2]
    with pytest.warns(UserWarning, match=r"brings new special tokens \['<CLS>'\]"):
        tok.add_single_tokenizer({**more, "name": "GENES2", "minimal_token_id": 100})
    assert all(tok.decoder_dict[i] == entry for i, entry in before.items())
    assert tok.token_to_id("<CLS>") == max(before) + 1
    assert [tok.token_to_id(g, "GENES2") for g in GENES] == list(range(100, 105))
    assert tok.is_consistent()
    with pytest.raises(ValueError, match="name not yet taken"):
        tok.add_single_tokenizer({**more, "name": "AA"})


def test_a_template_post_processor_inserts_the_remapped_ids(tmp_path: Path) -> None:
    from tokenizers.processors import TemplateProcessing

    infos = write_sources(tmp_path, specials=("<PAD>", "<UNK>", "<CLS>"))
    genes = Tokenizer.from_file(infos[2]["json_path"])
    genes.post_processor = TemplateProcessing(single="<CLS> $A", special_tokens=[("<CLS>", genes.token_to_id("<CLS>"))])
    genes.save(infos[2]["json_path"])
    tok = ModularTokenizer(infos[::-1], special_tokens_list=["<EOS>"])  # <CLS> moves from id 8 to id 3
    enc = tok.encode_list([TypedInput("GENES", "KRAS")])
    assert tok.decode(enc.ids) == "<CLS>KRAS"


def test_unigram_models_are_refused_with_the_file(tmp_path: Path) -> None:
    from tokenizers.models import Unigram

    path = tmp_path / "uni.json"
    Tokenizer(Unigram([("<UNK>", 0.0), ("a", -1.0)], unk_id=0)).save(str(path))
    info = {"name": "U", "tokenizer_id": 0, "json_path": str(path), "modular_json_path": str(tmp_path / "m.json")}
    with pytest.raises(ValueError, match=r"uni.json: the tokenizer model 'Unigram'.*WordLevel, WordPiece and BPE"):
        ModularTokenizer([info])


def test_get_vocab_is_refused_where_a_token_has_two_ids_and_the_typed_vocab_is_always_defined(
    make_tokenizer: Make,
) -> None:
    tok = make_tokenizer()
    with pytest.raises(ValueError, match=r"'C': \[.*get_typed_vocab"):
        tok.get_vocab()
    typed = tok.get_typed_vocab(with_added_tokens=False)
    assert typed[("SMILES", "C")] == tok.token_to_id("C", "SMILES") != typed[("AA", "C")]
    assert len(typed) == tok.get_vocab_size(with_added_tokens=False)
    assert not hasattr(tok, "add_tokens")  # FuseMedML's only raised; add_special_tokens / add_single_tokenizer


def test_get_vocab_without_clashing_tokens_is_every_token_by_its_id(sources: list[dict[str, Any]]) -> None:
    from fuse.data import ModularTokenizer

    # amino acids and gene symbols share no token (SMILES and amino acids share "C", "N", ...)
    tok = ModularTokenizer([s for s in sources if s["name"] != "SMILES"], special_tokens_list=["<EOS>"])
    vocab = tok.get_vocab()
    typed = tok.get_typed_vocab()
    assert vocab == {token: token_id for (_, token), token_id in typed.items()}
    assert len(vocab) == tok.get_vocab_size()  # every id once
    assert all(tok.id_to_token(token_id) == token for token, token_id in vocab.items())
    assert set(tok.get_vocab(with_added_tokens=False)) == set(vocab) - set(tok.get_added_vocab())


def test_importing_fuse_data_does_not_import_tokenizers() -> None:
    code = "import sys, fuse.data; assert 'tokenizers' not in sys.modules and 'yaml' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_the_extra_the_names_say_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['tokenizers'] = None\n"
        "import fuse.data\n"
        "assert 'ModularTokenizer' not in fuse.data.__all__\n"
        "from fuse.data import *\n"
        "try:\n    fuse.data.ModularTokenizer\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True)
    assert 'pip install "fuse-data[tokenizers]"' in out.stdout


def test_typed_input_is_fusemedml_s_alias_and_published() -> None:
    from fuse.data import ModularTokenizerInput

    assert TypedInput is ModularTokenizerInput
    assert ModularTokenizer.__module__ == "fuse.data"
    assert json.loads(json.dumps(list_to_tokenizer_string([TypedInput("AA", "A")]))) == "<@TOKENIZER-TYPE=AA>A"
