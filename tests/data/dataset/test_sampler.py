"""BatchSamplerDefault: exact/approx balancing, the number of batches, reshuffling, seeding and epochs, where the
classes are read from (static cache vs dynamic pipeline), class value types, distributed shares that never touch
the dataset, DataLoader integration, and every error message."""

from __future__ import annotations

import logging
import math
import re
import subprocess
import sys
import types
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from fuse.core import set_seed
from fuse.data import BatchSamplerDefault, MissingSampleKeyError

KEY = "data.label"


class FakeDataset:
    """``len`` + ``get_multi`` (+ ``get_static_values`` when ``static`` is given); records the calls; read-only."""

    def __init__(self, labels: Sequence[Any], static: Sequence[Any] | None = None, static_keys: Sequence[str] = ()):
        self.labels = list(labels)
        self.calls: list[tuple[str, Any]] = []
        self._static = static
        self._static_keys = set(static_keys) or {KEY}
        if static is not None:
            self.get_static_values = self._get_static_values

    def __len__(self) -> int:
        return len(self.labels)

    def get_multi(self, items: Any = None, keys: Sequence[str] | None = None, **kw: Any) -> list[Mapping[str, Any]]:
        self.calls.append(("get_multi", {"items": items, "keys": keys, **kw}))
        return [{"data.sample_id": i, KEY: label} for i, label in enumerate(self.labels)]

    def _get_static_values(self, key: str, **kw: Any) -> list[Any]:
        self.calls.append(("get_static_values", key))
        if key not in self._static_keys:
            raise MissingSampleKeyError(f"static output has no key {key!r}")
        assert self._static is not None
        return list(self._static)

    def subset(self, items: Any) -> None:
        raise AssertionError("the sampler must never mutate the dataset")

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, KEY: self.labels[index]}


def _labels_of(dataset: FakeDataset, batch: Sequence[int]) -> list[Any]:
    return [dataset.labels[i] for i in batch]


def _sampler(labels: Sequence[Any], **kwargs: Any) -> tuple[FakeDataset, BatchSamplerDefault]:
    dataset = FakeDataset(labels)
    kwargs.setdefault("seed", 0)
    return dataset, BatchSamplerDefault(dataset, KEY, **kwargs)


# ------------------------------------------------------------------------------------------------------ balancing
def test_fusemedml_five_sample_exact() -> None:
    dataset, sampler = _sampler([0, 1, 2, 0, 0], batch_size=3, num_balanced_classes=3, workers=0)
    assert len(sampler) == 3
    batches = list(sampler)
    assert len(batches) == 3
    for batch in batches:
        assert sorted(_labels_of(dataset, batch)) == [0, 1, 2]
    assert dataset.calls == [("get_multi", {"items": None, "keys": [KEY], "workers": 0})]


def test_exact_weights_dict_and_list() -> None:
    labels = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    dataset, sampler = _sampler(labels, batch_size=6, balanced_class_weights={"a": 1, "b": 2, "c": 3})
    for batch in sampler:
        assert Counter(_labels_of(dataset, batch)) == {"a": 1, "b": 2, "c": 3}
    assert len(sampler) == 10  # ceil(10/1)
    assert len({tuple(_labels_of(dataset, batch)) for batch in sampler}) > 1  # each batch is shuffled

    labels2 = [0] * 10 + [1] * 10 + [2] * 10
    dataset2, sampler2 = _sampler(labels2, batch_size=5, balanced_class_weights=[3, 0, 2])
    for batch in sampler2:
        assert Counter(_labels_of(dataset2, batch)) == {0: 3, 2: 2}


