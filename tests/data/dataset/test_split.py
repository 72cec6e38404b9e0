"""balanced_division / print_folds_stat / dataset_balanced_division_to_folds: FuseMedML-identical folds for the same
seed (checked against a transcription of FuseMedML's algorithm running sklearn's shuffle), no id in two folds,
balance, exclusion, errors, and the split file (atomic save, reload, size and fold checks)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import load_pickle, save_pickle
from fuse.data import balanced_division, dataset_balanced_division_to_folds, print_folds_stat
from fuse.data.dataset._split import _shuffled_indices


def _records(n_ids: int = 60, seed: int = 0) -> pd.DataFrame:
    """1-3 records per patient, a per-record label and a per-patient sex."""
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(n_ids):
        sex = "F" if rng.random() < 0.5 else "M"
        for _ in range(int(rng.integers(1, 4))):
            rows.append({"patient": f"p{pid}", "label": int(rng.random() < 0.3), "sex": sex})
    return pd.DataFrame(rows)  # type: ignore[no-any-return]


def _fusemedml_balanced_division(
    df: pd.DataFrame, no_mixture_id: str, keys_to_balance: Sequence[str], nfolds: int, seed: int
) -> pd.DataFrame:
    """FuseMedML 0.4.1 ``balanced_division`` (no exclusion, no debug), transcribed, with sklearn's shuffle."""
    sklearn_utils = pytest.importorskip("sklearn.utils")
    df = df.copy()
    id_level_labels: list[str] = []
    record_labels: list[str] = []
    for field in keys_to_balance:
        for value in df[field].unique():
            value2 = str.replace(str(value), "+", "")
            record_key = "is" + value2
            df[record_key] = df[field] == value
            id_level_key = "sample_id_" + field + "_" + value2
            df[id_level_key] = df.groupby([no_mixture_id])[record_key].transform("sum") > 0
            id_level_labels.append(id_level_key)
            record_labels.append(record_key)
    df_samples = df[[no_mixture_id, *id_level_labels]].drop_duplicates()
    df_samples["y_class"] = [str(t) for t in df_samples[id_level_labels].values]
    fold_ids: dict[int, list[Any]] = {f: [] for f in range(nfolds)}
    for y_value in list(df_samples["y_class"].unique()):
        ids = list(df_samples[no_mixture_id][df_samples["y_class"] == y_value])
        shuffled = sklearn_utils.shuffle(np.array(range(len(ids))), random_state=seed)
        for f, part in enumerate(np.array_split(shuffled, nfolds)):
            fold_ids[f] = fold_ids[f] + [ids[i] for i in part]
    parts = {}
    for f in range(nfolds):
        fold_df = df[df[no_mixture_id].isin(fold_ids[f])].copy()
        fold_df["fold"] = f
        parts[f] = fold_df
    folds = pd.concat(parts, ignore_index=True)
    return folds.drop(columns=list(dict.fromkeys(id_level_labels + record_labels)))  # type: ignore[no-any-return]


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
@pytest.mark.parametrize("seed", [0, 1357, 2**31 - 1])
def test_shuffle_equals_sklearn_shuffle(n: int, seed: int) -> None:
    sklearn_utils = pytest.importorskip("sklearn.utils")
    expected = sklearn_utils.shuffle(np.arange(n), random_state=seed)
    np.testing.assert_array_equal(_shuffled_indices(n, seed), expected)


def test_shuffle_without_seed_follows_the_global_numpy_seed() -> None:
    np.random.seed(5)  # what fuse.core.set_seed seeds (without importing torch here)
    first = _shuffled_indices(50, None)
    np.random.seed(5)
    np.testing.assert_array_equal(_shuffled_indices(50, None), first)
    assert sorted(first.tolist()) == list(range(50))


