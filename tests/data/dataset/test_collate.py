"""CollateDefault: batching rules, key order, missing keys, bookkeeping, handlers, helpers, DataLoader use."""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from fuse.core import CollateToBatchList, NDict, create_initial_sample
from fuse.data import CollateDefault, MissingSampleKeyError, PipelineDefault


def _sample(sample_id: str, index: int) -> NDict:
    sample = create_initial_sample(sample_id)
    sample["data.img"] = torch.full((2, 3), float(index))
    sample["data.arr"] = np.arange(3) + index
    sample["data.label"] = index
    sample["data.score"] = index / 2
    sample["data.text"] = f"text{index}"
    sample["data.meta.tags"] = ["a", "b"]
    sample["data.meta.flag"] = None
    return sample


def _samples(n: int = 3) -> list[NDict]:
    return [_sample(f"s{i}", i) for i in range(n)]


def test_batches_by_type() -> None:
    batch = CollateDefault()(_samples())
    assert isinstance(batch, NDict)
    assert batch["data.sample_id"] == ["s0", "s1", "s2"]
    assert batch["data.initial_sample_id"] == ["s0", "s1", "s2"]
    assert batch["data.img"].shape == (3, 2, 3)
    assert torch.equal(batch["data.img"][:, 0, 0], torch.tensor([0.0, 1.0, 2.0]))
    assert isinstance(batch["data.arr"], torch.Tensor)
    assert batch["data.arr"].shape == (3, 3)
    assert torch.equal(batch["data.label"], torch.tensor([0, 1, 2]))
    assert batch["data.score"].dtype == torch.float64
    assert batch["data.text"] == ["text0", "text1", "text2"]
    assert batch["data.meta.tags"] == [["a", "b"]] * 3  # lists stay lists (no transposition)
    assert batch["data.meta.flag"] == [None, None, None]


def test_numpy_scalars_and_integer_sample_ids() -> None:
    samples = [create_initial_sample(i) for i in range(2)]
    for i, sample in enumerate(samples):
        sample["x"] = np.float32(i)
        sample["y"] = np.int64(i)
    batch = CollateDefault()(samples)
    assert batch["data.sample_id"] == [0, 1]  # ids stay a plain list, even integers
    assert batch["data.initial_sample_id"] == [0, 1]
    assert torch.equal(batch["x"], torch.tensor([0.0, 1.0]))
    assert torch.equal(batch["y"], torch.tensor([0, 1]))


def test_plain_nested_dict_samples() -> None:
    samples = [{"data": {"sample_id": "a", "x": {"y": 1}}}, {"data": {"sample_id": "b", "x": {"y": 2}}}]
    batch = CollateDefault()(samples)
    assert batch["data.x.y"].tolist() == [1, 2]
    assert batch["data.sample_id"] == ["a", "b"]


def test_key_order_is_deterministic() -> None:
    first = NDict({"data": {"sample_id": "a"}, "z": 1, "b": 2})
    second = NDict({"data": {"sample_id": "b"}, "b": 3, "new2": 5, "z": 4, "new1": 6})
    batch = CollateDefault(raise_error_key_missing=False)([first, second])
    assert list(batch.keys()) == ["data.sample_id", "z", "b", "new2", "new1"]


def test_missing_key_raises_naming_key_and_sample_ids() -> None:
    samples = _samples(4)
    del samples[1]["data.label"]
    del samples[3]["data.label"]
    with pytest.raises(MissingSampleKeyError) as info:
        CollateDefault()(samples)
    message = str(info.value)
    assert "'data.label'" in message
    assert "'s1'" in message
    assert "'s3'" in message
    assert "'s0'" not in message
    assert "2 of 4" in message
    assert "raise_error_key_missing=False" in message


