"""Reading a modular tokenizer's id space: token <-> id in each sub-tokenizer, decoding, the vocabularies, checks."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable
from typing import Any

from tokenizers import Tokenizer

from fuse.data.tokenizers import _vocab


class _Lookup:
    """The id-space queries of ``ModularTokenizer`` (its base; the state is built by its constructor)."""

    tokenizers_info: dict[str, dict[str, Any]]
    decoder_dict: dict[int, dict[str, Any]]
    _max_possible_token_id: int | None

    def get_tokenizer_types(self) -> list[str]:
        """The sub-tokenizer names, in config order."""
        return list(self.tokenizers_info)

    def _sub_tokenizer(self, input_type: str) -> Tokenizer:
        if input_type not in self.tokenizers_info:
            raise ValueError(
                f"unknown tokenizer type {input_type!r}: this modular tokenizer has {self.get_tokenizer_types()} "
                "(fix the TOKENIZER-TYPE tag / input_type, or add the sub-tokenizer with add_single_tokenizer)"
            )
        instance: Tokenizer = self.tokenizers_info[input_type]["tokenizer_inst"]
        return instance

    def build_inner_decoder(self) -> None:
        """Rebuild ``decoder_dict`` (``{id: {"token", "is_special"}}``): the shared special tokens, then each
        sub-tokenizer's regular tokens."""
        self.decoder_dict: dict[int, dict[str, Any]] = {}
        first = next(iter(self.tokenizers_info.values()))["json_instance"]
        specials = _vocab.subtokenizer_vocab(first, _vocab.added_tokens(first))
        _vocab.update_id2token_mapping(self.decoder_dict, specials, is_special=True)
        for info in self.tokenizers_info.values():
            t_json = info["json_instance"]
            regular = _vocab.subtokenizer_vocab(t_json, sorted(_vocab.regular_tokens(t_json)))
            _vocab.update_id2token_mapping(self.decoder_dict, regular, is_special=False)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool | None = False) -> str:
        """The concatenated tokens of ``ids`` (a list, array or tensor); an id of no token reads
        ``<@TOKEN_MISSING-id>``, and is dropped with the special tokens when ``skip_special_tokens``."""
        tolist = getattr(ids, "tolist", None)
        id_list = tolist() if callable(tolist) else list(ids)
        if isinstance(id_list, int):  # a 0-d array or tensor
            id_list = [id_list]
        out = []
        for token_id in id_list:
            entry = self.decoder_dict.get(operator.index(token_id))  # a float id is an error, not rounded
            if entry is None:
                if not skip_special_tokens:
                    out.append(f"<@TOKEN_MISSING-{token_id}>")
            elif not (skip_special_tokens and entry["is_special"]):
                out.append(entry["token"])
        return "".join(out)

    def decode_batch(self, sequences: Iterable[Iterable[int]], skip_special_tokens: bool | None = True) -> list[str]:
        """:meth:`decode` of each sequence (FuseMedML left it unimplemented)."""
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in sequences]

    def convert_ids_to_tokens(self, ids: list[int] | int, *args: Any, **kwargs: Any) -> str:
        """:meth:`decode` of ``ids`` (one int or a list), as FuseMedML's."""
        return self.decode([ids] if isinstance(ids, int) else ids, *args, **kwargs)

    def token_to_id(self, token: str, t_type: str | None = None) -> int | None:
        """The id of ``token`` in sub-tokenizer ``t_type``; with no type, its one id across all sub-tokenizers
        (a special token, or a regular token of one type) and an error when types map it to different ids.
        ``None`` when no sub-tokenizer has it."""
        if t_type is not None:
            found: int | None = self._sub_tokenizer(str(t_type)).token_to_id(token)
            return found
        by_type = {name: info["tokenizer_inst"].token_to_id(token) for name, info in self.tokenizers_info.items()}
        ids = {token_id for token_id in by_type.values() if token_id is not None}
        if len(ids) > 1:
            raise ValueError(
                f"token {token!r} has different ids per sub-tokenizer {by_type}: give t_type (one of "
                f"{self.get_tokenizer_types()})"
            )
        return ids.pop() if ids else None

    def id_to_token(self, id: int) -> str | None:
        """The token of ``id``, ``None`` when no token has it."""
        if isinstance(id, bool) or not isinstance(id, numbers.Integral):
            raise TypeError(f"id_to_token expects an integer id, got {type(id).__name__}")
        entry = self.decoder_dict.get(int(id))
        return None if entry is None else str(entry["token"])

    def get_vocab(self, with_added_tokens: bool | None = True) -> dict[str, int]:
        """``{token: id}`` over every sub-tokenizer (the shared special tokens too when ``with_added_tokens``).

        Defined only where each token has one id: a token that two sub-tokenizers hold under different ids (``"C"``
        in amino acids and in SMILES) raises ``ValueError`` naming it, as :meth:`token_to_id` does without
        ``t_type``; :meth:`get_typed_vocab` keys by ``(type, token)`` and is always defined.
        """
        vocab: dict[str, int] = {}
        clashes: dict[str, set[int]] = {}
        for (_, token), token_id in self.get_typed_vocab(with_added_tokens).items():
            if vocab.setdefault(token, token_id) != token_id:
                clashes.setdefault(token, {vocab[token]}).add(token_id)
        if clashes:
            shown = ", ".join(f"{token!r}: {sorted(ids)}" for token, ids in list(clashes.items())[:5])
            raise ValueError(
                f"{len(clashes)} token(s) have one id per sub-tokenizer ({shown}), so there is no single "
                "{token: id} vocabulary: use get_typed_vocab() ({(type, token): id})"
            )
        return vocab

    def get_added_vocab(self) -> dict[str, int]:
        """``{token: id}`` of the shared special tokens."""
        first = next(iter(self.tokenizers_info.values()))["json_instance"]
        return _vocab.subtokenizer_vocab(first, _vocab.added_tokens(first))

    def get_typed_vocab(self, with_added_tokens: bool | None = True) -> dict[tuple[str, str], int]:
        """``{(type, token): id}`` of every sub-tokenizer's regular tokens, plus the shared special tokens under each
        type when ``with_added_tokens`` (FuseMedML left it unimplemented)."""
        out = {}
        for name, info in self.tokenizers_info.items():
            t_json = info["json_instance"]
            tokens = t_json["model"]["vocab"] if with_added_tokens else _vocab.regular_tokens(t_json)
            out.update({(name, token): t_json["model"]["vocab"][token] for token in tokens})
        return out

    def get_vocab_size(self, with_added_tokens: bool | None = True) -> int:
        """How many ids have a token (not the largest id: see :meth:`get_max_id`); without the special tokens when
        ``with_added_tokens`` is false."""
        if with_added_tokens:
            return len(self.decoder_dict)
        return sum(not entry["is_special"] for entry in self.decoder_dict.values())

    def _get_max_mapped_id(self, with_added_tokens: bool | None = True) -> int:
        return max(self.decoder_dict)

    def get_max_id(self, with_added_tokens: bool | None = True) -> int:
        """``max_possible_token_id`` when set (the size a model must embed), else the largest id in use."""
        if self._max_possible_token_id is not None:
            return self._max_possible_token_id
        return self._get_max_mapped_id()

    def diagnose(self) -> tuple[dict[str, bool], dict[str, list[str]]]:
        """Pass/fail of FuseMedML's consistency checks, and what failed in each (see ``is_consistent``)."""
        return _vocab.diagnose({name: info["json_instance"] for name, info in self.tokenizers_info.items()})

    def is_consistent(self) -> bool:
        """Whether all sub-tokenizers share the special tokens on the same ids and no id has two tokens."""
        result, _ = self.diagnose()
        return all(result.values())
