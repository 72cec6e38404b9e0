"""A cache is never stale: every change below, made between two processes, gives a new pipeline hash, and the
second process gets samples computed by the code it runs (FuseMedML, and fuse before this identity, served the
first process's samples). The audit catches what no hash can see, beyond the first sample, and does not crash a
node that has the cache but not the raw data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample, defining_module
from fuse.data import (
    DatasetDefault,
    OpLambda,
    PipelineDefault,
    SampleCachingAudit,
    SampleCachingAuditError,
    SampleCachingAuditWarning,
    SamplesCacher,
    UnstableIdentityError,
    value_identity,
)
from fuse.data.cache import _code_walk as code_walk_module
from fuse.data.cache import _identity as identity_module
from fuse.data.cache import _origin as origin_module

QUIET = "SampleCachingAudit(audit_first_sample=False, audit_rate=None, audit_every_samples=None)"

# Builds the user's pipeline (imported, or executed like a notebook cell), caches sample "a" with the audit off
# (so that only the hash decides what is served) and reports the hash, the value served and the value the
# pipeline computes now.
DRIVER = textwrap.dedent(
    f"""
    import json, sys, types
    project, cache_dir, mode = sys.argv[1:4]
    sys.path[:0] = sys.argv[4:] + [project]
    from fuse.core import create_initial_sample
    from fuse.data import SampleCachingAudit, SamplesCacher
    if mode == "import":
        import user_ops
    else:  # a notebook cell: no importable module, no readable source
        user_ops = types.SimpleNamespace()
        namespace = {{"__name__": "__main__"}}
        exec(compile(open(project + "/user_ops.py").read(), "<cell>", "exec"), namespace)
        user_ops.__dict__.update(namespace)
    pipeline = user_ops.pipeline()
    cacher = SamplesCacher("stale", pipeline, cache_dir, verbose=0, audit={QUIET})
    getattr(user_ops, "after_build", lambda cacher: None)(cacher)
    cacher.cache_samples(["a"])
    served = float(cacher.load_sample("a")["data.x"])
    fresh = float(pipeline(create_initial_sample("a"))["data.x"])
    print(json.dumps({{"hash": cacher.pipeline_hash, "served": served, "fresh": fresh}}))
    """
)

OP_HEADER = textwrap.dedent(
    """
    import os
    import numpy as np
    from fuse.data import OpBase, OpLambda, PipelineDefault

    class OpCompute(OpBase):
        def __init__(self, table=None):
            super().__init__()
            self._table = table

        def __call__(self, sample_dict):
            sample_dict["data.x"] = float(compute(self))
            return sample_dict

    def pipeline():
        return PipelineDefault("static", [(OpCompute(), {})])
    """
)


def run(project: Path, cache: Path, mode: str = "import", env: dict[str, str] | None = None) -> dict[str, Any]:
    (project / "driver.py").write_text(DRIVER)
    extra = [str(project / "site"), str(project / "proj" / "src")]
    completed = subprocess.run(
        [sys.executable, "-B", str(project / "driver.py"), str(project), str(cache), mode, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def write(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def assert_not_stale(
    tmp_path: Path, before: dict[str, str], after: dict[str, str], mode: str = "import", control: bool = False
) -> None:
    project, cache = tmp_path / "project", tmp_path / "cache"
    write(project, before)
    first = run(project, cache, mode)
    assert first["served"] == first["fresh"]
    if control:  # nothing changed: the same hash in a new process, and the cache is reused
        assert run(project, cache, mode) == first
    write(project, after)
    second = run(project, cache, mode)
    assert second["fresh"] != first["fresh"], "the edit must change what the pipeline computes"
    assert second["hash"] != first["hash"]
    assert second["served"] == second["fresh"]  # not the first process's sample


SAME_MODULE = OP_HEADER + "def compute(op):\n    return helper(1.0)\n\ndef helper(x):\n    return x + 1\n"
OTHER_MODULE = OP_HEADER + "from user_helpers import helper\n\ndef compute(op):\n    return helper(1.0)\n"
MODULE_ATTRIBUTE = OP_HEADER + "import user_helpers as h\n\ndef compute(op):\n    return h.helper(1.0)\n"
DEFAULT_ARGUMENT = (
    OP_HEADER + "def compute(op):\n    return helper(1.0)\n\ndef helper(x, amount=1):\n    return x + amount\n"
)
LOCAL_IMPORT = OP_HEADER + "def compute(op):\n    from user_helpers import helper\n\n    return helper(1.0)\n"
CONSTANT = OP_HEADER + "OFFSET = 1.0\n\ndef compute(op):\n    return 1.0 + OFFSET\n"
HELPERS = "def helper(x):\n    return x + 1\n"


@pytest.mark.parametrize(
    ("change", "before", "after"),
    [
        ("helper in the same module", {"user_ops.py": SAME_MODULE}, {"user_ops.py": SAME_MODULE.replace("+ 1", "+ 2")}),
        (
            "helper in another module",
            {"user_ops.py": OTHER_MODULE, "user_helpers.py": HELPERS},
            {"user_helpers.py": HELPERS.replace("+ 1", "+ 2")},
        ),
        (
            "helper reached as a module attribute",
            {"user_ops.py": MODULE_ATTRIBUTE, "user_helpers.py": HELPERS},
            {"user_helpers.py": HELPERS.replace("+ 1", "+ 2")},
        ),
        (
            "helper imported inside the function",
            {"user_ops.py": LOCAL_IMPORT, "user_helpers.py": HELPERS},
            {"user_helpers.py": HELPERS.replace("+ 1", "+ 2")},
        ),
        (
            "default argument of a helper",
            {"user_ops.py": DEFAULT_ARGUMENT},
            {"user_ops.py": DEFAULT_ARGUMENT.replace("amount=1", "amount=2")},
        ),
        ("module-level constant", {"user_ops.py": CONSTANT}, {"user_ops.py": CONSTANT.replace("= 1.0", "= 2.0")}),
    ],
)
def test_edited_code_the_op_reaches_is_never_served_stale(
    tmp_path: Path, change: str, before: dict[str, str], after: dict[str, str]
) -> None:
    assert before != after, change
    assert_not_stale(tmp_path, before, after, control=change == "helper in another module")


LAMBDA_CONSTANT = """
from fuse.data import OpLambda, PipelineDefault
OFFSET = 1.0