def test_missing_key_collects_none_without_batching() -> None:
    samples = _samples(3)
    del samples[1]["data.img"]
    handler_calls: list[Any] = []
    collate = CollateDefault(
        raise_error_key_missing=False,
        special_handlers_keys={"data.img": handler_calls.append},
    )
    batch = collate(samples)
    assert isinstance(batch["data.img"], list)
    assert batch["data.img"][1] is None
    assert torch.equal(batch["data.img"][2], samples[2]["data.img"])
    assert handler_calls == []


def test_keep_keys_and_skip_keys() -> None:
    batch = CollateDefault(keep_keys=["data.label", "data.meta", "data.sample_id"])(_samples())
    assert list(batch.keys()) == ["data.label", "data.meta.tags", "data.meta.flag", "data.sample_id"]
    batch = CollateDefault(skip_keys=["data.img", "data.meta"])(_samples())
    assert "data.img" not in batch
    assert "data.meta.tags" not in batch
    assert "data.label" in batch
    batch = CollateDefault(keep_keys=["data.meta"], skip_keys=["data.meta.flag"])(_samples())
    assert list(batch.keys()) == ["data.meta.tags"]


def test_keep_keys_missing_everywhere_raises_or_gives_none() -> None:
    with pytest.raises(MissingSampleKeyError, match=r"'data\.nothing'"):
        CollateDefault(keep_keys=["data.nothing"])(_samples(2))
    batch = CollateDefault(keep_keys=["data.nothing"], raise_error_key_missing=False)(_samples(2))
    assert batch["data.nothing"] == [None, None]


def test_a_string_is_one_key_not_its_characters() -> None:
    batch = CollateDefault(keep_keys="data.img")(_samples())
    assert list(batch.keys()) == ["data.img"]
    batch = CollateDefault(skip_keys="data.img")(_samples())
    assert "data.img" not in batch
    assert "data.label" in batch


def test_keys_that_are_not_keypaths_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"skip_keys must hold keypath strings.*dict"):
        CollateDefault(skip_keys=[{"data.img": 1}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"keep_keys must be a keypath or a list of keypaths, got int"):
        CollateDefault(keep_keys=3)  # type: ignore[arg-type]


def test_bookkeeping_skipped_unless_kept() -> None:
    samples = _samples(2)
    for sample in samples:
        sample["internal.static.0"] = "data.img"
        sample["internal.static.1_data.img"] = "Tensor"
    batch = CollateDefault()(samples)
    assert not any(key.startswith("internal") for key in batch)
    batch = CollateDefault(keep_bookkeeping=True)(samples)
    assert batch["internal.static.0"] == ["data.img", "data.img"]
    assert batch["internal.static.1_data.img"] == ["Tensor", "Tensor"]
    batch = CollateDefault(keep_keys=["internal.static.0"])(samples)  # listed explicitly: always kept
    assert list(batch.keys()) == ["internal.static.0"]
    # a user key that merely starts with the word is not bookkeeping
    samples[0]["internals"] = 1
    samples[1]["internals"] = 2
    assert CollateDefault()(samples)["internals"].tolist() == [1, 2]


def test_bookkeeping_written_by_pipeline_is_skipped() -> None:
    from fuse.data.ops._control import OpLambda

    pipeline = PipelineDefault("static", [(OpLambda(lambda x: x + 1), {"key": "data.label"})])
    samples = []
    for i in range(2):
        sample = pipeline(_sample(f"s{i}", i))
        assert isinstance(sample, NDict)
        samples.append(sample)
    assert any(key.startswith("internal.") for key in samples[0])
    batch = CollateDefault()(samples)
    assert batch["data.label"].tolist() == [1, 2]
    assert not any(key.startswith("internal") for key in batch)


def test_ragged_tensors_error_suggests_pad_handler() -> None:
    samples = _samples(2)
    samples[1]["data.img"] = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"'data\.img'.*pad_all_tensors_to_same_size") as info:
        CollateDefault()(samples)
    assert "Tensor(2, 3)" in str(info.value)
    assert "Tensor(4, 3)" in str(info.value)
    collate = CollateDefault(special_handlers_keys={"data.img": CollateDefault.pad_all_tensors_to_same_size})
    batch = collate(samples)
    assert batch["data.img"].shape == (2, 4, 3)
    assert torch.equal(batch["data.img"][0, 2:], torch.zeros(2, 3))
    assert torch.equal(batch["data.img"][0, :2], torch.zeros(2, 3))


