"""add_note: context on an exception, printed by the traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fuse.core import add_note


def test_add_note_appears_in_the_traceback() -> None:
    code = (
        "from fuse.core import add_note\n"
        "try:\n"
        "    raise KeyError('data.label')\n"
        "except KeyError as error:\n"
        "    add_note(error, \"while computing loss 'ce'\")\n"
        "    raise\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "KeyError: 'data.label'" in result.stderr
    if sys.version_info >= (3, 11):
        assert "while computing loss 'ce'" in result.stderr


def test_add_note_accumulates_notes() -> None:
    error = ValueError("x")
    add_note(error, "first")
    add_note(error, "second")
    assert error.__notes__ == ["first", "second"]
    with pytest.raises(ValueError, match="x"):
        raise error