def pipeline():
    return PipelineDefault("static", [(OpLambda(lambda sample: sample | {"data.x": 1.0 + OFFSET}), {})])
"""


def test_a_constant_read_by_a_lambda_in_op_lambda(tmp_path: Path) -> None:
    assert_not_stale(
        tmp_path, {"user_ops.py": LAMBDA_CONSTANT}, {"user_ops.py": LAMBDA_CONSTANT.replace("= 1.0", "= 2.0")}
    )


AFTER_CONSTRUCTION = (
    OP_HEADER.replace('return PipelineDefault("static", [(OpCompute(), {})])', "op = OpCompute()\n    op.amount = 1.0\n    return PipelineDefault('static', [(op, {})])")
    + "def compute(op):\n    return 1.0 + op.amount\n"
)  # fmt: skip


def test_an_attribute_set_after_construction(tmp_path: Path) -> None:
    assert "op.amount = 1.0" in AFTER_CONSTRUCTION
    after = AFTER_CONSTRUCTION.replace("op.amount = 1.0", "op.amount = 2.0")
    assert_not_stale(tmp_path, {"user_ops.py": AFTER_CONSTRUCTION}, {"user_ops.py": after})


MUTATED = OP_HEADER.replace("OpCompute()", "OpCompute(TABLE)") + textwrap.dedent(
    """
    TABLE = np.array([1.0, 2.0, 3.0])
    import pandas as pd
    FRAME = pd.DataFrame({"w": [1.0, 1.0]})

    def compute(op):
        return op._table.sum() + FRAME["w"].sum()

    def after_build(cacher):
        if os.environ.get("FUSE_TEST_MUTATE"):  # in place, after the SamplesCacher was built
            TABLE[:] = 5.0
            FRAME.loc[0, "w"] = 7.0
    """
)


@pytest.mark.parametrize("what", ["array", "dataframe"])
def test_an_argument_mutated_in_place_after_the_cacher_was_built(tmp_path: Path, what: str) -> None:
    source = MUTATED if what == "dataframe" else MUTATED.replace('+ FRAME["w"].sum()', "")
    if what == "dataframe":
        source = source.replace("OpCompute(TABLE)", "OpCompute(FRAME)").replace("op._table.sum() + ", "")
        source = source.replace('FRAME["w"].sum()', 'op._table["w"].sum()')
    project, cache = tmp_path / "project", tmp_path / "cache"
    write(project, {"user_ops.py": source})
    mutated = run(project, cache, env={"FUSE_TEST_MUTATE": "1"})
    assert mutated["served"] == mutated["fresh"]
    plain = run(project, cache)
    assert plain["fresh"] != mutated["fresh"]
    assert plain["hash"] != mutated["hash"]
    assert plain["served"] == plain["fresh"]  # not the sample computed from the mutated argument


CELL = OP_HEADER.replace("class OpCompute(OpBase):\n", "class OpCompute(OpBase):\n    SCALE = 2.0\n") + (
    "def compute(op):\n    return op.SCALE\n"
)


@pytest.mark.parametrize("mode", ["import", "exec"])
def test_a_class_attribute_counts_with_or_without_source(tmp_path: Path, mode: str) -> None:
    after = {"user_ops.py": CELL.replace("SCALE = 2.0", "SCALE = 3.0")}
    assert_not_stale(tmp_path, {"user_ops.py": CELL}, after, mode=mode, control=mode == "exec")


def fake_distribution(project: Path, version: str, factor: int, editable: bool) -> dict[str, str]:
    """``fakeimg`` installed (in ``site/``) or installed in editable mode (code in ``proj/src``): ``load``, the
    loader internals, is what the user's op calls through the package."""
    code_dir = "proj/src" if editable else "site"
    files = {
        f"{code_dir}/fakeimg/__init__.py": "from fakeimg._loader import load\n",
        f"{code_dir}/fakeimg/_loader.py": f"def load(x):\n    return x * {factor}\n",
        f"site/fakeimg-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: fakeimg\nVersion: {version}\n",
        f"site/fakeimg-{version}.dist-info/top_level.txt": "fakeimg\n",
        f"site/fakeimg-{version}.dist-info/RECORD": "",
    }
    if editable:
        url = (project / "proj").as_uri()
        files[f"site/fakeimg-{version}.dist-info/direct_url.json"] = json.dumps(
            {"url": url, "dir_info": {"editable": True}}
        )
    return files