def test_exact_counts_as_weights_normalised_fusemedml() -> None:
    """FuseMedML's test: weights [1]*5 + [3]*5, batch 20 -> each class exactly w/20 of the samples."""
    labels = [i % 10 for i in range(200)]
    weights = [1] * 5 + [3] * 5
    dataset, sampler = _sampler(labels, batch_size=20, balanced_class_weights=weights, num_balanced_classes=10)
    counts: Counter[int] = Counter()
    for batch in sampler:
        assert len(batch) == 20
        counts.update(_labels_of(dataset, batch))
    total = sum(counts.values())
    for c in range(10):
        assert counts[c] / total == weights[c] / 20
    # batch_size=None with integer counts: FuseMedML's convention, the batch size is their sum
    _, implicit = _sampler(labels, balanced_class_weights=weights)
    assert implicit.batch_size == 20
    # float weights are scaled to the batch size
    dataset3, scaled = _sampler(labels, batch_size=20, balanced_class_weights=[0.05] * 5 + [0.15] * 5)
    expected = {c: weights[c] for c in range(10)}
    assert all(Counter(_labels_of(dataset3, batch)) == expected for batch in scaled)


def test_exact_no_weights_remainder() -> None:
    """FuseMedML raised IndexError here; the remainder goes to the first classes in sorted order."""
    dataset, sampler = _sampler([2, 0, 1] * 4, batch_size=5)
    for batch in sampler:
        assert Counter(_labels_of(dataset, batch)) == {0: 2, 1: 2, 2: 1}
    assert len(sampler) == 4  # class 2: ceil(4/1)
    with pytest.warns(UserWarning, match=r"classes \[3\] have a positive weight but get 0"):
        dataset2, small = _sampler([0, 1, 2, 3] * 3, batch_size=3)
    for batch in small:
        assert sorted(_labels_of(dataset2, batch)) == [0, 1, 2]


def test_largest_remainder_ties_and_fractions() -> None:
    dataset, sampler = _sampler(["x"] * 5 + ["y"] * 5, batch_size=3, balanced_class_weights={"x": 1, "y": 1})
    assert Counter(_labels_of(dataset, next(iter(sampler)))) == {"x": 2, "y": 1}  # tie -> x sorts first
    dataset, sampler = _sampler([0] * 9 + [1] * 9 + [2] * 9, batch_size=7, balanced_class_weights=[0.2, 0.5, 0.3])
    assert Counter(_labels_of(dataset, next(iter(sampler)))) == {0: 1, 1: 4, 2: 2}  # quotas 1.4, 3.5, 2.1


def test_approx_proportions() -> None:
    labels = [i % 10 for i in range(2000)]
    dataset, sampler = _sampler(labels, batch_size=32, mode="approx", balanced_class_weights=[0.1] * 10)
    counts: Counter[int] = Counter()
    for batch in sampler:
        assert len(batch) == 32
        counts.update(_labels_of(dataset, batch))
    total = sum(counts.values())
    assert len(sampler) == math.ceil(200 / 3.2)
    for c in range(10):
        assert abs(counts[c] / total - 0.1) < 0.05


def test_approx_unequal_weights_normalised() -> None:
    labels = [0] * 500 + [1] * 500
    dataset, sampler = _sampler(labels, batch_size=50, mode="approx", balanced_class_weights={0: 1, 1: 3})
    counts: Counter[int] = Counter()
    for batch in sampler:
        counts.update(_labels_of(dataset, batch))
    assert abs(counts[1] / sum(counts.values()) - 0.75) < 0.05
    assert len(sampler) == 40  # class 0: ceil(500 / (50 * 0.25))
    # per-batch class counts vary in approx mode
    assert len({tuple(sorted(_labels_of(dataset, b))) for b in sampler}) > 1


# --------------------------------------------------------------------------------------------------- num_batches
def test_num_batches_modes_and_len() -> None:
    labels = [0] * 12 + [1] * 4
    _, over = _sampler(labels, batch_size=4)
    assert len(over) == 6 == len(list(over))  # class 0: ceil(12/2)
    _, none = _sampler(labels, batch_size=4, num_batches=None)
    assert len(none) == 6
    _, down = _sampler(labels, batch_size=4, num_batches="down_sample")
    assert len(down) == 2 == len(list(down))  # class 1: ceil(4/2)
    _, fixed = _sampler(labels, batch_size=4, num_batches=5)
    assert len(fixed) == 5 == len(list(fixed))
    _, approx = _sampler(labels, batch_size=4, mode="approx", num_batches="down_sample")
    assert len(approx) == 2


