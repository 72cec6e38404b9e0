"""examples/core_tour.py runs and every step behaves as it says (the script exits non-zero otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOUR = Path(__file__).resolve().parents[2] / "examples" / "core_tour.py"


def test_core_tour_runs() -> None:
    done = subprocess.run([sys.executable, str(TOUR)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip(), "the tour prints what each step shows"