USES_FAKEIMG = OP_HEADER + "import fakeimg\n\ndef compute(op):\n    return fakeimg.load(1.0)\n"


def test_an_upgraded_installed_package_changes_the_hash(tmp_path: Path) -> None:
    project, cache = tmp_path / "project", tmp_path / "cache"
    write(project, {"user_ops.py": USES_FAKEIMG, **fake_distribution(project, "1.0", 2, editable=False)})
    first = run(project, cache)
    for path in (project / "site").glob("fakeimg-1.0.dist-info/*"):
        path.unlink()
    (project / "site" / "fakeimg-1.0.dist-info").rmdir()
    write(project, fake_distribution(project, "1.1", 3, editable=False))  # new internals, the op itself unchanged
    second = run(project, cache)
    assert (first["fresh"], second["fresh"]) == (2.0, 3.0)
    assert second["hash"] != first["hash"]
    assert second["served"] == 3.0


def test_an_edited_editable_install_changes_the_hash_without_a_version_bump(tmp_path: Path) -> None:
    files = fake_distribution(tmp_path / "project", "1.0", 2, editable=True)
    after = fake_distribution(tmp_path / "project", "1.0", 3, editable=True)
    assert_not_stale(tmp_path, {"user_ops.py": USES_FAKEIMG, **files}, after)


def test_an_editable_package_edited_in_a_running_process_gets_a_new_digest(tmp_path: Path) -> None:
    """E.g. a notebook with autoreload: the digest of an editable package follows its files, not the first call."""
    package = tmp_path / "editable_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "loader.py").write_text("def load(x):\n    return x * 2\n")
    first = origin_module._package_digest(str(package / "loader.py"))
    assert origin_module._package_digest(str(package / "__init__.py")) == first  # the whole package
    (package / "loader.py").write_text("def load(x):\n    return x * 3\n")
    assert origin_module._package_digest(str(package / "loader.py")) != first


