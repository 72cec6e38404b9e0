"""Every docstring example in fuse.imaging runs and holds."""

import pytest

from fuse_test_support import package_modules, run_doctests


@pytest.mark.parametrize(
    "module_name", list(dict.fromkeys([*package_modules("fuse.imaging"), *package_modules("fuse.imaging.datasets")]))
)
def test_docstring_examples(module_name: str) -> None:
    run_doctests(module_name)
