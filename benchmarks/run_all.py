"""Run every benchmark in this folder side by side and write benchmarks/RESULTS.md (`nox -s bench`)."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
from pathlib import Path

import numpy as np

from section import Section, summary_table

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "ndict",
    "eval_ci",
    "eval_paired",
    "eval_delong",
    "eval_mrmc",
    "eval_import",
    "data_cache",
    "worker_memory",
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
    sections: dict[str, Section] = {}
    for name in BENCHMARKS:
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", HERE / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"running {name} ...", file=sys.stderr)
        section = module.run()
        print(section.markdown)
        sections[name] = section
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# Benchmark results\n\nMeasured {date} on {machine()} by `nox -s bench`, every comparison side by side "
        "in the same run. The headline ratios first; each benchmark's section below says how it measures.\n\n"
    )
    details = "\n".join(section.markdown for section in sections.values())
    (HERE / "RESULTS.md").write_text(header + summary_table(sections) + "\n\n" + details)
    print(f"wrote {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
