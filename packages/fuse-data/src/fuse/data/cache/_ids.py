"""How a sample id names its sample in a cache: one text per id, the same in every process.

>>> sample_id_key("case_1"), sample_id_key(np.int64(3)), sample_id_key(("case_1", 0))
("'case_1'", '3', "('case_1', 0)")
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

__all__ = ["check_final_ids_unique", "sample_id_key"]


def _normalized_id(value: Any, sample_id: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool, bytes):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple):
        return tuple(_normalized_id(part, sample_id) for part in value)
    raise TypeError(
        f"sample id {sample_id!r} (a {type(value).__name__}) cannot key a cache: use str, int, float, bytes or "
        "tuples of them, so that every process names the sample the same way"
    )


def sample_id_key(sample_id: Hashable) -> str:
    """The text that names ``sample_id`` in a cache: the same in every process, and distinct for ``1``, ``"1"``
    and ``1.0``. Numpy scalars count as the python values they hold.

    >>> sample_id_key("case_1"), sample_id_key(np.int64(3)), sample_id_key(("case_1", 0))
    ("'case_1'", '3', "('case_1', 0)")
    """
    return repr(_normalized_id(sample_id, sample_id))


def check_final_ids_unique(mapping: Mapping[Hashable, list[Hashable] | None]) -> None:
    """Refuse two original samples whose static pipeline outputs share a final id (one would hide the other)."""
    owner: dict[str, Hashable] = {}
    for orig_id, final_ids in mapping.items():
        for final_id in final_ids or []:
            key = sample_id_key(final_id)
            if key in owner and owner[key] != orig_id:
                raise ValueError(
                    f"samples {owner[key]!r} and {orig_id!r} both produce a sample with id {final_id!r}; the static "
                    "pipeline must give every output sample its own data.sample_id"
                )
            owner[key] = orig_id
