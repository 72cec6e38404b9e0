"""Every public name of FuseMedML 0.4.1 is in fuse as-is or has a row in docs/migration.md saying what to use
instead (scripts/fusemedml_names.py), and the check catches each way the doc can fall behind the code."""

from __future__ import annotations

import doctest
import os
import zipfile
from pathlib import Path

import pytest

import fusemedml_names


def test_script_docstring_examples() -> None:
    result = doctest.testmod(fusemedml_names)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_fusemedml_name_is_in_fuse_or_documented() -> None:
    found = fusemedml_names.check(
        fusemedml_names.read_names(), fusemedml_names.MIGRATION_DOC.read_text(encoding="utf-8")
    )
    assert found.problems == []
    counts = found.counts()
    # FuseMedML 0.4.1 has close to 400 such names: a much shorter list means the names file was truncated
    assert sum(counts.values()) >= 390
    assert set(counts) <= {"as-is", *fusemedml_names.STATUSES}


def _row(name: str, status: str, text: str) -> str:
    return f"| `{name}` | {status} | {text} |"


def test_an_undocumented_name_is_reported_with_the_row_to_add() -> None:
    found = fusemedml_names.check(["fuse.utils.gpu.run_nvidia_smi"], "")
    assert len(found.problems) == 1
    assert "fuse.utils.gpu.run_nvidia_smi" in found.problems[0]
    assert "no row in docs/migration.md" in found.problems[0]


def test_a_row_for_a_name_now_in_fuse_is_stale() -> None:
    doc = _row("fuse.utils.ndict.NDict", "replaced", "use `fuse.core.NDict`")
    found = fusemedml_names.check(["fuse.utils.ndict.NDict"], doc)
    assert found.status == {"fuse.utils.ndict.NDict": "as-is"}
    assert found.problems == ["fuse.utils.ndict.NDict: in fuse.core as-is now; remove its row from docs/migration.md"]


def test_a_moved_row_must_name_a_fuse_public_name_that_exists() -> None:
    name = "fuse.dl.cross_validation.pipeline.run"
    assert fusemedml_names.check([name], _row(name, "moved", "`fuse.dl.run_cross_validation`")).problems == []
    wrong = fusemedml_names.check([name], _row(name, "moved", "`fuse.dl.run_cross_validate`")).problems
    assert wrong == [f"{name}: its row names `fuse.dl.run_cross_validate`, which fuse.dl.__all__ does not hold"]
    vague = fusemedml_names.check([name], _row(name, "moved", "somewhere in fuse.dl")).problems
    assert len(vague) == 1
    assert "must name the fuse public name" in vague[0]


def test_unknown_statuses_empty_rows_and_rows_for_unknown_names_are_reported() -> None:
    name = "fuse.utils.gpu.run_nvidia_smi"
    assert "use one of" in fusemedml_names.check([name], _row(name, "dropped", "because")).problems[0]
    assert "says nothing" in fusemedml_names.check([name], _row(name, "not ported", "")).problems[0]
    doc = "\n".join([_row(name, "not ported", "Lightning"), _row("fuse.utils.gpu.made_up", "not ported", "x")])
    assert fusemedml_names.check([name], doc).problems == [
        "fuse.utils.gpu.made_up: a row in docs/migration.md, but not a FuseMedML 0.4.1 public name; remove it"
    ]


def test_collect_reads_public_top_level_names_and_aliases_only(tmp_path: Path) -> None:
    wheel = tmp_path / "fuse_med_ml-0.4.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fuse/utils/gpu.py", "def run_nvidia_smi(): ...\ndef _private(): ...\nX = 1\n")
        archive.writestr(
            "fuse/data/tok/op.py", "class ModularTokenizerOp: ...\nFastModularTokenizer = ModularTokenizerOp\n"
        )
        archive.writestr("fuse/data/tests/test_op.py", "def test_it(): ...\n")
        archive.writestr("fuse/eval/examples/examples.py", "def example_0(): ...\n")
        archive.writestr("fuse/_private/mod.py", "def hidden(): ...\n")
        archive.writestr("fuseimg/__init__.py", "def top(): ...\n")
        archive.writestr("other/mod.py", "def elsewhere(): ...\n")
    assert fusemedml_names.collect(wheel) == [
        "fuse.data.tok.op.FastModularTokenizer",
        "fuse.data.tok.op.ModularTokenizerOp",
        "fuse.utils.gpu.run_nvidia_smi",
        "fuseimg.top",
    ]


def test_the_names_file_is_what_the_wheel_holds() -> None:
    """Regenerating the list from FuseMedML's wheel gives the committed file (where the wheel is at hand:
    ``FUSE_FUSEMEDML_WHEEL=path/to/fuse_med_ml-0.4.1-py3-none-any.whl``)."""
    wheel = os.environ.get("FUSE_FUSEMEDML_WHEEL")
    if not wheel:
        pytest.skip("set FUSE_FUSEMEDML_WHEEL to FuseMedML 0.4.1's wheel to compare the names file with it")
    assert fusemedml_names.collect(Path(wheel)) == fusemedml_names.read_names()
