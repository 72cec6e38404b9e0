"""SamplesCacher: round trips in the stored dtypes, hashes that change exactly when the pipeline does, stale
versions, selective deletion, several dirs, read-only opening, audits, crash safety and concurrent builders."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict
from fuse.data import (
    CorruptCachedSampleError,
    OpBase,
    OpLambda,
    OpSet,
    PipelineDefault,
    ReadOnlyCacheError,
    SampleCachingAudit,
    SampleCachingAuditError,
    SampleNotCachedError,
    SamplesCacher,
    StaleCacheWarning,
    UnstableIdentityError,
    sample_id_key,
)
from fuse_cache_test_ops import OpFakeLoad, make_cacher, morph, sample_seed

SUPPORT = Path(__file__).resolve().parents[2] / "support"
IDS = [f"s{i:03d}" for i in range(12)]


def fresh_sample(sample_id: str, shape: tuple[int, ...] = (8, 32, 32)) -> NDict:
    from fuse.core import create_initial_sample

    return OpFakeLoad(shape)(create_initial_sample(sample_id))


def assert_same_sample(a: NDict, b: NDict) -> None:
    assert list(a.keys()) == list(b.keys())
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert (a[key].dtype, a[key].shape) == (b[key].dtype, b[key].shape), key
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key


def child(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(SUPPORT / "fuse_cache_test_ops.py"), *map(str, args)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------- round trips
def test_round_trip_keeps_values_dtypes_order_and_gives_writable_arrays(tmp_path: Path) -> None:
    def everything(sample: NDict) -> NDict:
        sample["data.f32"] = np.arange(4096, dtype=np.float32).reshape(64, 64)
        sample["data.f_order"] = np.asfortranarray(np.arange(6000, dtype=np.float64).reshape(60, 100))
        sample["data.u8"] = np.arange(10000, dtype=np.uint8)
        sample["data.bool"] = np.ones(5000, dtype=bool)
        sample["data.small"] = np.array([1.5, 2.5])
        sample["data.empty"] = np.zeros((0, 3), dtype=np.int32)
        sample["data.objects"] = np.array(["a", None], dtype=object)
        sample["data.nested.list"] = [np.ones(3000), "x", 3]
        sample["data.none"] = None
        return sample

    cacher = SamplesCacher("rt", PipelineDefault("static", [(OpLambda(everything), {})]), tmp_path, verbose=0)
    cacher.cache_samples(["a"])
    loaded = cacher.load_sample("a")
    expected = everything(NDict({"data.initial_sample_id": "a", "data.sample_id": "a"}))
    assert [k for k in loaded if not k.startswith("internal")] == list(expected.keys())
    for key, value in expected.items():
        got = loaded[key]
        assert type(got) is type(value), key
        if isinstance(value, (np.ndarray, torch.Tensor)):
            assert (got.dtype, tuple(got.shape)) == (value.dtype, tuple(value.shape)), key
            np.testing.assert_array_equal(np.asarray(got), np.asarray(value))
    assert loaded["data.f_order"].flags.f_contiguous
    assert loaded["data.f32"].flags.writeable
    loaded["data.f32"][0, 0] = -1  # writable, and does not touch the cache
    assert cacher.load_sample("a")["data.f32"][0, 0] == 0


def test_zlib_codec_round_trip_and_smaller_on_disk(tmp_path: Path) -> None:
    def zeros(sample: NDict) -> NDict:
        sample["data.img"] = np.zeros((64, 64, 64), dtype=np.float32)
        return sample

    pipeline = PipelineDefault("static", [(OpLambda(zeros), {})])
    plain = SamplesCacher("plain", pipeline, tmp_path / "p", verbose=0)
    packed = SamplesCacher("packed", pipeline, tmp_path / "z", verbose=0, codec="zlib")
    for cacher in (plain, packed):
        cacher.cache_samples(["a"])
    np.testing.assert_array_equal(packed.load_sample("a")["data.img"], plain.load_sample("a")["data.img"])

    def size(root: Path) -> int:
        return sum(p.stat().st_size for p in root.rglob("*.val"))

    assert size(tmp_path / "z") * 10 < size(tmp_path / "p")
    with pytest.raises(ValueError, match="unknown codec 'lz4'"):
        SamplesCacher("bad", pipeline, tmp_path, codec="lz4")


def test_load_sample_keys_reads_only_those_keys(tmp_path: Path) -> None:
    cacher = make_cacher(str(tmp_path))
    cacher.cache_samples(IDS[:2])
    only = cacher.load_sample("s001", keys=["data.label", "data.seg"])
    assert sorted(only.keys()) == ["data.label", "data.seg"]
    np.testing.assert_array_equal(only["data.seg"], fresh_sample("s001")["data.seg"])
    assert list(cacher.load_sample("s001", keys=["data"]).keys()) == [k for k in fresh_sample("s001") if k != "x"]


def test_sample_id_keys_are_canonical() -> None:
    assert sample_id_key(np.int64(3)) == sample_id_key(3) == "3"
    assert sample_id_key("3") != sample_id_key(3) != sample_id_key(3.0)
    assert sample_id_key(np.str_("a")) == sample_id_key("a")
    assert sample_id_key(("a", np.int32(1))) == "('a', 1)"
    with pytest.raises(TypeError, match="cannot key a cache"):
        sample_id_key(object())


# ---------------------------------------------------------------------------------------------- hashing
class OpAddConstant(OpBase):
    def __init__(self, amount: float) -> None:
        super().__init__()
        self._amount = amount

    def __call__(self, sample_dict: NDict, key: str = "data.x") -> NDict:
        sample_dict[key] = self._amount
        return sample_dict


def hash_of(pipeline: PipelineDefault, tmp_path: Path) -> str:
    return SamplesCacher("h", pipeline, tmp_path, verbose=0).pipeline_hash


def test_hash_changes_with_constructor_arguments_kwargs_code_and_name(tmp_path: Path) -> None:
    base = hash_of(PipelineDefault("static", [(OpAddConstant(1.0), {"key": "data.x"})]), tmp_path)
    assert base == hash_of(PipelineDefault("static", [(OpAddConstant(1.0), {"key": "data.x"})]), tmp_path)
    assert base != hash_of(PipelineDefault("static", [(OpAddConstant(2.0), {"key": "data.x"})]), tmp_path)
    assert base != hash_of(PipelineDefault("static", [(OpAddConstant(1.0), {"key": "data.y"})]), tmp_path)
    assert base != hash_of(PipelineDefault("other", [(OpAddConstant(1.0), {"key": "data.x"})]), tmp_path)
    source = (
        "from fuse.data import OpBase\n"
        "class OpAddConstant(OpBase):\n"
        "    def __init__(self, amount):\n"
        "        super().__init__()\n"
        "        self._amount = amount\n"
        "    def __call__(self, sample_dict, key='data.x'):\n"
        "        sample_dict[key] = self._amount{}\n"
        "        return sample_dict\n"
    )
    hashes = []
    for version, body in enumerate(["", "", " + 1"]):  # the same module and class name; the last has other code
        module_file = tmp_path / f"v{version}" / "user_ops.py"
        module_file.parent.mkdir()
        module_file.write_text(source.format(body))
        spec = importlib.util.spec_from_file_location("user_ops", module_file)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        hashes.append(hash_of(PipelineDefault("static", [(module.OpAddConstant(1.0), {})]), tmp_path))
    assert hashes[0] == hashes[1] != hashes[2]


def test_hash_is_the_same_in_a_new_process(tmp_path: Path) -> None:
    here = make_cacher(str(tmp_path)).pipeline_hash
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from fuse_cache_test_ops import make_cacher; "
        "print(make_cacher(sys.argv[2]).pipeline_hash)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(SUPPORT), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here


def test_a_value_without_identity_is_refused_naming_it(tmp_path: Path) -> None:
    pipeline = PipelineDefault("static", [(OpSet(), {"key": "data.x", "value": object()})])
    with pytest.raises(UnstableIdentityError, match="pipeline 'static' op '0' kwargs"):
        SamplesCacher("u", pipeline, tmp_path)


# ---------------------------------------------------------------------------------------------- stale versions
def test_changed_pipeline_gets_a_new_dir_old_ones_warned_and_pruned(tmp_path: Path) -> None:
    old = SamplesCacher("s", PipelineDefault("static", [(OpAddConstant(1.0), {})]), tmp_path, verbose=0)
    old.cache_samples(["a"])
    assert old.load_sample("a")["data.x"] == 1.0
    with pytest.warns(StaleCacheWarning, match=r"1 directory of other pipeline versions.*cacher.prune\(\)"):
        new = SamplesCacher("s", PipelineDefault("static", [(OpAddConstant(2.0), {})]), tmp_path, verbose=0)
    new.cache_samples(["a"])
    assert new.load_sample("a")["data.x"] == 2.0  # never the stale 1.0
    assert new.stale_cache_dirs() == [tmp_path / "s" / old.pipeline_hash]
    with pytest.warns(StaleCacheWarning, match=r"prune\(\) kept 1 cache directory that another process has open"):
        assert new.prune() == []  # ``old`` still has it open
    assert old.load_sample("a")["data.x"] == 1.0
    old.close()
    assert new.prune() == [tmp_path / "s" / old.pipeline_hash]
    assert not (tmp_path / "s" / old.pipeline_hash).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SamplesCacher("s", PipelineDefault("static", [(OpAddConstant(2.0), {})]), tmp_path, verbose=0)
    description = (tmp_path / "s" / new.pipeline_hash / "pipeline_description.txt").read_text()
    assert "OpAddConstant(amount=2.0)" in description


def test_restart_cache_removes_every_version(tmp_path: Path) -> None:
    make_cacher(str(tmp_path)).cache_samples(["a"])
    restarted = make_cacher(str(tmp_path))
    assert restarted.cache_samples(["a"])["a"] == ["a"]
    wiped = SamplesCacher("cache_test", restarted.pipeline, tmp_path, restart_cache=True, verbose=0)
    with pytest.raises(SampleNotCachedError, match="sample 'a' is not in cache 'cache_test'"):
        wiped.load_sample("a")


# ---------------------------------------------------------------------------------------------- morphing, delete
def test_dropped_and_split_samples_are_cached(tmp_path: Path) -> None:
    cacher = SamplesCacher("m", PipelineDefault("static", [(OpLambda(morph), {})]), tmp_path, verbose=0)
    mapping = cacher.cache_samples(["a", "drop", "split"])
    assert mapping == {"a": ["a"], "drop": None, "split": [("split", 0), ("split", 1)]}
    assert cacher.load_sample(("split", 1))["data.part"] == 1
    assert cacher.load_sample(("split", 1))["data.initial_sample_id"] == "split"
    with pytest.raises(SampleNotCachedError):
        cacher.load_sample("drop")
    again = SamplesCacher("m", PipelineDefault("static", [(OpLambda(morph), {})]), tmp_path, verbose=0)
    assert again.cache_samples(["split", "drop", "a"]) == {"split": mapping["split"], "drop": None, "a": ["a"]}
    assert sorted(map(str, again.cached_sample_ids())) == ["a", "drop", "split"]


def test_delete_recomputes_only_the_chosen_samples(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    cacher = SamplesCacher(
        "d", PipelineDefault("static", [(OpFakeLoad(), {})]), tmp_path / "c", verbose=0, audit_first_sample=False
    )
    cacher.pipeline.ops[0]._log_dir = str(log)
    cacher.cache_samples(IDS[:4])
    assert cacher.delete(["s001", "s003", "not-cached"]) == 2
    with pytest.raises(SampleNotCachedError):
        cacher.load_sample("s001")
    cacher.cache_samples(IDS[:4])
    computed = "".join(p.read_text() for p in log.iterdir()).split()
    assert sorted(computed) == sorted([*IDS[:4], "s001", "s003"])
    assert_same_sample(cacher.load_sample("s003"), fresh_sample("s003"))
    assert cacher.recache(["s000"]) == {"s000": ["s000"]}


def test_errors_for_bad_ids_and_outputs(tmp_path: Path) -> None:
    cacher = make_cacher(str(tmp_path))
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        cacher.cache_samples(["a", "b", "a"])
    with pytest.raises(TypeError, match="cannot key a cache"):
        cacher.cache_samples([object()])

    def same_id(sample: NDict) -> NDict:
        sample["data.sample_id"] = "same"
        return sample

    colliding = SamplesCacher("c", PipelineDefault("static", [(OpLambda(same_id), {})]), tmp_path, verbose=0)
    with pytest.raises(ValueError, match="samples 'a' and 'b' both produce a sample with id 'same'"):
        colliding.cache_samples(["a", "b"])

    def unpicklable(sample: NDict) -> NDict:
        sample["data.f"] = lambda: 1
        return sample

    bad = SamplesCacher("p", PipelineDefault("static", [(OpLambda(unpicklable), {})]), tmp_path, verbose=0)
    with pytest.raises(TypeError, match="sample 'a' cannot be cached"):
        bad.cache_samples(["a"])
    with pytest.raises(ValueError, match="plain directory name"):
        SamplesCacher("a/b", cacher.pipeline, tmp_path)
    with pytest.raises(ValueError, match="cache_dirs is empty"):
        SamplesCacher("a", cacher.pipeline, [])


def test_an_error_mid_block_keeps_the_samples_computed_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUSE_TEST_FAIL_AT", "s005")  # outside the pipeline's identity: the hash stays the same

    def fail_at(sample: NDict) -> NDict:
        if sample["data.sample_id"] == os.environ.get("FUSE_TEST_FAIL_AT"):
            raise RuntimeError("cannot read the image of s005")
        return sample

    log = tmp_path / "log"
    log.mkdir()
    pipeline = PipelineDefault("static", [(OpLambda(fail_at), {}), (OpFakeLoad(log_dir=str(log)), {})])

    def computed() -> list[str]:
        return [line for path in log.iterdir() for line in path.read_text().split()]

    ids = [f"s{i:03d}" for i in range(10)]
    cacher = SamplesCacher("e", pipeline, tmp_path / "c", verbose=0)
    with pytest.raises(RuntimeError, match="s005"):
        cacher.cache_samples(ids)
    assert computed() == ids[:5]
    assert [i for i in ids if cacher._find_info(sample_id_key(i))[0]] == ids[:5]  # committed although the block failed
    assert not [
        key for key in cacher._places.claims_store().all_keys() if key.startswith("claim:")
    ]  # all claims released
    monkeypatch.delenv("FUSE_TEST_FAIL_AT")
    assert SamplesCacher("e", pipeline, tmp_path / "c", verbose=0).cache_samples(ids) == {i: [i] for i in ids}
    assert computed() == ids  # only the missing ones were computed again


@pytest.mark.parametrize("value", [torch.zeros(3000), [torch.zeros(2)], torch.tensor(1.0)])
def test_a_tensor_in_a_static_output_is_refused_naming_the_key(tmp_path: Path, value: Any) -> None:
    def with_tensor(sample: NDict) -> NDict:
        sample["data.t"] = value
        return sample

    cacher = SamplesCacher("t", PipelineDefault("static", [(OpLambda(with_tensor), {})]), tmp_path, verbose=0)
    with pytest.raises(TypeError, match=r"sample 'a': key 'data\.t' holds a torch tensor.*OpToTensor"):
        cacher.cache_samples(["a"])
    assert not cacher._find_info(sample_id_key("a"))[0]  # nothing half-written: the id is still missing


def test_a_damaged_file_is_reported_naming_the_sample(tmp_path: Path) -> None:
    cacher = make_cacher(str(tmp_path))
    cacher.cache_samples(["a"])
    cacher.finalize()
    (value_file,) = (tmp_path / "cache_test").rglob("*.val")
    value_file.write_bytes(value_file.read_bytes()[:1000])
    reader = SamplesCacher("cache_test", cacher.pipeline, tmp_path, read_only=True, verbose=0)
    with pytest.raises(CorruptCachedSampleError, match=rf"cached sample 'a' in {value_file}: truncated.*recache"):
        reader.load_sample("a")
    assert_same_sample(cacher.load_sample("a"), fresh_sample("a"))  # a writable cacher recomputes it


# ---------------------------------------------------------------------------------------------- places
def test_several_cache_dirs_read_all_write_where_told(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    pipeline = PipelineDefault("static", [(OpFakeLoad(), {})])
    to_second = SamplesCacher(
        "multi", pipeline, [first, second], custom_write_dir_callable=lambda dirs: dirs[1], verbose=0
    )
    to_second.cache_samples(["a"])
    assert list((second / "multi").rglob("*.val"))
    assert not list((first / "multi").rglob("*.val"))
    both = SamplesCacher("multi", pipeline, [first, second], verbose=0)
    both.cache_samples(["a", "b"])  # "a" found in the second dir, "b" written to the first
    assert list((first / "multi").rglob("*.val"))
    assert_same_sample(both.load_sample("a"), fresh_sample("a"))
    full = SamplesCacher("multi", pipeline, [first, second], verbose=0, min_free_bytes=2**62)
    with pytest.raises(OSError, match=r"no cache dir has .* GiB free"):
        full.cache_samples(["c"])


def test_read_only_reads_a_finished_cache_without_writing(tmp_path: Path) -> None:
    writer = make_cacher(str(tmp_path))
    writer.cache_samples(IDS[:3])
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    reader = SamplesCacher("cache_test", writer.pipeline, tmp_path, read_only=True, verbose=0)
    assert reader.cache_samples(IDS[:3]) == {i: [i] for i in IDS[:3]}
    assert_same_sample(reader.load_sample("s002"), fresh_sample("s002"))
    shipped = pickle.loads(pickle.dumps(reader))  # e.g. to a DataLoader worker started with spawn
    assert_same_sample(shipped.load_sample("s001"), fresh_sample("s001"))
    with pytest.raises(SampleNotCachedError, match="1 of 4 samples are not in the read-only cache"):
        reader.cache_samples(IDS[:4])
    with pytest.raises(ReadOnlyCacheError):
        reader.delete(["s000"])
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")} == before
    with pytest.raises(ReadOnlyCacheError, match="no cache at"):
        SamplesCacher("other", writer.pipeline, tmp_path, read_only=True).cache_samples(["a"])
    with pytest.raises(ValueError, match="read_only"):
        SamplesCacher("cache_test", writer.pipeline, tmp_path, read_only=True, restart_cache=True)


# ---------------------------------------------------------------------------------------------- audit
def test_audit_detects_a_cache_that_no_longer_matches(tmp_path: Path) -> None:
    source = tmp_path / "value.txt"
    source.write_text("1")

    def read_file(sample: NDict, path: str) -> NDict:
        sample["data.value"] = float(Path(path).read_text())
        return sample

    pipeline = PipelineDefault("static", [(OpLambda(read_file), {"path": str(source)})])
    SamplesCacher("audit", pipeline, tmp_path / "c", verbose=0).cache_samples(["a", "b"])
    source.write_text("2")  # the op's input changed: no code hash can see it
    quiet = SamplesCacher("audit", pipeline, tmp_path / "c", verbose=0, audit_first_sample=False, audit_rate=None)
    assert quiet.load_sample("a")["data.value"] == 1.0
    audited = SamplesCacher("audit", pipeline, tmp_path / "c", verbose=0)
    with pytest.raises(SampleCachingAuditError, match=r"(?s)sample 'a'.*key 'data.value': cached 1.0, now 2.0"):
        audited.load_sample("a")
    every_other = SamplesCacher(
        "audit", pipeline, tmp_path / "c", verbose=0, audit_first_sample=False, audit_rate=2, audit_units="samples"
    )
    every_other.load_sample("a")
    with pytest.raises(SampleCachingAuditError):
        every_other.load_sample("b")
    source.write_text("1")
    tolerant = SampleCachingAudit(audit_rate=None)
    SamplesCacher("audit", pipeline, tmp_path / "c", verbose=0, audit=tolerant).load_sample("a")


# ---------------------------------------------------------------------------------------------- processes
def test_workers_build_the_same_cache(tmp_path: Path) -> None:
    pipeline = PipelineDefault("static", [(OpFakeLoad(), {})])
    parallel = SamplesCacher("w", pipeline, tmp_path, workers=2, verbose=0)
    assert parallel.cache_samples(IDS) == {i: [i] for i in IDS}
    for sample_id in IDS:
        assert_same_sample(parallel.load_sample(sample_id), fresh_sample(sample_id))


def test_killed_while_caching_then_rerun_equals_a_fresh_cache(tmp_path: Path) -> None:
    killed = child(tmp_path / "c", 20, 0, "-", "s012")
    assert killed.returncode == -9, killed.stderr
    partial = make_cacher(str(tmp_path / "c"))
    done = [i for i in IDS if partial._find_info(sample_id_key(i))[0]]
    # samples are committed a block at a time: a prefix of what was computed before the kill, nothing after it
    assert 1 <= len(done) <= 12
    assert done == IDS[: len(done)]
    # a kill in the middle of writing a value file: leaves an orphan file, never a servable sample
    code = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1])\n"
        "import fuse.data.cache._codec as codec\n"
        "from fuse_cache_test_ops import make_cacher\n"
        "original = codec.ChunkReader.read\n"
        "def dying(self, size=-1):\n"
        "    if self._index == 2:  # the header went to the file: die before the array\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return original(self, size)\n"
        "codec.ChunkReader.read = dying\n"
        "make_cacher(sys.argv[2]).cache_samples(['s012'])\n"
    )
    died = subprocess.run(
        [sys.executable, "-c", code, str(SUPPORT), str(tmp_path / "c")], check=False, capture_output=True
    )
    assert died.returncode == -9, died.stderr
    assert not partial._find_info(sample_id_key("s012"))[0]
    rerun = child(tmp_path / "c", 20)
    assert rerun.returncode == 0, rerun.stderr
    resumed = make_cacher(str(tmp_path / "c"))
    for sample_id in [f"s{i:03d}" for i in range(20)]:
        assert_same_sample(resumed.load_sample(sample_id), fresh_sample(sample_id))


def test_two_processes_build_one_cache_together(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(SUPPORT / "fuse_cache_test_ops.py"), str(tmp_path / "c"), "30", "0.05", str(log)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    per_process = [p.read_text().split() for p in log.iterdir()]
    computed = [sample_id for lines in per_process for sample_id in lines]
    ids = [f"s{i:03d}" for i in range(30)]
    assert sorted(set(computed)) == ids
    assert len(computed) <= len(ids) + 2  # at most one duplicate per process
    cacher = make_cacher(str(tmp_path / "c"))
    for sample_id in ids:
        assert_same_sample(cacher.load_sample(sample_id), fresh_sample(sample_id))


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    cacher = make_cacher(str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    owner = {"host": __import__("socket").gethostname(), "pid": int(dead.stdout), "token": "x", "time": time.time()}
    cacher._places.claims_store().add(f"claim:{sample_id_key('a')}", owner, expire=600)
    assert cacher.cache_samples(["a"]) == {"a": ["a"]}
    assert cacher.load_sample("a")["data.label"] == fresh_sample("a")["data.label"]
    assert sample_seed("a") == sample_seed("a")


def test_audit_detects_a_changed_op_when_the_hash_is_fixed(tmp_path: Path) -> None:
    """With use_pipeline_hash=False a changed op reuses the directory: the audit is then what catches it."""

    def cacher_for(amount: float, **kwargs: Any) -> SamplesCacher:
        pipeline = PipelineDefault("static", [(OpAddConstant(amount), {})])
        return SamplesCacher("fixed", pipeline, tmp_path, use_pipeline_hash=False, verbose=0, **kwargs)

    cacher_for(1.0).cache_samples(["a", "b"])
    changed = cacher_for(2.0, audit_rate=1, audit_units="samples", audit_first_sample=False)
    assert changed.pipeline_hash == "hash_fixed"
    with pytest.raises(SampleCachingAuditError, match=r"(?s)sample 'a'.*key 'data\.x': cached 1\.0, now 2\.0"):
        changed.load_sample("a")
