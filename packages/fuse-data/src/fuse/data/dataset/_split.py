"""Balanced k-fold splits in which a group id (a patient, say) never spans two folds.

:func:`balanced_division` reproduces FuseMedML's algorithm and, for the same seed, its exact folds: every id gets
an id-level label (for each balancing column and value: does any record of the id have that value?), the ids of
each label combination are shuffled (a ``numpy.random.RandomState(seed)`` permutation, exactly what
``sklearn.utils.shuffle(random_state=seed)`` does; scikit-learn is not needed) and dealt into ``nfolds`` nearly
equal parts with ``numpy.array_split``.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fuse.core import load_pickle, save_pickle
from fuse.data.dataset._export import ExportDataset, SupportsGetMulti

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["balanced_division", "dataset_balanced_division_to_folds", "print_folds_stat"]

_SAMPLE_ID_KEY = "data.sample_id"


def _check_nfolds(nfolds: object) -> int:
    if isinstance(nfolds, bool) or not isinstance(nfolds, (int, np.integer)) or nfolds < 1:
        raise ValueError(f"nfolds must be an integer >= 1, got {nfolds!r}")
    return int(nfolds)


def _check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(f"{what} {missing!r} not found in the DataFrame; its columns are {list(df.columns)!r}")


def _shuffled_indices(n: int, seed: int | None) -> np.ndarray[Any, np.dtype[np.int_]]:
    """``sklearn.utils.shuffle(np.arange(n), random_state=seed)`` without scikit-learn (``None``: numpy's global RNG)."""
    indices = np.arange(n)
    random_state = np.random.RandomState(seed) if seed is not None else np.random.mtrand._rand
    random_state.shuffle(indices)
    return indices


def print_folds_stat(db: pd.DataFrame, nfolds: int, key_columns: Sequence[str]) -> pd.DataFrame:
    """Print and return how the values of ``key_columns`` are spread over the folds of ``db`` (a ``fold`` column).

    :return: one row per (fold, key, value) with the ``count`` of records and their ``fraction`` of the fold;
        every value seen in ``db`` is listed for every fold (count 0 where absent), missing values included.

    >>> import pandas as pd
    >>> db = pd.DataFrame({"fold": [0, 0, 1, 1], "y": ["a", "b", "a", "a"]})
    >>> stats = print_folds_stat(db, 2, ["y"])
     fold key value  count  fraction
        0   y     a      1       0.5
        0   y     b      1       0.5
        1   y     a      2       1.0
        1   y     b      0       0.0
    """
    import pandas as pd

    nfolds = _check_nfolds(nfolds)
    if isinstance(key_columns, str):
        key_columns = [key_columns]
    _check_columns(db, ["fold", *key_columns], "columns")
    rows: list[dict[str, Any]] = []
    for fold in range(nfolds):
        fold_db = db[db["fold"] == fold]
        for key in key_columns:
            values = db[key].value_counts(dropna=False).index
            counts = fold_db[key].value_counts(dropna=False).reindex(values, fill_value=0)
            for value, count in counts.items():
                fraction = count / len(fold_db) if len(fold_db) else 0.0
                rows.append({"fold": fold, "key": key, "value": value, "count": int(count), "fraction": fraction})
    stats = pd.DataFrame(rows, columns=["fold", "key", "value", "count", "fraction"])
    print(stats.to_string(index=False))
    return stats  # type: ignore[no-any-return]


def balanced_division(
    df: pd.DataFrame,
    no_mixture_id: str,
    keys_to_balance: Sequence[str],
    nfolds: int,
    seed: int | None = 1357,
    excluded_samples: Sequence[Hashable] = (),
    print_flag: bool = False,
    debug_mode: bool = False,
) -> pd.DataFrame:
    """Assign every record of ``df`` to one of ``nfolds`` folds: all records of an id share a fold, and each fold
    gets about the same share of every id-level label combination of ``keys_to_balance``.

    :param df: the records; it is not modified.
    :param no_mixture_id: the id column; no id is split between folds (missing ids are an error).
    :param keys_to_balance: the columns to balance (``[]``: a plain random split of the ids).
    :param nfolds: the number of folds (fold ``f`` gets one more id of a label combination than fold ``f+1`` at
        most, the first folds first).
    :param seed: the shuffle seed (FuseMedML's default); ``None`` uses numpy's global RNG (seeded by
        :func:`fuse.core.set_seed`).
    :param excluded_samples: ids to leave out: their records are not in the result.
    :param print_flag: print the fold statistics (:func:`print_folds_stat`).
    :param debug_mode: keep FuseMedML's helper columns (``is<value>`` per record, ``sample_id_<key>_<value>``
        per id).
    :return: the records, fold 0 first (original order within a fold), a ``RangeIndex`` and an int ``fold``
        column.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"patient": [1, 1, 2, 3, 4], "y": [0, 1, 0, 1, 1]})
    >>> balanced_division(df, "patient", ["y"], nfolds=2, seed=0)
       patient  y  fold
    0        1  0     0
    1        1  1     0
    2        2  0     0
    3        4  1     0
    4        3  1     1
    """
    import pandas as pd

    nfolds = _check_nfolds(nfolds)
    if isinstance(keys_to_balance, str):
        keys_to_balance = [keys_to_balance]
    keys_to_balance = list(keys_to_balance)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    _check_columns(df, [no_mixture_id], "no_mixture_id column")
    _check_columns(df, keys_to_balance, "keys_to_balance columns")
    ids = df[no_mixture_id]
    if ids.isna().any():
        rows = list(df.index[ids.isna()][:5])
        raise ValueError(f"the id column {no_mixture_id!r} has missing values (rows {rows!r}); fill or drop them")

    # id-level labels: for every (key, value), does any record of the id have that value (FuseMedML's order)
    result = df.copy()
    group_codes, unique_ids = pd.factorize(ids, sort=False)  # ids in order of first appearance
    id_labels: list[np.ndarray[Any, np.dtype[np.bool_]]] = []
    for field in keys_to_balance:
        for value in df[field].unique():
            record_has = (df[field] == value).to_numpy(dtype=bool)
            id_has = np.zeros(len(unique_ids), dtype=bool)
            np.logical_or.at(id_has, group_codes, record_has)
            id_labels.append(id_has)
            if debug_mode:
                name = str(value).replace("+", "")
                result["is" + name] = record_has
                result[f"sample_id_{field}_{name}"] = id_has[group_codes]

    # group the included ids by label combination, combinations in order of first appearance
    excluded = pd.Index(unique_ids).isin(list(excluded_samples))
    label_matrix = np.stack(id_labels, axis=1) if id_labels else np.zeros((len(unique_ids), 0), dtype=bool)
    classes: dict[tuple[bool, ...], list[int]] = {}
    for position in np.flatnonzero(~excluded):
        classes.setdefault(tuple(label_matrix[position].tolist()), []).append(int(position))

    # shuffle each combination's ids (the same seed for each, as FuseMedML) and deal them into the folds
    id_fold = np.full(len(unique_ids), -1, dtype=np.int64)
    for positions in classes.values():
        for fold, part in enumerate(np.array_split(_shuffled_indices(len(positions), seed), nfolds)):
            id_fold[[positions[i] for i in part]] = fold

    record_fold = id_fold[group_codes]
    result["fold"] = record_fold
    keep = record_fold >= 0
    order = np.argsort(record_fold[keep], kind="stable")
    result = result.iloc[np.flatnonzero(keep)[order]].reset_index(drop=True)
    result["fold"] = result["fold"].astype(np.int64)
    if print_flag:
        print_folds_stat(result, nfolds, keys_to_balance)
    return result  # type: ignore[no-any-return]


def dataset_balanced_division_to_folds(
    dataset: SupportsGetMulti,
    output_split_filename: str | os.PathLike[str] | None,
    keys_to_balance: Sequence[str] | None,
    nfolds: int,
    id: str = _SAMPLE_ID_KEY,
    reset_split: bool = False,
    workers: int = 10,
    mp_context: str | None = None,
    verify_folds_total_size: bool = True,
    **balanced_division_kwargs: Any,
) -> dict[int, list[Any]]:
    """Split a dataset's sample ids into balanced folds (:func:`balanced_division`), saved to / reloaded from a file.

    :param dataset: the dataset: ``len(dataset)`` and ``dataset.get_multi(keys=..., workers=..., mp_context=...)``
        (see :class:`fuse.data.SupportsGetMulti`).
    :param output_split_filename: the pickle holding the split (written atomically), or ``None`` not to save.
        When it exists and ``reset_split`` is false, the split is read from it instead of computed.
    :param keys_to_balance: the sample keys to balance (e.g. ``["data.gender", "data.label"]``; every combination
        of their values is balanced), or ``None`` / ``[]`` for a plain random split.
    :param nfolds: the number of folds.
    :param id: the sample key whose value no two folds share (default: the sample id).
    :param reset_split: recompute the split and overwrite the file.
    :param workers: passed to ``dataset.get_multi``.
    :param mp_context: passed to ``dataset.get_multi`` (``"fork"``, ``"spawn"``, ...).
    :param verify_folds_total_size: on reload, check that the folds hold ``len(dataset)`` sample ids in all.
    :param balanced_division_kwargs: ``seed``, ``excluded_samples``, ``print_flag``, ``debug_mode``.
    :return: ``{fold: [sample ids]}`` for folds ``0 .. nfolds-1``.

    >>> class Tiny:
    ...     def __len__(self):
    ...         return 4
    ...     def get_multi(self, items=None, keys=None, **kwargs):
    ...         return [{"data.sample_id": i, "data.y": i % 2} for i in range(4)]
    >>> dataset_balanced_division_to_folds(Tiny(), None, ["data.y"], nfolds=2)
    {0: [0, 1], 1: [2, 3]}
    """
    nfolds = _check_nfolds(nfolds)
    path = os.fspath(output_split_filename) if output_split_filename is not None else None
    if path is not None and os.path.exists(path) and not reset_split:
        folds = load_pickle(path)
        if not isinstance(folds, dict) or sorted(folds) != list(range(nfolds)):
            found = sorted(folds) if isinstance(folds, dict) else type(folds).__name__
            raise ValueError(
                f"split file {path!r} holds folds {found!r}, expected folds {list(range(nfolds))!r}; "
                "pass reset_split=True to recompute it"
            )
        if verify_folds_total_size:
            dataset_size = len(dataset)
            in_folds = sum(len(folds[fold]) for fold in folds)
            if in_folds != dataset_size:
                raise ValueError(
                    f"split file {path!r} holds {in_folds} sample ids in all, but the dataset has {dataset_size} "
                    "samples; pass reset_split=True to recompute the split (or verify_folds_total_size=False)"
                )
        return folds

    balance = (
        []
        if keys_to_balance is None
        else [keys_to_balance]
        if isinstance(keys_to_balance, str)
        else list(keys_to_balance)
    )
    keys = list(dict.fromkeys([_SAMPLE_ID_KEY, id, *balance]))
    df = ExportDataset.export_to_dataframe(dataset, keys, workers=workers, mp_context=mp_context)
    df_folds = balanced_division(df, id, balance, nfolds, **balanced_division_kwargs)
    split: dict[int, list[Any]] = {
        fold: df_folds.loc[df_folds["fold"] == fold, _SAMPLE_ID_KEY].tolist() for fold in range(nfolds)
    }
    if path is not None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        save_pickle(split, path)
    return split
