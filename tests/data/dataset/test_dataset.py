"""DatasetDefault and DatasetWrapSeqToDict: id modes, index vs id lookup, morphing cached and uncached, collect
markers, subsets that leave the dataset alone, multiprocess reads, DataLoader use, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, WorkerFailedError
from fuse.data import (
    BatchSamplerDefault,
    CollateDefault,
    DatasetDefault,
    DatasetWrapSeqToDict,
    ExportDataset,
    MissingSampleKeyError,
    OpBase,
    OpCollectMarker,
    OpLambda,
    OpToTensor,
    PipelineDefault,
    SamplesCacher,
    UnstableIdentityError,
)
from fuse_cache_test_ops import OpFakeLoad, morph


def static_pipeline() -> PipelineDefault:
    return PipelineDefault("static", [(OpFakeLoad(), {}), (OpLambda(morph), {})])


class OpFailIfRun(OpBase):
    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        raise AssertionError(f"ops after the collect marker must not run (sample {sample_dict['data.sample_id']!r})")


IDS = ["a", "bb", "drop", "split", "c"]
FINAL = ["a", "bb", ("split", 0), ("split", 1), "c"]


@pytest.fixture
def cached(tmp_path: Path) -> DatasetDefault:
    pipeline = static_pipeline()
    dataset = DatasetDefault(IDS, pipeline, None, SamplesCacher("ds", pipeline, tmp_path, verbose=0))
    dataset.create()
    return dataset


def test_cached_and_uncached_morphing_give_the_same_samples(cached: DatasetDefault) -> None:
    uncached = DatasetDefault(IDS, static_pipeline(), allow_uncached_sample_morphing=True)
    uncached.create()
    assert cached.get_all_sample_ids() == uncached.get_all_sample_ids() == FINAL
    assert len(cached) == 5
    for index in range(len(cached)):
        a, b = cached[index], uncached[index]
        assert a["data.sample_id"] == b["data.sample_id"]
        np.testing.assert_array_equal(a["data.img"], b["data.img"])
    assert cached[("split", 1)]["data.initial_sample_id"] == "split"
    assert cached[-1]["data.sample_id"] == "c"


def test_without_cacher_morphing_must_be_allowed() -> None:
    dataset = DatasetDefault(IDS, static_pipeline())
    dataset.create()
    with pytest.raises(ValueError, match=r"static pipeline dropped sample 'drop'.*allow_uncached_sample_morphing"):
        dataset.get_by_id("drop")
    assert dataset.get_by_id("a")["data.label"] in (0, 1)


def test_integer_ids_index_and_lookup() -> None:
    def tag(sample: NDict) -> NDict:
        sample["data.tag"] = sample["data.sample_id"] * 10
        return sample

    dataset = DatasetDefault([30, 10, 20], PipelineDefault("static", [(OpLambda(tag), {})]))
    dataset.create()
    assert dataset[0]["data.tag"] == 300  # an int is an index
    assert dataset.get_by_id(10)["data.tag"] == 100  # ... and get_by_id looks the id up
    assert dataset.get_by_id(np.int64(20))["data.tag"] == 200
    with pytest.raises(KeyError, match="sample id 5 is not one of this dataset's 3 sample ids"):
        dataset.get_by_id(5)
    with pytest.raises(IndexError, match="sample index 3 is out of range for a dataset of 3 samples"):
        dataset[3]


def test_running_int_and_external_modes(tmp_path: Path) -> None:
    running = DatasetDefault(4, PipelineDefault("static", [(OpFakeLoad(), {})]))
    running.create()
    assert len(running) == 4
    assert running.get_all_sample_ids() == [0, 1, 2, 3]
    assert running[2]["data.sample_id"] == 2
    assert "4 samples (running_int ids 0..3)" in running.summary()
    pipeline = PipelineDefault("static", [(OpFakeLoad(), {})])
    external = DatasetDefault(None, pipeline, cacher=SamplesCacher("ext", pipeline, tmp_path, verbose=0))
    external.create()
    assert external["anything"]["data.name"] == "patient-anything"  # cached on first access
    assert external[7]["data.sample_id"] == 7  # with external ids an int is an id too
    with pytest.raises(TypeError, match="external ids"):
        len(external)
    assert "external sample ids" in external.summary()
    with pytest.raises(ValueError, match="allow_uncached_sample_morphing needs the list of sample ids"):
        DatasetDefault(None, pipeline, allow_uncached_sample_morphing=True)


def test_collect_marker_reads_only_static_deps_and_stops_the_dynamic_pipeline(cached: DatasetDefault) -> None:
    dynamic = PipelineDefault(
        "dynamic",
        [
            (OpLambda(lambda s: s.merge({"data.double": s["data.label"] * 2})), {}),
            (OpCollectMarker("sampler", static_key_deps=["data.label"]), {}),
            (OpFailIfRun(), {}),
        ],
    )
    dataset = DatasetDefault(IDS, cached.static_pipeline, dynamic, cached.cacher)
    dataset.create()
    sample = dataset.getitem(0, collect_marker_name="sampler")
    assert "data.img" not in sample
    assert sample["data.double"] == 2 * sample["data.label"]
    labels = dataset.get_multi(keys=["data.double"], collect_marker_name="sampler", verbose=0)
    assert [list(s.keys()) for s in labels] == [["data.double"]] * 5
    with pytest.raises(AssertionError, match="must not run"):
        dataset[0]
    with pytest.raises(ValueError, match="no OpCollectMarker named 'nope'"):
        dataset.getitem(0, collect_marker_name="nope")


def test_get_multi_in_workers_equals_in_process(cached: DatasetDefault) -> None:
    here = cached.get_multi(keys=["data.sample_id", "data.seg"], verbose=0)
    there = cached.get_multi(workers=2, keys=["data.sample_id", "data.seg"], verbose=0)
    assert [s["data.sample_id"] for s in there] == FINAL
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a["data.seg"], b["data.seg"])
    with pytest.raises(WorkerFailedError, match=r"has no key 'data\.nope'"):
        cached.get_multi(items=[0], keys=["data.nope"], verbose=0)


def test_get_static_values_skips_the_dynamic_pipeline(cached: DatasetDefault) -> None:
    dynamic = PipelineDefault("dynamic", [(OpFailIfRun(), {})])
    dataset = DatasetDefault(IDS, cached.static_pipeline, dynamic, cached.cacher)
    dataset.create()
    labels = dataset.get_static_values("data.label")
    assert labels == [s["data.label"] for s in cached.get_multi(verbose=0)]
    with pytest.raises(MissingSampleKeyError, match=r"sample 'a' has no key 'data\.missing'"):
        dataset.get_static_values("data.missing", items=[0])


def test_subset_returns_a_new_dataset(cached: DatasetDefault) -> None:
    one = cached.subset([3])
    assert one.get_all_sample_ids() == [("split", 1)]
    assert cached.subset(0).get_all_sample_ids() == ["a"]
    assert cached.subset([-1, 0]).get_all_sample_ids() == ["c", "a"]
    assert cached.get_all_sample_ids() == FINAL
    with pytest.raises(IndexError, match="subset index 9 is out of range for 5 samples"):
        cached.subset([9])


def test_add_sample_ids_and_recreate_computes_only_the_new_ones(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    op = OpFakeLoad()
    op._log_dir = str(log)
    pipeline = PipelineDefault("static", [(op, {})])
    dataset = DatasetDefault(["a", "b"], pipeline, cacher=SamplesCacher("add", pipeline, tmp_path / "c", verbose=0))
    dataset.create()
    dataset.add_sample_ids_and_recreate(["c"])
    assert dataset.get_all_sample_ids() == ["a", "b", "c"]
    assert sorted("".join(p.read_text() for p in log.iterdir()).split()) == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"already in the dataset: \['a'\]"):
        dataset.add_sample_ids_and_recreate(["a"])


def test_constructor_and_usage_errors(tmp_path: Path) -> None:
    pipeline = PipelineDefault("static", [(OpFakeLoad(), {})])
    with pytest.raises(ValueError, match="different names"):
        DatasetDefault(["a"], pipeline, PipelineDefault("static", []))
    other = PipelineDefault("static2", [(OpLambda(morph), {})])
    with pytest.raises(ValueError, match="not this dataset's static pipeline"):
        DatasetDefault(["a"], pipeline, cacher=SamplesCacher("x", other, tmp_path, verbose=0))
    with pytest.raises(TypeError, match="sample_ids must be a sequence of ids"):
        DatasetDefault("abc", pipeline)  # type: ignore[arg-type]
    not_created = DatasetDefault(["a"], pipeline)
    with pytest.raises(RuntimeError, match=r"call dataset.create\(\) before reading"):
        not_created[0]
    dropping = DatasetDefault(["a"], pipeline, PipelineDefault("dynamic", [(OpLambda(lambda s: None), {})]))
    dropping.create()
    with pytest.raises(ValueError, match="dynamic pipeline dropped sample 'a'"):
        dropping[0]


def test_data_loader_with_workers_and_collate(cached: DatasetDefault) -> None:
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": "data.img"})])
    dataset = DatasetDefault(IDS, cached.static_pipeline, dynamic, cached.cacher)
    dataset.create()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2, collate_fn=CollateDefault(skip_keys=["data.part"])
    )
    batches = list(loader)
    assert [sample_id for batch in batches for sample_id in batch["data.sample_id"]] == FINAL
    assert batches[0]["data.img"].shape == (2, 8, 32, 32)
    assert batches[0]["data.img"].dtype == torch.float32


def test_export_reads_a_dataset(cached: DatasetDefault) -> None:
    frame = ExportDataset.export_to_dataframe(cached, ["data.label"], verbose=0)
    assert frame["data.sample_id"].tolist() == FINAL
    assert frame["data.label"].tolist() == cached.get_static_values("data.label")


class Pairs:
    """A torch-style dataset of (image, label) tuples."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return np.full((4, 4), index, dtype=np.float32), index % 2


