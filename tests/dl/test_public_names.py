"""fuse.dl's public-name policy: every class and function in ``__all__`` reports ``fuse.dl`` (reprs, pickles,
``model_builder.json``), its defining private module stays known, and pickles made by name load back."""

from __future__ import annotations

import importlib
import inspect
import pickle

import pytest

import fuse.dl
from fuse.core import defining_module

PUBLISHED = [
    name
    for name in fuse.dl.__all__
    if inspect.isclass(getattr(fuse.dl, name)) or inspect.isfunction(getattr(fuse.dl, name))
]


def test_all_is_sorted_and_every_name_imports() -> None:
    assert list(fuse.dl.__all__) == sorted(fuse.dl.__all__, key=lambda name: (not name.isupper(), name))
    missing = [name for name in fuse.dl.__all__ if not hasattr(fuse.dl, name)]
    assert not missing


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_name_reports_fuse_dl_and_pickles_by_that_path(name: str) -> None:
    value = getattr(fuse.dl, name)
    assert value.__module__ == "fuse.dl"
    origin = defining_module(value)
    assert origin is not None
    assert origin.startswith("fuse.dl.")
    assert getattr(importlib.import_module(origin), name) is value  # the private module really defines it
    assert pickle.loads(pickle.dumps(value)) is value  # by reference, through fuse.dl
