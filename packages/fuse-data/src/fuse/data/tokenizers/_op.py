"""The modular tokenizer as pipeline ops: ``ModularTokenizerWithoutInjectOp`` (text only, alias
``FastModularTokenizer``); ``ModularTokenizerOp`` (also scalars and external embeddings) builds on it in
``_inject_op.py``.

An op reads a tagged query from the sample (``<@TOKENIZER-TYPE=AA>ACDE<EOS>``, or a list of
``ModularTokenizerInput``) and writes its token ids, attention mask and, if asked, the ``tokenizers.Encoding``.
Errors and warnings name the sample id and the key. A sketch (``tokenizer_dir`` holds a saved ``ModularTokenizer``)::

    from fuse.data import ModularTokenizerOp, PipelineDefault

    op = ModularTokenizerOp.from_pretrained(tokenizer_dir, max_size=64)  # or a Hugging Face Hub repo id
    pipeline = PipelineDefault("tokenize", [
        (op, {"key_in": "data.query", "key_out_tokens_ids": "data.ids", "key_out_attention_mask": "data.mask",
              "key_out_scalars": "data.scalars"}),
    ])
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fuse.core import NDict
from fuse.data._sample_keys import sample_id_of, sample_value
from fuse.data.ops._base import OpBase
from fuse.data.tokenizers._inputs import ModularTokenizerInput, parse_tokenizer_string

if TYPE_CHECKING:
    from tokenizers import Encoding

    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer

__all__ = ["FastModularTokenizer", "ModularTokenizerWithoutInjectOp"]

_LOG = logging.getLogger(__name__)
_ON_UNKNOWN = ("warn", "raise")
_INSTALL = 'pip install "fuse-data[tokenizers]"'


def _load_tokenizer(path: str | os.PathLike[str]) -> ModularTokenizer:
    try:
        from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer
    except ModuleNotFoundError as missing:
        if missing.name not in {"tokenizers", "yaml"}:
            raise
        raise ModuleNotFoundError(
            f"the modular tokenizer needs {missing.name}: {_INSTALL}", name=missing.name
        ) from None
    return ModularTokenizer.load(str(path))


class ModularTokenizerWithoutInjectOp(OpBase):
    """Tokenize a tagged query with a saved :class:`~fuse.data.ModularTokenizer` (text only).

    Args:
        tokenizer_path: the folder :meth:`ModularTokenizer.save` wrote.
        max_size: pad and truncate every query to this many tokens (``None``: neither).
        pad_token: the padding token; it must be in the vocabulary.
        pad_type_id: the type id of padding tokens (see ``tokenizers.Tokenizer.enable_padding``).
        validate_ends_with_eos: refuse a query that does not end with ``eos`` (a call may override it).
        eos: the end-of-sequence token.
        verbose: log each new longest (unpadded) encoding seen.
        on_unknown_default_value: ``"warn"`` or ``"raise"`` on unknown tokens (a call may override it).
    """

    cache_identity_exclude: ClassVar[tuple[str, ...]] = ("_tokenizer", "_longest_seen")

    def __init__(
        self,
        tokenizer_path: str | os.PathLike[str],
        max_size: int | None = None,
        pad_token: str = "<PAD>",
        pad_type_id: int | None = None,
        validate_ends_with_eos: bool = True,
        eos: str = "<EOS>",
        verbose: bool = False,
        on_unknown_default_value: str = "warn",
    ) -> None:
        super().__init__()
        if on_unknown_default_value not in _ON_UNKNOWN:
            raise ValueError(f"on_unknown_default_value must be one of {_ON_UNKNOWN}, got {on_unknown_default_value!r}")
        if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1):
            raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
        self._tokenizer_path = str(tokenizer_path)
        self._tokenizer = _load_tokenizer(tokenizer_path)
        self._pad_token = pad_token
        self._pad_id = self._required_id(pad_token, "pad_token", "pass the padding token of this tokenizer")
        self._eos = eos
        self._validate_ends_with_eos = validate_ends_with_eos
        if validate_ends_with_eos:
            self._required_id(eos, "eos", "pass its end token as eos=, or validate_ends_with_eos=False")
        self._on_unknown_default_value = on_unknown_default_value
        self._verbose = verbose
        self._max_size = max_size
        self._pad_type_id = pad_type_id
        if max_size is not None:
            padding: dict[str, Any] = {"length": max_size, "pad_id": self._pad_id, "pad_token": pad_token}
            if pad_type_id is not None:
                padding["pad_type_id"] = pad_type_id
            self._tokenizer.enable_padding(direction="right", **padding)
            self._tokenizer.enable_truncation(max_length=max_size, direction="right")
        self._longest_seen = 0

    def _required_id(self, token: str, argument: str, fix: str) -> int:
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{argument}={token!r} is not in the tokenizer at {self._tokenizer_path}: {fix}")
        return int(token_id)

    # -------------------------------------------------------------------------------------------- identity
    def cache_identity(self) -> str:
        """Also covers the tokenizer's content (its saved files), so that a changed vocabulary or an added special
        token never serves samples cached with the old one."""
        digest = hashlib.sha256(super().cache_identity().encode())
        with tempfile.TemporaryDirectory() as folder:
            self._tokenizer.save(folder)
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():  # the saved files name each other relative to the folder
                    digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    # -------------------------------------------------------------------------------------------- helpers
    def get_vocab_size(self) -> int:
        """The number of tokens in the vocabulary (added tokens included)."""
        return int(self._tokenizer.get_vocab_size())

    def get_max_token_id(self) -> tuple[str, int]:
        """``(token, id)`` of the largest id; the token is ``"placeholder upper-bound token"`` (with a warning)
        when that id is a reserved upper bound with no token."""
        max_token_id = self._tokenizer.get_max_id()
        if max_token_id is None:
            raise ValueError(f"the tokenizer at {self._tokenizer_path} has no tokens")
        token = self._tokenizer.id_to_token(max_token_id)
        if token is None:
            warnings.warn(
                f"the largest id {max_token_id} of the tokenizer at {self._tokenizer_path} has no token: it is a "
                "reserved upper bound",
                stacklevel=2,
            )
            return "placeholder upper-bound token", int(max_token_id)
        return token, int(max_token_id)

    def get_min_max_sentinels(
        self, sentinel_prefix: str = "<SENTINEL_ID_", integer_find_regex: str = r"\d{1,}"
    ) -> tuple[int, int]:
        """The smallest and largest number of the added tokens that contain ``sentinel_prefix``
        (``<SENTINEL_ID_101>``...``<SENTINEL_ID_103>`` give ``(101, 103)``)."""
        numbers = []
        for token in self._tokenizer.get_added_vocab():
            if sentinel_prefix in token:
                found = re.findall(integer_find_regex, token)
                if len(found) != 1:
                    raise ValueError(f"expected exactly one integer in the sentinel token {token!r}, found {found}")
                numbers.append(int(found[0]))
        if not numbers:
            raise ValueError(f"no added token contains {sentinel_prefix!r} in the tokenizer at {self._tokenizer_path}")
        return min(numbers), max(numbers)

    def get_token_id(self, token_str: str, t_type: str | None = None) -> int:
        """The id of ``token_str`` in the sub-tokenizer ``t_type`` (``None``: the first one; leave it ``None`` for
        special tokens)."""
        token_id = self._tokenizer.token_to_id(token_str, t_type)
        if token_id is None:
            where = "" if t_type is None else f" of the sub-tokenizer {t_type!r}"
            raise KeyError(f"{token_str!r} is not a token{where} in the tokenizer at {self._tokenizer_path}")
        return int(token_id)

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens of ``ids``, joined."""
        return str(self._tokenizer.decode(ids))

    def get_max_len(self, override_max_len: int | None = None) -> int | None:
        """The length of every encoding: ``override_max_len`` if given, else the tokenizer's own (``None``: any)."""
        return override_max_len if override_max_len is not None else self._tokenizer.get_expected_max_len()

    def add_new_special_tokens(self, new_special_tokens: Sequence[str]) -> int:
        """Add special tokens that are not in the tokenizer yet; returns how many were added."""
        return int(self._tokenizer.add_special_tokens(list(new_special_tokens)))

    # -------------------------------------------------------------------------------------------- the op
    def __call__(
        self,
        sample_dict: NDict,
        key_in: str,
        key_out_tokenized_object: str | None = None,
        key_out_tokens_ids: str | None = None,
        key_out_attention_mask: str | None = None,
        convert_attention_mask_to_bool: bool = True,
        max_seq_len: int | None = None,
        on_unknown: str | None = None,
        verbose: int = 1,
        validate_ends_with_eos: bool | None = None,
        additional_caller_info_text: str = "",
        key_out_encoding_per_meta: str | None = None,
    ) -> NDict:
        """Tokenize ``sample_dict[key_in]``.

        Args:
            key_in: a tagged string (``<@TOKENIZER-TYPE=AA>ACDE<EOS>``) or a list of ``ModularTokenizerInput``.
            key_out_tokenized_object: where to write the ``tokenizers.Encoding``.
            key_out_tokens_ids: where to write the token ids (a list of int).
            key_out_attention_mask: where to write the attention mask (a list; False/0 on padding).
            convert_attention_mask_to_bool: write the mask as bools, not ints.
            max_seq_len: pad and truncate to this length (overrides the constructor's ``max_size``).
            on_unknown: ``"warn"`` or ``"raise"`` on unknown tokens (``None``: the constructor's choice).
            verbose: 0 says nothing about truncation; more warns (the sample id and what was cut).
            validate_ends_with_eos: overrides the constructor's choice.
            additional_caller_info_text: added to the truncation warning.
            key_out_encoding_per_meta: where to write the encoding of each tagged part (a list of ``Encoding``).
        """
        encoded, _ = self._encode(
            sample_dict,
            key_in,
            sample_value(sample_dict, key_in, self),
            max_seq_len=max_seq_len,
            on_unknown=on_unknown,
            verbose=verbose,
            validate_ends_with_eos=validate_ends_with_eos,
            additional_caller_info_text=additional_caller_info_text,
            key_out_encoding_per_meta=key_out_encoding_per_meta,
        )
        self._write(
            sample_dict,
            encoded,
            key_out_tokenized_object,
            key_out_tokens_ids,
            key_out_attention_mask,
            convert_attention_mask_to_bool,
        )
        return sample_dict

    def _encode(
        self,
        sample_dict: NDict,
        key_in: str,
        query: Any,
        *,
        max_seq_len: int | None,
        on_unknown: str | None,
        verbose: int,
        validate_ends_with_eos: bool | None,
        additional_caller_info_text: str,
        key_out_encoding_per_meta: str | None,
    ) -> tuple[Encoding, list[Encoding]]:
        """The encoding of ``query`` (read from ``key_in``) and that of each of its tagged parts."""
        where = f"{type(self).__name__}: sample {sample_id_of(sample_dict)!r}, key {key_in!r}"
        on_unknown = self._on_unknown_default_value if on_unknown is None else on_unknown
        if on_unknown not in _ON_UNKNOWN:
            raise ValueError(f"{where}: on_unknown must be one of {_ON_UNKNOWN}, got {on_unknown!r}")
        if max_seq_len is not None and (
            isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or max_seq_len < 1
        ):
            raise ValueError(f"{where}: max_seq_len must be a positive int or None, got {max_seq_len!r}")
        pieces = self._typed_inputs(query, where)
        if self._validate_ends_with_eos if validate_ends_with_eos is None else validate_ends_with_eos:
            end = pieces[-1].input_string.rstrip()
            if not end.endswith(self._eos):
                raise ValueError(
                    f"{where}: the query ends with {end[-40:]!r}, not {self._eos!r}; append {self._eos} to it, or "
                    "pass validate_ends_with_eos=False"
                )
        # unknown tokens are counted below, to name the sample; the tokenizer is asked not to warn itself
        answer = self._tokenizer.encode_list(
            pieces,
            max_len=max_seq_len,
            padding_token=self._pad_token,
            pad_type_id=self._pad_type_id,
            return_overflow_info=True,
            on_unknown="warn",
            verbose=0,
            also_return_split=True,
        )
        assert isinstance(answer, tuple)  # asked for the overflow text and the pieces
        encoded, overflow, per_part = answer
        expected = self.get_max_len(max_seq_len)
        if expected is not None and len(encoded.ids) != expected:
            raise RuntimeError(f"{where}: encoded to {len(encoded.ids)} tokens, not the expected {expected}")
        self._report_unknowns(encoded, on_unknown, where)
        # only the overall cut is reported: a piece's own MAX-LEN (or its sub-tokenizer's max_len) is by design
        if verbose > 0 and sum(len(part.ids) for part in per_part) > len(encoded.ids):
            caller = f" ({additional_caller_info_text})" if additional_caller_info_text else ""
            warnings.warn(
                f"{where}{caller}: the query was truncated [{overflow}] to {len(encoded.ids)} tokens; raise "
                "max_seq_len (or max_size) to keep it whole",
                stacklevel=3,
            )
        if self._verbose:
            length = sum(encoded.attention_mask)
            if length > self._longest_seen:
                self._longest_seen = length
                _LOG.info(
                    "%s: longest encoding so far: %d tokens (%s)", type(self).__name__, length, self._tokenizer_path
                )
        if key_out_encoding_per_meta is not None:
            sample_dict[key_out_encoding_per_meta] = per_part
        return encoded, per_part

    def _typed_inputs(self, query: Any, where: str) -> list[ModularTokenizerInput]:
        if isinstance(query, str):
            try:
                pieces = parse_tokenizer_string(query)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
        elif isinstance(query, (list, tuple)) and query and all(isinstance(p, ModularTokenizerInput) for p in query):
            pieces = list(query)
        else:
            raise TypeError(
                f"{where}: expected a string with <@TOKENIZER-TYPE=...> tags or a non-empty list of "
                f"ModularTokenizerInput, got {type(query).__name__}"
            )
        return pieces

    def _report_unknowns(self, encoded: Encoding, on_unknown: str, where: str) -> None:
        from fuse.data.tokenizers._special_tokens import special_wrap_input

        unk_id = self._tokenizer.token_to_id(special_wrap_input("UNK"))
        unknown = [position for position, token_id in enumerate(encoded.ids) if token_id == unk_id]
        if unk_id is None or not unknown:
            return
        message = (
            f"{where}: {len(unknown)} unknown token(s) of {len(encoded.ids)} at position(s) {unknown[:10]}; add "
            "them to the vocabulary or fix the query"
        )
        if on_unknown == "raise":
            raise ValueError(message)
        warnings.warn(message, stacklevel=4)

    @staticmethod
    def _write(
        sample_dict: NDict,
        encoded: Encoding,
        key_out_tokenized_object: str | None,
        key_out_tokens_ids: str | None,
        key_out_attention_mask: str | None,
        convert_attention_mask_to_bool: bool,
    ) -> None:
        if key_out_tokens_ids is None and key_out_tokenized_object is None:
            warnings.warn(
                f"sample {sample_id_of(sample_dict)!r}: neither key_out_tokens_ids nor key_out_tokenized_object is "
                "set, so the tokens are not written; pass one of them",
                stacklevel=4,
            )
        if key_out_tokenized_object is not None:
            sample_dict[key_out_tokenized_object] = encoded
        if key_out_tokens_ids is not None:
            sample_dict[key_out_tokens_ids] = list(encoded.ids)
        if key_out_attention_mask is not None:
            mask = list(encoded.attention_mask)
            sample_dict[key_out_attention_mask] = [bool(m) for m in mask] if convert_attention_mask_to_bool else mask


FastModularTokenizer = ModularTokenizerWithoutInjectOp  # FuseMedML's older name
