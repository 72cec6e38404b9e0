"""The README's tour runs as written (only its output folder moved) and ends with an AUC and its CI."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _tour_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A tour") :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README: the tour section has no python block"
    return match.group(1)


def test_the_readme_tour_runs(tmp_path: Path) -> None:
    code = _tour_code()
    assert code.count("/tmp/fuse-tour") == 2, "the tour writes only under /tmp/fuse-tour (cache, model)"
    # the best epoch is chosen on a validation split, the AUC measured on another; seeded, so runs agree
    assert "trainer.fit(module, train, validation)" in code
    assert "trainer.predict(module, test," in code
    assert "pl.seed_everything(" in code
    code = code.replace("/tmp/fuse-tour", str(tmp_path / "tour"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last_line = done.stdout.strip().splitlines()[-1]
    result = ast.literal_eval(last_line)  # the printed {"org": ..., "conf_lower": ..., ...}
    assert result["conf_lower"] <= result["org"] <= result["conf_upper"]
    assert result["org"] > 0.9  # the toy label is learnable: x0 + x1 > 0
    assert (tmp_path / "tour" / "model" / "best_epoch.ckpt").is_file()
