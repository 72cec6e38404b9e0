"""Export the values of a dataset's samples to a pandas DataFrame (one row per sample, one column per key).

The dataset is duck-typed (:class:`SupportsGetMulti`): anything with ``len(dataset)`` and
``dataset.get_multi(keys=..., **kwargs)`` returning a list of dict-like samples. The frame is built column by
column in a single pass, so exporting ``n`` samples costs ``O(n)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from fuse.core import NDict, save_dataframe
from fuse.data._sample_keys import sample_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExportDataset", "SupportsGetMulti"]

_SAMPLE_ID_KEY = "data.sample_id"


class SupportsGetMulti(Protocol):
    """What :class:`ExportDataset` and the fold split need from a dataset: its size and a bulk sample read.

    ``get_multi(items=None, keys=[...], workers=..., mp_context=...)`` returns the samples (``items=None``: all of
    them, in order), each a dict-like (:class:`fuse.core.NDict` or a flat ``{keypath: value}`` dict) holding at
    least ``keys`` (``keys=None``: every key).
    """

    def __len__(self) -> int:
        """The number of samples."""
        ...

    def get_multi(self, *args: Any, **kwargs: Any) -> Sequence[Mapping[str, Any]]:
        """The samples, restricted to ``keys`` when given."""
        ...


def _flat(sample: Mapping[str, Any]) -> Mapping[str, Any]:
    """The sample as a flat ``{leaf keypath: value}`` mapping: NDicts are flat already; a plain dict is flattened."""
    return sample if isinstance(sample, NDict) else NDict(dict(sample))


class ExportDataset:
    """Export dataset samples to a DataFrame.

    >>> class Tiny:
    ...     def __len__(self):
    ...         return 2
    ...     def get_multi(self, items=None, keys=None, **kwargs):
    ...         return [{"data.sample_id": "a", "data.y": 1}, {"data.sample_id": "b", "data.y": 0}]
    >>> ExportDataset.export_to_dataframe(Tiny(), ["data.y"])
       data.y data.sample_id
    0       1              a
    1       0              b
    """

    @staticmethod
    def export_to_dataframe(
        dataset: SupportsGetMulti,
        keys: Sequence[str] | None,
        output_filename: str | os.PathLike[str] | None = None,
        sample_id_key: str = _SAMPLE_ID_KEY,
        **get_multi_kwargs: Any,
    ) -> pd.DataFrame:
        """One row per sample, one column per key (``keys`` in order, then ``sample_id_key`` if not listed).

        :param dataset: the dataset (see :class:`SupportsGetMulti`).
        :param keys: the keys to export; a key a sample lacks is an error naming the key and the sample id.
            ``None`` exports every leaf key of every sample: the union of their keys, in order of first
            appearance, with ``None``/NaN where a sample lacks a key.
        :param output_filename: when given, the frame is also saved there with :func:`fuse.core.save_dataframe`
            (format from the suffix: ``.csv``, ``.tsv``, ``.pkl``, ...; written atomically).
        :param sample_id_key: the key of the sample id, always exported.
        :param get_multi_kwargs: passed to ``dataset.get_multi`` (e.g. ``workers``, ``mp_context``).
        :return: the DataFrame (a ``RangeIndex``).

        >>> class Tiny:
        ...     def __len__(self):
        ...         return 2
        ...     def get_multi(self, items=None, keys=None, **kwargs):
        ...         return [{"data.sample_id": "a", "data.x": 1.5}, {"data.sample_id": "b", "data.z": 2}]
        >>> ExportDataset.export_to_dataframe(Tiny(), None)
          data.sample_id  data.x  data.z
        0              a     1.5     NaN
        1              b     NaN     2.0
        """
        import pandas as pd

        all_keys: list[str] | None = None
        if keys is not None:
            if isinstance(keys, str):
                raise TypeError(f"keys must be a sequence of key strings or None, got the string {keys!r}")
            all_keys = list(dict.fromkeys(keys))
            if sample_id_key not in all_keys:
                all_keys.append(sample_id_key)

        samples = dataset.get_multi(keys=all_keys, **get_multi_kwargs)

        columns: dict[str, list[Any]]
        if all_keys is not None:
            who = "ExportDataset.export_to_dataframe"
            columns = {key: [sample_value(sample, key, who) for sample in samples] for key in all_keys}
        else:
            columns = {}
            for row, sample in enumerate(samples):
                for key, value in _flat(sample).items():
                    column = columns.get(key)
                    if column is None:  # first seen on this row: earlier samples lack it
                        column = columns[key] = [None] * row
                    column.append(value)
                for column in columns.values():
                    if len(column) <= row:  # this sample lacks the key
                        column.append(None)
        df = pd.DataFrame(columns, index=pd.RangeIndex(len(samples)))

        if output_filename is not None:
            save_dataframe(df, output_filename)
        return df  # type: ignore[no-any-return]