def test_zero_weight_class_ignored_by_down_sample() -> None:
    """FuseMedML's down_sample took the min including zero-weight classes (0 batches)."""
    dataset, sampler = _sampler([0] * 8 + [1] * 4 + [2] * 2, batch_size=2, balanced_class_weights={0: 1, 1: 1, 2: 0},
                                num_batches="down_sample")  # fmt: skip
    assert len(sampler) == 4
    assert all(2 not in _labels_of(dataset, b) for b in sampler)


def test_reshuffle_when_class_exhausted() -> None:
    labels = [0] * 20 + [1] * 4
    dataset, sampler = _sampler(labels, batch_size=4)
    batches = list(sampler)
    assert len(batches) == 10
    minority = [[i for i in b if dataset.labels[i] == 1] for b in batches]
    for cycle in range(5):  # 2 per batch, 4 samples: every cycle of 2 batches draws each minority index once
        drawn = minority[2 * cycle] + minority[2 * cycle + 1]
        assert sorted(drawn) == [20, 21, 22, 23]
    pairs = {frozenset(pair) for pair in minority}
    assert len(pairs) > 2  # reshuffled: not the same two pairs over and over
    majority_pairs = [sorted(i for i in b if dataset.labels[i] == 0) for b in batches]
    assert majority_pairs != [[2 * k, 2 * k + 1] for k in range(10)]  # shuffled before the first cycle too
    majority = sorted(i for b in batches for i in b if dataset.labels[i] == 0)
    assert majority == list(range(20))  # over_sample: every majority sample exactly once


# ----------------------------------------------------------------------------------------------- seeds and epochs
def test_seed_and_epochs() -> None:
    labels = [i % 3 for i in range(30)]
    _, a = _sampler(labels, batch_size=6, seed=11)
    _, b = _sampler(labels, batch_size=6, seed=11)
    _, c = _sampler(labels, batch_size=6, seed=12)
    first_a, first_b, first_c = list(a), list(b), list(c)
    assert first_a == first_b
    assert first_a != first_c
    # without set_epoch every iteration moves to the next epoch, the same on every instance
    second_a = list(a)
    assert second_a != first_a
    assert list(b) == second_a
    # set_epoch pins the epoch
    a.set_epoch(0)
    assert list(a) == first_a == list(a)
    a.set_epoch(5)
    epoch5 = list(a)
    assert epoch5 == list(a)
    assert epoch5 != first_a
    b.set_epoch(5)
    assert list(b) == epoch5
    assert a.epoch == 5
    assert a.seed == 11
    assert all(isinstance(i, int) for batch in epoch5 for i in batch)


def test_global_seed_makes_seedless_sampler_reproducible() -> None:
    labels = [i % 4 for i in range(40)]
    set_seed(1234)
    _, a = _sampler(labels, batch_size=8, seed=None)
    set_seed(1234)
    _, b = _sampler(labels, batch_size=8, seed=None)
    assert a.seed == b.seed
    assert list(a) == list(b)
    np.random.seed(99)
    _, c = _sampler(labels, batch_size=8, seed=None)
    assert c.seed != a.seed


def test_set_epoch_forwards_to_sampler() -> None:
    class EpochSampler(list[int]):
        epochs: list[int]

        def set_epoch(self, epoch: int) -> None:
            self.epochs.append(epoch)

    inner = EpochSampler(range(6))
    inner.epochs = []
    sampler = BatchSamplerDefault(FakeDataset([0, 1] * 3), KEY, sampler=inner, batch_size=2, seed=0)
    sampler.set_epoch(3)
    assert inner.epochs == [3]


