"""Read ops: copy the row of a table (a DataFrame or a DataFrame file) that matches the sample id into the sample.

The table is turned into plain Python lists once, at construction, so a call costs a dict lookup and one
assignment per column (no pandas object per row or per call).

Cache identity: besides the class and the other constructor arguments, an op's identity covers the *content*
it serves, fixed at construction:

- ``data=DataFrame``: the content (values, dtypes, index) of the columns the op uses;
- ``data_filename=path``: the SHA-256 of the file's bytes and its file name (the directory is left out, so
  moving a data folder keeps the cache valid; changing a single byte of the file invalidates it).

FuseMedML's ``OpReadHDF5`` is not provided (h5py is not a dependency of fuse-data).
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fuse.core import NDict, read_dataframe
from fuse.data._sample_keys import sample_value
from fuse.data.cache._identity import class_identity, value_identity
from fuse.data.ops._base import OpBase

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OpReadDataframe", "OpReadMultiFromDataframe", "SampleIdNotFoundError"]

# cell values of these types are immutable: handed to samples as they are; anything else is deep-copied per call
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes)
_KNOWN_IDS_SHOWN = 5


class SampleIdNotFoundError(KeyError):
    """A read op got a sample id that its table has no row for."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class OpReadDataframe(OpBase):
    """Copy the table row whose key equals ``sample[key_name]`` into the sample: one key per column
    (``prefix.column`` with a per-call ``prefix``); dotted column names become nested keys.

    :param data: the table, or ``None`` to read ``data_filename`` (give exactly one of the two).
    :param data_filename: a DataFrame file read with :func:`fuse.core.read_dataframe` (``.csv``, ``.tsv``,
        ``.pkl`` / ``.pickle`` possibly compressed, ``.xlsx``). Pickles run code when loaded: read only files you
        trust.
    :param columns_to_extract: the columns to copy into samples (default: all). The key column need not be listed.
    :param rename_columns: ``{column: new name}`` for the sample keys; every column named must exist.
    :param key_name: the sample key that holds the row key (default: the sample id).
    :param key_column: the column that holds the row keys (its original or its renamed name), or ``None`` for
        the DataFrame index. Keys must be unique.
    :param drop_key_column: when ``False`` the key column is copied into samples as well.

    >>> import pandas as pd
    >>> from fuse.core import create_initial_sample
    >>> table = pd.DataFrame({"sample_id": ["a", "b"], "age": [31, 47], "clinical.sex": ["F", "M"]})
    >>> op = OpReadDataframe(table)
    >>> sample = op(create_initial_sample("b"), prefix="data.meta")
    >>> sample["data.meta.age"], sample["data.meta.clinical"]["sex"]
    (47, 'M')
    >>> op.get_all_keys()
    ['a', 'b']
    """

    def __init__(
        self,
        data: pd.DataFrame | None = None,
        data_filename: str | os.PathLike[str] | None = None,
        columns_to_extract: Sequence[str] | None = None,
        rename_columns: Mapping[str, str] | None = None,
        key_name: str = "data.sample_id",
        key_column: str | None = "sample_id",
        drop_key_column: bool = True,
    ) -> None:
        super().__init__()
        if (data is None) == (data_filename is None):
            given = "both" if data is not None else "neither"
            raise ValueError(
                f"{type(self).__name__} needs exactly one of `data` (a DataFrame) and `data_filename` (a path to a "
                f"DataFrame file); {given} was given"
            )
        if isinstance(columns_to_extract, str):
            raise TypeError(f"columns_to_extract must be a list of column names, got the string {columns_to_extract!r}")
        self._key_name = key_name
        frame: pd.DataFrame | None
        if data_filename is not None:
            frame, self._content_identity = _read_file(data_filename)
        else:
            frame = data
            self._content_identity = ""  # set below, from the columns actually used
        if not _is_dataframe(frame):
            raise TypeError(f"{type(self).__name__}: `data` must be a pandas DataFrame, got {type(frame).__name__}")
        assert frame is not None
        columns, key_source = _select_columns(frame, columns_to_extract, rename_columns, key_column, drop_key_column)
        if data is not None:
            used = [source for source, _ in columns]
            if key_source is not None and key_source not in used:
                used.append(key_source)
            self._content_identity = "dataframe:" + value_identity(frame[used], where="OpReadDataframe data")
        keys = frame.index.tolist() if key_source is None else frame[key_source].tolist()
        self._positions: dict[Hashable, int] = _positions(keys, key_column)
        self._keys: list[Hashable] = keys
        self._names: list[str] = [name for _, name in columns]
        self._values: list[list[Any]] = [frame[source].tolist() for source, _ in columns]
        self._may_be_mutable: list[bool] = [frame[source].dtype == object for source, _ in columns]
        self._prefixed_names: dict[str, list[str]] = {}

    def cache_identity(self) -> str:
        """A digest of the class, of the constructor arguments and of the content served (see the module docs):
        ``data`` / ``data_filename`` enter through their content, not their value or path.
        """
        digest = hashlib.sha256(class_identity(type(self)).encode())
        arguments = self.init_arguments()
        arguments["data"] = None
        arguments["data_filename"] = None
        arguments["content"] = self._content_identity
        digest.update(value_identity(arguments, where=f"{type(self).__qualname__} argument").encode())
        return digest.hexdigest()

    def get_all_keys(self) -> list[Hashable]:
        """The row keys (sample ids), in table order."""
        return list(self._keys)

    def __call__(self, sample_dict: NDict, prefix: str | None = None) -> NDict:
        """Copy the matching row into ``sample_dict`` (under ``prefix`` when given)."""
        row_key = sample_value(sample_dict, self._key_name, self)
        self._write_row(sample_dict, self._position(row_key), self._output_names(prefix, ""))
        return sample_dict

    # ------------------------------------------------------------------ helpers
    def _position(self, row_key: Any) -> int:
        try:
            return self._positions[row_key]
        except (KeyError, TypeError):  # TypeError: an unhashable key
            raise self._not_found(row_key) from None

    def _not_found(self, row_key: Any) -> SampleIdNotFoundError:
        known = self._keys[:_KNOWN_IDS_SHOWN]
        more = f" and {len(self._keys) - len(known)} more" if len(self._keys) > len(known) else ""
        hint = ""
        same_text = [key for key in self._keys if str(key) == str(row_key)][:1]
        if same_text:
            hint = (
                f"; the table has {same_text[0]!r} ({type(same_text[0]).__name__}) but the sample holds a "
                f"{type(row_key).__name__}: make the types match"
            )
        return SampleIdNotFoundError(
            f"{type(self).__name__}: no row with key {row_key!r} (sample key {self._key_name!r}); known keys: "
            f"{known!r}{more}{hint}"
        )

    def _output_names(self, prefix: str | None, suffix: str) -> list[str]:
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"{type(self).__name__}: prefix must be a string or None, got {prefix!r}")
        cache_key = f"{prefix}\x00{suffix}" if prefix is not None else f"\x00{suffix}"
        names = self._prefixed_names.get(cache_key)
        if names is None:
            head = f"{prefix}." if prefix else ""
            names = [f"{head}{name}{suffix}" for name in self._names]
            self._prefixed_names[cache_key] = names
        return names

    def _write_row(self, sample_dict: NDict, position: int, names: list[str]) -> None:
        for name, values, may_be_mutable in zip(names, self._values, self._may_be_mutable, strict=True):
            value = values[position]
            if may_be_mutable and not isinstance(value, _IMMUTABLE):
                value = copy.deepcopy(value)  # an op changing it in place must not change the table
            sample_dict[name] = value