def test_fuse_imaging_ops_are_identified_by_the_whole_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpLoadImage's code does not change when its loader internals (_nifti.py) do: the distribution's version
    (and, for an editable install, its files) stands for both."""
    imaging = pytest.importorskip("fuse.imaging")
    internals = sorted(Path(imaging.__file__).parent.rglob("_*.py"))  # e.g. the NIfTI loader
    origin = origin_module.code_origin(str(internals[0]))
    assert origin is not None
    assert origin.startswith("fuse-imaging==")
    assert {origin_module.code_origin(str(path)) for path in internals} == {origin}
    defined_in = sys.modules[defining_module(imaging.OpLoadImage) or ""].__file__
    assert origin_module.code_origin(defined_in) == origin
    pipeline = PipelineDefault("static", [(imaging.OpLoadImage("/data"), {"key_in": "a", "key_out": "b"})])
    before = pipeline.cache_identity()
    real = origin_module._origin_of_real_path

    def upgraded(path: str) -> tuple[str | None, bool]:
        found, by_files = real(path)
        return (None if found is None else found.replace("fuse-imaging==", "fuse-imaging==99.0+"), by_files)

    monkeypatch.setattr(origin_module, "_origin_of_real_path", upgraded)
    assert pipeline.cache_identity() != before


def test_fuse_data_classes_do_not_depend_on_readable_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """fuse.data rewrites __module__ of its public classes, so inspect.getsource fails for them: the identity
    must be the same whether or not source can be read."""
    import inspect

    def add(sample: NDict) -> NDict:
        return sample

    pipeline = PipelineDefault("static", [(OpLambda(add), {})])
    before = pipeline.cache_identity()

    def no_source(obj: Any) -> str:
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", no_source)
    monkeypatch.setattr(inspect, "getsourcelines", no_source)
    assert pipeline.cache_identity() == before
    assert OpLambda.__module__ == "fuse.data"
    assert identity_module.class_identity(OpLambda) == identity_module.class_identity(OpLambda)


# ---------------------------------------------------------------------------------------------- no identity
def test_a_value_without_identity_asks_for_cache_version_which_then_keys_the_cache(tmp_path: Path) -> None:
    def lock_free(sample: NDict, lock: Any) -> NDict:
        sample["data.x"] = 1.0
        return sample

    pipeline = PipelineDefault("static", [(OpLambda(lock_free), {"lock": threading.Lock()})])
    with pytest.raises(UnstableIdentityError, match=r"kwargs\['lock'\].*cache_version="):
        SamplesCacher("v", pipeline, tmp_path, verbose=0)
    first = SamplesCacher("v", pipeline, tmp_path, verbose=0, cache_version="2024-01")
    first.cache_samples(["a"])
    again = SamplesCacher("v", pipeline, tmp_path, verbose=0, cache_version="2024-01")
    assert again.load_sample("a")["data.x"] == 1.0
    with pytest.warns(UserWarning, match="other pipeline versions"):
        bumped = SamplesCacher("v", pipeline, tmp_path, verbose=0, cache_version="2024-02")
    assert first.pipeline_hash == again.pipeline_hash != bumped.pipeline_hash
    fixed = [
        SamplesCacher("f", pipeline, tmp_path, verbose=0, use_pipeline_hash=False, cache_version=label).pipeline_hash
        for label in ("a", "a", "b")
    ]
    assert fixed[0] == fixed[1] != fixed[2]
    assert fixed[0].startswith("hash_fixed_")
    with pytest.raises(TypeError, match="cache_version must be a non-empty string"):
        SamplesCacher("v", pipeline, tmp_path, cache_version="")


def test_compiled_code_outside_a_distribution_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Extension:  # stands for a class of a compiled module that is not installed as a distribution
        pass

    monkeypatch.setattr(code_walk_module, "has_no_code", lambda cls: cls is Extension)
    with pytest.raises(UnstableIdentityError, match=r"op\['x'\].*compiled code outside any installed distribution"):
        value_identity({"x": Extension}, "op")
    with identity_module.lenient_identity() as skipped:
        value_identity({"x": Extension}, "op")
    assert skipped == ["op['x'] (a builtins.type)"]


def test_installed_code_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy, pandas, fuse: their distribution and version, not their modules' contents."""
    monkeypatch.setattr(np, "fuse_probe", threading.Lock(), raising=False)  # walking numpy would meet it and raise

    def uses_numpy_attribute(sample: NDict) -> NDict:
        sample["data.lock"] = np.fuse_probe  # type: ignore[attr-defined]
        return sample

    assert value_identity(uses_numpy_attribute)
    assert (origin_module.code_origin(np.__file__) or "").startswith("numpy==")
    assert origin_module.code_origin(os.__file__) == f"python=={__import__('platform').python_version()}"
    assert origin_module.code_origin(__file__) is None  # the tests are your code

    def uses_libraries(sample: NDict) -> NDict:
        sample["data.x"] = float(np.sum(np.arange(3)))
        return sample

    assert value_identity(uses_libraries) == value_identity(uses_libraries)


# ---------------------------------------------------------------------------------------------- audit
def read_value(sample: NDict, folder: str) -> NDict:
    sample["data.x"] = float((Path(folder) / f"{sample['data.sample_id']}.txt").read_text())
    return sample


