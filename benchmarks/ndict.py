"""NDict get/set/contains/keypaths/copy on a realistic sample, side by side with plain dicts and FuseMedML.

Run alone (`python benchmarks/ndict.py`) or through `nox -s bench`. FuseMedML 0.4.1's NDict is taken from
its wheel on the package index (`pip download --no-deps`), cached in benchmarks/.cache; without network or
torch that column is left out, saying why.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import timeit
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fuse.core import NDict
from section import Ratio, Section

CACHE = Path(__file__).resolve().parent / ".cache"
FUSEMEDML = "fuse-med-ml==0.4.1"
REPEAT = 15


def realistic_sample() -> dict[str, Any]:
    """A nested sample of 50 leaves, 2-4 levels deep, as a training pipeline produces."""
    rng = np.random.default_rng(0)
    sample: dict[str, Any] = {
        "data": {
            "sample_id": "case_00042",
            "initial_sample_id": "case_00042",
            "input": {
                "img": rng.random((1, 64, 64), dtype=np.float32),
                "seg": rng.integers(0, 3, (1, 64, 64)),
                "spacing": (0.7, 0.7, 2.5),
                "clinical": {f"feature_{i}": float(i) for i in range(12)},
            },
            "gt": {
                "label": 1,
                "label_multi": [0, 1, 0],
                "bbox": [1, 2, 30, 40],
                "survival": {"time": 12.5, "event": 1},
            },
            "meta": {"site": "A", "scanner": "X", "fold": 3, "split": "train"},
        },
        "model": {
            "logits": {"cls": rng.random(3), "seg": rng.random((3, 64, 64))},
            "output": {"cls": rng.random(3), "seg": rng.random((3, 64, 64))},
            "features": {f"layer_{i}": rng.random(8) for i in range(4)},
        },
        "losses": {"cls_loss": 0.3, "seg_loss": 0.5, "total_loss": 0.8},
        "internal": {f"op_{i}": {"name": f"Op{i}", "key": f"data.input.k{i}"} for i in range(4)},
    }
    return sample


def _flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


def _nested_get(nested: dict[str, Any], path: list[str]) -> Any:
    node = nested
    for part in path:
        node = node[part]
    return node


def _nested_set(nested: dict[str, Any], path: list[str], value: Any) -> Any:
    node = nested
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return value


def _nested_contains(nested: dict[str, Any], path: list[str]) -> bool:
    node: Any = nested
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _nested_copy(nested: dict[str, Any]) -> dict[str, Any]:
    return {k: _nested_copy(v) if isinstance(v, dict) else v for k, v in nested.items()}


def _nested_keypaths(nested: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in nested.items():
        if isinstance(value, dict):
            paths.extend(_nested_keypaths(value, prefix + key + "."))
        else:
            paths.append(prefix + key)
    return paths


def load_fusemedml_ndict() -> tuple[type | None, str]:
    """FuseMedML's NDict class from its released wheel, or None and the reason it is unavailable."""
    CACHE.mkdir(exist_ok=True)
    wheels = sorted(CACHE.glob("fuse_med_ml-0.4.1-*.whl"))
    if not wheels:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(CACHE), FUSEMEDML],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wheels = sorted(CACHE.glob("fuse_med_ml-0.4.1-*.whl"))
        if not wheels:
            return None, f"could not download {FUSEMEDML}: {download.stderr.strip()[-200:]}"
    if importlib.util.find_spec("torch") is None:
        return None, "FuseMedML's ndict.py imports torch, which is not installed here"
    source = CACHE / "fusemedml_ndict.py"
    with zipfile.ZipFile(wheels[0]) as archive:
        source.write_bytes(archive.read("fuse/utils/ndict.py"))
    spec = importlib.util.spec_from_file_location("fusemedml_ndict", source)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NDict, f"{FUSEMEDML} (fuse/utils/ndict.py from its wheel)"


