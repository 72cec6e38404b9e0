"""fuse-eval is installed as the DESIGN table says, and importing it loads no package it must not."""

from fuse_test_support import DISTRIBUTIONS, check_distribution, fuse_modules_after_import


def test_distribution_metadata_matches_design() -> None:
    check_distribution("eval")


def test_import_loads_no_forbidden_fuse_package() -> None:
    loaded = fuse_modules_after_import("eval")
    assert "eval" in loaded
    assert not loaded & DISTRIBUTIONS["eval"]["forbidden"], loaded
