"""What the evaluation examples share: where FuseMedML's input files are, where plots go, and a title line.

The inputs are FuseMedML's ``fuse/eval/examples/inputs`` files, found in the folder passed to an example (or
``--fixtures DIR``), else in ``$FUSE_COMPAT_FIXTURES``, else in ``<repo>/../shared/fixtures/fusemedml-eval``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

FIXTURES_ENV = "FUSE_COMPAT_FIXTURES"
DEFAULT_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "fusemedml-eval"
# example1_targets.csv holds two tasks: Task1 is binary (40 x 0, 20 x 1), Task2 has five classes
TASK1 = "target.Task1-target"
TASK2 = "target.Task2-target"
TASK2_CLASSES = ["B", "LR", "IR", "HR", "VHR"]


class MissingDependencyError(RuntimeError):
    """An example needs a package that is not installed; the message is the pip command."""


def find_fixtures(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder of FuseMedML's example inputs: ``path``, else ``$FUSE_COMPAT_FIXTURES``, else the default.

    Raises ``FileNotFoundError`` saying how to point at them when the folder does not hold them.
    """
    if path is not None:
        folder, source = Path(path), "--fixtures"
    elif os.environ.get(FIXTURES_ENV):
        folder, source = Path(os.environ[FIXTURES_ENV]), f"${FIXTURES_ENV}"
    else:
        folder, source = DEFAULT_FIXTURES, "the default location"
    if not (folder / "example1_predictions.csv").is_file():
        raise FileNotFoundError(
            f"FuseMedML's example inputs (example1_predictions.csv, ...) are not in {folder} ({source}). "
            f"Pass --fixtures DIR or set {FIXTURES_ENV}=DIR, where DIR is a copy of FuseMedML 0.4.1's "
            "fuse/eval/examples/inputs (the fuse repository keeps one in ../shared/fixtures/fusemedml-eval)."
        )
    return folder


def require(module: str, pip: str) -> ModuleType:
    """Import an optional dependency, or stop with one line naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(f"this example needs {module}: pip install {pip}") from error


def can_plot() -> bool:
    """Whether matplotlib is installed: metrics given an ``output_filename`` need it (``fuse-eval[plot]``)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_file(folder: Path | None, name: str) -> Path | None:
    """``folder/name`` when there is an output folder and plots can be drawn, else ``None`` (no image)."""
    return folder / name if folder is not None and can_plot() else None


def subfolder(out: Path | None, name: str) -> Path | None:
    """An example's report folder, ``out/name``, or ``None`` when the example writes no report."""
    return None if out is None else Path(out) / name


@contextlib.contextmanager
def work_folder(out: Path | None, name: str) -> Iterator[Path]:
    """Where an example writes the input files it makes: ``out/name`` (kept), else a temporary folder removed
    afterwards."""
    if out is not None:
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    else:
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as temporary:
            yield Path(temporary)


def header(name: str, what: str) -> None:
    """Print an example's title line."""
    print(f"\n=== {name}: {what}")
