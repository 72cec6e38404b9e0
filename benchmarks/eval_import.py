"""`import fuse.eval`: wall time and peak memory in a fresh interpreter, and whether torch got imported.

Each measurement is a fresh `python -c` process (imports are cached per process); the baseline is the bare
interpreter, so the figures are what `import fuse.eval` adds.
"""

from __future__ import annotations

import json
import subprocess
import sys

from section import Ratio, Section

# peak RSS from /proc/self/status (VmHWM): ru_maxrss is inherited from the parent across fork + exec on Linux, so
# it would report this (large) benchmark process's peak instead of the child's
_PROBE = """
import json, resource, sys, time
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
try:
    lines = open("/proc/self/status").read().splitlines()
    peak_kb = int(next(line.split()[1] for line in lines if line.startswith("VmHWM:")))
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": elapsed, "max_rss_kb": peak_kb, "torch": "torch" in sys.modules,
                   "modules": len(sys.modules)}}))
"""
RUNS = 5


def _measure(statement: str) -> dict[str, float]:
    samples = []
    for _ in range(RUNS):
        output = subprocess.run(
            [sys.executable, "-c", _PROBE.format(statement=statement)], capture_output=True, text=True, check=True
        ).stdout
        samples.append(json.loads(output))
    best: dict[str, float] = min(samples, key=lambda sample: sample["seconds"])
    return best


def run() -> Section:
    bare = _measure("pass")
    numpy_pandas = _measure("import numpy, pandas")
    fuse_eval = _measure("import fuse.eval")
    first_auc = _measure("import fuse.eval; fuse.eval.auc_roc([0.1, 0.8, 0.3], [0, 1, 1])")
    added_mb = (fuse_eval["max_rss_kb"] - bare["max_rss_kb"]) / 1024
    ratios = [
        Ratio("`import fuse.eval` / `import numpy, pandas` time", fuse_eval["seconds"] / numpy_pandas["seconds"], "x"),
    ]
    markdown = "\n".join(
        [
            "## `import fuse.eval` (benchmarks/eval_import.py)",
            "",
            f"Fresh interpreter per run, best of {RUNS}; memory is the process's peak RSS minus the bare interpreter's.",
            "",
            "| import | wall time | peak RSS added | torch imported |",
            "|---|---:|---:|---|",
            (
                f"| `import numpy, pandas` (for scale) | {numpy_pandas['seconds']:.2f} s | "
                f"{(numpy_pandas['max_rss_kb'] - bare['max_rss_kb']) / 1024:.0f} MB | {numpy_pandas['torch']} |"
            ),
            f"| `import fuse.eval` | {fuse_eval['seconds']:.2f} s | {added_mb:.0f} MB | {fuse_eval['torch']} |",
            (
                f"| `import fuse.eval` and a first AUC (loads scikit-learn and scipy) | {first_auc['seconds']:.2f} s | "
                f"{(first_auc['max_rss_kb'] - bare['max_rss_kb']) / 1024:.0f} MB | {first_auc['torch']} |"
            ),
            "",
        ]
    )
    return Section(markdown, ratios)


if __name__ == "__main__":
    print(run().markdown)
