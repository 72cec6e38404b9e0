"""Every docstring example in fuse.data, its concern folders included, runs and holds."""

import pytest

from fuse_test_support import package_modules, run_doctests

MODULES = package_modules("fuse.data")


def test_the_concern_folders_are_walked() -> None:
    assert {"fuse.data.cache._identity", "fuse.data.ops._base", "fuse.data.dataset._collate"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    if module_name.startswith("fuse.data.tokenizers."):
        pytest.importorskip("tokenizers")  # the optional extra
        pytest.importorskip("yaml")
    run_doctests(module_name)
