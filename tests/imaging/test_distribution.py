"""fuse-imaging is installed as its pyproject.toml says, and importing it loads no package it must not."""

from fuse_test_support import check_distribution, check_import_is_isolated


def test_distribution_metadata_matches_the_pyproject() -> None:
    check_distribution("imaging")


def test_import_loads_no_forbidden_fuse_package() -> None:
    check_import_is_isolated("imaging")
