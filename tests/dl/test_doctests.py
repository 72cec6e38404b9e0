"""Every docstring example in fuse.dl runs and holds."""

import pytest

from fuse_test_support import package_modules, run_doctests


@pytest.mark.parametrize("module_name", package_modules("fuse.dl"))
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)
