"""Write a synthetic CMMD (Chinese Mammography Database) in TCIA's layout, for train_and_evaluate.py and fuse.imaging.CMMD.

CMMD (https://doi.org/10.7937/tcia.eqde-4b16) holds 3,728 mammograms of 1,775 patients with a biopsy-confirmed
benign or malignant lesion, and the molecular subtype of part of the malignant ones. Getting it takes TCIA's NBIA
Data Retriever, so this script fakes a small set with the same files, folders, DICOM tags and clinical columns:

- each patient has one breast (a few have both) imaged in two views, cranio-caudal and medio-lateral oblique: one
  DICOM file each (MONOCHROME2, 16-bit, Modality MG, with the ``ImageLaterality`` and ``ViewCodeSequence`` tags the
  wrapper reads), under ``CMMD/<ID1>/<study>/<series>/1-<n>.dcm`` as the NBIA retriever writes them;
- the breast is a bright half-disc of textured tissue on the chest-wall side (left for a left breast, right for a
  right one) on a dark background; every breast has a lesion: a malignant one is a larger, denser mass with
  bright specks (calcifications) around it, a benign one a small faint mass (the learnable signal);
- the clinical sheet has TCIA's columns ``ID1, LeftRight, Age, number, abnormality, classification, subtype``:
  ``classification`` is ``Benign`` or ``Malignant``; malignant patients of the ``D2-`` series have a ``subtype``
  (``Luminal A``, ``Luminal B``, ``HER2-enriched``, ``triple negative``), the others none, as in the real data.

Half of the patients (rounded down) are malignant. The same ``--seed`` gives the same set.

Run ``python examples/cmmd/make_synthetic_cmmd.py --help``; e.g.
``python examples/cmmd/make_synthetic_cmmd.py --out cmmd_data``. It writes, under ``--out`` (fuse.imaging.CMMD's
``data_dir``)::

    CMMD_clinicaldata_revision.xlsx     (as TCIA distributes it; --clinical csv writes the .csv conversion instead)
    CMMD/D1-0001/<study>/<series>/1-1.dcm, 1-2.dcm, ...
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
    parser.add_argument("--patients", type=int, default=60, help="number of patients (default: %(default)s)")
    parser.add_argument(
        "--size", type=int, default=128, help="image height in pixels; the width is 5/6 of it (default: %(default)s)"
    )
    parser.add_argument(
        "--clinical",
        choices=("xlsx", "csv"),
        default="xlsx",
        help="the clinical sheet as TCIA distributes it (xlsx, needs openpyxl) or converted to csv (default: xlsx)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below
    build_parser().parse_args(sys.argv[1:])

try:
    import numpy as np
    import pandas as pd
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas", "pydicom"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs pydicom ({missing}): pip install pydicom pandas (fuse-imaging brings them)"
    ) from None


VIEWS = ("cranio-caudal", "medio-lateral oblique")  # ViewCodeSequence[0].CodeMeaning of the two views
SUBTYPES = ("Luminal A", "Luminal B", "HER2-enriched", "triple negative")
BOTH_SIDES_PROBABILITY = 0.15
MAX_VALUE = 4095  # 12 bits stored in 16


@dataclass(frozen=True)
class Breast:
    """One row of the clinical sheet: a patient's breast and its lesion."""

    patient: str
    side: str
    age: int
    abnormality: str
    malignant: bool
    subtype: str | None


