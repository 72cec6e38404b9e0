"""Every docstring example in fuse.core runs and holds."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import fuse.core

MODULES = ["fuse.core", *(f"fuse.core.{m.name}" for m in pkgutil.iter_modules(fuse.core.__path__))]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


def test_public_api_has_examples() -> None:
    finder = doctest.DocTestFinder()
    with_examples = {test.name.split(".")[-1] for name in MODULES for test in finder.find(importlib.import_module(name))
                     if test.examples}  # fmt: skip
    for public in ("NDict", "AtomicFileWriter", "CollateToBatchList", "uncollate", "run_multiprocessed", "Config"):
        assert public in with_examples, f"{public} has no docstring example"
