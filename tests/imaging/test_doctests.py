"""Every docstring example in fuse.imaging runs and holds, in the concern folders (io/, ops/, datasets/) too."""

import pytest

from fuse_test_support import package_modules, run_doctests

MODULES = package_modules("fuse.imaging")


def test_every_concern_folder_is_collected() -> None:
    assert {"fuse.imaging.io._loader", "fuse.imaging.ops._common", "fuse.imaging.datasets._mnist"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)
