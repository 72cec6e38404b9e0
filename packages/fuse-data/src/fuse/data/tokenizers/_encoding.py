"""Encoding typed pieces with a modular tokenizer: each by its sub-tokenizer, truncated, merged, padded, with the
unknown tokens reported."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from typing import Any, Literal, overload

from tokenizers import Encoding

from fuse.data.tokenizers._inputs import TRUNCATE_MODES, ModularTokenizerInput, parse_tokenizer_string
from fuse.data.tokenizers._lookup import _Lookup
from fuse.data.tokenizers._special_tokens import special_wrap_input

ON_UNKNOWN = ("raise", "warn")


class _Encoder(_Lookup):
    """The encoding methods of ``ModularTokenizer`` (its base; the state is built by its constructor)."""

    max_len: int | None
    _pad_token_id: int | None
    _pad_token_type_id: int
    _pad_token: str | None
    _rng: random.Random

    def _encode_single_type(
        self, data_str: str, input_type: str, sequence_id: int | None = None, verbose: int = 1
    ) -> Encoding:
        """Encode one piece with the sub-tokenizer ``input_type`` (truncated to its ``max_len``, with a warning)."""
        if not isinstance(data_str, str):
            raise TypeError(f"the input of type {input_type!r} must be a str, got {type(data_str).__name__}")
        encoded = self._sub_tokenizer(input_type).encode(data_str)
        if encoded.overflowing and verbose > 0:
            warnings.warn(
                f"truncated a {input_type} input to the sub-tokenizer's max_len="
                f"{self.tokenizers_info[input_type].get('max_len')} ({len(encoded.overflowing[0].ids)} tokens cut)",
                stacklevel=3,
            )
        if sequence_id is None:
            sequence_id = int(self.tokenizers_info[input_type].get("tokenizer_id") or 0)
        # FuseMedML sets every id up to sequence_id: Encoding keeps each as a range, and merge() relies on them
        for index in range(1, sequence_id + 1):
            encoded.set_sequence_id(index)
        return encoded

    def get_expected_max_len(self, override_max_len: int | None = None) -> int | None:
        """The overall length of an encoding: ``override_max_len`` when given, else the one set by
        :meth:`enable_padding` / :meth:`enable_truncation` (``None``: no overall limit)."""
        return override_max_len if override_max_len is not None else self.max_len

    def count_unknowns(self, encoding: Sequence[int] | Encoding, unk_token: str | None = None) -> int:
        """How many ids of ``encoding`` (ids, or an ``Encoding``'s kept ids) are the unknown token (``<UNK>``)."""
        if isinstance(encoding, Encoding):
            ids = list(encoding.ids)
        elif isinstance(encoding, Sequence) and not isinstance(encoding, str):
            ids = list(encoding)
        else:
            raise TypeError(f"count_unknowns expects a list of ids or an Encoding, got {type(encoding).__name__}")
        unk_id = self.token_to_id(unk_token if unk_token is not None else special_wrap_input("UNK"))
        return 0 if unk_id is None else ids.count(unk_id)

    @overload
    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        return_overflow_info: Literal[False] | None = ...,
        on_unknown: str | None = ...,
        verbose: int = ...,
        also_return_split: Literal[False] = ...,
    ) -> Encoding: ...

    @overload
    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[True],
        on_unknown: str | None = ...,
        verbose: int = ...,
        also_return_split: Literal[False] = ...,
    ) -> tuple[Encoding, str]: ...

    @overload
    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[False] | None = ...,
        on_unknown: str | None = ...,
        verbose: int = ...,
        also_return_split: Literal[True],
    ) -> tuple[Encoding, list[Encoding]]: ...

    @overload
    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[True],
        on_unknown: str | None = ...,
        verbose: int = ...,
        also_return_split: Literal[True],
    ) -> tuple[Encoding, str, list[Encoding]]: ...

    @overload
    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        return_overflow_info: bool | None = ...,
        on_unknown: str | None = ...,
        verbose: int = ...,
        also_return_split: bool = ...,
    ) -> Encoding | tuple[Any, ...]: ...

    def encode_list(
        self,
        typed_input_list: Sequence[ModularTokenizerInput],
        max_len: int | None = None,
        padding_token_id: int | None = None,
        padding_token: str | None = "<PAD>",
        pad_type_id: int | None = None,
        return_overflow_info: bool | None = False,
        on_unknown: str | None = "raise",
        verbose: int = 1,
        also_return_split: bool = False,
    ) -> Encoding | tuple[Any, ...]:
        """Encode typed pieces and merge them into one ``Encoding``.

        Each piece is encoded by its sub-tokenizer and truncated to its own ``max_len`` (``"RIGHT"``: keep the
        start; ``"RAND"``: a random window); the merged encoding is truncated to ``max_len`` (or the length set by
        :meth:`enable_padding`/:meth:`enable_truncation`) and padded to it with ``padding_token`` (or
        ``padding_token_id``; both ``None``: the :meth:`enable_padding` token). Unknown tokens raise (``on_unknown=
        "raise"``) or warn (``"warn"``; ``verbose`` 0 silences, 2 and 3 show more of the input).

        Returns the encoding, or a tuple that adds the overflow text (``"AA:12=>10|OVERALL:30=>20|"``) when
        ``return_overflow_info``, then the per-piece encodings when ``also_return_split``.
        """
        if on_unknown not in ON_UNKNOWN:
            raise ValueError(f"on_unknown={on_unknown!r}: use one of {ON_UNKNOWN}")
        pieces: list[Encoding] = []
        overflow_info = ""
        for sequence_id, piece in enumerate(typed_input_list, start=1):
            encoded = self._encode_single_type(piece.input_string, piece.input_type, sequence_id, verbose)
            if piece.max_len is not None and len(encoded) > piece.max_len:
                overflow_info += f"{piece.input_type}:{len(encoded)}=>{piece.max_len}|"
                self._truncate_piece(encoded, piece)
            pieces.append(encoded)
        if not pieces:
            raise ValueError("encode_list got no input: give at least one ModularTokenizerInput")
        merged = Encoding.merge(pieces)

        max_len = self.get_expected_max_len(override_max_len=max_len)
        if max_len is not None:
            if len(merged) > max_len:
                overflow_info += f"OVERALL:{len(merged)}=>{max_len}|"
            merged.truncate(max_length=max_len)
            self._pad(merged, max_len, padding_token_id, padding_token, pad_type_id)

        unk_count = self.count_unknowns(merged)
        if unk_count > 0:
            self._report_unknowns(unk_count, merged, typed_input_list, on_unknown, verbose)
        if not return_overflow_info and not also_return_split:
            return merged
        answer: list[Any] = [merged]
        if return_overflow_info:
            answer.append(overflow_info)
        if also_return_split:
            answer.append(pieces)
        return tuple(answer)

    def _truncate_piece(self, encoded: Encoding, piece: ModularTokenizerInput) -> None:
        assert piece.max_len is not None
        if piece.truncate_mode in (None, "RIGHT"):
            encoded.truncate(max_length=piece.max_len)
        elif piece.truncate_mode == "RAND":
            # FuseMedML's draw: the window's end offset from the right, so a seed gives FuseMedML's window
            keep_from_right = self._rng.randint(piece.max_len, len(encoded))
            encoded.truncate(max_length=keep_from_right, direction="left")
            encoded.truncate(max_length=piece.max_len, direction="right")
        else:
            raise ValueError(
                f"unsupported truncate_mode {piece.truncate_mode!r} for the {piece.input_type} input: use one of "
                f"{TRUNCATE_MODES} or None"
            )

    def _pad(
        self,
        merged: Encoding,
        max_len: int,
        padding_token_id: int | None,
        padding_token: str | None,
        pad_type_id: int | None,
    ) -> None:
        if padding_token_id is None and padding_token is None:
            padding_token_id, padding_token = self._pad_token_id, self._pad_token
        if padding_token is not None:
            # the token wins over the id, as in FuseMedML (whose encode() passes padding_token_id=0 by default)
            padding_token_id = self.token_to_id(padding_token)
        elif padding_token_id is not None:
            padding_token = self.id_to_token(padding_token_id)
        if padding_token_id is None or padding_token is None:
            warnings.warn(
                f"no padding to max_len={max_len}: the padding token {padding_token!r} (id {padding_token_id}) is not "
                "in the vocabulary (fine if max_len is meant for truncation only; else add it as a special token)",
                stacklevel=4,
            )
            return
        merged.pad(
            length=max_len,
            direction="right",
            pad_id=padding_token_id,
            pad_token=padding_token,
            pad_type_id=self._pad_token_type_id if pad_type_id is None else pad_type_id,
        )

    @staticmethod
    def _report_unknowns(
        unk_count: int, merged: Encoding, inputs: Sequence[ModularTokenizerInput], on_unknown: str | None, verbose: int
    ) -> None:
        starts = [piece.input_string[:40] for piece in inputs]
        if on_unknown == "raise":
            raise RuntimeError(
                f"{unk_count} unknown tokens out of {len(merged.ids)} in the input starting with {starts} (types "
                f"{[piece.input_type for piece in inputs]}): fix the input or its type, or pass on_unknown='warn'"
            )
        if verbose <= 0:
            return
        if verbose == 1:
            message = "Encountered unknown tokens in input"
        elif verbose == 2:
            message = f"Encountered {unk_count} unknown tokens in input starting with {inputs[0].input_string[:20]}"
        else:
            message = (
                f"Encountered {unk_count} unknown tokens out of {len(merged.ids)} in input starting with "
                f"{inputs[0].input_string}"
            )
        warnings.warn(message, stacklevel=4)

    @overload
    def encode(
        self,
        sequence: str,
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        return_overflow_info: Literal[False] | None = ...,
        on_unknown: str | None = ...,
        verbose: int | None = ...,
        also_return_split: Literal[False] = ...,
    ) -> Encoding: ...

    @overload
    def encode(
        self,
        sequence: str,
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[True],
        on_unknown: str | None = ...,
        verbose: int | None = ...,
        also_return_split: Literal[False] = ...,
    ) -> tuple[Encoding, str]: ...

    @overload
    def encode(
        self,
        sequence: str,
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[False] | None = ...,
        on_unknown: str | None = ...,
        verbose: int | None = ...,
        also_return_split: Literal[True],
    ) -> tuple[Encoding, list[Encoding]]: ...

    @overload
    def encode(
        self,
        sequence: str,
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        *,
        return_overflow_info: Literal[True],
        on_unknown: str | None = ...,
        verbose: int | None = ...,
        also_return_split: Literal[True],
    ) -> tuple[Encoding, str, list[Encoding]]: ...

    @overload
    def encode(
        self,
        sequence: str,
        max_len: int | None = ...,
        padding_token_id: int | None = ...,
        padding_token: str | None = ...,
        pad_type_id: int | None = ...,
        return_overflow_info: bool | None = ...,
        on_unknown: str | None = ...,
        verbose: int | None = ...,
        also_return_split: bool = ...,
    ) -> Encoding | tuple[Any, ...]: ...

    def encode(
        self,
        sequence: str,
        max_len: int | None = None,
        padding_token_id: int | None = 0,
        padding_token: str | None = "<PAD>",
        pad_type_id: int | None = 0,
        return_overflow_info: bool | None = False,
        on_unknown: str | None = "warn",
        verbose: int | None = 1,
        also_return_split: bool = False,
    ) -> Encoding | tuple[Any, ...]:
        """Encode a tagged string (``<@TOKENIZER-TYPE=AA@MAX-LEN=10@TRUNC-MODE=RAND>ACDE<@TOKENIZER-TYPE=SMILES>CCO``)
        with :meth:`encode_list`; text before the first tag is an error. Defaults as FuseMedML's ``encode``:
        ``on_unknown="warn"`` and ``padding_token="<PAD>"`` (which wins over ``padding_token_id``)."""
        return self.encode_list(
            parse_tokenizer_string(sequence),
            max_len=max_len,
            padding_token_id=padding_token_id,
            padding_token=padding_token,
            pad_type_id=pad_type_id,
            return_overflow_info=return_overflow_info,
            on_unknown=on_unknown,
            verbose=1 if verbose is None else verbose,
            also_return_split=also_return_split,
        )

    def convert_tokens_to_ids(self, *args: Any, **kwargs: Any) -> list[int] | int:
        """The ids of :meth:`encode` (one int for a single id), as FuseMedML's."""
        encoded = self.encode(*args, **kwargs)
        ids = (encoded[0] if isinstance(encoded, tuple) else encoded).ids
        return ids[0] if len(ids) == 1 else list(ids)
