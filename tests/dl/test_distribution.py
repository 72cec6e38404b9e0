"""fuse-dl is installed with the metadata and dependencies of the package graph, and importing it loads no package it
must not."""

from fuse_test_support import check_distribution, check_import_is_isolated


def test_distribution_metadata_matches_the_package_graph() -> None:
    check_distribution("dl")


def test_import_loads_no_forbidden_fuse_package() -> None:
    check_import_is_isolated("dl")
