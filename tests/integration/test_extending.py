"""docs/extending.md stays true: each of its python blocks runs as a script of its own (as a reader would run it,
`python file.py`) and exits 0. The blocks check their own results (against scikit-learn, by hand); they run in
parallel subprocesses, in a temporary directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fuse_test_support import REPO_ROOT

DOC = REPO_ROOT / "docs" / "extending.md"
SECTIONS = ("A metric", "An op", "A backbone", "A dataset")
TIMEOUT = 300


def _blocks() -> dict[str, str]:
    """Each section's python block, by section title."""
    text = DOC.read_text(encoding="utf-8")
    blocks = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        title = section.split("\n", 1)[0].split(" (")[0]
        code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
        assert len(code) == 1, f"docs/extending.md, section {title!r}: {len(code)} python blocks, expected one"
        blocks[title] = code[0]
    return blocks


def test_every_extension_point_has_a_block() -> None:
    assert tuple(_blocks()) == SECTIONS


def test_the_blocks_run(tmp_path: Path) -> None:
    running = {}
    for index, (title, code) in enumerate(_blocks().items()):
        script = tmp_path / f"block_{index}.py"
        script.write_text(code, encoding="utf-8")
        running[title] = subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    for title, process in running.items():
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        assert process.returncode == 0, f"docs/extending.md, {title!r}:\n{out[-2000:]}\n{err[-4000:]}"
        assert out.strip(), f"{title!r} prints what it showed"
