"""fuse-eval is installed as its pyproject declares, and importing it loads no package it must not."""

from fuse_test_support import check_distribution, check_import_is_isolated, fuse_modules_after_import


def test_distribution_metadata_matches_design() -> None:
    check_distribution("eval")


def test_import_loads_no_forbidden_fuse_package() -> None:
    check_import_is_isolated("eval")


def test_import_defers_the_heavy_scientific_libraries() -> None:
    """sklearn, scipy and statsmodels load on first use of a metric that needs them, not on ``import fuse.eval``."""
    loaded = fuse_modules_after_import("eval")
    assert not loaded & {"torch", "sklearn", "scipy", "statsmodels"}, sorted(loaded)