# ---------------------------------------------------------------------------------------------------- class source
def test_class_source_auto_uses_static_values() -> None:
    dataset = FakeDataset([9, 9, 9, 9], static=[0, 1, 0, 1])
    sampler = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=0)
    assert dataset.calls == [("get_static_values", KEY)]
    for batch in sampler:
        assert sorted(i % 2 for i in batch) == [0, 1]


def test_class_source_auto_falls_back_on_key_error(caplog: pytest.LogCaptureFixture) -> None:
    dataset = FakeDataset([0, 1, 0, 1], static=[5, 5, 5, 5], static_keys=["data.other"])
    with caplog.at_level(logging.INFO, logger="fuse.data"):
        sampler = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=0, verbose=True, workers=3)
    assert [name for name, _ in dataset.calls] == ["get_static_values", "get_multi"]
    assert dataset.calls[1][1]["workers"] == 3
    assert "not in the static output" in caplog.text
    assert all(sorted(_labels_of(dataset, b)) == [0, 1] for b in sampler)


def test_class_source_static_raises() -> None:
    dataset = FakeDataset([0, 1], static=[0, 1], static_keys=["data.other"])
    with pytest.raises(MissingSampleKeyError, match="static output has no key"):
        BatchSamplerDefault(dataset, KEY, batch_size=2, class_source="static")
    with pytest.raises(TypeError, match="class_source='static' needs a dataset with get_static_values"):
        BatchSamplerDefault(FakeDataset([0, 1]), KEY, batch_size=2, class_source="static")


def test_class_source_dynamic_never_calls_static() -> None:
    dataset = FakeDataset([0, 1, 0, 1], static=[0, 0, 0, 0])
    BatchSamplerDefault(dataset, KEY, batch_size=2, class_source="dynamic", collect_marker_name="m", seed=0)
    assert dataset.calls == [("get_multi", {"items": None, "keys": [KEY], "collect_marker_name": "m"})]


def test_class_value_types() -> None:
    torch = pytest.importorskip("torch")
    labels = [np.int64(0), np.array(1), torch.tensor(0), torch.tensor(1), np.int32(1), 0]
    dataset, sampler = _sampler(labels, batch_size=2, balanced_class_weights={np.int64(0): 1, 1: 1})
    assert sampler._classes == [0, 1]
    assert all(type(c) is int for c in sampler._classes)
    for batch in sampler:
        assert sorted(int(dataset.labels[i]) for i in batch) == [0, 1]
    _, strings = _sampler([np.str_("a"), "b", np.array("a")], batch_size=2)
    assert strings._classes == ["a", "b"]
    _, bools = _sampler([np.bool_(True), False, torch.tensor(True)], batch_size=2)
    assert bools._classes == [False, True]


def test_no_class_name_samples_uniformly() -> None:
    dataset = FakeDataset(list(range(10)))
    sampler = BatchSamplerDefault(dataset, None, batch_size=3, seed=0)
    assert dataset.calls == []
    batches = list(sampler)
    assert len(batches) == 4
    assert set(range(10)) <= {i for b in batches for i in b}


