"""Every docstring example in fuse.core runs and holds."""

from __future__ import annotations

import doctest
import importlib

import pytest

from fuse_test_support import package_modules, run_doctests

MODULES = package_modules("fuse.core")


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)


def test_public_api_has_examples() -> None:
    finder = doctest.DocTestFinder()
    with_examples = {test.name.split(".")[-1] for name in MODULES for test in finder.find(importlib.import_module(name))
                     if test.examples}  # fmt: skip
    for public in ("NDict", "AtomicFileWriter", "CollateToBatchList", "uncollate", "run_multiprocessed", "Config"):
        assert public in with_examples, f"{public} has no docstring example"
