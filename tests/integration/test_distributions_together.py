"""All five distributions installed side by side share the namespace and one version."""

import importlib

from fuse_test_support import DISTRIBUTIONS, check_distribution


def test_all_distributions_installed_together() -> None:
    versions = set()
    for pkg in DISTRIBUTIONS:
        check_distribution(pkg)
        versions.add(importlib.import_module(f"fuse.{pkg}").__version__)
    assert len(versions) == 1
