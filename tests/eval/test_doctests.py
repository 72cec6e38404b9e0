"""Every docstring example in fuse.eval, its concern folders included, runs and holds."""

import pytest

from fuse_test_support import package_modules, run_doctests

MODULES = package_modules("fuse.eval")


def test_the_concern_folders_are_walked() -> None:
    assert "fuse.eval.metrics.classification._roc" in MODULES
    assert "fuse.eval.framework._collector" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)
