"""Every example answers ``--help`` (exit 0, a usage line) without loading torch or Lightning first, and a missing
dependency stops it with one line naming the pip command, not a traceback.

The scripts run in parallel subprocesses, so the test takes about as long as the slowest one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fuse_test_support import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
# hello_world.py runs fuse.dl.demo, whose package loads torch and Lightning on import
LOADS_TORCH_FOR_HELP = {"hello_world.py"}
TIMEOUT = 240

# Runs a script as ``python <script> ARGS`` would (its folder first on sys.path), with some modules made
# uninstalled, and reports whether torch or Lightning was imported by the time it exited.
_RUNNER = textwrap.dedent(
    """
    import runpy, sys
    script, blocked, args = sys.argv[1], set(filter(None, sys.argv[2].split(","))), sys.argv[3:]

    class Uninstalled:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled)
    sys.path.insert(0, script.rsplit("/", 1)[0])
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        loaded = sorted(name for name in ("torch", "lightning") if name in sys.modules)
        print(f"loaded: {loaded}", file=sys.stderr)
    """
)


def _scripts() -> list[Path]:
    """Every example with a command line (helper modules such as mnist_common.py have none)."""
    found = [p for p in sorted(EXAMPLES.rglob("*.py")) if 'if __name__ == "__main__":' in p.read_text()]
    assert len(found) >= 10, found
    return found


def _start(script: Path, *args: str, blocked: str = "") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(script), blocked, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def test_every_example_answers_help_before_loading_torch() -> None:
    scripts = _scripts()
    running = {script: _start(script, "--help") for script in scripts}
    for script, process in running.items():
        code, out, err = _finish(process)
        name = script.relative_to(EXAMPLES)
        assert code == 0, f"{name} --help exited {code}:\n{err[-3000:]}"
        assert out.lstrip().startswith("usage:"), f"{name} --help printed:\n{out[:500]}"
        if script.name not in LOADS_TORCH_FOR_HELP:
            assert "loaded: []" in err, f"{name} --help imported torch or Lightning first: {err[-300:]}"


@pytest.mark.parametrize(
    ("script", "blocked", "args", "fix"),
    [
        ("knight/baseline.py", "lightning", ["--data", "d", "--out", "o"], "pip install fuse-dl fuse-imaging, or in a"),
        ("mnist/simple_mnist_starter.py", "lightning", ["--data-dir", "d", "--out", "o"], "pip install fuse-dl fuse-"),
        ("knight/make_synthetic_data.py", "nibabel", ["--out", "o"], "pip install nibabel fuse-core"),
        ("stoic21/make_synthetic_cohort.py", "nibabel", ["--out", "o"], "pip install nibabel"),
        ("knight/eval.py", "fuse.eval", ["--targets", "t", "--out", "o"], "pip install fuse-eval, or in a clone"),
        ("hello_world.py", "fuse.dl", ["--out", "o"], "pip install fuse-dl matplotlib, or in a clone"),
    ],
)
def test_a_missing_dependency_is_one_line_naming_the_pip_command(
    script: str, blocked: str, args: list[str], fix: str
) -> None:
    code, _, err = _finish(_start(EXAMPLES / script, *args, blocked=blocked))
    assert "loaded: []" in err  # stopped before importing torch or Lightning
    message = "\n".join(line for line in err.splitlines() if not line.startswith("loaded: ")).strip()
    assert code == 1, err
    assert "Traceback" not in err
    assert len(message.splitlines()) == 1, message
    assert f"No module named '{blocked}'" in message
    assert fix in message
    if "clone" in message:  # from a clone, in dependency order, torch from the constraints file
        assert "pip install -c testing/constraints.txt -e packages/fuse-core" in message or "fuse-dl" not in message
