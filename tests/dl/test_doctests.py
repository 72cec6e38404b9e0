"""Every docstring example in fuse.dl, its concern folders included, runs and holds."""

import pytest

from fuse_test_support import package_modules, run_doctests

MODULES = package_modules("fuse.dl")


def test_the_concern_folders_are_walked() -> None:
    assert {"fuse.dl.training._module", "fuse.dl.backbones._resnet", "fuse.dl.losses._dice"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)
