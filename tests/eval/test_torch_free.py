"""fuse-eval must install and import without torch (``pip install fuse-eval`` stays light)."""

import importlib.util
import os

import pytest

from fuse_test_support import fuse_modules_after_import


def test_importing_fuse_eval_does_not_import_torch() -> None:
    assert not {"torch", "lightning"} & fuse_modules_after_import("eval")


@pytest.mark.skipif(os.environ.get("FUSE_ISOLATED_ENV") != "1", reason="only meaningful in nox's per-package venv")
def test_torch_is_not_installed_in_the_eval_environment() -> None:
    # nox installs fuse-eval with only its declared dependencies; torch must not come along.
    assert importlib.util.find_spec("torch") is None
