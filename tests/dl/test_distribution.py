"""fuse-dl is installed as the DESIGN table says, and importing it loads no package it must not."""

from fuse_test_support import DISTRIBUTIONS, check_distribution, fuse_modules_after_import


def test_distribution_metadata_matches_design() -> None:
    check_distribution("dl")


def test_import_loads_no_forbidden_fuse_package() -> None:
    loaded = fuse_modules_after_import("dl")
    assert "dl" in loaded
    assert not loaded & DISTRIBUTIONS["dl"]["forbidden"], loaded
