"""Scalars and external embeddings placed into a token sequence (``InjectorToModularTokenizerLib``).

The encodings come from small ``tokenizers`` tokenizers built here (one per sub-tokenizer type, merged the way the
modular tokenizer merges them), and every position and value is checked against a token-by-token computation
written independently of the library's running-offset one, and against the placeholder token ids themselves.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers", reason='pip install "fuse-data[tokenizers]"')
torch = pytest.importorskip("torch")
from hypothesis import given, settings
from hypothesis import strategies as st

from fuse.core import create_initial_sample
from fuse.data import MissingSampleKeyError
from fuse.data.tokenizers._injector import EmbeddingInfo, InjectorToModularTokenizerLib

build_placeholders = InjectorToModularTokenizerLib.build_placeholder_meta_tokenization
build_values = InjectorToModularTokenizerLib.build_scalars_and_embeddings

SPECIALS = ["<PAD>", "<UNK>", "<EOS>", "<SCALAR>", "<EMBEDDINGS>", "<MW>"]
ALPHABETS = {"AA": "ACDEFGHIKLMNPQRSTVWY", "SMILES": "CNOcno()=#123[]@+-"}
FILL = -1000.0


def _char_tokenizer(alphabet: str, specials: list[str]) -> Any:
    from tokenizers import Regex, Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split

    vocab = {token: i for i, token in enumerate(specials + sorted(set(alphabet)))}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<UNK>"))
    tokenizer.pre_tokenizer = Split(Regex("."), behavior="isolated")
    tokenizer.add_special_tokens(specials)
    return tokenizer


TOKENIZERS = {name: _char_tokenizer(alphabet, SPECIALS) for name, alphabet in ALPHABETS.items()}
SCALAR_ID = TOKENIZERS["AA"].token_to_id("<SCALAR>")
EMBEDDINGS_ID = TOKENIZERS["AA"].token_to_id("<EMBEDDINGS>")
PAD_ID = TOKENIZERS["AA"].token_to_id("<PAD>")


def _encode(query: str, max_len: int | None, tokenizers_by_type: dict[str, Any] = TOKENIZERS) -> tuple[list, list]:
    """(final ids, per-part encodings) the way the modular tokenizer builds them: each part encoded by its
    sub-tokenizer and cut to its MAX-LEN, the parts merged, then cut and padded to ``max_len``."""
    from tokenizers import Encoding

    pieces = re.split(r"<@TOKENIZER-TYPE=([^>]*)>", query)[1:]
    parts = []
    for hint, text in zip(pieces[::2], pieces[1::2], strict=True):
        name, *options = hint.split("@")
        encoding = tokenizers_by_type[name].encode(text)
        for option in options:
            encoding.truncate(int(option.removeprefix("MAX-LEN=")))
        parts.append(encoding)
    merged = Encoding.merge(parts)
    if max_len is not None:
        merged.truncate(max_len)
        merged.pad(max_len, pad_id=PAD_ID, pad_token="<PAD>")
    return merged.ids, parts


def _inject(query: Any, sample: Any = None, max_len: int | None = None, crop_report: str | None = "warn") -> dict:
    with_placeholders, parts = build_placeholders(sequence=query, sample_dict=sample, default_sub_tokenizer_name="AA")
    ids, encodings = _encode(with_placeholders, max_len)
    result = build_values(
        per_meta_tokenizer_data=parts,
        per_meta_encoding_including_placeholders=encodings,
        token_ids=ids,
        sample_dict=sample,
        crop_report=crop_report,
    )
    result["ids"] = ids
    return result


def _brute_force(segments: list[tuple], max_len: int | None) -> tuple[list[float], list[bool], dict]:
    """Token by token: each segment is ("text", type, string, max_len), ("scalars", values) or
    ("embedding", model, key, length); the labels are cut and padded to ``max_len``."""
    labels: list[tuple] = []
    starts = []
    for segment in segments:
        starts.append(len(labels))
        if segment[0] == "text":
            _, name, text, part_max_len = segment
            n = len(TOKENIZERS[name].encode(text).ids)
            labels += [("text",)] * (n if part_max_len is None else min(n, part_max_len))
        elif segment[0] == "scalars":
            labels += [("scalar", value) for value in segment[1]]
        else:
            labels += [("embedding",)] * segment[3]
    final = len(labels) if max_len is None else max_len
    kept = labels[:final] + [("pad",)] * max(final - len(labels), 0)
    values = [label[1] if label[0] == "scalar" else FILL for label in kept]
    valid = [label[0] == "scalar" for label in kept]
    embeddings: dict[str, list[tuple[int, str, int]]] = {}
    for segment, start in zip(segments, starts, strict=True):
        if segment[0] == "embedding" and start + segment[3] <= final:
            embeddings.setdefault(segment[1], []).append((start, segment[2], segment[3]))
    return values, valid, embeddings


def _query(segments: list[tuple], sample: Any) -> str:
    query = ""
    for i, segment in enumerate(segments):
        if segment[0] == "text":
            _, name, text, part_max_len = segment
            query += f"<@TOKENIZER-TYPE={name}" + ("" if part_max_len is None else f"@MAX-LEN={part_max_len}") + ">"
            query += text
        elif segment[0] == "scalars" and i % 2:  # alternate the two scalar syntaxes
            query += "<@TOKENIZER-TYPE=SCALARS_LITERALS>" + ",".join(repr(v) for v in segment[1])
        elif segment[0] == "scalars":
            sample[f"data.scalars_{i}"] = np.asarray(segment[1])
            query += f"<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.scalars_{i}"
        else:
            sample[segment[2]] = f"input of {segment[2]}"
            query += f"<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>{segment[1]}:{segment[2]}:{segment[3]}"
    return query


def _check(result: dict, segments: list[tuple], sample: Any, max_len: int | None) -> None:
    values, valid, embeddings = _brute_force(segments, max_len)
    assert result["scalars_values"].dtype == torch.float32
    assert result["scalars_values"].tolist() == pytest.approx(np.float32(values).tolist())
    assert result["scalars_valid_mask"].tolist() == valid
    # the placeholder ids themselves say where the scalars went
    assert valid == [token == SCALAR_ID for token in result["ids"]]
    found = {
        name: [(info.location, info.embedding_input, info.length) for info in infos]
        for name, infos in result["external_embeddings_info"].items()
    }
    assert found == {
        name: [(start, sample[key], length) for start, key, length in infos] for name, infos in embeddings.items()
    }
    for infos in result["external_embeddings_info"].values():
        for info in infos:
            assert result["ids"][info.location : info.location + info.length] == [EMBEDDINGS_ID] * info.length


# ------------------------------------------------------------------------------------------------ placeholders
def test_placeholders_replace_scalars_and_embeddings_with_tokens_of_the_default_tokenizer() -> None:
    sample = create_initial_sample("case_1")
    sample["data.w"] = torch.tensor([1.0, 2.0, 3.0])
    query = (
        "<@TOKENIZER-TYPE=SMILES>CCO<@TOKENIZER-TYPE=SCALARS_LITERALS>0.5,2"
        "<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.w<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.p:2"
        "<@TOKENIZER-TYPE=AA@MAX-LEN=3>ACDE<EOS>"
    )
    text, parts = build_placeholders(sequence=query, sample_dict=sample, default_sub_tokenizer_name="AA")
    assert text == (
        "<@TOKENIZER-TYPE=SMILES>CCO<@TOKENIZER-TYPE=AA><SCALAR><SCALAR><@TOKENIZER-TYPE=AA><SCALAR><SCALAR><SCALAR>"
        "<@TOKENIZER-TYPE=AA><EMBEDDINGS><EMBEDDINGS><@TOKENIZER-TYPE=AA@MAX-LEN=3>ACDE<EOS>"
    )
    assert parts == [
        "SMILES", "CCO", "SCALARS_LITERALS", "0.5,2", "SCALARS_FROM_DICT", "data.w",
        "EXTERNAL_EMBEDDINGS_FROM_DICT", "ESM:data.p:2", "AA@MAX-LEN=3", "ACDE<EOS>",
    ]  # fmt: skip


@dataclass
class _Input:  # the fields of ModularTokenizerInput
    input_type: str
    input_string: str
    max_len: int | None = None
    truncate_mode: str | None = None


def test_a_list_of_typed_inputs_is_read_like_the_string_it_stands_for() -> None:
    typed = [_Input("AA", "<MW>"), _Input("SCALARS_LITERALS", "1.5"), _Input("AA", "ACDEF<EOS>", 3, "RIGHT")]
    as_string = "<@TOKENIZER-TYPE=AA><MW><@TOKENIZER-TYPE=SCALARS_LITERALS>1.5<@TOKENIZER-TYPE=AA@MAX-LEN=3@TRUNC-MODE=RIGHT>ACDEF<EOS>"
    assert build_placeholders(sequence=typed) == build_placeholders(sequence=as_string)
    with pytest.raises(TypeError, match="list of ModularTokenizerInput"):
        build_placeholders(sequence=["AA", "ACD"])


# ------------------------------------------------------------------------------------------------ values and positions
def test_literal_and_dict_scalars_land_on_their_placeholders() -> None:
    sample = create_initial_sample("case_1")
    sample["data.weights"] = np.array([-2.5, 7.0])
    segments = [
        ("text", "AA", "<MW>", None),
        ("scalars", [0.25]),
        ("text", "SMILES", "CC(=O)O", None),
        ("scalars", [-2.5, 7.0]),
        ("text", "AA", "ACD<EOS>", None),
    ]
    query = (
        "<@TOKENIZER-TYPE=AA><MW><@TOKENIZER-TYPE=SCALARS_LITERALS>0.25<@TOKENIZER-TYPE=SMILES>CC(=O)O"
        "<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.weights<@TOKENIZER-TYPE=AA>ACD<EOS>"
    )
    result = _inject(query, sample)
    _check(result, segments, sample, None)
    assert result["scalars_values"][[1, 9, 10]].tolist() == [0.25, -2.5, 7.0]  # <MW> 0, CC(=O)O 2..8


@pytest.mark.parametrize("container", [torch.tensor, np.array, list], ids=["tensor", "numpy", "list"])
def test_dict_scalars_accept_tensors_arrays_and_lists(container: Any) -> None:
    sample = create_initial_sample("case_1")
    sample["data.w"] = container([1.0, 2.0])
    result = _inject("<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.w<@TOKENIZER-TYPE=AA>A<EOS>", sample)
    assert result["scalars_values"].tolist() == [1.0, 2.0, FILL, FILL]
    assert result["scalars_valid_mask"].tolist() == [True, True, False, False]


def test_embeddings_are_located_after_every_earlier_token_and_keep_their_input() -> None:
    sample = create_initial_sample("case_1")
    protein = torch.arange(5)
    sample["data.protein"] = protein
    sample["data.ligand"] = "CCO"
    query = (
        "<@TOKENIZER-TYPE=AA@MAX-LEN=2>ACDEFG<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.protein:3"
        "<@TOKENIZER-TYPE=SCALARS_LITERALS>1,2<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>MolFormer:data.ligand"
        "<@TOKENIZER-TYPE=AA><EOS>"
    )
    result = _inject(query, sample)
    # AC (cut to 2) | 3 embeddings at 2 | 2 scalars at 5, 6 | 1 embedding at 7 | <EOS>
    assert result["external_embeddings_info"] == {
        "ESM": [EmbeddingInfo(location=2, embedding_input=protein, length=3)],
        "MolFormer": [EmbeddingInfo(location=7, embedding_input="CCO", length=1)],
    }
    assert result["scalars_valid_mask"].nonzero().flatten().tolist() == [5, 6]
    assert result["ids"][2:5] == [EMBEDDINGS_ID] * 3
    assert result["ids"][7] == EMBEDDINGS_ID


def test_padding_fills_values_and_masks_to_the_padded_length() -> None:
    result = _inject("<@TOKENIZER-TYPE=SCALARS_LITERALS>3<@TOKENIZER-TYPE=AA>A<EOS>", max_len=6)
    assert result["ids"][3:] == [PAD_ID] * 3
    assert result["scalars_values"].tolist() == [3.0] + [FILL] * 5
    assert result["scalars_valid_mask"].tolist() == [True] + [False] * 5


# ------------------------------------------------------------------------------------------------ truncation
CUT_QUERY = (
    "<@TOKENIZER-TYPE=AA>AC<@TOKENIZER-TYPE=SCALARS_LITERALS>1,2,3"
    "<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.p:2<@TOKENIZER-TYPE=AA><EOS>"
)


def _cut_sample() -> Any:
    sample = create_initial_sample("case_cut")
    sample["data.p"] = "ACD"
    return sample


def test_truncation_that_cuts_scalars_and_embeddings_warns_with_the_sample_id_and_drops_cut_embeddings() -> None:
    with pytest.warns(UserWarning, match=r"'case_cut'.*1 scalar\(s\).*ESM at 5.*max_seq_len"):
        result = _inject(CUT_QUERY, _cut_sample(), max_len=4)
    assert result["scalars_values"].tolist() == [FILL, FILL, 1.0, 2.0]
    assert result["external_embeddings_info"] == {}  # it started at 5, past the end


def test_an_embedding_cut_in_the_middle_is_left_out_not_half_injected() -> None:
    with pytest.warns(UserWarning, match="ESM at 5"):
        result = _inject(CUT_QUERY, _cut_sample(), max_len=6)
    assert result["external_embeddings_info"] == {}
    assert result["scalars_valid_mask"].tolist() == [False, False, True, True, True, False]


def test_truncation_can_raise_or_stay_silent() -> None:
    with pytest.raises(ValueError, match=r"'case_cut'.*truncated to 4"):
        _inject(CUT_QUERY, _cut_sample(), max_len=4, crop_report="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _inject(CUT_QUERY, _cut_sample(), max_len=4, crop_report=None)
        _inject(CUT_QUERY, _cut_sample(), max_len=7)  # only <EOS> cut: nothing injected was lost
    with pytest.raises(ValueError, match="crop_report"):
        _inject(CUT_QUERY, _cut_sample(), crop_report="ignore")


# ------------------------------------------------------------------------------------------------ any query
_segment = st.one_of(
    st.tuples(
        st.just("text"),
        st.sampled_from(sorted(ALPHABETS)),
        st.text("ACDNO()=", min_size=1, max_size=6),
        st.one_of(st.none(), st.integers(1, 4)),
    ),
    st.tuples(st.just("scalars"), st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=3)),
    st.tuples(st.just("embedding"), st.sampled_from(["ESM", "MolFormer"]), st.just(""), st.integers(1, 3)),
)


@settings(max_examples=60, deadline=None)
@given(segments=st.lists(_segment, min_size=1, max_size=6), max_len=st.one_of(st.none(), st.integers(1, 25)))
def test_any_query_matches_the_token_by_token_computation(segments: list[tuple], max_len: int | None) -> None:
    sample = create_initial_sample("case_any")
    segments = [("embedding", s[1], f"data.e{i}", s[3]) if s[0] == "embedding" else s for i, s in enumerate(segments)]
    query = _query(segments, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _inject(query, sample, max_len=max_len)
    _check(result, segments, sample, max_len)


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("<@TOKENIZER-TYPE=SCALARS_LITERALS>0.3,abc", "comma-separated numbers"),
        ("<@TOKENIZER-TYPE=SCALARS_LITERALS>0.3,nan", "non-finite"),
        ("<@TOKENIZER-TYPE=SCALARS_LITERALS>", "comma-separated numbers"),
        ("<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.matrix", "1-D"),
        ("<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.words", "1-D array of numbers"),
        ("<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.empty", "no scalars"),
        ("<@TOKENIZER-TYPE=SCALARS_FROM_LIST>x", "SCALARS_LITERALS and SCALARS_FROM_DICT"),
        ("<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM", "MODEL:KEY"),
        ("<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.p:0", "LENGTH >= 1"),
        ("<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.p:x", "MODEL:KEY"),
        ("<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_LIST>ESM:data.p", "EXTERNAL_EMBEDDINGS_FROM_DICT"),
        ("ACD<@TOKENIZER-TYPE=AA>E", "must start with a <@TOKENIZER-TYPE"),
        ("ACDE", "must start with a <@TOKENIZER-TYPE"),
    ],
)
def test_bad_queries_raise_naming_the_sample_and_the_part(query: str, message: str) -> None:
    sample = create_initial_sample("case_bad")
    sample["data.matrix"] = np.ones((2, 2))
    sample["data.words"] = ["a", "b"]
    sample["data.empty"] = []
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        build_placeholders(sequence=query, sample_dict=sample)
    assert "'case_bad'" in str(raised.value)


def test_a_missing_dict_key_names_the_sample_and_the_key() -> None:
    with pytest.raises(MissingSampleKeyError, match=r"'case_2'.*'data.absent'"):
        build_placeholders(
            sequence="<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.absent", sample_dict=create_initial_sample("case_2")
        )
    sample = create_initial_sample("case_3")
    with pytest.raises(MissingSampleKeyError, match=r"'case_3'.*'data.absent'"):
        _inject("<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.absent", sample)
    with pytest.raises(ValueError, match="no sample_dict"):
        build_placeholders(sequence="<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.w")


def test_vectors_parts_are_refused_naming_the_part_type_to_use() -> None:
    with pytest.raises(ValueError, match="EXTERNAL_EMBEDDINGS_FROM_DICT"):
        build_placeholders(sequence="<@TOKENIZER-TYPE=VECTORS_FROM_DICT>data.v")


def test_a_default_tokenizer_without_the_placeholder_token_is_refused_not_misaligned() -> None:
    # <SCALAR> is not a special token here: it would become 8 character tokens, shifting everything after it
    plain = {"AA": _char_tokenizer(ALPHABETS["AA"] + "<>SCALR", ["<PAD>", "<UNK>", "<EOS>"])}
    text, parts = build_placeholders(sequence="<@TOKENIZER-TYPE=SCALARS_LITERALS>1<@TOKENIZER-TYPE=AA>A")
    ids, encodings = _encode(text, None, plain)
    with pytest.raises(ValueError, match=r"1 placeholder token.*has 8.*<SCALAR>"):
        build_values(per_meta_tokenizer_data=parts, per_meta_encoding_including_placeholders=encodings, token_ids=ids)


def test_parts_and_encodings_must_correspond() -> None:
    text, parts = build_placeholders(sequence="<@TOKENIZER-TYPE=AA>A<@TOKENIZER-TYPE=AA>C")
    ids, encodings = _encode(text, None)
    with pytest.raises(ValueError, match="4 type/text items for 1 encoded parts"):
        build_values(
            per_meta_tokenizer_data=parts, per_meta_encoding_including_placeholders=encodings[:1], token_ids=ids
        )
