"""Write a synthetic STOIC21-like cohort: chest CT volumes plus a clinical table, for train_and_evaluate.py.

STOIC2021 (https://stoic2021.grand-challenge.org/) holds chest CTs of COVID-19 suspects with the patient's age and
sex, the RT-PCR result (``probCOVID``) and whether the patient was intubated or died within a month
(``probSevere``). Getting it means accepting its terms, so this script fakes a cohort with the same columns:

- each volume is an ``int16`` CT phantom in Hounsfield units (air, a body outline, two lungs, the heart, the
  spine, Gaussian noise) with a real voxel spacing in its header;
- severe patients have several consolidations (soft-tissue-dense blobs, about +30 HU) inside the lungs, so the
  label is learnable from the image; COVID-positive patients who are not severe have a faint ground-glass opacity
  (about -450 HU) at most, which the -200..800 HU window used for training hides;
- severe patients are older (``PatientAge``, in 10-year bins "035Y" .. "085Y" as in STOIC21's headers) and more
  often male, so the clinical features carry signal too; ``SliceThickness`` is noise.

Half of the patients (rounded down) are severe. The same ``--seed`` gives the same cohort.

Run ``python examples/stoic21/make_synthetic_cohort.py --help``; e.g.
``python examples/stoic21/make_synthetic_cohort.py --out stoic21_cohort``. It writes, under ``--out``:

- ``--format nifti`` (default): ``images/<PatientID>.nii.gz`` (array axes x, y, z as scanners' NIfTI converters
  write them, LPS-flipped affine) and ``clinical.csv`` (``PatientID, image, PatientAge, PatientSex,
  SliceThickness, probCOVID, probSevere``);
- ``--format stoic21``: the real STOIC2021 layout, ``data/mha/<PatientID>.mha`` (MetaImage with ``PatientID``,
  ``PatientAge``, ``PatientSex`` and ``SliceThickness`` in its header) and ``metadata/reference.csv``
  (``PatientID, probCOVID, probSevere``), which ``fuse.imaging.datasets.STOIC21`` reads (needs SimpleITK, the
  ``fuse-imaging[itk]`` extra) and ``train_and_evaluate.py --stoic21-dir`` trains on.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the cohort to")
    parser.add_argument("--n", type=int, default=64, help="number of patients (default: %(default)s)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(48, 96, 96),
        metavar=("SLICES", "ROWS", "COLUMNS"),
        help="volume size (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--format",
        choices=("nifti", "stoic21"),
        default="nifti",
        help="nifti: images/*.nii.gz + clinical.csv; stoic21: the real data's data/mha/*.mha + metadata/reference.csv",
    )
    return parser


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below
    build_parser().parse_args(sys.argv[1:])

try:
    import nibabel as nib
    import numpy as np
    import pandas as pd
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"nibabel", "numpy", "pandas"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs nibabel ({missing}): pip install nibabel (fuse-imaging brings it)"
    ) from None


AGE_BINS = ("035Y", "045Y", "055Y", "065Y", "075Y", "085Y")  # STOIC21's PatientAge values
# How likely each age bin is: severe patients are older.
AGE_WEIGHTS = {True: (1, 2, 3, 4, 5, 4), False: (5, 5, 4, 3, 2, 1)}
MALE_PROBABILITY = {True: 0.7, False: 0.45}
SLICE_THICKNESSES_MM = (1.0, 1.25, 2.0, 2.5, 3.0, 5.0)
FIELD_OF_VIEW_MM = (300.0, 360.0, 360.0)  # z, y, x: the volume covers the chest whatever its shape
HU_AIR, HU_LUNG, HU_SOFT_TISSUE, HU_BONE = -1000.0, -850.0, 40.0, 400.0
HU_CONSOLIDATION, HU_GROUND_GLASS = 30.0, -450.0

Triple = tuple[float, float, float]  # z, y, x
Grid = tuple[np.ndarray, np.ndarray, np.ndarray]  # z, y, x coordinates of the voxels, broadcastable


@dataclass(frozen=True)
class Patient:
    """One patient's clinical record."""

    patient_id: int
    age: str
    sex: str
    slice_thickness: float
    covid: int
    severe: int


