"""``ModularTokenizer``: several Hugging Face tokenizers behind one id space, FuseMedML's modular tokenizer.

Each sub-tokenizer (amino acids, SMILES, gene names, ...) keeps its own regular tokens on ids of its own; the special
tokens (``<PAD>``, ``<UNK>``, ``<EOS>``, task tokens) are shared and have the same id in every sub-tokenizer. An
input is a list of typed pieces (:class:`ModularTokenizerInput`) or a tagged string
(``<@TOKENIZER-TYPE=AA@MAX-LEN=10>ACDE<@TOKENIZER-TYPE=SMILES>CCO``); the pieces are encoded by their
sub-tokenizers and merged into one ``tokenizers.Encoding``.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from fuse.data.tokenizers import _format, _vocab
from fuse.data.tokenizers._encoding import _Encoder
from fuse.data.tokenizers._inputs import ModularTokenizerInput, TypedInput, list_to_tokenizer_string

__all__ = ["ModularTokenizer", "ModularTokenizerInput", "TypedInput", "list_to_tokenizer_string"]

_INSTANCE_KEYS = ("json_instance", "tokenizer_inst")  # built from the JSONs, never saved in the config


class ModularTokenizer(_Encoder):
    """Several Hugging Face tokenizers merged into one id space (FuseMedML's ``ModularTokenizer``).

    ``tokenizers_info`` lists the sub-tokenizers, each a dict with ``name``, ``tokenizer_id``, ``json_path`` (the
    source ``tokenizer.json``), ``modular_json_path`` (where :meth:`save_jsons` writes the remapped one), and
    optionally ``max_len`` (truncation of every piece of that type) and ``minimal_token_id`` (lowest id for its
    regular tokens). The special tokens of all sub-tokenizers plus ``special_tokens_list`` are shared, on ids
    0, 1, ...; the regular tokens of each sub-tokenizer follow, in their original order, after the last special id
    (or after ``max_special_token_id``, which reserves room for later special tokens). ``max_possible_token_id``
    caps every id (a model's embedding size). ``seed`` seeds the ``"RAND"`` truncation mode.
    ``load_adjusted_jsons=True`` reads already-remapped JSONs from ``modular_json_path`` (what :meth:`load` does).

    >>> import tempfile
    >>> from tokenizers import Tokenizer
    >>> from tokenizers.models import WordLevel
    >>> from tokenizers import Regex
    >>> from tokenizers.pre_tokenizers import Split
    >>> folder = tempfile.mkdtemp()
    >>> def word_level(name, tokens):
    ...     t = Tokenizer(WordLevel({tok: i for i, tok in enumerate(tokens)}, unk_token="<UNK>"))
    ...     t.pre_tokenizer = Split(Regex("."), "isolated")
    ...     t.add_special_tokens(["<PAD>", "<UNK>"])
    ...     t.save(f"{folder}/{name}.json")
    ...     return {"name": name, "tokenizer_id": 0, "json_path": f"{folder}/{name}.json",
    ...             "modular_json_path": f"{folder}/{name}_modular.json"}
    >>> tok = ModularTokenizer([word_level("AA", "ACDE"), word_level("SMILES", "CNO(=)")], special_tokens_list=["<EOS>"])
    >>> enc = tok.encode_list([TypedInput("AA", "CAD"), TypedInput("SMILES", "CC=O"), TypedInput("AA", "<EOS>")],
    ...                       max_len=9)
    >>> enc.ids
    [4, 3, 5, 7, 7, 11, 9, 0, 1]
    >>> tok.decode(enc.ids, skip_special_tokens=True)
    'CADCC=O'
    >>> tok.token_to_id("C", t_type="SMILES"), tok.token_to_id("<EOS>")
    (7, 0)
    """

    def __init__(
        self,
        tokenizers_info: Sequence[Mapping[str, Any]],
        load_adjusted_jsons: bool | None = False,
        special_tokens_list: Sequence[str] | None = None,
        max_possible_token_id: int | None = None,
        max_special_token_id: int | None = None,
        seed: int = 1234,
    ) -> None:
        if isinstance(tokenizers_info, Mapping) or not all(isinstance(t, Mapping) for t in tokenizers_info):
            raise TypeError("tokenizers_info must be a list of dicts, one per sub-tokenizer (name, json_path, ...)")
        raw = [
            {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in t.items() if k not in _INSTANCE_KEYS}
            for t in tokenizers_info
        ]
        names = [t.get("name") for t in raw]
        if not raw or None in names or len(set(names)) != len(names):
            raise ValueError(
                f"tokenizers_info needs at least one sub-tokenizer and a unique 'name' for each, got {names}"
            )
        self.tokenizers_info_raw_cfg: list[dict[str, Any]] = copy.deepcopy(raw)
        self.tokenizers_info: dict[str, dict[str, Any]] = self.cfg_list_2_dict(copy.deepcopy(raw))
        self._max_possible_token_id = max_possible_token_id
        self._max_special_token_id = max_special_token_id
        self.max_len: int | None = None  # the overall length: truncation, and padding when a pad token is set
        self._pad_token_id: int | None = None
        self._pad_token_type_id: int = 0
        self._pad_token: str | None = None
        self._rng = random.Random(seed)

        if load_adjusted_jsons:
            if special_tokens_list is not None:
                raise ValueError(
                    "special_tokens_list must be None when loading remapped JSONs: call add_special_tokens afterwards"
                )
            for name, info in self.tokenizers_info.items():
                if not info.get("modular_json_path"):
                    raise ValueError(f"sub-tokenizer {name!r} has no modular_json_path: give the remapped JSON")
                info["json_instance"] = _format.read_tokenizer_json(
                    info["modular_json_path"], name, "modular_json_path"
                )
        else:
            self._merge_source_jsons(list(dict.fromkeys(special_tokens_list or [])))  # a repeat would take 2 ids
        for info in self.tokenizers_info.values():
            self._instantiate(info)
        self._check_consistent()
        self.build_inner_decoder()
        self._check_max_possible_id()

    def _merge_source_jsons(self, special_tokens: list[str]) -> None:
        """Read each ``json_path`` and remap it: the shared special tokens first, then each one's regular tokens."""
        for name, info in self.tokenizers_info.items():
            if not info.get("json_path"):
                raise ValueError(f"sub-tokenizer {name!r} has no json_path: give the tokenizer.json to merge")
            t_json = _format.read_tokenizer_json(info["json_path"], name, "json_path")
            _vocab.model_vocab(t_json, str(info["json_path"]))
            info["json_instance"] = t_json
            special_tokens += [t for t in _vocab.added_tokens(t_json) if t not in special_tokens]
        structs = _vocab.build_special_token_list(special_tokens)
        next_index = len(structs)
        if self._max_special_token_id is not None:
            if next_index > self._max_special_token_id + 1:
                raise ValueError(
                    f"max_special_token_id={self._max_special_token_id} leaves no room for the {len(structs)} special "
                    "tokens of the sub-tokenizers: raise it, or leave it unset"
                )
            next_index = self._max_special_token_id + 1
        for info in self.tokenizers_info.values():
            t_json = info["json_instance"]
            next_index = max(int(info.get("minimal_token_id") or 0), next_index)
            t_json["added_tokens"] = copy.deepcopy(structs)
            t_json["model"]["vocab"], next_index = _vocab.remap_vocab(t_json["model"]["vocab"], structs, next_index)
            t_json["post_processor"] = _vocab.remap_post_processor(
                t_json.get("post_processor"), t_json["model"]["vocab"]
            )

    @staticmethod
    def _instantiate(info: dict[str, Any]) -> None:
        """Build the ``tokenizers.Tokenizer`` of a sub-tokenizer's JSON, with its ``max_len`` truncation."""
        try:
            instance = Tokenizer.from_str(json.dumps(info["json_instance"]))
        except Exception as error:  # tokenizers raises a bare Exception for a JSON it cannot read
            import tokenizers

            where = info.get("modular_json_path") or info.get("json_path")
            raise ValueError(
                f"{where}: tokenizers {tokenizers.__version__} cannot read sub-tokenizer {info.get('name')!r} ({error}); "
                "a JSON saved by a newer tokenizers needs it (e.g. BPE merges as pairs: tokenizers >= 0.20)"
            ) from error
        if info.get("max_len") is not None:
            instance.enable_truncation(max_length=int(info["max_len"]), direction="right")
        info["tokenizer_inst"] = instance
        info["json_instance"] = json.loads(instance.to_str())

    def _check_consistent(self) -> None:
        result, details = self.diagnose()
        failed = {test: details[test] for test, ok in result.items() if not ok}
        if failed:
            files = {
                name: info.get("modular_json_path") or info.get("json_path")
                for name, info in self.tokenizers_info.items()
            }
            raise ValueError(
                f"the sub-tokenizers do not share one id space: {failed} (files: {files}); rebuild the modular "
                "tokenizer from the source JSONs (ModularTokenizer(tokenizers_info) then save) instead of editing ids"
            )

    def _check_max_possible_id(self) -> None:
        if self._max_possible_token_id is not None and self._get_max_mapped_id() > self._max_possible_token_id:
            raise ValueError(
                f"the remapped ids reach {self._get_max_mapped_id()}, above max_possible_token_id="
                f"{self._max_possible_token_id}: raise max_possible_token_id (and the model's embedding size)"
            )

    # --- FuseMedML's static helpers -------------------------------------------------------------------------------
    # thin wrappers, not aliases: an alias would carry its docstring examples into the class's, without their globals
    @staticmethod
    def remap_vocab(
        vocab: Mapping[str, int],
        special_token_structs: Sequence[Mapping[str, Any]] | None = None,
        starting_index: int | None = None,
    ) -> tuple[dict[str, int], int]:
        """The special tokens on their ids, the other tokens renumbered from ``starting_index``; the next free id."""
        return _vocab.remap_vocab(vocab, special_token_structs, starting_index)

    @staticmethod
    def build_special_token_list(
        special_tokens: Iterable[str], starting_index: int | None = None, token_ids: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """The ``added_tokens`` entries of ``special_tokens``, on consecutive ids or on ``token_ids``."""
        return _vocab.build_special_token_list(special_tokens, starting_index, token_ids)

    @staticmethod
    def get_subtokenizer_added_tokens(
        tokenizer_json_inst: Mapping[str, Any], enforce_special: bool = False
    ) -> list[str]:
        """The added (shared special) tokens of a tokenizer JSON."""
        return _vocab.added_tokens(tokenizer_json_inst, enforce_special)

    @staticmethod
    def get_subtokenizer_regular_tokens(
        tokenizer_json_inst: Mapping[str, Any], enforce_special: bool = False
    ) -> set[str]:
        """The model-vocabulary tokens of a tokenizer JSON that are not added tokens."""
        return _vocab.regular_tokens(tokenizer_json_inst, enforce_special)

    @staticmethod
    def get_subtokenizer_vocab(
        tokenizer_json_inst: Mapping[str, Any], token_list: Iterable[str] | None = None
    ) -> dict[str, int]:
        """``{token: id}`` of a tokenizer JSON, restricted to ``token_list`` when given."""
        return _vocab.subtokenizer_vocab(tokenizer_json_inst, token_list)

    @staticmethod
    def update_id2token_mapping(
        id2token: dict[int, dict[str, Any]], add_vocab: Mapping[str, int], is_special: bool | None = False
    ) -> dict[int, dict[str, Any]]:
        """Add ``add_vocab`` to an ``{id: {"token", "is_special"}}`` mapping; a taken id keeps its first token."""
        _vocab.update_id2token_mapping(id2token, add_vocab, bool(is_special))
        return id2token

    @staticmethod
    def cfg_list_2_dict(dict_list: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """``{name: info}`` of a ``tokenizers_info`` list."""
        return {d["name"]: d for d in dict_list}

    # --- loading and saving -----------------------------------------------------------------------------------------
    @staticmethod
    def load(path: str | os.PathLike[str], seed: int = 1234) -> ModularTokenizer:
        """Read a folder written by :meth:`save` (FuseMedML's or ours): ``config.yaml`` and the remapped JSONs."""
        infos, max_possible_token_id, max_special_token_id = _format.read_config(path)
        return ModularTokenizer(
            infos,
            load_adjusted_jsons=True,
            max_possible_token_id=max_possible_token_id,
            max_special_token_id=max_special_token_id,
            seed=seed,
        )

    @staticmethod
    def load_from_jsons(tokenizers_info: Sequence[Mapping[str, Any]]) -> ModularTokenizer:
        """A modular tokenizer of remapped JSONs (the ``modular_json_path`` of each entry), ids kept as they are."""
        return ModularTokenizer(tokenizers_info, load_adjusted_jsons=True)

    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> ModularTokenizer:
        """:meth:`load` from the saved folder or a file inside it."""
        return ModularTokenizer.load(_format.tokenizer_folder(path))

    @staticmethod
    def from_pretrained(
        identifier: str | os.PathLike[str], revision: str | None = "main", auth_token: str | None = None
    ) -> ModularTokenizer:
        """:meth:`load` from a local folder (as FuseMedML's, no Hub download: fetch the folder first)."""
        if not (Path(identifier) / _format.CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{identifier}: not a folder with {_format.CONFIG_NAME}; download the saved modular tokenizer first "
                "(e.g. huggingface_hub.snapshot_download) and give its local folder"
            )
        return ModularTokenizer.load(identifier)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer in FuseMedML's layout: one remapped JSON per sub-tokenizer and ``config.yaml`` (paths
        relative to the folder, so it can move). ``path`` is the folder, or a ``.json``/``.yaml`` path inside it."""
        folder = Path(path).parent if str(path).endswith((".json", ".yaml")) else Path(path)
        file_names = _format.saved_json_names(self.tokenizers_info_raw_cfg)
        config = copy.deepcopy(self.tokenizers_info_raw_cfg)
        for entry in config:
            entry["json_path"] = entry["modular_json_path"] = f"./{file_names[entry['name']]}"
        for name, info in self.tokenizers_info.items():
            _format.write_atomic(folder / file_names[name], info["tokenizer_inst"].to_str(pretty=True))
        _format.write_config(folder, config, self._max_possible_token_id, self._max_special_token_id)

    def save_jsons(self, tokenizers_info: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Write each remapped JSON to its ``modular_json_path`` (from ``tokenizers_info`` when given, for those
        sub-tokenizers only)."""
        targets = self.tokenizers_info if tokenizers_info is None else self.cfg_list_2_dict(tokenizers_info)
        for name, info in targets.items():
            if name not in self.tokenizers_info:
                raise ValueError(f"save_jsons: no sub-tokenizer {name!r}; the types are {self.get_tokenizer_types()}")
            text = self.tokenizers_info[name]["tokenizer_inst"].to_str(pretty=True)
            _format.write_atomic(Path(info["modular_json_path"]), text)

    # --- padding and truncation ---------------------------------------------------------------------------------------
    def enable_padding(
        self,
        direction: str | None = "right",
        pad_id: int | None = None,
        pad_type_id: int | None = 0,
        pad_token: str | None = "<PAD>",
        length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        """Pad (right) every encoding to ``length`` with ``pad_token``/``pad_id``; also truncates to ``length``.

        ``direction`` and ``pad_to_multiple_of`` are ``tokenizers``' arguments, kept for its signature: only
        ``"right"`` and ``None`` are accepted (as in FuseMedML), because the positions of injected scalars and
        embeddings, and the truncation of each part, count tokens from the left with nothing before them.
        """
        if direction != "right" or pad_to_multiple_of is not None:
            raise ValueError(
                f"enable_padding(direction={direction!r}, pad_to_multiple_of={pad_to_multiple_of!r}): the modular "
                "tokenizer pads on the right to a fixed length only (injected positions count from the left); give "
                "length= instead"
            )
        if pad_token is None and pad_id is None:
            raise ValueError("enable_padding needs pad_token or pad_id")
        if pad_token is not None:
            token_id = self.token_to_id(pad_token)
            if token_id is None:
                raise ValueError(f"pad_token {pad_token!r} is not in the vocabulary: add it with add_special_tokens")
            if pad_id is not None and token_id != pad_id:
                raise ValueError(f"pad_token {pad_token!r} has id {token_id}, not pad_id={pad_id}: give one of them")
            pad_id = token_id
        else:
            assert pad_id is not None
            pad_token = self.id_to_token(pad_id)
            if pad_token is None:
                raise ValueError(f"pad_id {pad_id} has no token in the vocabulary")
        self._pad_token_type_id = 0 if pad_type_id is None else pad_type_id
        self._pad_token, self._pad_token_id = pad_token, pad_id
        self.max_len = length

    def enable_truncation(
        self,
        max_length: int,
        stride: int | None = 0,
        strategy: str | None = "longest_first",
        direction: str | None = "right",
    ) -> None:
        """Truncate (right) every encoding to ``max_length`` (and pad to it when padding is enabled).

        ``stride``, ``strategy`` and ``direction`` are ``tokenizers``' arguments, kept for its signature: only their
        defaults are accepted (as in FuseMedML); the merged sequence is one piece per type, cut from the right.
        """
        if stride != 0 or strategy != "longest_first" or direction != "right":
            raise ValueError(
                f"enable_truncation(stride={stride!r}, strategy={strategy!r}, direction={direction!r}): the modular "
                "tokenizer cuts its merged sequence from the right (stride 0, longest_first); per-part limits are "
                "ModularTokenizerInput(max_len=..., truncate_mode=...)"
            )
        self.max_len = max_length

    @property
    def pad_token(self) -> str | None:
        """The padding token set by :meth:`enable_padding`."""
        return self._pad_token

    @property
    def pad_token_id(self) -> int | None:
        """The id of :attr:`pad_token`."""
        return None if self._pad_token is None else self.token_to_id(self._pad_token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sub-tokenizers={self.get_tokenizer_types()})"

    # --- growing ------------------------------------------------------------------------------------------------------
    def add_special_tokens(self, tokens: Iterable[str]) -> int:
        """Add shared special tokens; existing ids never move. New ones go after the last special id when
        ``max_special_token_id`` is set (an error when that range is full), else after the last id in use (an error
        past ``max_possible_token_id``); a token that is already regular is an error. Returns how many were new."""
        from fuse.data.tokenizers._edit import add_special_tokens

        return add_special_tokens(self, tokens)

    def update_special_tokens(self, added_tokens: Iterable[str], save_tokenizer_path: str | None = None) -> None:
        """:meth:`add_special_tokens`, then :meth:`save` to ``save_tokenizer_path`` when given."""
        self.add_special_tokens(added_tokens)
        if save_tokenizer_path:
            self.save(save_tokenizer_path)

    def add_single_tokenizer(self, tokenizer_info: Mapping[str, Any]) -> None:
        """Add a sub-tokenizer (``tokenizer_info`` as an entry of ``tokenizers_info``); existing ids never move.
        Its special tokens become shared ones first; its regular tokens follow the last id in use."""
        from fuse.data.tokenizers._edit import add_single_tokenizer

        add_single_tokenizer(self, tokenizer_info)
