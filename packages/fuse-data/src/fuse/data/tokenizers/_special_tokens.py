"""How special tokens are written: ``<NAME>``, FuseMedML's convention for the shared special tokens."""

from __future__ import annotations

special_token_marker = ["<", ">"]
"""The opening and closing marks of a special token (FuseMedML's ``special_token_marker``)."""


def special_wrap_input(x: str) -> str:
    """Wrap a name in the special-token marks.

    >>> special_wrap_input("PAD")
    '<PAD>'
    """
    return special_token_marker[0] + x + special_token_marker[1]


def strip_special_wrap(x: str) -> str:
    """Remove every special-token mark from ``x`` (all of them, as FuseMedML does, not only the outer pair).

    >>> strip_special_wrap("<PAD>")
    'PAD'
    """
    for mark in special_token_marker:
        x = x.replace(mark, "")
    return x