def draw_patients(n: int, seed: int) -> list[Patient]:
    """``n`` patients, ``n // 2`` of them severe (all severe patients are COVID-positive, the others are with
    probability 0.5), with age and sex drawn depending on severity."""
    rng = np.random.default_rng(seed)
    severe = np.zeros(n, dtype=bool)
    severe[rng.permutation(n)[: n // 2]] = True
    patients = []
    for index, is_severe in enumerate(severe.tolist()):
        weights = np.asarray(AGE_WEIGHTS[is_severe], dtype=float)
        patients.append(
            Patient(
                patient_id=index + 1,
                age=str(rng.choice(AGE_BINS, p=weights / weights.sum())),
                sex="M" if rng.random() < MALE_PROBABILITY[is_severe] else "F",
                slice_thickness=float(rng.choice(SLICE_THICKNESSES_MM)),
                covid=int(is_severe or rng.random() < 0.5),
                severe=int(is_severe),
            )
        )
    return patients


def _ellipsoid(grid: Grid, center: Triple, radii: Triple) -> np.ndarray:
    """Mask of the voxels inside an axis-aligned ellipsoid; ``grid`` holds z, y, x coordinates in [-1, 1]."""
    distance = np.zeros(np.broadcast_shapes(*(axis.shape for axis in grid)))
    for axis, axis_center, radius in zip(grid, center, radii, strict=True):
        distance = distance + ((axis - axis_center) / radius) ** 2
    inside: np.ndarray = distance <= 1.0
    return inside


def _add_lesions(
    volume: np.ndarray,
    grid: Grid,
    lungs: Sequence[tuple[Triple, Triple]],
    lung_mask: np.ndarray,
    count: int,
    radius_range: tuple[float, float],
    hu: float,
    rng: np.random.Generator,
) -> None:
    """Paint ``count`` spherical lesions of density ``hu`` at random places in the lungs (clipped to them)."""
    for _ in range(count):
        center, radii = lungs[int(rng.integers(len(lungs)))]
        offset = (rng.uniform(-0.5, 0.5, size=3) * np.asarray(radii)).tolist()
        radius = float(rng.uniform(*radius_range))
        lesion_center = (center[0] + offset[0], center[1] + offset[1], center[2] + offset[2])
        lesion = _ellipsoid(grid, lesion_center, (radius, radius, radius)) & lung_mask
        volume[lesion] = hu


def ct_phantom(shape: tuple[int, int, int], patient: Patient, rng: np.random.Generator) -> np.ndarray:
    """A chest CT phantom, ``int16`` Hounsfield units, axes ``[z, y, x]`` (slices, rows, columns)."""
    z, y, x = np.meshgrid(*(np.linspace(-1.0, 1.0, size) for size in shape), indexing="ij", sparse=True)
    grid = (z, y, x)
    body_scale, lung_scale = rng.uniform(0.92, 1.04), rng.uniform(0.85, 1.05)
    volume = np.full(shape, HU_AIR, dtype=np.float32)
    body_radii = (0.75 * body_scale, 0.92 * body_scale)
    body = np.broadcast_to((y / body_radii[0]) ** 2 + (x / body_radii[1]) ** 2 <= 1.0, shape)
    volume[body] = HU_SOFT_TISSUE
    chest_wall = (y / (body_radii[0] - 0.1)) ** 2 + (x / (body_radii[1] - 0.1)) ** 2 <= 1.0  # lungs stay inside
    lungs: list[tuple[Triple, Triple]] = [
        ((0.0, -0.05, side * 0.42), (0.9, 0.5 * lung_scale, 0.3 * lung_scale)) for side in (-1.0, 1.0)
    ]
    heart = _ellipsoid(grid, (-0.2, 0.15, 0.08), (0.45, 0.3, 0.22))
    lung_mask = (_ellipsoid(grid, *lungs[0]) | _ellipsoid(grid, *lungs[1])) & chest_wall & ~heart
    volume[lung_mask] = HU_LUNG
    volume[np.broadcast_to((y - 0.55) ** 2 + x**2 <= 0.1**2, shape)] = HU_BONE  # the spine
    if patient.severe:
        _add_lesions(volume, grid, lungs, lung_mask, int(rng.integers(3, 6)), (0.14, 0.24), HU_CONSOLIDATION, rng)
    elif patient.covid:
        _add_lesions(volume, grid, lungs, lung_mask, int(rng.integers(0, 2)), (0.08, 0.15), HU_GROUND_GLASS, rng)
    volume += rng.normal(0.0, 20.0, size=shape).astype(np.float32)
    return np.clip(np.rint(volume), -1024, 3071).astype(np.int16)


def _spacing(shape: tuple[int, ...]) -> Triple:
    """Voxel spacing in mm, ``(z, y, x)``, so that the volume covers ``FIELD_OF_VIEW_MM``."""
    z, y, x = (fov / size for fov, size in zip(FIELD_OF_VIEW_MM, shape, strict=True))
    return (z, y, x)


def write_nifti(path: Path, volume: np.ndarray) -> None:
    """Save a ``[z, y, x]`` volume as NIfTI the way DICOM converters do: array axes x, y, z and an affine from
    DICOM's LPS frame (x and y negated), centred on the origin."""
    spacing_z, spacing_y, spacing_x = _spacing(volume.shape)
    affine = np.diag([-spacing_x, -spacing_y, spacing_z, 1.0])
    affine[:3, 3] = -affine[:3, :3] @ (np.array(volume.shape[::-1]) - 1) / 2.0
    image = nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), affine)  # type: ignore[no-untyped-call]
    nib.save(image, path)


