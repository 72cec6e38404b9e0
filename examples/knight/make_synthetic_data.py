"""Write a small synthetic KNIGHT challenge data set: the on-disk layout that `fuse.imaging.datasets.KNIGHT` reads.

KNIGHT (Kidney clinical Notes and Imaging to Guide and Help personalize Treatment) asks for the AUA risk group of a
kidney cancer patient from the pre-operative CT scan and clinical data. The real data needs a manual download
(https://github.com/neheller/KNIGHT); this script writes a stand-in with the same files, so that the baseline
(`baseline.py`) and the challenge scorer (`eval.py`) run anywhere:

    <out>/knight.json                            clinical records + `aua_risk_group` of the training cases
    <out>/case_00000/imaging.nii.gz              CT volume (int16 Hounsfield units, stored [H, W, D])
    <out>/case_00000/aggregated_MAJ_seg.nii.gz   segmentation (1 kidney, 2 tumour; KiTS labels)
    <out>/features.json, <out>/images/case_NNNNN.nii.gz
                                                 the test cases (clinical records without labels, CT volumes)
    <out>/test_targets.csv                       the organisers' hidden test labels, in the scorer's format

The labels are learnable from both modalities: the tumour's radius grows with the risk group (0 benign .. 4 very
high risk) and the clinical `radiographic_size` is its measured diameter; age and eGFR drift with the risk too.
Task 1 ("candidate for adjuvant therapy") is risk group high or very high.

    python examples/knight/make_synthetic_data.py --help
    python examples/knight/make_synthetic_data.py --out data/knight_synthetic --n 100 --n-test 30
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the data set into")
    parser.add_argument("--n", type=int, default=100, help="number of training cases (default 100)")
    parser.add_argument("--n-test", type=int, default=0, help="number of unlabelled test cases (default 0)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(32, 80, 80),
        metavar=("D", "H", "W"),
        help="volume size (slices, rows, columns)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import nibabel as nib
    import numpy as np
    import pandas as pd

    from fuse.core import progress, save_dataframe
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"nibabel", "numpy", "pandas", "fuse.core"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs nibabel and fuse-core ({missing}): pip install nibabel fuse-core (or "
        "fuse-imaging, which brings both), or in a clone: pip install nibabel -e packages/fuse-core"
    ) from None


RISK_GROUPS = ["benign", "low_risk", "intermediate_risk", "high_risk", "very_high_risk"]
FIELD_OF_VIEW_MM = (150.0, 350.0, 350.0)  # cranio-caudal (D), antero-posterior (H), left-right (W)
SMOKING = ["never_smoked", "previous_smoker", "current_smoker"]


def draw_risk_groups(n: int, rng: np.random.Generator) -> np.ndarray:
    """Risk groups 0-4, as balanced as `n` allows, in random order."""
    return rng.permutation(np.arange(n) % len(RISK_GROUPS))


def make_volumes(
    risk: int, shape: tuple[int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """A CT volume (HU, [D, H, W]), its segmentation and the tumour diameter in cm for one patient.

    Air around an elliptic body of soft tissue, a contrast-enhanced kidney on one side and a brighter tumour on it
    whose radius (8 mm for benign up to about 40 mm for very high risk) carries the label.
    """
    spacing = np.array(FIELD_OF_VIEW_MM) / np.array(shape)  # mm per voxel along D, H, W
    z, y, x = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, spacing, strict=True)), indexing="ij")
    centre = np.array(FIELD_OF_VIEW_MM) / 2

    image = np.full(shape, -1000.0)  # air
    body = ((y - centre[1]) / 120.0) ** 2 + ((x - centre[2]) / 160.0) ** 2 <= 1.0
    image[body] = 40.0  # soft tissue

    side = rng.choice([-1.0, 1.0])  # left or right kidney
    kidney_centre = centre + np.array([rng.normal(0, 8), 20.0 + rng.normal(0, 5), side * 70.0 + rng.normal(0, 5)])
    kidney = ((z - kidney_centre[0]) / 55.0) ** 2 + ((y - kidney_centre[1]) / 30.0) ** 2 + (
        (x - kidney_centre[2]) / 28.0
    ) ** 2 <= 1.0
    image[kidney] = 160.0

    radius = max(6.0, 8.0 + 8.0 * risk + rng.normal(0, 2.5))  # mm
    direction = rng.normal(size=3)
    tumour_centre = kidney_centre + 20.0 * direction / np.linalg.norm(direction)
    tumour = (z - tumour_centre[0]) ** 2 + (y - tumour_centre[1]) ** 2 + (x - tumour_centre[2]) ** 2 <= radius**2
    image[tumour] = 240.0

    image += rng.normal(0, 15.0, size=shape)  # acquisition noise
    segmentation = np.zeros(shape, dtype=np.uint8)
    segmentation[kidney] = 1
    segmentation[tumour] = 2
    return image.astype(np.int16), segmentation, 2 * radius / 10.0


def make_record(
    case_id: str, risk: int, diameter_cm: float, shape: tuple[int, int, int], rng: np.random.Generator
) -> dict[str, Any]:
    """A knight.json record with the fields the KNIGHT wrapper reads (plus the label `aua_risk_group`)."""
    spacing = np.array(FIELD_OF_VIEW_MM) / np.array(shape)
    egfr = 95.0 - 8.0 * risk + rng.normal(0, 10.0)
    return {
        "case_id": case_id,
        "age_at_nephrectomy": int(np.clip(rng.normal(55 + 3 * risk, 10), 20, 90)),
        "body_mass_index": round(float(rng.normal(29.0, 5.0)), 1),
        "gender": str(rng.choice(["male", "female"], p=[0.6, 0.4])),
        "comorbidities": {
            "hypertension": bool(rng.random() < 0.3 + 0.05 * risk),
            "diabetes": bool(rng.random() < 0.2),
        },
        "smoking_history": str(rng.choice(SMOKING)),
        "radiographic_size": round(diameter_cm + float(rng.normal(0, 0.3)), 1),
        "last_preop_egfr": {"value": ">=90" if egfr >= 90 else round(egfr)},
        "voxel_spacing": {
            "z_spacing": float(spacing[0]),
            "y_spacing": float(spacing[1]),
            "x_spacing": float(spacing[2]),
        },
        "aua_risk_group": RISK_GROUPS[risk],
    }


def save_nifti(volume: np.ndarray, path: Path, spacing: np.ndarray) -> None:
    """Save a [D, H, W] volume the way KNIGHT stores it: [H, W, D] (the wrapper moves the last axis first)."""
    affine = np.diag([spacing[1], spacing[2], spacing[0], 1.0])
    nib.save(nib.Nifti1Image(np.moveaxis(volume, 0, -1), affine), path)  # type: ignore[no-untyped-call]


def write_dataset(out: Path, n: int, n_test: int, shape: tuple[int, int, int], seed: int) -> pd.DataFrame:
    """Write the training and test cases; returns one row per case (case_id, split, risk group)."""
    rng = np.random.default_rng(seed)
    spacing = np.array(FIELD_OF_VIEW_MM) / np.array(shape)
    risks = np.concatenate([draw_risk_groups(n, rng), draw_risk_groups(n_test, rng)])  # balanced in each split
    out.mkdir(parents=True, exist_ok=True)
    records, rows = [], []
    for index in progress(range(n + n_test), total=n + n_test, desc="writing cases"):
        case_id = f"case_{index:05d}"
        risk = int(risks[index])
        image, segmentation, diameter = make_volumes(risk, shape, rng)
        records.append(make_record(case_id, risk, diameter, shape, rng))
        if index < n:
            (out / case_id).mkdir(exist_ok=True)
            save_nifti(image, out / case_id / "imaging.nii.gz", spacing)
            save_nifti(segmentation, out / case_id / "aggregated_MAJ_seg.nii.gz", spacing)
        else:
            (out / "images").mkdir(exist_ok=True)
            save_nifti(image, out / "images" / f"{case_id}.nii.gz", spacing)
        rows.append({"case_id": case_id, "split": "train" if index < n else "test", "risk": risk})

    (out / "knight.json").write_text(json.dumps(records[:n], indent=1))
    if n_test:
        features = [{k: v for k, v in record.items() if k != "aua_risk_group"} for record in records[n:]]
        (out / "features.json").write_text(json.dumps(features, indent=1))
        test = pd.DataFrame(rows[n:])
        targets = pd.DataFrame(
            {"case_id": test["case_id"], "Task1-target": (test["risk"] >= 3).astype(int), "Task2-target": test["risk"]}
        )
        save_dataframe(targets, out / "test_targets.csv", index=False)
    cases: pd.DataFrame = pd.DataFrame(rows)
    return cases


def main(argv: list[str] | None = None) -> int:
    """Write the data set and print a summary."""
    args = parse_args(argv)
    if args.n < 1 or args.n_test < 0:
        raise SystemExit("--n must be >= 1 and --n-test >= 0")
    cases = write_dataset(args.out, args.n, args.n_test, tuple(args.shape), args.seed)
    counts = cases.groupby(["split", "risk"]).size().unstack(fill_value=0)
    counts.columns = [RISK_GROUPS[int(risk)] for risk in counts.columns]
    print(f"wrote {args.n} training and {args.n_test} test cases of shape {tuple(args.shape)} to {args.out}")
    print(counts.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