def raw_data(folder: Path, ids: list[str], value: float) -> None:
    folder.mkdir(exist_ok=True)
    for sample_id in ids:
        (folder / f"{sample_id}.txt").write_text(str(value))


def test_default_audit_checks_samples_beyond_the_first(tmp_path: Path) -> None:
    audit = SampleCachingAudit()
    assert [i + 1 for i in range(3000) if audit.update()] == [1, 1000, 2000, 3000]
    ids = [f"s{i}" for i in range(10)]
    raw_data(tmp_path / "raw", ids, 1.0)
    pipeline = PipelineDefault("static", [(OpLambda(read_value), {"folder": str(tmp_path / "raw")})])
    SamplesCacher("audited", pipeline, tmp_path / "c", verbose=0).cache_samples(ids)
    raw_data(tmp_path / "raw", ids[1:], 2.0)  # stale for every sample but the first one loaded
    cacher = SamplesCacher("audited", pipeline, tmp_path / "c", verbose=0)
    for step in range(999):
        cacher.load_sample(ids[step % len(ids)])  # the first sample ("s0") was audited: it is still right
    with pytest.raises(SampleCachingAuditError, match=r"(?s)sample 's9'.*cached 1\.0, now 2\.0"):
        cacher.load_sample("s9")


def test_an_audit_on_a_node_without_the_raw_data_warns_once_and_stops(tmp_path: Path) -> None:
    raw_data(tmp_path / "raw", ["a", "b"], 1.0)
    pipeline = PipelineDefault("static", [(OpLambda(read_value), {"folder": str(tmp_path / "raw")})])
    SamplesCacher("remote", pipeline, tmp_path / "c", verbose=0).cache_samples(["a", "b"])
    for path in (tmp_path / "raw").iterdir():
        path.unlink()  # this node has the cache only
    cacher = SamplesCacher("remote", pipeline, tmp_path / "c", verbose=0, audit_rate=1, audit_units="samples")
    with pytest.warns(SampleCachingAuditWarning, match=r"(?s)audit of cache 'remote'.*'a'.*audit_first_sample=False"):
        assert cacher.load_sample("a")["data.x"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cacher.load_sample("b")["data.x"] == 1.0  # audits are off in this process: no second warning
    strict = SamplesCacher(
        "remote", pipeline, tmp_path / "c", verbose=0, audit=SampleCachingAudit(on_recompute_error="raise")
    )
    with pytest.raises(SampleCachingAuditError, match=r"(?s)could not recompute sample 'a'.*audit_rate=None") as info:
        strict.load_sample("a")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(ValueError, match="on_recompute_error must be one of"):
        SampleCachingAudit(on_recompute_error="ignore")
    with pytest.raises(ValueError, match="audit_every_samples must be None or an int"):
        SampleCachingAudit(audit_every_samples=0)


def test_the_hash_is_taken_on_first_use_not_at_construction(tmp_path: Path) -> None:
    """A pipeline changed in place after the cacher was built keys its samples by what it is when caching."""
    table = np.array([1.0, 2.0])

    def total(sample: NDict, weights: np.ndarray) -> NDict:
        sample["data.x"] = float(weights.sum())
        return sample

    pipeline = PipelineDefault("static", [(OpLambda(total), {"weights": table})])
    cacher = SamplesCacher("late", pipeline, tmp_path, verbose=0)
    built = SamplesCacher("late", pipeline, tmp_path, verbose=0).pipeline_hash
    table[:] = 5.0
    cacher.cache_samples(["a"])
    assert cacher.pipeline_hash != built
    assert cacher.load_sample("a")["data.x"] == 10.0
    assert total(create_initial_sample("a"), table)["data.x"] == 10.0


def test_a_dataset_over_a_pipeline_without_identity_needs_the_cachers_pipeline(tmp_path: Path) -> None:
    def lock_free(sample: NDict, lock: Any) -> NDict:
        sample["data.x"] = 1.0
        return sample

    def pipeline() -> PipelineDefault:
        return PipelineDefault("static", [(OpLambda(lock_free), {"lock": threading.Lock()})])

    static = pipeline()
    cacher = SamplesCacher("v", static, tmp_path, verbose=0, cache_version="2024-01")
    dataset = DatasetDefault(["a"], static, cacher=cacher)  # the same object: no identity needed
    dataset.create()
    assert dataset[0]["data.x"] == 1.0
    with pytest.raises(ValueError, match="build the SamplesCacher with the static pipeline"):
        DatasetDefault(["a"], pipeline(), cacher=cacher)