# ------------------------------------------------------------------------------------------------------ distributed
def test_ddp_with_sampler_indices() -> None:
    labels = [0, 1] * 10
    dataset = FakeDataset(labels)  # subset() raises: never mutated
    share = [0, 1, 2, 3, 4, 5]
    sampler = BatchSamplerDefault(dataset, KEY, sampler=share, batch_size=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3  # one process: from the sampler's share
    assert sorted(i for b in batches for i in b) == share
    assert dataset.labels == labels

    class DistributedLike(list[int]):
        num_replicas = 2
        rank = 1

    ddp = BatchSamplerDefault(dataset, KEY, sampler=DistributedLike([1, 3, 5, 7, 9, 0]), batch_size=2, seed=0)
    assert len(ddp) == 5  # global sizes 10 per class / 2 ranks, one per batch
    used = {i for b in ddp for i in b}
    assert used == {0, 1, 3, 5, 7, 9}


def test_ddp_num_replicas_disjoint_shares_same_len() -> None:
    labels = [0] * 17 + [1] * 5 + [2] * 3
    dataset = FakeDataset(labels)
    samplers = [BatchSamplerDefault(dataset, KEY, batch_size=3, seed=4, num_replicas=2, rank=r) for r in range(2)]
    assert len(samplers[0]) == len(samplers[1]) == 9  # class 0: ceil(ceil(17/2) / 1)
    used = []
    for s in samplers:
        batches = list(s)
        assert len(batches) == len(s)
        for batch in batches:
            assert sorted(_labels_of(dataset, batch)) == [0, 1, 2]
        used.append({i for b in batches for i in b})
    assert not used[0] & used[1]
    assert used[0] | used[1] == set(range(len(labels)))
    # epochs reshard identically on both ranks
    for s in samplers:
        s.set_epoch(1)
    used1 = [{i for b in s for i in b} for s in samplers]
    assert not used1[0] & used1[1]
    assert used1[0] | used1[1] == set(range(len(labels)))
    assert used1 != used
    assert dataset.labels == labels


def test_ddp_class_absent_from_rank() -> None:
    dataset = FakeDataset([0, 0, 0, 0, 1])
    sampler = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=0, num_replicas=2, rank=0)
    other = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=0, num_replicas=2, rank=1)
    errors = []
    for s in (sampler, other):
        try:
            list(s)
        except ValueError as error:
            errors.append(str(error))
    assert len(errors) == 1  # the single class-1 sample is on one of the two ranks
    assert re.search(
        r"class 1 \(of 'data.label'\) has a positive weight but no sample in the share of rank [01]", errors[0]
    )
    with pytest.raises(ValueError, match=r"class 1 .* no sample in the share of rank 0"):
        list(BatchSamplerDefault(dataset, KEY, sampler=[0, 1, 2], batch_size=2, seed=0))


def test_ddp_from_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("torch.distributed")
    fake.is_available = lambda: True  # type: ignore[attr-defined]
    fake.is_initialized = lambda: True  # type: ignore[attr-defined]
    fake.get_world_size = lambda: 2  # type: ignore[attr-defined]
    fake.get_rank = lambda: 1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.distributed", fake)
    labels = [0, 1] * 6
    dataset = FakeDataset(labels)
    sampler = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=3)
    explicit = BatchSamplerDefault(dataset, KEY, batch_size=2, seed=3, num_replicas=2, rank=1)
    assert len(sampler) == 3
    assert list(sampler) == list(explicit)


def _fake_distributed(monkeypatch: pytest.MonkeyPatch, rank: int, root_seed: list[int]) -> list[int]:
    """A fake initialized ``torch.distributed`` of two processes whose broadcast delivers ``root_seed``."""
    fake = types.ModuleType("torch.distributed")
    broadcasts: list[int] = []

    def broadcast_object_list(objects: list[Any], src: int = 0) -> None:
        assert src == 0
        broadcasts.append(objects[0])
        if rank != 0:
            objects[0] = root_seed[0]

    fake.is_available = lambda: True  # type: ignore[attr-defined]
    fake.is_initialized = lambda: True  # type: ignore[attr-defined]
    fake.get_world_size = lambda: 2  # type: ignore[attr-defined]
    fake.get_rank = lambda: rank  # type: ignore[attr-defined]
    fake.broadcast_object_list = broadcast_object_list  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.distributed", fake)
    return broadcasts