def _operations(
    name: str, obj: Any, nested: dict[str, Any], keys: list[str], prefixes: list[str]
) -> dict[str, tuple[Callable[[], Any], int]]:
    """operation -> (a callable doing it `count` times, count) for one implementation."""
    paths = [k.split(".") for k in keys]
    value = np.zeros(2)
    n = len(keys)
    if name == "dict (nested)":
        return {
            "get leaf": (lambda: [_nested_get(obj, p) for p in paths], n),
            "set leaf": (lambda: [_nested_set(obj, p, value) for p in paths], n),
            "contains leaf": (lambda: [_nested_contains(obj, p) for p in paths], n),
            "contains prefix": (lambda: [_nested_contains(obj, p.split(".")) for p in prefixes], len(prefixes)),
            "build sample": (lambda: _nested_copy(nested), 1),
            "keypaths": (lambda: _nested_keypaths(obj), 1),
            "shallow copy": (lambda: _nested_copy(obj), 1),
        }
    common = {
        "get leaf": (lambda: [obj[k] for k in keys], n),
        "set leaf": (lambda: [obj.__setitem__(k, value) for k in keys], n),
        "contains leaf": (lambda: [k in obj for k in keys], n),
    }
    if name == "dict (flat keypaths)":
        return {
            **common,
            "contains prefix": (lambda: [any(k.startswith(p + ".") for k in obj) for p in prefixes], len(prefixes)),
            "build sample": (lambda: _flatten(nested), 1),
            "keypaths": (lambda: list(obj), 1),
            "shallow copy": (lambda: dict(obj), 1),
        }
    cls = type(obj)
    return {
        **common,
        "contains prefix": (lambda: [p in obj for p in prefixes], len(prefixes)),
        "build sample": (lambda: cls(nested), 1),
        "keypaths": (obj.keypaths, 1),
        "shallow copy": (lambda: obj.clone(deepcopy=False), 1),
    }


def measure() -> tuple[dict[str, dict[str, float]], str]:
    """Best-of-REPEAT nanoseconds per operation; implementations alternate within every repeat."""
    nested = realistic_sample()
    flat = _flatten(nested)
    keys = list(flat)
    prefixes = sorted({k.rsplit(".", 1)[0] for k in keys if "." in k})
    fusemedml, fusemedml_note = load_fusemedml_ndict()
    implementations: dict[str, Any] = {
        "dict (flat keypaths)": dict(flat),
        "dict (nested)": _nested_copy(nested),
        "fuse NDict": NDict(nested),
    }
    if fusemedml is not None:
        implementations["FuseMedML NDict"] = fusemedml(nested)
    operations = {name: _operations(name, obj, nested, keys, prefixes) for name, obj in implementations.items()}

    results: dict[str, dict[str, float]] = {name: {} for name in implementations}
    for op in operations["fuse NDict"]:
        timers = {name: timeit.Timer(ops[op][0]) for name, ops in operations.items()}
        numbers = {name: max(1, timer.autorange()[0] // 4) for name, timer in timers.items()}
        best = dict.fromkeys(timers, float("inf"))
        for _ in range(REPEAT):
            for name, timer in timers.items():
                best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name])
        for name in timers:
            results[name][op] = best[name] / operations[name][op][1] * 1e9
    note = f"sample: {len(keys)} leaves, {len(prefixes)} prefixes, 2-4 levels. FuseMedML: {fusemedml_note}"
    return results, note


def report(results: dict[str, dict[str, float]], note: str) -> str:
    operations = list(next(iter(results.values())))
    names = list(results)
    lines = [
        "## NDict (benchmarks/ndict.py)",
        "",
        note,
        "",
        "Time per operation (best of 15 interleaved rounds), and the ratio fuse / other (below 1: fuse is faster).",
        "",
        "| operation | " + " | ".join(names) + " | fuse / FuseMedML | fuse / flat dict |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for op in operations:
        cells = [f"{results[name][op]:,.0f} ns" for name in names]
        fuse = results["fuse NDict"][op]
        vs_fmm = f"{fuse / results['FuseMedML NDict'][op]:.2f}" if "FuseMedML NDict" in results else "n/a"
        vs_flat = f"{fuse / results['dict (flat keypaths)'][op]:.2f}"
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {vs_fmm} | {vs_flat} |")
    return "\n".join(lines) + "\n"


def run() -> Section:
    results, note = measure()
    ratios = []
    if "FuseMedML NDict" in results:
        fuse, fusemedml = results["fuse NDict"], results["FuseMedML NDict"]
        ratios = [
            Ratio(f"NDict {op}: fuse / FuseMedML time", fuse[op] / fusemedml[op], "x (below 1: fuse faster)")
            for op in ("get leaf", "set leaf", "build sample")
        ]
    return Section(report(results, note), ratios)


if __name__ == "__main__":
    print(run().markdown)
