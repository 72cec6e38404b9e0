"""A runnable tour of fuse-core (`nox -s demo`): samples, views, seeding, collation, atomic files, workers.

Every step prints what it shows; the script exits non-zero if any step does not behave as described. Needs only
fuse-core (``pip install fuse-core``, or ``pip install -e packages/fuse-core`` in a clone).

Run::

    python examples/core_tour.py [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from fuse.core import (
    CollateToBatchList,
    NDict,
    RandInt,
    Seed,
    Uniform,
    create_initial_sample,
    draw_samples_recursively,
    get_sample_id,
    read_dataframe,
    run_multiprocessed,
    save_dataframe,
    uncollate,
)


def load_case(case_id: str) -> NDict:
    """What a static pipeline would do: one sample per case, with an image and clinical data."""
    sample = create_initial_sample(case_id)
    rng = np.random.default_rng(int(case_id.split("_")[1]))
    sample["data.input.img"] = rng.random((1, 32, 32), dtype=np.float32)
    sample["data.input.clinical"] = {"age": int(rng.integers(40, 80)), "smoker": bool(rng.integers(0, 2))}
    sample["data.gt.label"] = int(rng.integers(0, 2))
    return sample


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of step 3 (default 2; 0: none)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("1. NDict: dotted keypaths, nested assignment, live views")
    sample = load_case("case_001")
    sample.print_tree()
    clinical = sample["data.input.clinical"]  # a live view
    clinical["bmi"] = 27.5
    assert sample["data.input.clinical.bmi"] == 27.5
    print(f"   wrote through the view: data.input.clinical.bmi = {sample['data.input.clinical.bmi']}")

    print("2. Reproducible random augmentation parameters")
    params = {"rotate": Uniform(-15.0, 15.0), "flip": RandInt(0, 1)}
    Seed.set_seed(1234)
    first = draw_samples_recursively(params)
    Seed.set_seed(1234)
    assert draw_samples_recursively(params) == first
    print(f"   drawn twice under seed 1234: {first}")

    print("3. Build samples in worker processes (a failure would name its case id)")
    case_ids = [f"case_{i:03d}" for i in range(8)]
    samples = run_multiprocessed(load_case, case_ids, workers=args.workers, verbose=1, desc="loading cases")
    assert [get_sample_id(s) for s in samples] == case_ids

    print("4. Collate into a batch and split it back")
    batch = CollateToBatchList()(samples)  # type: ignore[arg-type]
    print(f"   batch keys: {batch.keypaths()}")
    assert uncollate(batch) == samples
    print(f"   uncollate(batch) gives back the {len(samples)} samples")

    print("5. Atomic DataFrame files")
    frame = pd.DataFrame({"id": case_ids, "label": batch["data.gt.label"], "age": batch["data.input.clinical.age"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.tsv.gz"
        save_dataframe(frame, path, index=False)
        assert read_dataframe(path).equals(frame)
        print(f"   wrote and re-read {path.name}: {len(frame)} rows")
    print("tour complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