def test_ddp_seedless_ranks_take_rank_zero_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = [i % 3 for i in range(100)]
    dataset = FakeDataset(labels)
    np.random.seed(1)  # the two "processes" draw different seeds, as unseeded processes do
    samplers = [BatchSamplerDefault(dataset, KEY, batch_size=6) for _ in range(2)]
    assert samplers[0].seed != samplers[1].seed
    root_seed = [samplers[0].seed]
    shares = []
    for rank, sampler in enumerate(samplers):
        broadcasts = _fake_distributed(monkeypatch, rank, root_seed)
        shares.append([{i for b in sampler for i in b} for _ in range(2)])  # two epochs
        assert sampler.seed == root_seed[0]
        assert len(broadcasts) == 1  # once, at the first iteration
    for epoch in range(2):
        assert not shares[0][epoch] & shares[1][epoch]
        assert shares[0][epoch] | shares[1][epoch] == set(range(len(labels)))
    # an explicit seed is never broadcast
    broadcasts = _fake_distributed(monkeypatch, 1, [0])
    seeded = BatchSamplerDefault(dataset, KEY, batch_size=6, seed=9)
    list(seeded)
    assert broadcasts == []
    assert seeded.seed == 9


def test_ddp_seedless_num_replicas_without_torch_distributed_raises() -> None:
    sampler = BatchSamplerDefault(FakeDataset([0, 1] * 5), KEY, batch_size=2, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match=r"seed=None with num_replicas=2 .* pass the same seed=<int> on every rank"):
        list(sampler)
    # with the ranks' shares given by a sampler, the seed only shuffles within a share: allowed
    with_share = BatchSamplerDefault(
        FakeDataset([0, 1] * 5), KEY, batch_size=2, num_replicas=2, rank=0, sampler=[0, 1, 2, 3, 4]
    )
    assert len(list(with_share)) == len(with_share)


def test_epoch_is_read_at_the_first_batch() -> None:
    labels = [i % 2 for i in range(20)]
    _, sampler = _sampler(labels, batch_size=4, seed=3)
    sampler.set_epoch(2)
    expected = list(sampler)
    sampler.set_epoch(0)
    iterator = iter(sampler)  # a training loop creates the iterator before the epoch starts
    sampler.set_epoch(2)
    assert list(iterator) == expected


def test_lightning_style_rebuild_names_the_trainer_flag() -> None:
    _, sampler = _sampler([0, 1, 0, 1], batch_size=2)
    message = r"use_distributed_sampler=False.*predict with a plain DataLoader"
    rebuild: Any = type(sampler)  # called the way Lightning calls it, which the signature does not allow
    with pytest.raises(TypeError, match=message) as raised:
        rebuild(range(4), batch_size=sampler.batch_size, drop_last=sampler.drop_last)
    # Lightning re-raises a TypeError as its own unless it reads "missing N required ..."
    assert not re.match(r".*__init__\(\) (got multiple values)|(missing \d required)", str(raised.value))


# ------------------------------------------------------------------------------------------------- integration
def test_dataloader_batch_sampler() -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    dataset = FakeDataset([0, 1, 2, 0, 0])
    sampler = BatchSamplerDefault(dataset, KEY, batch_size=3, seed=0)
    loader = torch_data.DataLoader(dataset, batch_sampler=sampler, collate_fn=lambda samples: samples)
    sampler.set_epoch(0)
    expected = list(sampler)
    got = [[s["index"] for s in batch] for batch in loader]
    assert len(loader) == 3
    assert got == expected
    for batch in loader:
        assert sorted(s[KEY] for s in batch) == [0, 1, 2]


def test_verbose_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fuse.data"):
        _sampler([0, 1, 1], batch_size=2, verbose=True)
        _sampler([0, 1, 1], batch_size=2, verbose=True, mode="approx")
    assert "class sizes of 'data.label': {0: 1, 1: 2}" in caplog.text
    assert "per-batch counts (batch_size=2): {0: 1, 1: 1}" in caplog.text
    assert "per-batch probabilities (batch_size=2): {0: 0.5, 1: 0.5}" in caplog.text
    assert "num_batches=2" in caplog.text