def draw_breasts(patients: int, seed: int) -> list[Breast]:
    """The clinical rows: ``patients // 2`` malignant patients (both breasts of a patient share the class)."""
    rng = np.random.default_rng(seed)
    malignant = np.zeros(patients, dtype=bool)
    malignant[rng.permutation(patients)[: patients // 2]] = True
    breasts, counts = [], {"D1": 0, "D2": 0}
    for is_malignant in malignant.tolist():
        series = "D2" if is_malignant and rng.random() < 0.5 else "D1"  # D2: malignant, with a subtype
        counts[series] += 1
        patient = f"{series}-{counts[series]:04d}"
        age = int(rng.integers(50, 75) if is_malignant else rng.integers(30, 65))
        sides = ["L", "R"] if rng.random() < BOTH_SIDES_PROBABILITY else [str(rng.choice(["L", "R"]))]
        for side in sides:
            breasts.append(
                Breast(
                    patient=patient,
                    side=side,
                    age=age,
                    abnormality=str(rng.choice(["mass", "calcification", "both"])),
                    malignant=is_malignant,
                    subtype=str(rng.choice(SUBTYPES)) if series == "D2" else None,
                )
            )
    return breasts


def mammogram(shape: tuple[int, int], breast: Breast, rng: np.random.Generator) -> np.ndarray:
    """A ``uint16`` mammogram ``[rows, columns]`` with the breast on its side's edge and one lesion."""
    rows, columns = shape
    y, x = np.meshgrid(np.linspace(-1.0, 1.0, rows), np.linspace(0.0, 1.0, columns), indexing="ij")
    depth = x if breast.side == "L" else 1.0 - x  # distance from the chest wall
    extent = rng.uniform(0.75, 0.95)
    inside = (depth / extent) ** 2 + (y / rng.uniform(0.8, 0.95)) ** 2 <= 1.0
    texture = rng.normal(0.0, 1.0, size=shape)
    for _ in range(2):  # a cheap blur: fibro-glandular texture instead of pixel noise
        texture = (texture + np.roll(texture, 1, 0) + np.roll(texture, 1, 1) + np.roll(texture, -1, 0)) / 4.0
    image = np.where(inside, 1500.0 + 900.0 * (1.0 - depth) + 250.0 * texture, 60.0)
    center_y, center_depth = rng.uniform(-0.4, 0.4), rng.uniform(0.2, 0.5) * extent
    radius = rng.uniform(0.08, 0.12) if breast.malignant else rng.uniform(0.04, 0.06)
    distance = np.sqrt(((y - center_y) * rows / columns) ** 2 + (depth - center_depth) ** 2)
    image += np.clip(1.0 - distance / radius, 0.0, None) * (1400.0 if breast.malignant else 500.0)
    if breast.malignant:
        for _ in range(int(rng.integers(4, 9))):  # calcifications: bright specks near the mass
            row = int(np.clip((center_y + rng.normal(0, 0.1) + 1.0) / 2.0 * (rows - 1), 0, rows - 1))
            depth_column = int(np.clip((center_depth + rng.normal(0, 0.08)) * (columns - 1), 0, columns - 1))
            column = depth_column if breast.side == "L" else columns - 1 - depth_column
            image[row, column] = MAX_VALUE
    image += rng.normal(0.0, 20.0, size=shape)
    return np.clip(np.rint(image), 0, MAX_VALUE).astype(np.uint16)


def write_dicom(path: Path, pixels: np.ndarray, breast: Breast, view: str) -> None:
    """Save a mammogram as a DICOM file with the tags fuse.imaging.CMMD reads."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "MG"
    dataset.PatientID = breast.patient
    dataset.PatientAge = f"{breast.age:03d}Y"
    dataset.ImageLaterality = breast.side
    code = Dataset()
    code.CodeValue = "R-10242" if view == "cranio-caudal" else "R-10226"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = view
    dataset.ViewCodeSequence = pydicom.Sequence([code])
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)


def make_cmmd(out: Path, patients: int, size: int, seed: int, clinical: str = "xlsx") -> pd.DataFrame:
    """Write the set under ``out`` (see the module docs) and return its clinical table."""
    breasts = draw_breasts(patients, seed)
    shape = (size, size * 5 // 6)
    images_of: dict[str, int] = {}  # images written per patient: their file numbers 1-1, 1-2, ...
    series_of: dict[str, Path] = {}  # NBIA's folders: one study (date, accession) and series per patient here
    for index, breast in enumerate(breasts):
        rng = np.random.default_rng([seed, index])
        study = f"07-18-2010-NA-NA-{10000 + index}"
        series_dir = series_of.setdefault(breast.patient, out / "CMMD" / breast.patient / study / "1.000000-NA-70244")
        for view in VIEWS:
            images_of[breast.patient] = images_of.get(breast.patient, 0) + 1
            write_dicom(series_dir / f"1-{images_of[breast.patient]}.dcm", mammogram(shape, breast, rng), breast, view)
    table: pd.DataFrame = pd.DataFrame(
        {
            "ID1": [breast.patient for breast in breasts],
            "LeftRight": [breast.side for breast in breasts],
            "Age": [breast.age for breast in breasts],
            "number": [len(VIEWS)] * len(breasts),
            "abnormality": [breast.abnormality for breast in breasts],
            "classification": ["Malignant" if breast.malignant else "Benign" for breast in breasts],
            "subtype": [breast.subtype for breast in breasts],
        }
    )
    if clinical == "xlsx":
        table.to_excel(out / "CMMD_clinicaldata_revision.xlsx", index=False)
    else:
        table.to_csv(out / "CMMD_clinicaldata_revision.csv", index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clinical == "xlsx" and importlib.util.find_spec("openpyxl") is None:
        parser.error("--clinical xlsx writes the sheet with openpyxl: pip install openpyxl (or use --clinical csv)")
    if args.patients < 2 or args.size < 32:
        parser.error("--patients must be at least 2 and --size at least 32")
    args.out.mkdir(parents=True, exist_ok=True)
    table = make_cmmd(args.out, args.patients, args.size, args.seed, args.clinical)
    malignant = table.loc[table["classification"] == "Malignant", "ID1"].nunique()
    print(
        f"wrote {2 * len(table)} mammograms of {table['ID1'].nunique()} patients ({malignant} malignant) to "
        f"{args.out} (clinical sheet: {args.clinical})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
