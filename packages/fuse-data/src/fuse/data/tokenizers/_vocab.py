"""Merging the id spaces of several tokenizer JSONs: shared special tokens first, then each sub-tokenizer's regular
tokens on ids of their own. These work on the parsed ``tokenizer.json`` dicts and need no ``tokenizers``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DIAGNOSE_TESTS = ("special token consistency", "ID duplicates in vocab", "ID collisions across vocabs")
"""The checks of :func:`diagnose`, with FuseMedML's names (they key its result)."""


def model_vocab(t_json: Mapping[str, Any], where: str) -> dict[str, int]:
    """The ``{token: id}`` vocabulary of a tokenizer JSON's model; ``where`` names the file in the error.

    Only the models that keep such a mapping (WordLevel, WordPiece, BPE) can be remapped.

    >>> model_vocab({"model": {"type": "WordLevel", "vocab": {"A": 0}}}, "aa.json")
    {'A': 0}
    """
    vocab = t_json.get("model", {}).get("vocab")
    if not isinstance(vocab, dict):
        kind = t_json.get("model", {}).get("type")
        raise ValueError(  # noqa: TRY004 - a file's content, not an argument
            f"{where}: the tokenizer model {kind!r} has no {{token: id}} vocabulary; the modular tokenizer merges "
            "WordLevel, WordPiece and BPE tokenizers only: convert this one first"
        )
    return vocab