def test_import_does_not_import_torch() -> None:
    code = "import sys, fuse.data.dataset._sampler; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------------------- errors
def test_weight_errors_and_warnings() -> None:
    labels = [0, 1, 2] * 3
    with pytest.warns(UserWarning, match=r"classes \[2\] of 'data.label' are not in balanced_class_weights"):
        dataset, sampler = _sampler(labels, batch_size=2, balanced_class_weights={0: 1, 1: 1})
    assert all(2 not in _labels_of(dataset, b) for b in sampler)
    with pytest.raises(ValueError, match=r"positive weight to classes \[7\] .* classes found are \[0, 1, 2\]"):
        _sampler(labels, batch_size=2, balanced_class_weights={0: 1, 1: 1, 2: 1, 7: 1})
    _sampler(labels, batch_size=3, balanced_class_weights={0: 1, 1: 1, 2: 1, 7: 0})  # zero weight: fine
    with pytest.raises(ValueError, match=r"weight of class 1 .*\(mode 'approx'\) .* >= 0, got -0.5"):
        _sampler(labels, batch_size=2, mode="approx", balanced_class_weights=[0.5, -0.5, 1.0])
    with pytest.raises(ValueError, match=r"mode 'exact'.* must be a finite number >= 0, got nan"):
        _sampler(labels, batch_size=2, balanced_class_weights=[1, float("nan"), 1])
    with pytest.raises(ValueError, match=r"\(mode 'approx'\) give every class found .* weight 0"):
        _sampler(labels, batch_size=2, mode="approx", balanced_class_weights=[0, 0, 0])
    with pytest.raises(TypeError, match=r"weight of class 0 .* must be a number, got 'x'"):
        _sampler(labels, batch_size=2, balanced_class_weights=["x", 1, 1])
    with pytest.raises(TypeError, match=r"must be None, a list .* or a dict"):
        _sampler(labels, batch_size=2, balanced_class_weights="abc")

    class ScalarLike:  # hashed by identity, normalised to 1 (like a 0-d tensor)
        ndim = 0

        def item(self) -> int:
            return 1

    with pytest.raises(ValueError, match="names class 1 twice"):
        _sampler(labels, batch_size=3, balanced_class_weights={1: 1, ScalarLike(): 1, 0: 1, 2: 1})
    with pytest.warns(UserWarning, match=r"num_balanced_classes=5 is ignored .* found 3 classes"):
        _sampler(labels, batch_size=3, num_balanced_classes=5)


def test_argument_errors() -> None:
    labels = [0, 1]
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1 \(mode 'exact'\), got None"):
        _sampler(labels)
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1 \(mode 'approx'\), got 0"):
        _sampler(labels, batch_size=0, mode="approx")
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1 .* got None"):
        _sampler(labels, mode="approx", balanced_class_weights=[1, 1])
    with pytest.raises(ValueError, match=r"may be left None only when balanced_class_weights are integer counts"):
        _sampler(labels, balanced_class_weights=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"mode must be one of \['exact', 'approx'\], got 'balanced'"):
        _sampler(labels, batch_size=2, mode="balanced")
    with pytest.raises(ValueError, match=r"num_batches must be .* \['over_sample', 'down_sample'\], got 'all'"):
        _sampler(labels, batch_size=2, num_batches="all")
    with pytest.raises(ValueError, match=r"num_batches must be an int >= 1.*got 0"):
        _sampler(labels, batch_size=2, num_batches=0)
    with pytest.raises(ValueError, match=r"class_source must be one of \['auto', 'static', 'dynamic'\], got 'x'"):
        _sampler(labels, batch_size=2, class_source="x")
    with pytest.raises(ValueError, match="the dataset is empty"):
        _sampler([], batch_size=2)
    with pytest.raises(ValueError, match=r"seed must be None or an int >= 0, got -1"):
        _sampler(labels, batch_size=2, seed=-1)
    with pytest.raises(ValueError, match=r"give num_replicas and rank together .* rank=None"):
        _sampler(labels, batch_size=2, num_replicas=2)
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 2\), got 2"):
        _sampler(labels, batch_size=2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match=r"num_replicas must be an int >= 1, got 0"):
        _sampler(labels, batch_size=2, num_replicas=0, rank=0)
    _, sampler = _sampler(labels, batch_size=2)
    with pytest.raises(ValueError, match=r"epoch must be an int >= 0, got -3"):
        sampler.set_epoch(-3)
    with pytest.raises(ValueError, match=r"the sampler yielded 7; expected dataset indices, ints in \[0, 2\)"):
        list(BatchSamplerDefault(FakeDataset(labels), KEY, sampler=[0, 7], batch_size=2))


