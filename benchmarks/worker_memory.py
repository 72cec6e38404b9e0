"""Peak memory of a DataLoader worker reading a cached dataset: fuse-data next to MONAI's ``PersistentDataset``.

300 samples, each a float32 volume (64, 64, 64) = 1 MiB and a label, cached on disk by each library (fuse:
``DatasetDefault`` + ``SamplesCacher``, dynamic ``OpToTensor``; MONAI: ``PersistentDataset`` with the same
generator as its transform, then ``ToTensord``). Each epoch runs through ``DataLoader(num_workers=2,
batch_size=8)`` with the library's own collate. Measured in each worker: the growth of its peak resident set
(``VmHWM`` at its last sample minus ``VmRSS`` when it started), so what the parent process held before the fork
does not count. A sample that lived in a reference cycle stayed until the garbage collector ran, and a worker then
held hundreds of them; the ratio shows whether fuse frees a sample as soon as the batch is built, as MONAI does.

MONAI is installed in the benchmark venv only (``nox -s bench``); without it the section says so.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fuse.core import NDict
from fuse.data import CollateDefault, DatasetDefault, OpBase, OpToTensor, PipelineDefault, SamplesCacher
from section import Ratio, Section

N_SAMPLES = 300
SHAPE = (64, 64, 64)
BATCH_SIZE = 8
WORKERS = 2
TARGET_RATIO = 1.5
MIB = 1024 * 1024

_START_RSS: dict[str, int] = {}  # per worker process: VmRSS when it started, in bytes


def _status_bytes(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _worker_init(_: int) -> None:
    _START_RSS["start"] = _status_bytes("VmRSS")


def _volume(sample_id: int) -> np.ndarray:
    return np.random.default_rng(sample_id).standard_normal(SHAPE, dtype=np.float32)


class _Measured(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Adds this worker's pid, starting RSS and current peak RSS to every sample it reads."""

    def __init__(self, inner: Any, add: Callable[[Any, dict[str, int]], Any]) -> None:
        self._inner = inner
        self._add = add

    def __len__(self) -> int:
        return len(self._inner)

    def __getitem__(self, index: int) -> Any:
        measures = {"pid": os.getpid(), "start": _START_RSS["start"], "peak": _status_bytes("VmHWM")}
        return self._add(self._inner[index], measures)


def _peak_growth(loader: torch.utils.data.DataLoader[Any], measures: Callable[[Any], Mapping[str, Any]]) -> float:
    """The largest growth of a worker's peak RSS over the epoch, in MiB."""
    growth: dict[int, int] = {}
    for batch in loader:
        batch_measures = measures(batch)
        columns = (batch_measures[name].tolist() for name in ("pid", "start", "peak"))
        for pid, start, peak in zip(*columns, strict=True):
            growth[pid] = max(growth.get(pid, 0), peak - start)
    return max(growth.values()) / MIB


def _fuse_add(sample: NDict, measures: dict[str, int]) -> NDict:
    sample["bench"] = measures
    return sample


def _monai_add(sample: Mapping[str, Any], measures: dict[str, int]) -> dict[str, Any]:
    return {**sample, "bench": measures}


class _OpMakeVolume(OpBase):
    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        sample_dict["data.img"] = _volume(int(sample_dict["data.sample_id"]))
        sample_dict["data.label"] = int(sample_dict["data.sample_id"]) % 2
        return sample_dict


def _fuse_peak(root: Path) -> float:
    static = PipelineDefault("static", [(_OpMakeVolume(), {})])
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": "data.img"})])
    cacher = SamplesCacher("worker-memory", static, root / "fuse", verbose=0)
    dataset = DatasetDefault(N_SAMPLES, static, dynamic, cacher=cacher)
    dataset.create()
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        _Measured(dataset, _fuse_add),
        batch_size=BATCH_SIZE,
        num_workers=WORKERS,
        worker_init_fn=_worker_init,
        collate_fn=CollateDefault(),
    )
    return _peak_growth(loader, lambda batch: batch["bench"])


def _monai_make(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"img": _volume(int(item["id"])), "label": int(item["id"]) % 2}


def _monai_peak(root: Path) -> float:
    monai_data = importlib.import_module("monai.data")  # optional: only the benchmark venv has MONAI
    monai_transforms = importlib.import_module("monai.transforms")
    dataset = monai_data.PersistentDataset(
        [{"id": i} for i in range(N_SAMPLES)],
        transform=monai_transforms.Compose([_monai_make, monai_transforms.ToTensord(keys="img")]),
        cache_dir=root / "monai",
    )
    for index in range(N_SAMPLES):  # build the cache first, as fuse's create() does
        dataset[index]

    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        _Measured(dataset, _monai_add), batch_size=BATCH_SIZE, num_workers=WORKERS, worker_init_fn=_worker_init
    )
    return _peak_growth(loader, lambda batch: batch["bench"])


def run() -> Section:
    """Measure both and return the markdown section with the fuse / MONAI ratio."""
    title = "## DataLoader worker memory: fuse-data cache vs MONAI PersistentDataset\n\n"
    how = (
        f"{N_SAMPLES} cached samples of float32 {SHAPE} (1 MiB each), `DataLoader(num_workers={WORKERS}, "
        f"batch_size={BATCH_SIZE})`; growth of each worker's peak RSS over one epoch (VmHWM minus VmRSS at start).\n\n"
    )
    root = Path(tempfile.mkdtemp(prefix="fuse-bench-worker-memory-"))
    try:
        fuse_mib = _fuse_peak(root)
        try:
            monai_mib = _monai_peak(root)
        except ImportError:
            return Section(
                title + how + f"fuse worker peak growth: {fuse_mib:.0f} MiB. MONAI is not installed, so there is no "
                "comparison (`nox -s bench` installs it).\n"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = fuse_mib / max(monai_mib, 1.0)  # below 1 MiB the measure is noise: compare against at least 1 MiB
    table = (
        "| worker peak RSS growth | MiB |\n|---|---:|\n"
        f"| fuse-data DatasetDefault + SamplesCacher | {fuse_mib:.1f} |\n"
        f"| MONAI PersistentDataset | {monai_mib:.1f} |\n"
        f"| **ratio** | **{ratio:.2f}x** (target <= {TARGET_RATIO}x) |\n"
    )
    return Section(
        title + how + table,
        [Ratio("worker peak RSS: fuse / MONAI PersistentDataset", ratio, "x (lower is better)", TARGET_RATIO)],
    )


if __name__ == "__main__":
    print(run().markdown)