def test_mixed_types_error_names_key() -> None:
    samples = _samples(2)
    samples[1]["data.label"] = "one"
    with pytest.raises(ValueError, match=r"'data\.label'"):
        CollateDefault()(samples)


def test_special_handler_error_names_key() -> None:
    def failing(values: list[Any]) -> Any:
        raise RuntimeError("boom")

    with pytest.raises(ValueError, match=r"failing failed on key 'data\.label': boom"):
        CollateDefault(special_handlers_keys={"data.label": failing})(_samples(2))


def test_special_handler_can_override_sample_id() -> None:
    collate = CollateDefault(special_handlers_keys={"data.sample_id": tuple})
    assert collate(_samples(2))["data.sample_id"] == ("s0", "s1")


def test_add_to_batch_dict_and_post_handlers() -> None:
    order: list[str] = []

    def post(batch: NDict) -> None:
        order.append("post")
        batch["data.double"] = batch["data.label"] * 2
        assert batch["epoch"] == 3  # constants are added before the post handlers

    collate = CollateDefault(
        add_to_batch_dict={"epoch": 3, "cfg": {"lr": 0.1}}, post_collate_special_handlers_keys=[post]
    )
    batch = collate(_samples(3))
    assert order == ["post"]
    assert batch["epoch"] == 3
    assert batch["cfg.lr"] == 0.1
    assert batch["data.double"].tolist() == [0, 2, 4]


def test_empty_sample_list() -> None:
    assert len(CollateDefault()([])) == 0
    assert CollateDefault(add_to_batch_dict={"a": 1})([])["a"] == 1


def test_pad_all_tensors_to_same_size() -> None:
    values = [torch.ones(2, 3), torch.ones(3, 1)]
    batch = CollateDefault.pad_all_tensors_to_same_size(values, pad_val=-1.0)
    assert batch.shape == (2, 3, 3)
    assert batch[0, 2].tolist() == [-1.0, -1.0, -1.0]
    assert batch[1, :, 1:].eq(-1.0).all()
    assert batch[1, :, 0].eq(1.0).all()
    batch = CollateDefault.pad_all_tensors_to_same_size(values, min_size_per_dim=(5, -1))
    assert batch.shape == (2, 5, 3)
    batch = CollateDefault.pad_all_tensors_to_same_size(values, min_size_per_dim=(1, 4))
    assert batch.shape == (2, 3, 4)  # a minimum below the actual size changes nothing
    numpy_batch = CollateDefault.pad_all_tensors_to_same_size([np.ones(2), np.ones(1)])
    assert numpy_batch.tolist() == [[1.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("values", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "no values"),
        ([torch.ones(2), torch.ones(2, 2)], {}, ValueError, "same number of dimensions"),
        ([torch.ones(2), [1, 2]], {}, TypeError, "list"),
        ([torch.ones(2)], {"min_size_per_dim": (3, 3)}, ValueError, "must have 1 entries"),
        ([torch.ones(2)], {"min_size_per_dim": (0,)}, ValueError, "positive int or -1"),
    ],
)
def test_pad_all_tensors_to_same_size_errors(
    values: list[Any], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        CollateDefault.pad_all_tensors_to_same_size(values, **kwargs)


def test_crop_padding() -> None:
    ids = [torch.tensor([101, 5, 0, 0, 0, 0]), torch.tensor([101, 0, 3, 0, 0, 0]), torch.tensor([101, 0, 0, 0, 0, 0])]
    # the pad token inside a sequence does not shorten it (FuseMedML counted pad tokens and cropped to 2)
    assert CollateDefault.crop_padding(ids, pad_token_id=0).tolist() == [[101, 5, 0], [101, 0, 3], [101, 0, 0]]
    all_pad = [torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long)]
    assert CollateDefault.crop_padding(all_pad, pad_token_id=0).shape == (2, 0)
    with pytest.raises(ValueError, match="same length"):
        CollateDefault.crop_padding([torch.ones(3), torch.ones(4)], pad_token_id=0)
    with pytest.raises(ValueError, match="no sequences"):
        CollateDefault.crop_padding([], pad_token_id=0)