def build_special_token_list(
    special_tokens: Iterable[str], starting_index: int | None = None, token_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The ``added_tokens`` entries of ``special_tokens``: on consecutive ids from ``starting_index`` (0 by default), or
    on ``token_ids`` (one per token; then ``starting_index`` must stay unset).

    >>> [(t["content"], t["id"]) for t in build_special_token_list(["<PAD>", "<UNK>"], starting_index=3)]
    [('<PAD>', 3), ('<UNK>', 4)]
    """
    tokens = list(special_tokens)
    if token_ids is None:
        ids = list(range(starting_index or 0, (starting_index or 0) + len(tokens)))
    else:
        if starting_index is not None:
            raise ValueError("give either starting_index or token_ids, not both")
        ids = list(token_ids)
        if len(ids) != len(tokens):
            raise ValueError(f"{len(tokens)} special tokens but {len(ids)} token_ids: give one id per token")
    return [
        {
            "id": token_id,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for token, token_id in zip(tokens, ids, strict=True)
    ]


def added_tokens(t_json: Mapping[str, Any], enforce_special: bool = False) -> list[str]:
    """The added tokens of a tokenizer JSON, in order; all of them count as special unless ``enforce_special``.

    >>> added_tokens({"added_tokens": [{"content": "<PAD>", "id": 0, "special": True}]})
    ['<PAD>']
    """
    structs = t_json.get("added_tokens") or []
    return [t["content"] for t in structs if t.get("special", False) or not enforce_special]


def regular_tokens(t_json: Mapping[str, Any], enforce_special: bool = False) -> set[str]:
    """The tokens of the model vocabulary that are not added (special) tokens.

    >>> sorted(regular_tokens({"added_tokens": [{"content": "<PAD>"}], "model": {"vocab": {"<PAD>": 0, "A": 1}}}))
    ['A']
    """
    return set(t_json["model"]["vocab"]) - set(added_tokens(t_json, enforce_special=enforce_special))


def subtokenizer_vocab(t_json: Mapping[str, Any], token_list: Iterable[str] | None = None) -> dict[str, int]:
    """``{token: id}`` of a tokenizer JSON's model vocabulary, restricted to ``token_list`` when given.

    >>> subtokenizer_vocab({"model": {"vocab": {"A": 5, "C": 6}}}, ["C", "X"])
    {'C': 6}
    """
    vocab: dict[str, int] = t_json["model"]["vocab"]
    if token_list is None:
        return vocab
    return {t: vocab[t] for t in token_list if t in vocab}


def remap_vocab(
    vocab: Mapping[str, int],
    special_token_structs: Sequence[Mapping[str, Any]] | None = None,
    starting_index: int | None = None,
) -> tuple[dict[str, int], int]:
    """The vocabulary with the special tokens on their given ids and every other token renumbered from
    ``starting_index`` (after the last special id by default) in its original id order; and the next free id.

    >>> remap_vocab({"<PAD>": 0, "A": 1, "C": 2}, build_special_token_list(["<PAD>", "<UNK>"]), 10)
    ({'<PAD>': 0, '<UNK>': 1, 'A': 10, 'C': 11}, 12)
    """
    init_vocab = {t["content"]: int(t["id"]) for t in special_token_structs or []}
    if starting_index is None:
        starting_index = max(init_vocab.values(), default=-1) + 1
    # original id order: tokenizers usually rank tokens by frequency, and that order must survive the remap
    regular = sorted(((token, token_id) for token, token_id in vocab.items() if token not in init_vocab), key=_by_id)
    remapped = {token: starting_index + i for i, (token, _) in enumerate(regular)}
    return {**init_vocab, **remapped}, starting_index + len(regular)


def _by_id(item: tuple[str, int]) -> int:
    return item[1]


def update_id2token_mapping(
    id2token: dict[int, dict[str, Any]], add_vocab: Mapping[str, int], is_special: bool = False
) -> list[tuple[str, int]]:
    """Add ``{id: {"token": ..., "is_special": ...}}`` entries for ``add_vocab``; a taken id keeps its first token.

    Returns the ``(token, id)`` pairs that collided with a taken id (:func:`diagnose` reports them).

    >>> mapping = {}
    >>> update_id2token_mapping(mapping, {"A": 1, "B": 1})
    [('B', 1)]
    >>> mapping
    {1: {'token': 'A', 'is_special': False}}
    """
    collisions = []
    for token, token_id in add_vocab.items():
        if token_id in id2token:
            collisions.append((token, token_id))
        else:
            id2token[token_id] = {"token": token, "is_special": is_special}
    return collisions


def diagnose(jsons: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """Check that merged tokenizer JSONs (``{name: json}``) share one id space.

    - "special token consistency": every sub-tokenizer has the same special tokens on the same ids, and each
      ``added_tokens`` entry agrees with the model vocabulary;
    - "ID duplicates in vocab": no two regular tokens of one sub-tokenizer (or two special tokens) share an id;
    - "ID collisions across vocabs": no id is used by two sub-tokenizers' regular tokens, or by a regular and a
      special token.

    Returns a pass/fail per check and, per check, what failed (the sub-tokenizer names, and colliding ids).

    >>> ok = {"added_tokens": [{"content": "<PAD>", "id": 0}], "model": {"vocab": {"<PAD>": 0, "A": 1}}}
    >>> bad = {"added_tokens": [{"content": "<PAD>", "id": 0}], "model": {"vocab": {"<PAD>": 0, "x": 1}}}
    >>> diagnose({"AA": ok, "WORDS": bad})
    ({'special token consistency': True, 'ID duplicates in vocab': True, 'ID collisions across vocabs': False}, \
{'special token consistency': [], 'ID duplicates in vocab': [], 'ID collisions across vocabs': ['WORDS:{1}']})
    """
    result = dict.fromkeys(DIAGNOSE_TESTS, True)
    details: dict[str, list[str]] = {name: [] for name in DIAGNOSE_TESTS}

    def fail(test: str, what: str) -> None:
        result[test] = False
        details[test].append(what)

    names = list(jsons)
    if not names:
        return result, details
    special_vocab = subtokenizer_vocab(jsons[names[0]], added_tokens(jsons[names[0]]))
    for name in names:
        t_json = jsons[name]
        specials = added_tokens(t_json)
        declared = {t["content"]: t["id"] for t in t_json.get("added_tokens") or []}
        if subtokenizer_vocab(t_json, specials) != special_vocab or any(
            t_json["model"]["vocab"].get(token) != token_id for token, token_id in declared.items()
        ):
            fail("special token consistency", name)
    taken: set[int] = set()
    for name in names:
        ids = list(subtokenizer_vocab(jsons[name], regular_tokens(jsons[name])).values())
        if len(ids) != len(set(ids)):
            fail("ID duplicates in vocab", name)
        clash = taken & set(ids)
        if clash:
            ids_text = ", ".join(str(i) for i in sorted(clash))
            fail("ID collisions across vocabs", f"{name}:{{{ids_text}}}")
        taken |= set(ids)
    special_ids = list(special_vocab.values())
    if len(special_ids) != len(set(special_ids)):
        fail("ID duplicates in vocab", "special")
    if taken & set(special_ids):
        fail("ID collisions across vocabs", "special")
    return result, details


def remap_post_processor(post_processor: Any, vocab: Mapping[str, int]) -> Any:
    """The post-processor JSON with the ids of the special tokens it inserts (``[CLS]``, ``<EOS>``...) taken from
    ``vocab``, so that a template keeps inserting the right tokens after the remap.

    >>> remap_post_processor({"type": "BertProcessing", "sep": ["<SEP>", 2], "cls": ["<CLS>", 1]}, {"<SEP>": 7, "<CLS>": 8})
    {'type': 'BertProcessing', 'sep': ['<SEP>', 7], 'cls': ['<CLS>', 8]}
    """
    if not isinstance(post_processor, dict):
        return post_processor
    out = dict(post_processor)
    kind = out.get("type")
    if kind == "TemplateProcessing":
        out["special_tokens"] = {
            key: {**spec, "ids": [_id_of(token, vocab, kind) for token in spec["tokens"]]}
            for key, spec in out.get("special_tokens", {}).items()
        }
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token = out[key][0]
            out[key] = [token, _id_of(token, vocab, kind)]
    elif kind == "Sequence":
        out["processors"] = [remap_post_processor(p, vocab) for p in out.get("processors", [])]
    return out


def _id_of(token: str, vocab: Mapping[str, int], kind: str) -> int:
    if token not in vocab:
        raise ValueError(f"the {kind} post-processor inserts {token!r}, which is not in the vocabulary: add it")
    return vocab[token]