class OpReadMultiFromDataframe(OpReadDataframe):
    """Read several rows at once: the sample key holds row keys joined by ``multi_key_sep`` (e.g.
    ``"3@SEP@4"``), and row ``i`` goes to ``<column>.<i>``. Row keys are compared as strings.

    >>> import pandas as pd
    >>> from fuse.core import create_initial_sample
    >>> op = OpReadMultiFromDataframe(pd.DataFrame({"sample_id": [0, 1, 2], "value": [10, 11, 12]}))
    >>> sample = op(create_initial_sample("2@SEP@0"))
    >>> sample["value.0"], sample["value.1"]
    (12, 10)
    """

    def __init__(
        self,
        data: pd.DataFrame | None = None,
        data_filename: str | os.PathLike[str] | None = None,
        columns_to_extract: Sequence[str] | None = None,
        rename_columns: Mapping[str, str] | None = None,
        key_name: str = "data.sample_id",
        key_column: str | None = "sample_id",
        multi_key_sep: str = "@SEP@",
        drop_key_column: bool = True,
    ) -> None:
        super().__init__(data, data_filename, columns_to_extract, rename_columns, key_name, key_column, drop_key_column)
        if not isinstance(multi_key_sep, str) or not multi_key_sep:
            raise ValueError(f"multi_key_sep must be a non-empty string, got {multi_key_sep!r}")
        self._multi_key_sep = multi_key_sep
        self._keys = [str(key) for key in self._keys]
        self._positions = _positions(self._keys, key_column)

    def __call__(self, sample_dict: NDict, prefix: str | None = None) -> NDict:
        """Copy each listed row ``i`` into ``<prefix.>column.i``."""
        multi_key = str(sample_value(sample_dict, self._key_name, self))
        for index, row_key in enumerate(multi_key.split(self._multi_key_sep)):
            self._write_row(sample_dict, self._position(row_key), self._output_names(prefix, f".{index}"))
        return sample_dict


