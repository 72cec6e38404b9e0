"""Write a synthetic PI-CAI-like data set: bi-parametric prostate MRI studies with planted csPCa lesions.

PI-CAI (https://pi-cai.grand-challenge.org/) holds bi-parametric MRI studies (T2-weighted, apparent diffusion
coefficient, high b-value) of men suspected of prostate cancer, with expert delineations of the clinically significant
lesions (csPCa, ISUP grade 2 or more) and a marksheet of clinical and pathology data. This script fakes a small data
set in the same layout, which ``fuse.imaging.datasets.PICAI`` and ``train_and_evaluate.py`` read:

- ``images/<patient_id>/<patient_id>_<study_id>_{t2w,adc,hbv}.mha``: MetaImage volumes (``int16``, array axes
  ``[z, y, x]``, anisotropic spacing like PI-CAI's), written with SimpleITK;
- ``picai_labels/clinical_information/marksheet.csv``: ``patient_id, study_id, mri_date, patient_age, psa, psad,
  prostate_volume, histopath_type, lesion_GS, lesion_ISUP, case_ISUP, case_csPCa, center``;
- ``picai_labels/csPCa_lesion_delineations/human_expert/resampled/<patient_id>_<study_id>.nii.gz``: each lesion's
  voxels hold its ISUP grade (2..5), 0 elsewhere; all zero for a study without csPCa;
- ``picai_labels/anatomical_delineations/whole_gland/AI/Bosma22b/<patient_id>_<study_id>.nii.gz``: the prostate
  (1) on the same grid.

The label NIfTI files store the T2W grid as NIfTI does (array axes x, y, z). Each volume shows a body, a prostate
and, in csPCa studies, one or two spherical lesions: dark on T2W and ADC, bright on the high b-value image, so the
lesions can be learnt from the images. Half of the studies (rounded down) have csPCa; the others have ISUP 0 or 1
(ISUP 1 lesions are not clinically significant and, as in PI-CAI, not delineated). The same ``--seed`` gives the same
data.

Run ``python examples/picai/make_synthetic_picai.py --out picai_data`` (``--help`` lists the options); needs
SimpleITK (``pip install "fuse-imaging[itk]"``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the data set to")
    parser.add_argument("--n", type=int, default=24, help="number of studies, one per patient (default: %(default)s)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(16, 48, 48),
        metavar=("SLICES", "ROWS", "COLUMNS"),
        help="volume size (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
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

SEQUENCES = ("_t2w", "_adc", "_hbv")
IMAGES = "images"
MARKSHEET = "picai_labels/clinical_information/marksheet.csv"
LESIONS = "picai_labels/csPCa_lesion_delineations/human_expert/resampled"
WHOLE_GLAND = "picai_labels/anatomical_delineations/whole_gland/AI/Bosma22b"
FIELD_OF_VIEW_MM = (54.0, 150.0, 150.0)  # z, y, x: about PI-CAI's T2W coverage whatever the shape
# Mean intensity of each tissue per sequence: background, body, prostate, lesion
INTENSITY = {
    "_t2w": (0.0, 300.0, 500.0, 220.0),
    "_adc": (0.0, 1200.0, 1500.0, 700.0),
    "_hbv": (0.0, 10.0, 15.0, 45.0),
}
NOISE = {"_t2w": 25.0, "_adc": 80.0, "_hbv": 2.5}


@dataclass(frozen=True)
class Study:
    """One study's marksheet entries."""

    patient_id: int
    study_id: int
    case_isup: int
    patient_age: int
    psa: float

    @property
    def name(self) -> str:
        """PI-CAI's file stem and sample id, ``<patient_id>_<study_id>``."""
        return f"{self.patient_id}_{self.study_id}"

    @property
    def cspca(self) -> bool:
        """Clinically significant prostate cancer: ISUP grade 2 or more."""
        return self.case_isup >= 2


