"""Run every benchmark in this folder side by side and write benchmarks/RESULTS.md (`nox -s bench`)."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "ndict",
    "eval_ci",
    "eval_paired",
    "eval_delong",
    "eval_import",
    "data_cache",
    "imaging_io",
    "train_step",
]  # modules in this folder with run() -> markdown section


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores; Python {platform.python_version()}, numpy {np.__version__}, {platform.platform()}"


def main() -> None:
    sections = []
    for name in BENCHMARKS:
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", HERE / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"running {name} ...", file=sys.stderr)
        section = module.run()
        print(section)
        sections.append(section)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"# Benchmark results\n\nMeasured {date} on {machine()} by `nox -s bench`.\n\n"
    (HERE / "RESULTS.md").write_text(header + "\n".join(sections))
    print(f"wrote {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