def write_mha(path: Path, volume: np.ndarray, patient: Patient) -> None:
    """Save a ``[z, y, x]`` volume as MetaImage with STOIC21's header entries."""
    import SimpleITK as sitk  # only for --format stoic21 (the fuse-imaging[itk] extra)

    image = sitk.GetImageFromArray(volume)
    spacing_z, spacing_y, spacing_x = _spacing(volume.shape)
    image.SetSpacing((spacing_x, spacing_y, spacing_z))  # type: ignore[no-untyped-call]
    for key, value in (
        ("PatientID", str(patient.patient_id)),
        ("PatientAge", patient.age),
        ("PatientSex", patient.sex),
        ("SliceThickness", str(patient.slice_thickness)),
    ):
        image.SetMetaData(key, value)  # type: ignore[no-untyped-call]
    sitk.WriteImage(image, str(path), useCompression=True)


def make_cohort(out: Path, n: int, shape: tuple[int, int, int], seed: int, format: str = "nifti") -> pd.DataFrame:
    """Write the cohort under ``out`` (see the module docs) and return its clinical table."""
    patients = draw_patients(n, seed)
    image_dir = out / ("images" if format == "nifti" else "data/mha")
    image_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for patient in patients:
        volume = ct_phantom(shape, patient, np.random.default_rng([seed, patient.patient_id]))
        if format == "nifti":
            image = f"images/{patient.patient_id}.nii.gz"
            write_nifti(out / image, volume)
        else:
            image = f"data/mha/{patient.patient_id}.mha"
            write_mha(out / image, volume, patient)
        rows.append(
            {
                "PatientID": patient.patient_id,
                "image": image,
                "PatientAge": patient.age,
                "PatientSex": patient.sex,
                "SliceThickness": patient.slice_thickness,
                "probCOVID": patient.covid,
                "probSevere": patient.severe,
            }
        )
    table: pd.DataFrame = pd.DataFrame(rows)
    if format == "nifti":
        table.to_csv(out / "clinical.csv", index=False)
    else:
        (out / "metadata").mkdir(exist_ok=True)
        table[["PatientID", "probCOVID", "probSevere"]].to_csv(out / "metadata" / "reference.csv", index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.format == "stoic21" and importlib.util.find_spec("SimpleITK") is None:
        parser.error("--format stoic21 writes MHA files with SimpleITK: pip install SimpleITK (or fuse-imaging[itk])")
    if args.n < 2 or min(args.shape) < 4:
        parser.error("--n must be at least 2 and every --shape size at least 4")
    table = make_cohort(args.out, args.n, tuple(args.shape), args.seed, args.format)
    print(
        f"wrote {len(table)} volumes of {tuple(args.shape)} ({table['probSevere'].sum()} severe, "
        f"{table['probCOVID'].sum()} COVID-positive) to {args.out} ({args.format} layout)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