def draw_studies(n: int, seed: int) -> list[Study]:
    """``n`` studies, ``n // 2`` of them with csPCa (ISUP 2..5), the others ISUP 0 or 1."""
    rng = np.random.default_rng(seed)
    positive = np.zeros(n, dtype=bool)
    positive[rng.permutation(n)[: n // 2]] = True
    return [
        Study(
            patient_id=10000 + index,
            study_id=1000000 + index,
            case_isup=int(rng.integers(2, 6)) if is_positive else int(rng.integers(0, 2)),
            patient_age=int(rng.integers(50, 80)),
            psa=round(float(rng.lognormal(2.3 if is_positive else 1.8, 0.4)), 1),
        )
        for index, is_positive in enumerate(positive.tolist())
    ]


def _ellipsoid(shape: tuple[int, int, int], center: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Voxels inside an axis-aligned ellipsoid; ``center`` and ``radii`` in voxels, ``[z, y, x]``."""
    z, y, x = np.meshgrid(*(np.arange(size) for size in shape), indexing="ij", sparse=True)
    distance = ((z - center[0]) / radii[0]) ** 2 + ((y - center[1]) / radii[1]) ** 2 + ((x - center[2]) / radii[2]) ** 2
    inside: np.ndarray = distance <= 1.0
    return inside


def phantom(shape: tuple[int, int, int], study: Study, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], ...]:
    """The study's volumes (``int16``, ``[z, y, x]``), its lesion map (ISUP grades) and its prostate mask."""
    size = np.asarray(shape, dtype=float)
    body = _ellipsoid(shape, size / 2, np.array([size[0], 0.42 * size[1], 0.46 * size[2]]))
    gland_center = size / 2 + rng.uniform(-0.05, 0.05, 3) * size
    gland_radii = np.array([0.32, 0.2, 0.22]) * size * rng.uniform(0.9, 1.1)
    gland = _ellipsoid(shape, gland_center, gland_radii)
    lesions = np.zeros(shape, dtype=np.uint8)
    if study.cspca:
        grades = [study.case_isup] + ([int(rng.integers(2, study.case_isup + 1))] if rng.random() < 0.4 else [])
        for grade in grades:  # the worst lesion first: it always shows, so case_ISUP is among the mask's values
            offset = rng.uniform(-0.45, 0.45, 3) * gland_radii
            radius = max(1.6, 0.09 * float(size[1:].mean()) * rng.uniform(0.8, 1.3))
            radii = np.array([max(1.2, radius * size[0] / size[1]), radius, radius])
            lesion = _ellipsoid(shape, gland_center + offset, radii) & gland & (lesions == 0)
            lesions[lesion] = grade
    tissue = np.zeros(shape, dtype=np.uint8)  # 0 background, 1 body, 2 prostate, 3 lesion
    tissue[body] = 1
    tissue[gland] = 2
    tissue[lesions > 0] = 3
    volumes = {}
    for seq in SEQUENCES:
        volume = np.asarray(INTENSITY[seq], dtype=np.float32)[tissue]
        volume += rng.normal(0.0, NOISE[seq], size=shape).astype(np.float32)
        volumes[seq] = np.clip(np.rint(volume), 0, 32767).astype(np.int16)
    return volumes, {"lesions": lesions, "gland": gland.astype(np.uint8)}


def spacing(shape: tuple[int, ...]) -> tuple[float, float, float]:
    """Voxel size in mm per array axis ``[z, y, x]``, covering ``FIELD_OF_VIEW_MM``."""
    z, y, x = (fov / size for fov, size in zip(FIELD_OF_VIEW_MM, shape, strict=True))
    return (z, y, x)


def write_mha(path: Path, volume: np.ndarray) -> None:
    """A ``[z, y, x]`` volume as MetaImage (SimpleITK takes the spacing as x, y, z)."""
    import SimpleITK as sitk  # the fuse-imaging[itk] extra; checked in main()

    image = sitk.GetImageFromArray(volume)
    spacing_z, spacing_y, spacing_x = spacing(volume.shape)
    image.SetSpacing((spacing_x, spacing_y, spacing_z))  # type: ignore[no-untyped-call]
    sitk.WriteImage(image, str(path), useCompression=True)


def write_label(path: Path, mask: np.ndarray) -> None:
    """A ``[z, y, x]`` mask as NIfTI on the T2W grid: array axes x, y, z, LPS axes flipped to RAS+ as converters do."""
    spacing_z, spacing_y, spacing_x = spacing(mask.shape)
    affine = np.diag([-spacing_x, -spacing_y, spacing_z, 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(mask.transpose(2, 1, 0)), affine)  # type: ignore[no-untyped-call]
    nib.save(image, path)


def make_dataset(out: Path, n: int, shape: tuple[int, int, int], seed: int) -> pd.DataFrame:
    """Write the data set under ``out`` (see the module docs) and return its marksheet."""
    for folder in (LESIONS, WHOLE_GLAND, Path(MARKSHEET).parent):
        (out / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for study in draw_studies(n, seed):
        volumes, masks = phantom(shape, study, np.random.default_rng([seed, study.patient_id]))
        patient_dir = out / IMAGES / str(study.patient_id)
        patient_dir.mkdir(parents=True, exist_ok=True)
        for seq, volume in volumes.items():
            write_mha(patient_dir / f"{study.name}{seq}.mha", volume)
        write_label(out / LESIONS / f"{study.name}.nii.gz", masks["lesions"])
        write_label(out / WHOLE_GLAND / f"{study.name}.nii.gz", masks["gland"])
        lesion_isup = sorted({int(v) for v in np.unique(masks["lesions"]) if v > 0}, reverse=True)
        volume_ml = float(masks["gland"].sum() * np.prod(spacing(shape)) / 1000.0)
        rows.append(
            {
                "patient_id": study.patient_id,
                "study_id": study.study_id,
                "mri_date": "2019-06-01",
                "patient_age": study.patient_age,
                "psa": study.psa,
                "psad": round(study.psa / volume_ml, 3),
                "prostate_volume": round(volume_ml, 1),
                "histopath_type": "MRBx" if study.case_isup > 0 else "",
                "lesion_GS": "N/A",
                "lesion_ISUP": ",".join(str(grade) for grade in lesion_isup) if lesion_isup else "N/A",
                "case_ISUP": study.case_isup,
                "case_csPCa": "YES" if study.cspca else "NO",
                "center": "SYNTHETIC",
            }
        )
    table: pd.DataFrame = pd.DataFrame(rows)
    table.to_csv(out / MARKSHEET, index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if importlib.util.find_spec("SimpleITK") is None:
        parser.error('PI-CAI images are MetaImage files written with SimpleITK: pip install "fuse-imaging[itk]"')
    if args.n < 2 or min(args.shape) < 8:
        parser.error("--n must be at least 2 and every --shape size at least 8")
    table = make_dataset(args.out, args.n, (args.shape[0], args.shape[1], args.shape[2]), args.seed)
    positives = int((table["case_csPCa"] == "YES").sum())
    print(f"wrote {len(table)} studies of {tuple(args.shape)} ({positives} with csPCa) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
