"""Reading sample keys inside ops, with errors that name the op, the key and the sample id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fuse.core import SAMPLE_ID_KEY

__all__ = ["MissingSampleKeyError", "sample_id_of", "sample_value"]


class MissingSampleKeyError(KeyError):
    """An op needs a key that the sample does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def sample_value(sample_dict: Mapping[str, Any], key: str, who: object) -> Any:
    """``sample_dict[key]``, or a :class:`MissingSampleKeyError` naming ``who`` (an op), the key and the sample id.

    >>> from fuse.core import create_initial_sample
    >>> sample_value(create_initial_sample("case_3"), "data.image", "OpNormalize")
    Traceback (most recent call last):
    ...
    fuse.data.MissingSampleKeyError: OpNormalize: sample 'case_3' has no key 'data.image' ...
    """
    try:
        return sample_dict[key]
    except KeyError as error:
        name = who if isinstance(who, str) else type(who).__name__
        raise MissingSampleKeyError(
            f"{name}: sample {sample_id_of(sample_dict)!r} has no key {key!r} ({error})"
        ) from None


def sample_id_of(sample: Any) -> Any:
    """The sample's id (``data.sample_id``) for a message, or ``None`` when it has none (or is not a sample).

    >>> from fuse.core import create_initial_sample
    >>> sample_id_of(create_initial_sample("case_3")), sample_id_of({}), sample_id_of(None)
    ('case_3', None, None)
    """
    try:
        return sample[SAMPLE_ID_KEY]
    except (KeyError, TypeError, IndexError):
        return None
