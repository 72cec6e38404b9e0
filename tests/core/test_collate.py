"""CollateToBatchList and uncollate, torch-free (tensor cases live in tests/integration)."""

import numpy as np
import pytest

from fuse.core import CollateToBatchList, NDict, uncollate


def test_collate_to_batch_list() -> None:
    samples = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}]
    batch = CollateToBatchList()(samples)
    assert batch.to_dict() == {"a": [1, 3, 5], "b": [2, 4, 6]}


def test_collate_key_order_is_first_appearance() -> None:
    samples = [NDict({"z": 1, "data": {"y": 2}}), NDict({"a": 0, "z": 3, "data.y": 4})]
    batch = CollateToBatchList(raise_error_key_missing=False)(samples)
    assert batch.keypaths() == ["z", "data.y", "a"]
    assert batch["a"] == [None, 0]


def test_collate_missing_key_names_key_and_sample() -> None:
    samples = [{"data": {"sample_id": "s1"}, "x": 1}, {"data": {"sample_id": "s2"}}]
    with pytest.raises(KeyError, match=r"'x' is missing in sample 's2'"):
        CollateToBatchList()(samples)
    with pytest.raises(KeyError, match="at position 1"):
        CollateToBatchList()([{"x": 1}, {"y": 2}])


def test_collate_skip_keys() -> None:
    batch = CollateToBatchList(skip_keys=["b"])([{"a": 1, "b": 2}])
    assert batch.to_dict() == {"a": [1]}


def test_a_skip_keys_string_is_one_keypath_as_in_fusemedml() -> None:
    batch = CollateToBatchList(skip_keys="data.drop")([{"data.drop": 1, "data.keep": 2, "d": 3}])
    assert batch.to_dict() == {"data.keep": [2], "d": [3]}


def test_unhashable_skip_keys_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"skip_keys must hold keypath strings.*got dict"):
        CollateToBatchList(skip_keys=[{"a": 1}])  # type: ignore[list-item]


def test_collate_values_to_list_reports_missing() -> None:
    collate = CollateToBatchList(raise_error_key_missing=False)
    values, has_error, has_missing = collate._collect_values_to_list([NDict({"a": 1}), NDict()], "a")
    assert values == [1, None]
    assert has_error
    assert has_missing


def test_uncollate_round_trip() -> None:
    samples = [NDict({"data": {"sample_id": i, "img": np.full(2, i)}, "label": i % 2}) for i in range(3)]
    batch = CollateToBatchList()(samples)
    assert uncollate(batch) == samples


def test_uncollate_splits_arrays_and_broadcasts_others() -> None:
    batch = {
        "data": {"sample_id": ["a", "b"]},
        "pred": np.array([[0.1, 0.9], [0.8, 0.2]]),
        "names": ("x", "y"),
        "epoch": 3,
        "note": "same",
        "scalar_array": np.array(1.5),
        "per_batch": [1, 2, 3],
    }
    samples = uncollate(batch)
    assert len(samples) == 2
    np.testing.assert_array_equal(samples[1]["pred"], [0.8, 0.2])
    assert samples[0]["names"] == "x"
    assert samples[1]["epoch"] == 3
    assert samples[1]["note"] == "same"
    assert samples[0]["scalar_array"] == 1.5
    assert samples[0]["per_batch"] == [1, 2, 3]


def test_uncollate_batch_size_without_sample_id() -> None:
    samples = uncollate({"x": np.zeros((4, 2)), "y": 1})
    assert len(samples) == 4
    assert uncollate({}) == []
    with pytest.raises(ValueError, match="cannot infer the batch size"):
        uncollate({"y": 1, "z": "s"})