@pytest.mark.parametrize(
    ("keys", "nfolds", "seed"),
    [(["label"], 5, 1357), (["label", "sex"], 3, 7), ([], 4, 0), (["sex"], 2, 99), (["label", "sex"], 10, 1)],
)
def test_same_folds_as_fusemedml(keys: list[str], nfolds: int, seed: int) -> None:
    df = _records(80, seed=seed)
    expected = _fusemedml_balanced_division(df, "patient", keys, nfolds, seed)
    result = balanced_division(df, "patient", keys, nfolds, seed=seed)
    pd.testing.assert_frame_equal(result, expected)


def test_values_with_plus_signs_and_missing_values_same_as_fusemedml() -> None:
    df = pd.DataFrame({"pid": [1, 1, 2, 3, 4, 5, 6], "grade": ["2+", "3+", "2+", np.nan, "3+", "2+", np.nan]})
    expected = _fusemedml_balanced_division(df, "pid", ["grade"], 2, 11)
    pd.testing.assert_frame_equal(balanced_division(df, "pid", ["grade"], 2, seed=11), expected)


def test_values_equal_once_plus_signs_are_removed_stay_distinct_labels() -> None:
    # FuseMedML names its label columns after str(value) without "+", so "2+" and "2" collided (one label lost)
    df = pd.DataFrame({"pid": [1, 2, 3, 4], "grade": ["2+", "2+", "2", "2"]})
    result = balanced_division(df, "pid", ["grade"], 2, seed=0)
    assert sorted(result.groupby("grade")["fold"].apply(sorted).tolist()) == [[0, 1], [0, 1]]


def test_no_id_in_two_folds_every_record_kept_and_input_untouched() -> None:
    df = _records(100)
    before = df.copy()
    result = balanced_division(df, "patient", ["label", "sex"], 5)
    pd.testing.assert_frame_equal(df, before)
    assert result.groupby("patient")["fold"].nunique().max() == 1
    assert len(result) == len(df)
    assert sorted(result["fold"].unique().tolist()) == [0, 1, 2, 3, 4]
    assert result["fold"].dtype == np.int64
    assert result["fold"].is_monotonic_increasing
    assert list(result.columns) == ["patient", "label", "sex", "fold"]


def test_folds_are_balanced_per_label() -> None:
    df = pd.DataFrame({"pid": range(1000), "label": [i % 4 == 0 for i in range(1000)]})
    result = balanced_division(df, "pid", ["label"], 5)
    per_fold = result.groupby("fold")["label"].agg(["mean", "size"])
    assert per_fold["size"].tolist() == [200] * 5
    assert per_fold["mean"].tolist() == [0.25] * 5


def test_reproducible_and_seed_dependent() -> None:
    df = _records(60)
    first = balanced_division(df, "patient", ["label"], 3, seed=3)
    pd.testing.assert_frame_equal(balanced_division(df, "patient", ["label"], 3, seed=3), first)
    other = balanced_division(df, "patient", ["label"], 3, seed=4)
    assert not first["patient"].equals(other["patient"])


def test_excluded_ids_are_left_out_the_rest_is_split_as_without_them() -> None:
    df = _records(40)
    excluded: list[Hashable] = ["p0", "p5", "not-an-id"]
    result = balanced_division(df, "patient", ["label"], 4, excluded_samples=excluded)
    assert not result["patient"].isin(excluded).any()
    assert len(result) == int((~df["patient"].isin(excluded)).sum())
    assert result.groupby("patient")["fold"].nunique().max() == 1
    same = balanced_division(df, "patient", ["label"], 4, excluded_samples=["not-an-id"])
    pd.testing.assert_frame_equal(same, balanced_division(df, "patient", ["label"], 4))


def test_debug_mode_keeps_the_helper_columns() -> None:
    df = pd.DataFrame({"pid": [1, 1, 2], "y": ["a", "b", "a"]})
    result = balanced_division(df, "pid", ["y"], 2, debug_mode=True)
    assert list(result.columns) == ["pid", "y", "isa", "sample_id_y_a", "isb", "sample_id_y_b", "fold"]
    row = result[result["pid"] == 1].iloc[0]
    assert bool(row["sample_id_y_a"])
    assert bool(row["sample_id_y_b"])


