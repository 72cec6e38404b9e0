"""PairedBootstrap of sensitivity: fuse-eval's vectorised confusion counts against FuseMedML's loop (same draws).

n = 10,000 samples (30% positive), two models thresholded at 0.5, stratified by the target, B = 10,000 (the
default). The naive loop is FuseMedML's PairedBootstrap loop: RandomState draws per stratum, then each model's
sensitivity per bootstrap (numpy, not sklearn: the naive side is given its fastest honest form).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval import MetricConfusion, PairedBootstrap
from section import Ratio, Section

N = 10_000
BOOTSTRAPS = 10_000


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    target = (rng.random(N) < 0.3).astype(int)
    a = (rng.normal(0.40 + 0.25 * target, 0.2) > 0.5).astype(int)
    b = (rng.normal(0.42 + 0.22 * target, 0.2) > 0.5).astype(int)
    frame: pd.DataFrame = pd.DataFrame({"id": np.arange(N), "a": a, "b": b, "target": target})
    return frame


def _naive(frame: pd.DataFrame) -> dict[str, Any]:
    ids = frame["id"].to_numpy()
    a, b, target = (frame[name].to_numpy() for name in ("a", "b", "target"))
    rnd = np.random.RandomState(1234)
    test, reference = np.empty(BOOTSTRAPS), np.empty(BOOTSTRAPS)
    for index in range(BOOTSTRAPS):
        sampled = ids.copy()
        for stratum in np.unique(target):
            members = target == stratum
            count = int(members.sum())
            sampled[members] = ids[members][rnd.randint(0, count, size=count)]
        positives = target[sampled] == 1
        test[index] = np.mean(a[sampled][positives] == 1)
        reference[index] = np.mean(b[sampled][positives] == 1)
    diff = test - reference
    return {"count_superior": int(np.sum(diff > 0)), "diff": float(diff.mean())}


def _fuse(frame: pd.DataFrame) -> dict[str, Any]:
    paired = PairedBootstrap(
        MetricConfusion(pred="a", target="target"),
        MetricConfusion(pred="b", target="target"),
        stratum="target",
        metric_keys_to_compare=["sensitivity"],
        num_of_bootstraps=BOOTSTRAPS,
    )
    paired.set(frame)
    result: dict[str, Any] = paired.eval()["sensitivity"]
    return result


def _fuse_loop(frame: pd.DataFrame) -> float:
    """FuseMedML's structure with fuse's own metrics: one ``MetricConfusion.eval`` per model per bootstrap, on
    1,000 bootstraps; returns the time scaled to B = 10,000.
    """
    test, reference = MetricConfusion(pred="a", target="target"), MetricConfusion(pred="b", target="target")
    for metric in (test, reference):
        metric.set(frame)
    ids, target = frame["id"].to_numpy(), frame["target"].to_numpy()
    rnd = np.random.RandomState(1234)
    start = time.perf_counter()
    for _ in range(BOOTSTRAPS // 10):
        sampled = ids.copy()
        for stratum in np.unique(target):
            members = target == stratum
            count = int(members.sum())
            sampled[members] = ids[members][rnd.randint(0, count, size=count)]
        test.eval(ids=sampled)
        reference.eval(ids=sampled)
    return (time.perf_counter() - start) * 10


def _best_of(repeat: int, func: Callable[[pd.DataFrame], dict[str, Any]], frame: pd.DataFrame) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func(frame)
        best = min(best, time.perf_counter() - start)
    return best, value


def run() -> Section:
    frame = _data()
    naive_time, naive = _best_of(1, _naive, frame)
    fuse_time, fuse = _best_of(3, _fuse, frame)
    loop_time = _fuse_loop(frame)
    same = naive["count_superior"] == fuse["count_superior"] and abs(naive["diff"] - fuse["diff"]) < 1e-12
    ratios = [
        Ratio("PairedBootstrap, B = 10,000: loop of metric.eval / fuse-eval time", loop_time / fuse_time, "x faster"),
        Ratio("PairedBootstrap, B = 10,000: numpy-only loop / fuse-eval time", naive_time / fuse_time, "x faster"),
    ]
    markdown = "\n".join(
        [
            "## PairedBootstrap of sensitivity (benchmarks/eval_paired.py)",
            "",
            f"n = {N:,} samples (30% positive), B = {BOOTSTRAPS:,}, stratified by the target; best wall time of the runs.",
            "",
            (
                "| loop of `metric.eval` per bootstrap (FuseMedML's structure; 1,000 bootstraps x 10) | numpy-only loop "
                "(the fastest naive form) | fuse-eval `PairedBootstrap(MetricConfusion)` | speed-up vs each | same result |"
            ),
            "|---:|---:|---:|---:|---|",
            (
                f"| {loop_time:.1f} s | {naive_time:.2f} s | {fuse_time:.2f} s | {loop_time / fuse_time:.0f}x / "
                f"{naive_time / fuse_time:.1f}x | {'yes' if same else 'NO'} |"
            ),
            "",
        ]
    )
    return Section(markdown, ratios)


if __name__ == "__main__":
    print(run().markdown)
