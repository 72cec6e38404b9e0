"""ExportDataset.export_to_dataframe: chosen keys, the sample id column, keys=None as the union of all sample keys,
nested and NDict samples, missing-key errors, get_multi kwargs, saving to a file and a large export."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict, create_initial_sample, read_dataframe
from fuse.data import ExportDataset, MissingSampleKeyError


class FakeDataset:
    """A dataset stand-in: ``len`` and ``get_multi`` over a list of samples; records the get_multi calls."""

    def __init__(self, samples: Sequence[Mapping[str, Any]]) -> None:
        self.samples = list(samples)
        self.calls: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.samples)

    def get_multi(
        self, items: Sequence[int] | None = None, keys: Sequence[str] | None = None, **kwargs: Any
    ) -> list[Mapping[str, Any]]:
        self.calls.append({"items": items, "keys": keys, **kwargs})
        chosen = self.samples if items is None else [self.samples[i] for i in items]
        if keys is None:
            return chosen
        return [{key: sample[key] for key in keys if key in sample} for sample in chosen]


def _samples(n: int) -> list[NDict]:
    samples = []
    for i in range(n):
        sample = create_initial_sample(f"s{i}")
        sample["data.label"] = i % 3
        sample["data.age"] = 20.0 + i
        samples.append(sample)
    return samples


def test_exports_the_keys_in_order_then_the_sample_id_one_row_per_sample() -> None:
    df = ExportDataset.export_to_dataframe(FakeDataset(_samples(4)), ["data.label", "data.age"])
    assert list(df.columns) == ["data.label", "data.age", "data.sample_id"]
    assert df["data.sample_id"].tolist() == ["s0", "s1", "s2", "s3"]
    assert df["data.label"].tolist() == [0, 1, 2, 0]
    assert df["data.age"].tolist() == [20.0, 21.0, 22.0, 23.0]
    assert isinstance(df.index, pd.RangeIndex)


def test_sample_id_key_listed_is_not_duplicated_and_duplicate_keys_collapse() -> None:
    df = ExportDataset.export_to_dataframe(FakeDataset(_samples(2)), ["data.sample_id", "data.label", "data.label"])
    assert list(df.columns) == ["data.sample_id", "data.label"]


def test_custom_sample_id_key() -> None:
    samples = [{"pid": "p1", "y": 1}, {"pid": "p2", "y": 0}]
    df = ExportDataset.export_to_dataframe(FakeDataset(samples), ["y"], sample_id_key="pid")
    assert df.to_dict("list") == {"y": [1, 0], "pid": ["p1", "p2"]}


def test_get_multi_gets_the_keys_and_the_extra_kwargs() -> None:
    dataset = FakeDataset(_samples(2))
    ExportDataset.export_to_dataframe(dataset, ["data.label"], workers=0, mp_context="spawn")
    assert dataset.calls == [
        {"items": None, "keys": ["data.label", "data.sample_id"], "workers": 0, "mp_context": "spawn"}
    ]
    ExportDataset.export_to_dataframe(dataset, None)
    assert dataset.calls[-1] == {"items": None, "keys": None}


def test_keys_none_exports_the_union_of_all_keys_missing_values_empty() -> None:
    samples: list[Mapping[str, Any]] = [
        {"data.sample_id": "a", "data.x": 1.0},
        {"data.sample_id": "b", "data.y": "yes"},
        {"data.sample_id": "c", "data.x": 3.0, "data.z": np.arange(2)},
    ]
    df = ExportDataset.export_to_dataframe(FakeDataset(samples), None)
    assert list(df.columns) == ["data.sample_id", "data.x", "data.y", "data.z"]
    assert df["data.sample_id"].tolist() == ["a", "b", "c"]
    assert df["data.x"].iloc[0] == 1.0
    assert math.isnan(df["data.x"].iloc[1])
    assert df["data.x"].iloc[2] == 3.0
    assert df["data.y"].isna().tolist() == [True, False, True]
    assert df["data.y"].iloc[1] == "yes"
    assert df["data.z"].iloc[0] is None
    assert df["data.z"].iloc[1] is None
    np.testing.assert_array_equal(df["data.z"].iloc[2], [0, 1])


def test_keys_none_flattens_ndict_and_nested_plain_dict_samples() -> None:
    ndict_sample = create_initial_sample("a")
    ndict_sample["data.img.shape"] = (2, 2)
    nested: dict[str, Any] = {"data": {"sample_id": "b", "initial_sample_id": "b", "img": {"shape": (3, 3)}}}
    df = ExportDataset.export_to_dataframe(FakeDataset([ndict_sample, nested]), None)
    assert set(df.columns) == {"data.sample_id", "data.initial_sample_id", "data.img.shape"}
    assert df["data.img.shape"].tolist() == [(2, 2), (3, 3)]


def test_a_missing_key_names_the_key_and_the_sample_id() -> None:
    samples = _samples(3)
    del samples[1]["data.age"]
    with pytest.raises(MissingSampleKeyError, match=r"sample 's1' has no key 'data.age'"):
        ExportDataset.export_to_dataframe(FakeDataset(samples), ["data.age"])


def test_a_string_as_keys_is_rejected() -> None:
    with pytest.raises(TypeError, match="sequence of key strings"):
        ExportDataset.export_to_dataframe(FakeDataset(_samples(1)), "data.age")


def test_empty_dataset_gives_an_empty_frame() -> None:
    df = ExportDataset.export_to_dataframe(FakeDataset([]), ["data.label"])
    assert len(df) == 0
    assert list(df.columns) == ["data.label", "data.sample_id"]
    assert len(ExportDataset.export_to_dataframe(FakeDataset([]), None)) == 0


@pytest.mark.parametrize("name", ["out.csv", "sub/out.pkl"])
def test_saves_the_frame_when_output_filename_is_given(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    df = ExportDataset.export_to_dataframe(FakeDataset(_samples(5)), ["data.label"], output_filename=path)
    loaded = read_dataframe(path)
    if name.endswith(".csv"):
        loaded = loaded.drop(columns=[c for c in loaded.columns if c.startswith("Unnamed")])
    pd.testing.assert_frame_equal(loaded.reset_index(drop=True), df, check_dtype=False)


def test_exports_five_thousand_samples_with_and_without_keys() -> None:
    samples = _samples(5000)
    for i in range(0, 5000, 7):
        samples[i]["data.extra"] = i
    dataset = FakeDataset(samples)
    chosen = ExportDataset.export_to_dataframe(dataset, ["data.label", "data.age"])
    assert len(chosen) == 5000
    assert chosen["data.label"].sum() == sum(i % 3 for i in range(5000))
    everything = ExportDataset.export_to_dataframe(dataset, None)
    assert len(everything) == 5000
    assert everything["data.extra"].notna().sum() == len(range(0, 5000, 7))
    assert everything["data.sample_id"].tolist() == [f"s{i}" for i in range(5000)]
