"""fuse.imaging's public-name policy: every name in ``__all__`` reports its public path (reprs, pickles, errors)
while the private module that defines it stays known, so the cache identity and the doctests still find its code."""

from __future__ import annotations

import importlib
import inspect
import pickle

import pytest

from fuse.core import defining_module

PACKAGES = ("fuse.imaging", "fuse.imaging.datasets")
PUBLISHED = [
    (package, name)
    for package in PACKAGES
    for name in importlib.import_module(package).__all__
    if inspect.isclass(getattr(importlib.import_module(package), name))
    or inspect.isfunction(getattr(importlib.import_module(package), name))
]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_every_name_imports(package: str) -> None:
    module = importlib.import_module(package)
    assert list(module.__all__) == sorted(module.__all__, key=lambda name: (not name.isupper(), name))
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(("package", "name"), PUBLISHED)
def test_published_names_report_the_package_and_keep_their_defining_module(package: str, name: str) -> None:
    value = getattr(importlib.import_module(package), name)
    if defining_module(value) in ("fuse.core._archives",):  # re-exported from fuse-core: not ours to publish
        return
    assert value.__module__ == package
    origin = defining_module(value)
    assert origin is not None
    assert origin.startswith(f"{package}.")
    assert origin.rsplit(".", 1)[1].startswith("_")  # a private module, e.g. fuse.imaging.ops._intensity
    assert inspect.getsource(importlib.import_module(origin)).count(f"{name}") >= 1


def test_pickles_and_reprs_use_the_public_path() -> None:
    from fuse.imaging import ImageLoadError, OpClip, OpResizeTo
    from fuse.imaging.datasets import MNIST

    for op in (OpClip(), OpResizeTo(channels_first=True)):
        assert b"fuse.imaging" in pickle.dumps(op)
        assert b"fuse.imaging.ops" not in pickle.dumps(op)  # a later move between private modules breaks no pickle
    assert repr(pickle.loads(pickle.dumps(OpResizeTo(channels_first=True)))) == "OpResizeTo(channels_first=True)"
    error = ImageLoadError("scan.nii.gz", "no such file", sample_id="case_1")
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is ImageLoadError
    assert str(restored) == "cannot load scan.nii.gz (sample 'case_1'): no such file"
    assert MNIST.__module__ == "fuse.imaging.datasets"
    assert b"fuse.imaging.datasets._" not in pickle.dumps(MNIST)


def test_the_cache_identity_of_an_imaging_op_does_not_depend_on_the_published_module() -> None:
    """The identity of a published op is found through its defining module, so it is the same with the public
    ``__module__`` as it was with the private one."""
    from fuse.data import PipelineDefault
    from fuse.imaging import OpClip

    pipeline = PipelineDefault("p", [(OpClip(), {"key": "data.input.img", "clip": (0.0, 1.0)})])
    published = pipeline.cache_identity()
    origin = defining_module(OpClip)
    assert origin == "fuse.imaging.ops._intensity"
    OpClip.__module__ = origin  # as it was before publishing
    try:
        assert pipeline.cache_identity() == published
    finally:
        OpClip.__module__ = "fuse.imaging"
