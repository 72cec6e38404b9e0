"""The typed input of the modular tokenizer, and its tagged-string form
(``<@TOKENIZER-TYPE=AA@MAX-LEN=10@TRUNC-MODE=RAND>ACDE<@TOKENIZER-TYPE=SMILES>CCO``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TRUNCATE_MODES = ("RIGHT", "RAND")
_TAG = re.compile(r"<@TOKENIZER-TYPE=([^>]*)>")


@dataclass
class ModularTokenizerInput:
    """One typed piece of a modular tokenizer's input.

    ``input_type`` names the sub-tokenizer, ``max_len`` truncates this piece alone (before the overall length), and
    ``truncate_mode`` says how: ``None``/``"RIGHT"`` keeps the start, ``"RAND"`` a random window (seeded by the
    tokenizer's ``seed``).

    >>> ModularTokenizerInput("AA", "ACDE", max_len=3)
    ModularTokenizerInput(input_type='AA', input_string='ACDE', max_len=3, truncate_mode=None)
    """

    input_type: str
    input_string: str
    max_len: int | None = None
    truncate_mode: str | None = None


TypedInput = ModularTokenizerInput  # FuseMedML's older name


def list_to_tokenizer_string(lst: Iterable[ModularTokenizerInput]) -> str:
    """The tagged string of typed inputs, which :meth:`ModularTokenizer.encode` reads back.

    >>> list_to_tokenizer_string([TypedInput("AA", "ACD", 2, "RAND"), TypedInput("SMILES", "CCO")])
    '<@TOKENIZER-TYPE=AA@MAX-LEN=2@TRUNC-MODE=RAND>ACD<@TOKENIZER-TYPE=SMILES>CCO'
    """
    out = []
    for piece in lst:
        tag = f"<@TOKENIZER-TYPE={piece.input_type}"
        if piece.max_len is not None:
            tag += f"@MAX-LEN={piece.max_len}"
            if piece.truncate_mode is not None:
                tag += f"@TRUNC-MODE={piece.truncate_mode}"
        out.append(tag + ">" + piece.input_string)
    return "".join(out)


def parse_tokenizer_string(sequence: str) -> list[ModularTokenizerInput]:
    """The typed inputs of a tagged string (the inverse of :func:`list_to_tokenizer_string`).

    >>> parse_tokenizer_string("<@TOKENIZER-TYPE=AA@MAX-LEN=2>ACD<@TOKENIZER-TYPE=SMILES>CCO")
    [ModularTokenizerInput(input_type='AA', input_string='ACD', max_len=2, truncate_mode=None), \
ModularTokenizerInput(input_type='SMILES', input_string='CCO', max_len=None, truncate_mode=None)]
    """
    parts = _TAG.split(sequence)
    if parts[0] or len(parts) < 3:
        raise ValueError(
            "a modular tokenizer string must start with a <@TOKENIZER-TYPE=NAME> tag, which names the sub-tokenizer "
            f"of the text after it; got {sequence[:60]!r}"
        )
    pieces = []
    for hints, text in zip(parts[1::2], parts[2::2], strict=True):
        input_type, *options = hints.split("@")
        max_len: int | None = None
        truncate_mode: str | None = None
        for option in options:
            key, _, value = option.partition("=")
            if key == "MAX-LEN" and value.isdigit():
                max_len = int(value)
            elif key == "TRUNC-MODE" and value in TRUNCATE_MODES:
                truncate_mode = value
            else:
                raise ValueError(
                    f"unsupported option {option!r} in the tag <@TOKENIZER-TYPE={hints}>: use MAX-LEN=<int> and "
                    f"TRUNC-MODE={'|'.join(TRUNCATE_MODES)}"
                )
        pieces.append(ModularTokenizerInput(input_type, text, max_len, truncate_mode))
    return pieces
