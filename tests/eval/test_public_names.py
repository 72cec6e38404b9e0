"""The public surface: ``__all__`` sorted and importable, and every public class and function published as
``fuse.eval.<name>`` while its defining private module (in a concern folder) stays recorded."""

from __future__ import annotations

import importlib
import inspect
import pickle

import pytest

import fuse.eval
from fuse.core import defining_module


def test_all_is_sorted_and_unique() -> None:
    assert fuse.eval.__all__ == sorted(set(fuse.eval.__all__))


@pytest.mark.parametrize("name", fuse.eval.__all__)
def test_every_public_name_is_published_from_the_package(name: str) -> None:
    value = getattr(importlib.import_module("fuse.eval"), name)
    if not (inspect.isclass(value) or inspect.isfunction(value)):
        return  # constants and the version string
    assert value.__module__ == "fuse.eval"
    defined_in = defining_module(value)
    assert defined_in is not None
    assert defined_in.startswith("fuse.eval.")
    assert any(part.startswith("_") for part in defined_in.split(".")[2:]), defined_in
    assert pickle.loads(pickle.dumps(value)) is value  # pickles refer to fuse.eval.<name>, whatever file holds it
