"""Placing scalars and external embeddings into a modular-tokenizer sequence.

A query can carry, next to ordinary text for the sub-tokenizers, parts that are not text at all:

- ``<@TOKENIZER-TYPE=SCALARS_LITERALS>0.3,-1.5``: comma-separated numbers written in the query;
- ``<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.weights``: a 1-D array (tensor, numpy array or list of numbers) read
  from the sample under that key;
- ``<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>ESM:data.protein[:LENGTH]``: an input (for example a sequence)
  that a model named ``ESM`` turns into ``LENGTH`` (default 1) embedding vectors in the forward pass.

Each such part becomes placeholder tokens (``<SCALAR>`` once per number, ``<EMBEDDINGS>`` ``LENGTH`` times), encoded
by the default sub-tokenizer, so that padding and truncation work as for text. After encoding,
:meth:`InjectorToModularTokenizerLib.build_scalars_and_embeddings` says where each value goes: a value and a mask
per token, and the position of each embedding. The model then writes them into its input embeddings.

>>> text, parts = InjectorToModularTokenizerLib.build_placeholder_meta_tokenization(
...     sequence="<@TOKENIZER-TYPE=AA><MW><@TOKENIZER-TYPE=SCALARS_LITERALS>0.3,1.5<@TOKENIZER-TYPE=AA>ACD<EOS>",
... )
>>> text
'<@TOKENIZER-TYPE=AA><MW><@TOKENIZER-TYPE=AA><SCALAR><SCALAR><@TOKENIZER-TYPE=AA>ACD<EOS>'
>>> parts
['AA', '<MW>', 'SCALARS_LITERALS', '0.3,1.5', 'AA', 'ACD<EOS>']
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from fuse.data._sample_keys import sample_id_of, sample_value
from fuse.data.tokenizers._inputs import list_to_tokenizer_string

__all__ = ["EmbeddingInfo", "InjectorToModularTokenizerLib"]

SCALAR_TOKEN = "<SCALAR>"
EMBEDDINGS_TOKEN = "<EMBEDDINGS>"
SCALARS_LITERALS = "SCALARS_LITERALS"
SCALARS_FROM_DICT = "SCALARS_FROM_DICT"
EXTERNAL_EMBEDDINGS_FROM_DICT = "EXTERNAL_EMBEDDINGS_FROM_DICT"
# the value of a token that is not a scalar (FuseMedML's value: models trained with it expect it)
SCALAR_FILL_VALUE = -1000.0
_HINT = re.compile(r"<@TOKENIZER-TYPE=([^>]*)>")
_CROP_REPORTS = ("warn", "raise", None)


class _Encoded(Protocol):
    """What is read from an encoded part (a ``tokenizers.Encoding``): its token ids."""

    @property
    def ids(self) -> list[int]: ...


class EmbeddingInfo(NamedTuple):
    """Where an external embedding goes: ``length`` tokens from ``location`` (0-based, in the encoded sequence),
    made by the model from ``embedding_input`` (the sample value the query named)."""

    location: int
    embedding_input: Any
    length: int


class _EmbeddingSpec(NamedTuple):
    model_name: str
    key: str
    length: int


class InjectorToModularTokenizerLib:
    """The two steps of injection, used by :class:`~fuse.data.ModularTokenizerOp` (use the op, not these):
    :meth:`build_placeholder_meta_tokenization` before encoding, :meth:`build_scalars_and_embeddings` after.
    """

    @staticmethod
    def build_placeholder_meta_tokenization(
        *,
        sequence: str | Sequence[Any],
        sample_dict: Mapping[str, Any] | None = None,
        default_sub_tokenizer_name: str = "AA",
    ) -> tuple[str, list[str]]:
        """Replace every scalar and embedding part of ``sequence`` with placeholder tokens of
        ``default_sub_tokenizer_name``.

        ``sequence`` is a string with ``<@TOKENIZER-TYPE=...>`` hints or a list of ``ModularTokenizerInput``.
        Returns the query with placeholders, and the original parts as ``[type, text, type, text, ...]``.
        ``SCALARS_FROM_DICT`` reads ``sample_dict`` to learn how many numbers there are.
        """
        sequence = _as_hinted_string(sequence)
        parts = _split_hints(sequence, sample_dict)
        with_placeholders: list[str] = []
        for part_type, text in zip(parts[::2], parts[1::2], strict=True):
            if part_type.startswith("SCALARS_"):
                count = len(_scalar_values(part_type, text, sample_dict))
                with_placeholders += [f"<@TOKENIZER-TYPE={default_sub_tokenizer_name}>", SCALAR_TOKEN * count]
            elif part_type.startswith("EXTERNAL_EMBEDDINGS_"):
                spec = _embedding_spec(part_type, text, sample_dict)
                with_placeholders += [f"<@TOKENIZER-TYPE={default_sub_tokenizer_name}>", EMBEDDINGS_TOKEN * spec.length]
            elif part_type.startswith("VECTORS_"):
                raise ValueError(
                    f"<@TOKENIZER-TYPE={part_type}> (sample {sample_id_of(sample_dict)!r}): VECTORS_* is not a part "
                    "type of the modular tokenizer (FuseMedML reserved it); inject vectors as EXTERNAL_EMBEDDINGS_FROM_DICT"
                )
            else:
                with_placeholders += [f"<@TOKENIZER-TYPE={part_type}>", text]
        return "".join(with_placeholders), parts

    @staticmethod
    def build_scalars_and_embeddings(
        *,
        per_meta_tokenizer_data: Sequence[str],
        per_meta_encoding_including_placeholders: Sequence[_Encoded],
        token_ids: Sequence[int],
        sample_dict: Mapping[str, Any] | None = None,
        crop_report: str | None = "warn",
    ) -> dict[str, Any]:
        """The scalar value of every token and where each external embedding goes.

        Args:
            per_meta_tokenizer_data: the parts returned by :meth:`build_placeholder_meta_tokenization`.
            per_meta_encoding_including_placeholders: the encoding of each part of the query with placeholders
                (after each part's own ``MAX-LEN`` truncation), in order.
            token_ids: the final token ids (after the overall truncation and padding).
            sample_dict: the sample, for ``*_FROM_DICT`` parts.
            crop_report: when the overall truncation cut scalars or embeddings off: ``"warn"``, ``"raise"`` or
                ``None`` (say nothing).

        Returns a dict with ``scalars_values`` (float32 tensor, one value per token, ``-1000.0`` where the token is
        not a scalar), ``scalars_valid_mask`` (bool tensor, True where it is) and ``external_embeddings_info``
        (``{model name: [EmbeddingInfo, ...]}``; an embedding that no longer fits whole is left out).
        """
        import torch

        if crop_report not in _CROP_REPORTS:
            raise ValueError(f"crop_report must be one of {_CROP_REPORTS}, got {crop_report!r}")
        part_types, texts = per_meta_tokenizer_data[::2], per_meta_tokenizer_data[1::2]
        if len(per_meta_tokenizer_data) % 2 or len(part_types) != len(per_meta_encoding_including_placeholders):
            raise ValueError(
                f"{len(per_meta_tokenizer_data)} type/text items for {len(per_meta_encoding_including_placeholders)} "
                "encoded parts: pass the parts of build_placeholder_meta_tokenization and the encoding of each"
            )
        values: list[float] = []
        valid: list[bool] = []
        embeddings: dict[str, list[EmbeddingInfo]] = {}
        for part_type, text, encoding in zip(part_types, texts, per_meta_encoding_including_placeholders, strict=True):
            n_tokens = len(encoding.ids)
            if part_type.startswith("SCALARS_"):
                scalars = _scalar_values(part_type, text, sample_dict)
                _check_placeholders(part_type, text, len(scalars), n_tokens, sample_dict)
                values += scalars
                valid += [True] * n_tokens
                continue
            if part_type.startswith("EXTERNAL_EMBEDDINGS_"):
                spec = _embedding_spec(part_type, text, sample_dict)
                _check_placeholders(part_type, text, spec.length, n_tokens, sample_dict)
                if sample_dict is None:
                    raise ValueError(
                        f"<@TOKENIZER-TYPE={part_type}>{text[:80]}: {part_type} reads the sample, but no sample_dict "
                        "was given"
                    )
                source = sample_value(sample_dict, spec.key, f"<@TOKENIZER-TYPE={part_type}>")
                info = EmbeddingInfo(location=len(values), embedding_input=source, length=spec.length)
                embeddings.setdefault(spec.model_name, []).append(info)
            values += [SCALAR_FILL_VALUE] * n_tokens
            valid += [False] * n_tokens

        final_length = len(token_ids)
        if final_length < len(values):
            cut_scalars = sum(valid[final_length:])
            cut_embeddings = [
                f"{name} at {info.location}" for name, infos in embeddings.items() for info in infos
                if info.location + info.length > final_length
            ]  # fmt: skip
            if (cut_scalars or cut_embeddings) and crop_report is not None:
                message = (
                    f"sample {sample_id_of(sample_dict)!r}: the query has {len(values)} tokens, truncated to "
                    f"{final_length}: {cut_scalars} scalar(s) and the embedding(s) {cut_embeddings} were cut off "
                    "(embeddings cut even partly are left out of external_embeddings_info); raise max_seq_len or "
                    "shorten the query"
                )
                if crop_report == "raise":
                    raise ValueError(message)
                warnings.warn(message, stacklevel=3)
            embeddings = {
                name: kept
                for name, infos in embeddings.items()
                if (kept := [info for info in infos if info.location + info.length <= final_length])
            }
        pad = max(final_length - len(values), 0)
        return {
            "scalars_values": torch.tensor(values[:final_length] + [SCALAR_FILL_VALUE] * pad, dtype=torch.float32),
            "scalars_valid_mask": torch.tensor(valid[:final_length] + [False] * pad, dtype=torch.bool),
            "external_embeddings_info": embeddings,
        }


def _as_hinted_string(sequence: str | Sequence[Any]) -> str:
    """A string with ``<@TOKENIZER-TYPE=...>`` hints, from a string or a list of ``ModularTokenizerInput``."""
    if isinstance(sequence, str):
        return sequence
    if (
        isinstance(sequence, (list, tuple))
        and sequence
        and all(hasattr(item, "input_type") and hasattr(item, "input_string") for item in sequence)
    ):
        return list_to_tokenizer_string(sequence)
    raise TypeError(
        f"expected a string with <@TOKENIZER-TYPE=...> hints or a list of ModularTokenizerInput, got "
        f"{type(sequence).__name__}"
    )


def _split_hints(sequence: str, sample_dict: Mapping[str, Any] | None) -> list[str]:
    """``[type, text, type, text, ...]`` of a hinted string; it must start with a hint."""
    pieces = _HINT.split(sequence)
    if len(pieces) < 3 or pieces[0] != "":
        raise ValueError(
            f"sample {sample_id_of(sample_dict)!r}: the query must start with a <@TOKENIZER-TYPE=...> hint, got "
            f"{sequence[:80]!r}"
        )
    return pieces[1:]


def _scalar_values(part_type: str, text: str, sample_dict: Mapping[str, Any] | None) -> list[float]:
    """The numbers of a ``SCALARS_*`` part: finite, one per placeholder."""
    where = f"sample {sample_id_of(sample_dict)!r}, <@TOKENIZER-TYPE={part_type}>{text[:80]}"
    if part_type == SCALARS_LITERALS:
        try:
            numbers = [float(value) for value in text.split(",")]
        except ValueError:
            raise ValueError(f"{where}: expected comma-separated numbers such as 0.3,-1.5") from None
    elif part_type == SCALARS_FROM_DICT:
        if sample_dict is None:
            raise ValueError(f"{where}: SCALARS_FROM_DICT reads the sample, but no sample_dict was given")
        numbers = _as_1d_floats(sample_value(sample_dict, text, f"<@TOKENIZER-TYPE={part_type}>"), where)
    else:
        raise ValueError(f"{where}: the scalar parts are {SCALARS_LITERALS} and {SCALARS_FROM_DICT}")
    if not numbers:
        raise ValueError(f"{where}: no scalars; remove the empty part")
    if not all(math.isfinite(number) for number in numbers):
        raise ValueError(f"{where}: non-finite scalar(s) {numbers}: leave the missing value out of the query")
    return numbers


def _as_1d_floats(value: Any, where: str) -> list[float]:
    """A 1-D tensor, array or sequence of numbers, as floats."""
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(f"{where}: expected a 1-D array of scalars, got shape {tuple(shape)}")
    items = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(item, (int, float)) and not isinstance(item, bool) for item in items
    ):
        raise ValueError(f"{where}: expected a 1-D array of numbers, got {type(value).__name__}")
    return [float(item) for item in items]


def _embedding_spec(part_type: str, text: str, sample_dict: Mapping[str, Any] | None) -> _EmbeddingSpec:
    """``MODEL:KEY[:LENGTH]`` of an ``EXTERNAL_EMBEDDINGS_FROM_DICT`` part."""
    where = f"sample {sample_id_of(sample_dict)!r}, <@TOKENIZER-TYPE={part_type}>{text[:80]}"
    if part_type != EXTERNAL_EMBEDDINGS_FROM_DICT:
        raise ValueError(f"{where}: the only external-embeddings part is {EXTERNAL_EMBEDDINGS_FROM_DICT}")
    fields = text.split(":")
    length = fields[2] if len(fields) == 3 else "1"
    if len(fields) not in (2, 3) or not all(fields[:2]) or not length.isdigit() or int(length) < 1:
        raise ValueError(f"{where}: expected MODEL:KEY or MODEL:KEY:LENGTH (LENGTH >= 1), e.g. ESM:data.protein:4")
    return _EmbeddingSpec(fields[0], fields[1], int(length))


def _check_placeholders(
    part_type: str, text: str, expected: int, found: int, sample_dict: Mapping[str, Any] | None
) -> None:
    """A part must have encoded to exactly one placeholder token per value (no truncation, no added tokens)."""
    if expected != found:
        raise ValueError(
            f"sample {sample_id_of(sample_dict)!r}, <@TOKENIZER-TYPE={part_type}>{text[:80]}: {expected} "
            f"placeholder token(s) expected, the encoding has {found}; the default sub-tokenizer must encode "
            f"{SCALAR_TOKEN} and {EMBEDDINGS_TOKEN} as one special token each, without adding tokens"
        )
