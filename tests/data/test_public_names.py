"""fuse.data's public surface: every name of ``__all__`` imports from ``fuse.data``, reports ``fuse.data`` as its
module (what pickles record, wherever the private file lives), and the command line runs by both of its names."""

from __future__ import annotations

import importlib
import importlib.metadata
import pickle
import subprocess
import sys

import pytest

import fuse.data
from fuse.core import defining_module

CALLABLES = [
    name
    for name in fuse.data.__all__
    if isinstance(getattr(fuse.data, name), type) or callable(getattr(fuse.data, name))
]
# FuseMedML's fuse.data re-exported NDict and the sample helpers: the same objects as fuse.core's, whose path they keep
FROM_CORE = [name for name in CALLABLES if (defining_module(getattr(fuse.data, name)) or "").startswith("fuse.core")]
PUBLISHED = [name for name in CALLABLES if name not in FROM_CORE]


def test_fusemedml_re_exports_are_fuse_cores_objects() -> None:
    import fuse.core

    assert sorted(FROM_CORE) == [
        "NDict",
        "create_initial_sample",
        "get_initial_sample_id",
        "get_initial_sample_id_key",
        "get_sample_id",
        "get_sample_id_key",
        "get_specific_sample_from_potentially_morphed",
        "set_initial_sample_id",
        "set_sample_id",
    ]
    for name in FROM_CORE:
        assert getattr(fuse.data, name) is getattr(fuse.core, name)
        assert getattr(fuse.data, name).__module__ == "fuse.core"  # one public path, also in pickles


@pytest.mark.parametrize("name", PUBLISHED)
def test_a_public_name_reports_the_package_and_keeps_its_private_module(name: str) -> None:
    value = getattr(fuse.data, name)
    assert value.__module__ == "fuse.data"
    private = defining_module(value)
    assert private is not None
    assert private.startswith("fuse.data.")
    assert any(part.startswith("_") for part in private.split(".")[2:]), private
    assert getattr(importlib.import_module(private), name) is value  # the source stays reachable


def test_every_name_of_all_imports_from_the_package() -> None:
    assert len(set(fuse.data.__all__)) == len(fuse.data.__all__)
    namespace: dict[str, object] = {}
    exec(f"from fuse.data import {', '.join(fuse.data.__all__)}", namespace)  # noqa: S102
    assert all(name in namespace for name in fuse.data.__all__)


def test_a_pickled_op_records_the_public_path() -> None:
    op = fuse.data.OpLambda(abs)
    data = pickle.dumps(op)
    assert b"fuse.data.ops" not in data
    assert b"fuse.data" in data
    assert type(pickle.loads(data)) is fuse.data.OpLambda


def test_the_command_line_runs_as_module_and_as_its_entry_point() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="fuse-data-cache")
    assert script.load() is importlib.import_module("fuse.data.__main__").main  # stale metadata: reinstall
    result = subprocess.run(
        [sys.executable, "-m", "fuse.data", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "publish" in result.stdout