def test_more_folds_than_ids_leaves_folds_empty() -> None:
    df = pd.DataFrame({"pid": [1, 2], "y": [0, 0]})
    result = balanced_division(df, "pid", ["y"], 5)
    assert sorted(result["fold"].tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"no_mixture_id": "nope"}, ValueError, r"no_mixture_id column \['nope'\] not found.*'pid'"),
        ({"keys_to_balance": ["y", "z"]}, ValueError, r"keys_to_balance columns \['z'\] not found"),
        ({"nfolds": 0}, ValueError, "nfolds must be an integer >= 1, got 0"),
        ({"nfolds": 2.5}, ValueError, "nfolds must be an integer >= 1, got 2.5"),
        ({"df": {"pid": [1]}}, TypeError, "df must be a pandas DataFrame, got dict"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    arguments: dict[str, Any] = {
        "df": pd.DataFrame({"pid": [1, 2], "y": [0, 1]}),
        "no_mixture_id": "pid",
        "keys_to_balance": ["y"],
        "nfolds": 2,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        balanced_division(**arguments)


def test_missing_ids_are_an_error() -> None:
    df = pd.DataFrame({"pid": [1.0, np.nan], "y": [0, 1]})
    with pytest.raises(ValueError, match=r"'pid' has missing values \(rows \[1\]\)"):
        balanced_division(df, "pid", ["y"], 2)


def test_print_folds_stat_prints_and_returns_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    df = balanced_division(_records(50), "patient", ["label"], 3)
    capsys.readouterr()
    stats = print_folds_stat(df, 3, ["label", "sex"])
    printed = capsys.readouterr().out
    assert "fraction" in printed
    assert "sex" in printed
    assert list(stats.columns) == ["fold", "key", "value", "count", "fraction"]
    assert len(stats) == 3 * (2 + 2)
    for (fold, key), group in stats.groupby(["fold", "key"]):
        assert group["count"].sum() == int((df["fold"] == fold).sum())
        assert group["fraction"].sum() == pytest.approx(1.0)
        expected = df[df["fold"] == fold][key].value_counts()
        assert dict(zip(group["value"], group["count"], strict=True)) == {v: int(c) for v, c in expected.items()}


def test_print_flag_prints_the_stats(capsys: pytest.CaptureFixture[str]) -> None:
    balanced_division(_records(10), "patient", ["label"], 2, print_flag=True)
    assert "fraction" in capsys.readouterr().out


def test_print_folds_stat_needs_the_fold_column() -> None:
    with pytest.raises(ValueError, match=r"columns \['fold'\] not found"):
        print_folds_stat(pd.DataFrame({"y": [1]}), 2, ["y"])


class FakeDataset:
    """A dataset stand-in: ``len`` and ``get_multi``; counts the get_multi calls."""

    def __init__(self, samples: Sequence[Mapping[str, Any]]) -> None:
        self.samples = list(samples)
        self.calls: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.samples)

    def get_multi(
        self, items: Sequence[int] | None = None, keys: Sequence[str] | None = None, **kwargs: Any
    ) -> list[Mapping[str, Any]]:
        self.calls.append({"keys": keys, **kwargs})
        return [{key: s[key] for key in keys} if keys is not None else s for s in self.samples]


def _dataset(n: int = 60) -> FakeDataset:
    samples = [
        {
            "data.sample_id": f"s{i}",
            "data.patient": f"p{i // 2}",
            "data.label": int(i % 5 == 0),
            "data.sex": "FM"[i % 2],
        }
        for i in range(n)
    ]
    return FakeDataset(samples)


def test_dataset_split_matches_balanced_division_and_is_saved(tmp_path: Path) -> None:
    dataset = _dataset()
    path = tmp_path / "sub" / "split.pkl"
    folds = dataset_balanced_division_to_folds(dataset, path, ["data.label"], 4, workers=3, mp_context="spawn", seed=9)
    assert dataset.calls == [
        {"keys": ["data.sample_id", "data.label"], "workers": 3, "mp_context": "spawn"},
    ]
    assert sorted(folds) == [0, 1, 2, 3]
    assert sorted(i for ids in folds.values() for i in ids) == sorted(f"s{i}" for i in range(60))
    df = pd.DataFrame(dataset.samples)
    expected = balanced_division(df, "data.sample_id", ["data.label"], 4, seed=9)
    assert folds == {f: expected.loc[expected["fold"] == f, "data.sample_id"].tolist() for f in range(4)}
    assert load_pickle(path) == folds
    assert list(os.listdir(path.parent)) == ["split.pkl"]  # no temporary left behind


def test_dataset_split_by_another_id_keeps_the_groups_together(tmp_path: Path) -> None:
    dataset = _dataset()
    folds = dataset_balanced_division_to_folds(dataset, None, ["data.label", "data.sex"], 3, id="data.patient")
    assert dataset.calls[0]["keys"] == ["data.sample_id", "data.patient", "data.label", "data.sex"]
    fold_of = {sid: f for f, ids in folds.items() for sid in ids}
    for i in range(0, 60, 2):
        assert fold_of[f"s{i}"] == fold_of[f"s{i + 1}"]
    assert os.listdir(tmp_path) == []


def test_dataset_split_without_balancing_keys(tmp_path: Path) -> None:
    folds = dataset_balanced_division_to_folds(_dataset(10), None, None, 2)
    assert [len(folds[0]), len(folds[1])] == [5, 5]
    assert dataset_balanced_division_to_folds(_dataset(10), None, [], 2) == folds


def test_split_file_is_reloaded_not_recomputed_unless_reset(tmp_path: Path) -> None:
    path = tmp_path / "split.pkl"
    first = dataset_balanced_division_to_folds(_dataset(), path, ["data.label"], 3)
    dataset = _dataset()
    assert dataset_balanced_division_to_folds(dataset, path, ["data.label"], 3, seed=123) == first
    assert dataset.calls == []  # reloaded
    reset = dataset_balanced_division_to_folds(dataset, path, ["data.label"], 3, reset_split=True, seed=123)
    assert len(dataset.calls) == 1
    assert reset != first
    assert load_pickle(path) == reset


def test_reload_size_mismatch_names_the_file_and_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "split.pkl"
    dataset_balanced_division_to_folds(_dataset(60), path, ["data.label"], 3)
    smaller = _dataset(50)
    with pytest.raises(ValueError, match=r"split\.pkl.*holds 60 sample ids.*dataset has 50 samples.*reset_split=True"):
        dataset_balanced_division_to_folds(smaller, path, ["data.label"], 3)
    unchecked = dataset_balanced_division_to_folds(smaller, path, ["data.label"], 3, verify_folds_total_size=False)
    assert sum(len(ids) for ids in unchecked.values()) == 60
    assert len(dataset_balanced_division_to_folds(smaller, path, ["data.label"], 3, reset_split=True)[0]) < 20


def test_reload_with_other_fold_count_or_content_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "split.pkl"
    dataset_balanced_division_to_folds(_dataset(), path, ["data.label"], 3)
    with pytest.raises(ValueError, match=r"holds folds \[0, 1, 2\], expected folds \[0, 1, 2, 3, 4\].*reset_split"):
        dataset_balanced_division_to_folds(_dataset(), path, ["data.label"], 5)
    save_pickle(["not", "a", "split"], path)
    with pytest.raises(ValueError, match=r"holds folds 'list'"):
        dataset_balanced_division_to_folds(_dataset(), path, ["data.label"], 3)


def test_split_file_is_a_plain_pickle_of_python_lists(tmp_path: Path) -> None:
    samples = [{"data.sample_id": i, "data.label": i % 2} for i in range(8)]
    path = tmp_path / "split.pkl"
    folds = dataset_balanced_division_to_folds(FakeDataset(samples), path, ["data.label"], 2)
    with open(path, "rb") as f:
        raw = pickle.load(f)
    assert raw == folds
    assert all(type(i) is int for ids in raw.values() for i in ids)