def _is_dataframe(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _read_file(filename: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    """The DataFrame in ``filename`` and an identity of the bytes it was read from."""
    path = os.fspath(filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"OpReadDataframe: data_filename {path!r} does not exist or is not a file")
    before = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    frame = read_dataframe(path)
    after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise RuntimeError(f"OpReadDataframe: {path!r} changed while it was being read; construct the op again")
    return frame, f"file:{os.path.basename(path)}:{digest.hexdigest()}"


def _select_columns(
    frame: pd.DataFrame,
    columns_to_extract: Sequence[str] | None,
    rename_columns: Mapping[str, str] | None,
    key_column: str | None,
    drop_key_column: bool,
) -> tuple[list[tuple[Any, str]], Any]:
    """The ``(source column, sample key name)`` pairs to copy and the source column of the row keys."""
    available = list(frame.columns)
    if len(set(available)) != len(available):
        repeated = sorted({str(c) for c in available if available.count(c) > 1})
        raise ValueError(f"OpReadDataframe: the table has repeated column names {repeated}; make them unique")
    rename = dict(rename_columns or {})
    unknown = [column for column in rename if column not in available]
    if unknown:
        raise ValueError(f"OpReadDataframe: rename_columns names columns {unknown} that the table lacks; columns: "
                         f"{available}")  # fmt: skip
    key_source: Any = None
    if key_column is not None:
        if key_column in available:
            key_source = key_column
        else:
            renamed_to_key = [column for column, new in rename.items() if new == key_column]
            if not renamed_to_key:
                raise ValueError(
                    f"OpReadDataframe: key_column {key_column!r} is not a column of the table; columns: {available}. "
                    "Pass key_column=None to use the DataFrame index"
                )
            key_source = renamed_to_key[0]
    if columns_to_extract is None:
        selected = available
    else:
        missing = [column for column in columns_to_extract if column not in available]
        if missing:
            raise ValueError(f"OpReadDataframe: columns_to_extract names columns {missing} that the table lacks; "
                             f"columns: {available}")  # fmt: skip
        selected = list(dict.fromkeys(columns_to_extract))
        if key_source is not None and not drop_key_column and key_source not in selected:
            selected.append(key_source)
    if key_source is not None and drop_key_column:
        selected = [column for column in selected if column != key_source]
    pairs = [(column, str(rename.get(column, column))) for column in selected]
    names = [name for _, name in pairs]
    clashing = sorted({name for name in names if names.count(name) > 1})
    if clashing:
        raise ValueError(f"OpReadDataframe: after renaming, several columns map to the sample keys {clashing}")
    return pairs, key_source


def _positions(keys: Sequence[Hashable], key_column: str | None) -> dict[Hashable, int]:
    positions: dict[Hashable, int] = {}
    repeated: list[Hashable] = []
    for position, key in enumerate(keys):
        try:
            if key in positions:
                repeated.append(key)
            positions[key] = position
        except TypeError:
            raise ValueError(f"OpReadDataframe: row key {key!r} at position {position} is not hashable") from None
    if repeated:
        where = "the DataFrame index" if key_column is None else f"key column {key_column!r}"
        raise ValueError(
            f"OpReadDataframe: {where} holds repeated keys {repeated[:_KNOWN_IDS_SHOWN]!r}"
            f"{' ...' if len(repeated) > _KNOWN_IDS_SHOWN else ''}; each sample id must name a single row"
        )
    return positions