def test_wrap_seq_to_dict_with_and_without_cache(tmp_path: Path) -> None:
    plain = DatasetWrapSeqToDict("train", Pairs(), ["data.img", "data.label"])
    plain.create()
    assert plain[2]["data.sample_id"] == ("train", 2)
    assert plain[2]["data.label"] == 0
    np.testing.assert_array_equal(plain[1]["data.img"], Pairs()[1][0])
    with pytest.raises(UnstableIdentityError, match="pass dataset_identity="):
        DatasetWrapSeqToDict("train", Pairs(), ["data.img", "data.label"], cache_dir=tmp_path)
    cached = DatasetWrapSeqToDict(
        "train", Pairs(), ["data.img", "data.label"], cache_dir=tmp_path, dataset_identity="pairs-v1"
    )
    cached.create()
    assert (tmp_path / "wrap_train").is_dir()
    np.testing.assert_array_equal(cached[2]["data.img"], Pairs()[2][0])
    wrong = DatasetWrapSeqToDict("t", Pairs(), ["a", "b", "c"])
    wrong.create()
    with pytest.raises(ValueError, match="has 2 elements but sample_keys names 3"):
        wrong[0]


def test_balanced_sampler_over_a_cached_dataset_in_two_ranks(tmp_path: Path) -> None:
    """Classes come from the cache (only the label key read; the dynamic pipeline never runs); two ranks get
    disjoint, balanced shares that cover the dataset, and the dataset is left alone."""
    pipeline = PipelineDefault("static", [(OpFakeLoad(), {})])
    ids = [f"p{i:02d}" for i in range(40)]
    dataset = DatasetDefault(
        ids, pipeline, PipelineDefault("dynamic", [(OpFailIfRun(), {})]), SamplesCacher("bal", pipeline, tmp_path)
    )
    dataset.create()
    labels = dataset.get_static_values("data.label")
    ranks = [BatchSamplerDefault(dataset, "data.label", batch_size=4, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    seen = [{i for batch in sampler for i in batch} for sampler in ranks]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(len(ids)))
    for sampler in ranks:
        for batch in sampler:
            assert sorted(labels[i] for i in batch) == [0, 0, 1, 1]
    assert dataset.get_all_sample_ids() == ids


class OpFakeLoadFuseMedML(OpBase):
    """FuseMedML's test op (test_dataset_default.py): case_3 dropped, case_4 split in two, arrays seeded."""

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> Any:
        from fuse.core import Seed, create_initial_sample

        def generate(seed: int, shape: tuple[int, ...]) -> dict[str, Any]:
            Seed.set_seed(seed)
            return {"data.cc.img": np.random.rand(*shape), "data.cc.dicom_tags": [10, 13, 40, "banana"]}

        sample_id = sample_dict["data.sample_id"]
        if sample_id == "case_1":
            return sample_dict.merge(generate(1337, (30, 20, 20)))
        if sample_id == "case_2":
            return sample_dict.merge(generate(1234, (10, 100, 100)))
        if sample_id == "case_3":
            return None
        first = create_initial_sample("case_4", "case_4_subcase_1").merge(generate(41, (30, 20, 20)))
        second = create_initial_sample("case_4", "case_4_subcase_2").merge(generate(42, (10, 100, 100)))
        return [first, second]


def test_fusemedml_pinned_sums_cached_and_uncached(tmp_path: Path) -> None:
    """FuseMedML's dataset tests: the same final ids with and without a cache, and its pinned sums (the second
    pinned to 1 ULP: numpy 2 sums one ULP apart from the number FuseMedML recorded)."""
    static = PipelineDefault("static_pipeline", [(OpFakeLoadFuseMedML(), {})])
    ids = ["case_1", "case_2", "case_3", "case_4"]
    cached = DatasetDefault(
        ids, static, cacher=SamplesCacher("dataset_test_cache", static, [tmp_path / "a", tmp_path / "b"])
    )
    cached.create(num_workers=0)
    uncached = DatasetDefault(ids, static, allow_uncached_sample_morphing=True)
    uncached.create(num_workers=0)
    assert sorted(cached.get_all_sample_ids()) == sorted(uncached.get_all_sample_ids())
    assert cached[3]["data"]["cc"]["img"].sum() == uncached[3]["data"]["cc"]["img"].sum() == 49948.825007353706
    plain = DatasetDefault(["case_1", "case_2"], static)
    plain.create()
    assert plain[1]["data.cc.img"].sum() == pytest.approx(50012.88698394645, rel=1e-15)
    assert cached.get_by_id("case_2")["data.cc.img"].sum() == plain[1]["data.cc.img"].sum()


def test_read_only_cache_serves_data_loader_workers(cached: DatasetDefault, tmp_path: Path) -> None:
    """A finished cache opened read-only (as on every node of a multi-node job) feeds DataLoader workers."""
    assert cached.cacher is not None
    reader = SamplesCacher("ds", cached.static_pipeline, tmp_path, read_only=True, verbose=0)
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": "data.seg"})])
    dataset = DatasetDefault(IDS, cached.static_pipeline, dynamic, reader)
    dataset.create()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=5, num_workers=2, collate_fn=CollateDefault(skip_keys=["data.part"])
    )
    (batch,) = list(loader)
    assert batch["data.sample_id"] == FINAL
    for index in range(len(FINAL)):
        np.testing.assert_array_equal(batch["data.seg"][index].numpy(), cached[index]["data.seg"])
