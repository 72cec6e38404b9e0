"""FuseMedML 0.4.1 names and keywords that fuse-data keeps: ``DatasetBase``, ``SamplesCacher.delete_cache`` (which
must never delete anything but a cache), ``run_cached_func``, renamed keywords, and the re-exported sample helpers."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fuse.data import (
    DatasetBase,
    DatasetDefault,
    NDict,
    OpSet,
    PipelineDefault,
    ReadOnlyCacheError,
    SampleCachingAudit,
    SampleCachingAuditError,
    SamplesCacher,
    UnstableIdentityError,
    create_initial_sample,
    get_sample_id,
    get_sample_id_key,
    run_cached_func,
)


def _cacher(cache_dirs: Any, value: int = 1, **kwargs: Any) -> SamplesCacher:
    pipeline = PipelineDefault("static", [(OpSet(), {"key": "data.x", "value": value})])
    return SamplesCacher("compat", pipeline, cache_dirs, verbose=0, **kwargs)


# ---------------------------------------------------------------------------- re-exports
def test_fusemedml_imports_from_fuse_data_work() -> None:
    sample = create_initial_sample("a")
    assert isinstance(sample, NDict)
    assert get_sample_id(sample) == sample[get_sample_id_key()] == "a"


# ---------------------------------------------------------------------------- renamed keywords
def test_set_final_sample_ids_accepts_fusemedmls_keyword_with_a_deprecation_warning() -> None:
    dataset = DatasetDefault(["a", "b", "c"])
    dataset.create()
    with pytest.warns(DeprecationWarning, match=r"set_final_sample_ids\(final_sample_ids=\.\.\.\).*sample_ids="):
        dataset.set_final_sample_ids(final_sample_ids=["c"])
    assert dataset.get_all_sample_ids() == ["c"]


def test_audit_takes_fusemedmls_two_arguments_and_names_the_sample_from_its_id() -> None:
    audit = SampleCachingAudit()
    cached = NDict({"data": {"sample_id": "case_7", "x": np.array([1.0, 2.0])}})
    fresh = NDict({"data": {"sample_id": "case_7", "x": np.array([1.0, 2.5])}})
    audit.audit(cached, cached)  # FuseMedML's positional call: equal samples pass
    with pytest.raises(SampleCachingAuditError, match=r"(?s)sample 'case_7' .*data\.x"):
        audit.audit(cached, fresh)
    deprecated = pytest.warns(DeprecationWarning, match=r"audit\((cached|fresh)_sample=\.\.\.\) is deprecated")
    with deprecated, pytest.raises(SampleCachingAuditError, match=r"data\.x"):
        audit.audit(cached_sample=cached, fresh_sample=fresh)


# ---------------------------------------------------------------------------- DatasetBase
def test_dataset_default_is_a_dataset_base_and_an_incomplete_subclass_names_what_it_lacks() -> None:
    assert isinstance(DatasetDefault(["a"]), DatasetBase)

    class Partial(DatasetBase):
        def summary(self, *args: Any, **kwargs: Any) -> str:
            return "partial"

    # refused at construction, naming what is missing (FuseMedML's failed at the first call of a missing method)
    with pytest.raises(TypeError, match=r"Partial.*__getitem__.*__len__.*create.*get_multi.*subset"):
        Partial()  # type: ignore[abstract]


# ---------------------------------------------------------------------------- delete_cache
@pytest.mark.filterwarnings("ignore::fuse.data.StaleCacheWarning")  # the versions delete_cache removes
def test_delete_cache_removes_every_version_in_every_cache_dir_and_the_cacher_still_works(tmp_path: Path) -> None:
    dirs = [tmp_path / "first", tmp_path / "second"]
    _cacher(dirs, value=1).cache_samples(["a"])
    cacher = _cacher(dirs, value=2)  # another pipeline version beside the first
    cacher.cache_samples(["a", "b"])
    (dirs[1] / "compat" / "hash_copied_by_hand").mkdir(parents=True)
    cacher.delete_cache()
    assert not (dirs[0] / "compat").exists()
    assert not (dirs[1] / "compat").exists()
    assert sorted(os.listdir(dirs[0])) == []
    cacher.cache_samples(["a"])
    assert cacher.load_sample("a")["data.x"] == 2


def test_delete_cache_and_restart_cache_refuse_a_directory_that_is_not_only_a_cache(tmp_path: Path) -> None:
    dirs = [tmp_path / "first", tmp_path / "second"]
    cacher = _cacher(dirs)
    cacher.cache_samples(["a"])
    (dirs[1] / "compat").mkdir(parents=True)
    (dirs[1] / "compat" / "patients.csv").write_text("precious")  # a wrong cache_dirs / unique_name
    with pytest.raises(ValueError, match=rf"refusing to delete '{re.escape(str(dirs[1] / 'compat'))}'.*patients\.csv"):
        cacher.delete_cache()
    with pytest.raises(ValueError, match=r"patients\.csv"):
        _cacher(dirs, restart_cache=True)
    assert (dirs[1] / "compat" / "patients.csv").read_text() == "precious"
    assert cacher.cache_dirs()[0].is_dir()  # all or nothing: the first dir's cache is still there


@pytest.mark.filterwarnings("ignore::fuse.data.StaleCacheWarning")
def test_delete_cache_refuses_a_symbolic_link_and_a_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "hash_looks_like_one").mkdir()
    (tmp_path / "links").mkdir()
    os.symlink(elsewhere, tmp_path / "links" / "compat")
    with pytest.raises(ValueError, match="symbolic link"):
        _cacher(tmp_path / "links").delete_cache()
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "compat").write_text("x")
    with pytest.raises(ValueError, match="not a file"):
        _cacher(tmp_path / "files").delete_cache()
    assert (elsewhere / "hash_looks_like_one").is_dir()


def test_a_read_only_cacher_may_not_delete_the_cache(tmp_path: Path) -> None:
    _cacher(tmp_path).cache_samples(["a"])
    reader = _cacher(tmp_path, read_only=True)
    with pytest.raises(ReadOnlyCacheError, match="delete_cache"):
        reader.delete_cache()
    assert reader.load_sample("a")["data.x"] == 1


# ---------------------------------------------------------------------------- run_cached_func
# the functions log their calls to a file named by an argument: a global list they referenced would be part of
# their identity, and its changing content would change the key


def _scaled(log: str, values: np.ndarray, factor: float = 1.0) -> np.ndarray:
    with open(log, "a") as f:
        f.write("scaled\n")
    return values * factor


def _shifted(log: str, values: np.ndarray, factor: float = 1.0) -> np.ndarray:
    with open(log, "a") as f:
        f.write("shifted\n")
    return values + factor


def _calls(log: str) -> int:
    return len(Path(log).read_text().splitlines()) if os.path.exists(log) else 0


def test_run_cached_func_computes_once_per_code_and_arguments(tmp_path: Path) -> None:
    log, cache = str(tmp_path / "calls.log"), tmp_path / "c"
    values = np.arange(3.0)
    first = run_cached_func(cache, _scaled, log, values, factor=2.0)
    again = run_cached_func(cache, _scaled, log, values.copy(), factor=2.0)  # equal content: loaded
    np.testing.assert_array_equal(first, values * 2)
    np.testing.assert_array_equal(again, first)
    assert _calls(log) == 1
    run_cached_func(cache, _scaled, log, values, factor=3.0)  # other arguments
    run_cached_func(cache, _scaled, log, np.arange(4.0), factor=2.0)  # other array content
    shifted = run_cached_func(cache, _shifted, log, values, factor=2.0)  # other code
    assert _calls(log) == 4
    np.testing.assert_array_equal(shifted, values + 2)
    assert len(list(cache.glob("*.pkl.gz"))) == 4


def test_run_cached_func_passes_keywords_named_like_its_own_parameters(tmp_path: Path) -> None:
    def describe(func: str, cache_dir: str) -> str:
        return f"{func}/{cache_dir}"

    assert run_cached_func(tmp_path, describe, func="f", cache_dir="d") == "f/d"


def test_run_cached_func_recomputes_a_damaged_result_with_a_warning(tmp_path: Path) -> None:
    log, cache = str(tmp_path / "calls.log"), tmp_path / "c"
    run_cached_func(cache, _scaled, log, np.arange(2.0))
    (stored,) = cache.glob("*.pkl.gz")
    stored.write_bytes(b"not a gzip pickle")
    with pytest.warns(UserWarning, match=rf"cannot read {re.escape(str(stored))}"):
        result = run_cached_func(cache, _scaled, log, np.arange(2.0))
    np.testing.assert_array_equal(result, np.arange(2.0))
    assert _calls(log) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_cached_func(cache, _scaled, log, np.arange(2.0))  # rewritten: read back without a warning
    assert _calls(log) == 2


def test_run_cached_func_refuses_an_argument_without_a_stable_identity(tmp_path: Path) -> None:
    with pytest.raises(UnstableIdentityError, match="run_cached_func"):
        run_cached_func(tmp_path, list, (i for i in range(3)))  # a generator: only its memory address is known
    assert not list(tmp_path.iterdir())