def test_class_value_errors() -> None:
    with pytest.raises(
        ValueError, match=r"class value of sample 1 \(key 'data.label'\) must be a scalar.*shape \(2,\)"
    ):
        _sampler([0, np.array([1, 2])], batch_size=2)
    with pytest.raises(ValueError, match=r"class value of sample 0 .* must be a scalar .* got list"):
        _sampler([[0], 1], batch_size=2)
    with pytest.raises(ValueError, match=r"class value of sample 1 .* is NaN"):
        _sampler([0.0, float("nan")], batch_size=2)
    with pytest.raises(ValueError, match=r"get_static_values\('data.label'\) returned 1 values for a dataset of 2"):
        BatchSamplerDefault(FakeDataset([0, 1], static=[0]), KEY, batch_size=2)

    class Broken(FakeDataset):
        def get_multi(self, items: Any = None, keys: Sequence[str] | None = None, **kw: Any) -> list[Any]:
            return [{"data.sample_id": "s0"}]

    with pytest.raises(ValueError, match=r"get_multi returned 1 samples for a dataset of 2"):
        BatchSamplerDefault(Broken([0, 1]), KEY, batch_size=2)
    with pytest.raises(MissingSampleKeyError, match=r"BatchSamplerDefault: sample 's0' has no key 'data.label'"):
        BatchSamplerDefault(Broken([0]), KEY, batch_size=2)


def test_with_dataset_default_reads_static_values_only() -> None:
    """The slow path of FuseMedML (every sample through the dynamic pipeline) is not taken with DatasetDefault."""
    from fuse.data import DatasetDefault, PipelineDefault

    def set_label(sample: Any) -> Any:
        sample[KEY] = int(sample["data.sample_id"]) % 3
        return sample

    def explode(sample: Any) -> Any:
        raise AssertionError("the dynamic pipeline must not run to read the classes")

    static = PipelineDefault("static", [(set_label, {})])
    dataset = DatasetDefault(9, static_pipeline=static, dynamic_pipeline=PipelineDefault("dynamic", [(explode, {})]))
    dataset.create()
    sampler = BatchSamplerDefault(dataset, KEY, batch_size=3, seed=0)
    assert len(sampler) == 3
    for batch in sampler:
        assert sorted(i % 3 for i in batch) == [0, 1, 2]

    # a key the static output lacks: "auto" falls back to get_multi (which runs the dynamic pipeline)
    def add_late(sample: Any) -> Any:
        sample["data.late"] = int(sample["data.sample_id"]) % 2
        return sample

    late = DatasetDefault(6, dynamic_pipeline=PipelineDefault("dynamic", [(add_late, {})]))
    late.create()
    late_sampler = BatchSamplerDefault(late, "data.late", batch_size=2, seed=0)
    assert all(sorted(i % 2 for i in batch) == [0, 1] for batch in late_sampler)
    with pytest.raises(MissingSampleKeyError, match=r"data\.late"):
        BatchSamplerDefault(late, "data.late", batch_size=2, class_source="static")