def test_crop_length_to_match_target_key_as_post_handler() -> None:
    samples = [create_initial_sample(f"s{i}") for i in range(2)]
    samples[0]["ids"] = torch.tensor([1, 2, 0, 0])
    samples[1]["ids"] = torch.tensor([1, 0, 0, 0])
    for sample in samples:
        sample["labels"] = torch.arange(4)
    collate = CollateDefault(
        special_handlers_keys={"ids": functools.partial(CollateDefault.crop_padding, pad_token_id=0)},
        post_collate_special_handlers_keys=[
            functools.partial(
                CollateDefault.crop_length_to_match_target_key, target_key="ids", keys_to_match=["labels"]
            )
        ],
    )
    batch = collate(samples)
    assert batch["ids"].tolist() == [[1, 2], [1, 0]]
    assert batch["labels"].tolist() == [[0, 1], [0, 1]]
    with pytest.raises(KeyError, match="'missing'"):
        CollateDefault.crop_length_to_match_target_key(batch, "ids", ["missing"])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        CollateDefault.crop_length_to_match_target_key(NDict({"a": torch.ones(2), "b": torch.ones(2, 2)}), "a", ["b"])


class _TinyDataset(Dataset[NDict]):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> NDict:
        sample = create_initial_sample(f"id{index}")
        sample["data.seq"] = torch.ones(index + 1)
        sample["data.label"] = index % 2
        sample["internal.static.0"] = "bookkeeping"
        return sample


def test_works_as_dataloader_collate_fn_and_pickles() -> None:
    collate = CollateDefault(
        special_handlers_keys={"data.seq": functools.partial(CollateDefault.pad_all_tensors_to_same_size, pad_val=0.0)},
        add_to_batch_dict={"split": "train"},
    )
    collate = pickle.loads(pickle.dumps(collate))
    batches = list(DataLoader(_TinyDataset(), batch_size=2, num_workers=0, collate_fn=collate))
    assert [batch["data.sample_id"] for batch in batches] == [["id0", "id1"], ["id2", "id3"], ["id4"]]
    assert batches[1]["data.seq"].shape == (2, 4)
    assert batches[1]["data.seq"].sum().item() == 7.0
    assert batches[0]["data.label"].tolist() == [0, 1]
    assert batches[2]["split"] == "train"
    assert not any(key.startswith("internal") for key in batches[0])


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, fuse.data.dataset._collate; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_collate_default_uses_the_core_list_collation_without_subclassing_it() -> None:
    """The per-key lists come from fuse.core's CollateToBatchList; CollateDefault only decides what to batch."""
    samples = [{"data": {"sample_id": "a"}, "x": 1, "y": "p"}, {"data": {"sample_id": "b"}, "x": 2}]
    assert not isinstance(CollateDefault(), CollateToBatchList)
    batch = CollateDefault(raise_error_key_missing=False)(samples)
    lists = CollateToBatchList(raise_error_key_missing=False)(samples)
    assert batch["y"] == lists["y"] == ["p", None]  # a key missing somewhere stays the list, never batched
    assert batch["x"].tolist() == lists["x"] == [1, 2]
    assert list(batch.keys()) == list(lists.keys())
