"""Write synthetic BRIGHT challenge files: the organisers' targets and a participant's predictions of both tasks,
in the layout the challenge scorer (`eval.py`) reads.

BRIGHT's whole-slide images (BRACS, https://www.bracs.icar.cnr.it/) are hundreds of gigabytes and need a
registration; the scorer only reads CSV files, so this script writes those:

    <out>/targets.csv            image_name, Task1-target (0-2), Task2-target (0-5)
    <out>/task1_predictions.csv  image_name, predicted_label, Noncancerous-score, Precancerous-score, Cancerous-score
    <out>/task2_predictions.csv  image_name, predicted_label, PB-score, UDH-score, FEA-score, ADH-score, DCIS-score,
                                 IC-score

The subtypes (task 2) are as balanced as ``--n`` allows; task 1 is their group (PB, UDH: Noncancerous; FEA, ADH:
Precancerous; DCIS, IC: Cancerous). The participant's probabilities are a softmax of a noisy score that peaks at
the true subtype (``--noise`` makes it worse), task 1's the sums over each group; ``predicted_label`` is the most
probable class, except for a share ``--label-flips`` of images whose label is a random class (a participant may
submit labels that are not the argmax of its probabilities; the scorer takes F1 from the labels). The values are
written with 6 decimals, so rows sum to 1 within rounding.

    python examples/bright/make_synthetic_bright.py --help
    python examples/bright/make_synthetic_bright.py --out data/bright --n 120
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the three CSV files into")
    parser.add_argument("--n", type=int, default=120, help="number of images (default 120)")
    parser.add_argument("--noise", type=float, default=1.0, help="noise of the participant's scores (default 1.0)")
    parser.add_argument(
        "--label-flips", type=float, default=0.05, help="share of predicted labels drawn at random (default 0.05)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below
    parse_args(sys.argv[1:])

try:
    import numpy as np
    import pandas as pd
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas"}:
        raise
    raise SystemExit(f"{Path(__file__).name} needs numpy and pandas ({missing}): pip install fuse-eval") from None


TASK1_CLASS_NAMES = ("Noncancerous", "Precancerous", "Cancerous")
TASK2_CLASS_NAMES = ("PB", "UDH", "FEA", "ADH", "DCIS", "IC")
TASK1_OF_TASK2 = np.array([0, 0, 1, 1, 2, 2])  # the task 1 group of each subtype


def make_files(out: Path, n: int, noise: float, label_flips: float, seed: int) -> dict[str, Path]:
    """Write the targets and both prediction files; returns their paths (keys ``targets``, ``task1``, ``task2``)."""
    rng = np.random.default_rng(seed)
    names = [f"BRACS_{index:04d}" for index in range(n)]
    subtype = rng.permutation(np.arange(n) % len(TASK2_CLASS_NAMES))
    group = TASK1_OF_TASK2[subtype]
    # the participant: a score per subtype that peaks at the true one, blurred to the neighbouring subtypes
    distance = np.abs(np.arange(len(TASK2_CLASS_NAMES))[None, :] - subtype[:, None])
    logits = -1.5 * distance + noise * rng.normal(size=distance.shape)
    task2 = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    task1 = np.stack([task2[:, g == TASK1_OF_TASK2].sum(axis=1) for g in range(len(TASK1_CLASS_NAMES))], axis=1)

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "targets": out / "targets.csv",
        "task1": out / "task1_predictions.csv",
        "task2": out / "task2_predictions.csv",
    }
    targets = pd.DataFrame({"image_name": names, "Task1-target": group, "Task2-target": subtype})
    targets.to_csv(paths["targets"], index=False)
    for key, probabilities, class_names in (("task1", task1, TASK1_CLASS_NAMES), ("task2", task2, TASK2_CLASS_NAMES)):
        labels = probabilities.argmax(axis=1)
        flipped = rng.random(n) < label_flips
        labels[flipped] = rng.integers(0, len(class_names), int(flipped.sum()))
        table = pd.DataFrame(probabilities, columns=[f"{name}-score" for name in class_names])
        table.insert(0, "predicted_label", labels)
        table.insert(0, "image_name", names)
        table.sample(frac=1.0, random_state=seed).to_csv(paths[key], index=False, float_format="%.6f")  # any order
    return paths


def main(argv: list[str] | None = None) -> int:
    """Write the files and print a summary."""
    args = parse_args(argv)
    if args.n < 1 or args.noise < 0 or not 0 <= args.label_flips <= 1:
        raise SystemExit("--n must be >= 1, --noise >= 0 and --label-flips in [0, 1]")
    paths = make_files(args.out, args.n, args.noise, args.label_flips, args.seed)
    counts = np.bincount(pd.read_csv(paths["targets"])["Task2-target"], minlength=len(TASK2_CLASS_NAMES))
    print(f"wrote {args.n} images to {args.out}: " + ", ".join(str(path) for path in paths.values()))
    print(
        "images per subtype: "
        + ", ".join(f"{name} {count}" for name, count in zip(TASK2_CLASS_NAMES, counts, strict=True))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
