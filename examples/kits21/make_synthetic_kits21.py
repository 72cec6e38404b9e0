"""Write a synthetic KiTS21-like data set: contrast-enhanced abdominal CT volumes with kidney and tumour labels.

KiTS21 (https://kits-challenge.org/kits21/) holds 300 arterial-phase abdominal CTs of patients with a kidney tumour,
each with a segmentation aggregated from several annotators (majority vote): 1 kidney, 2 tumour, 3 cyst. This script
fakes cases in the layout ``fuse.imaging.datasets.KITS21`` (and ``KITS21.download``) reads and writes::

    <out>/case_00000/imaging.nii.gz             int16 Hounsfield units
    <out>/case_00000/aggregated_MAJ_seg.nii.gz  uint8 labels: 0 background, 1 kidney, 2 tumour
    ...

Arrays are stored with the slices last (array axes x, y, z, as NIfTI converters write them and as the ``KITS21``
wrapper expects: it moves the last axis first), with an affine from DICOM's LPS frame and the voxel sizes (mm) in the
header. Each case shows a body (fat, about -100 HU), the spine, two kidneys (enhancing, about 180 HU) and a tumour
(about 90 HU) growing from one of them, with Gaussian noise, so both labels can be learnt from the image. The same
``--seed`` gives the same data.

Run ``python examples/kits21/make_synthetic_kits21.py --out kits21_data`` (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the cases to")
    parser.add_argument("--n", type=int, default=20, help="number of cases, at most 300 (default: %(default)s)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(24, 48, 48),
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
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"nibabel", "numpy"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs nibabel ({missing}): pip install nibabel (fuse-imaging brings it)"
    ) from None

IMAGE_FILE, SEG_FILE = "imaging.nii.gz", "aggregated_MAJ_seg.nii.gz"
MAX_CASES = 300
FIELD_OF_VIEW_MM = (120.0, 320.0, 320.0)  # z, y, x, whatever the shape
BACKGROUND, KIDNEY, TUMOUR = 0, 1, 2
HU_AIR, HU_FAT, HU_BONE, HU_KIDNEY, HU_TUMOUR = -1000.0, -100.0, 500.0, 180.0, 90.0


def _ellipsoid(shape: tuple[int, int, int], center: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Voxels inside an axis-aligned ellipsoid; ``center`` and ``radii`` as fractions of the size, ``[z, y, x]``."""
    z, y, x = np.meshgrid(*(np.linspace(0.0, 1.0, size) for size in shape), indexing="ij", sparse=True)
    inside: np.ndarray = ((z - center[0]) / radii[0]) ** 2 + ((y - center[1]) / radii[1]) ** 2 + (
        (x - center[2]) / radii[2]
    ) ** 2 <= 1.0
    return inside


def phantom(shape: tuple[int, int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One case: the CT (``int16`` HU) and its labels (``uint8``), both ``[z, y, x]``."""
    labels = np.zeros(shape, dtype=np.uint8)
    volume = np.full(shape, HU_AIR, dtype=np.float32)
    volume[_ellipsoid(shape, np.array([0.5, 0.5, 0.5]), np.array([2.0, 0.4, 0.47]))] = HU_FAT
    volume[_ellipsoid(shape, np.array([0.5, 0.72, 0.5]), np.array([2.0, 0.06, 0.06]))] = HU_BONE  # the spine
    kidneys = []
    for side in (0.3, 0.7):  # left and right, behind the middle, beside the spine
        center = np.array([0.5, 0.64, side]) + rng.uniform(-0.04, 0.04, 3)
        radii = np.array([0.3, 0.1, 0.07]) * rng.uniform(0.9, 1.1, 3)
        kidneys.append((center, radii))
        labels[_ellipsoid(shape, center, radii)] = KIDNEY
    center, radii = kidneys[int(rng.integers(2))]
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    tumour_center = center + 0.8 * radii * direction  # on the kidney's edge: partly inside, partly outside
    tumour_radius = float(rng.uniform(0.06, 0.1))
    labels[_ellipsoid(shape, tumour_center, np.array([2.0 * tumour_radius, tumour_radius, tumour_radius]))] = TUMOUR
    volume[labels == KIDNEY] = HU_KIDNEY
    volume[labels == TUMOUR] = HU_TUMOUR
    volume += rng.normal(0.0, 15.0, size=shape).astype(np.float32)
    return np.clip(np.rint(volume), -1024, 3071).astype(np.int16), labels


def affine(shape: tuple[int, int, int]) -> np.ndarray:
    """Stored array index ``(x, y, z)`` -> RAS+ mm for a ``[z, y, x]`` volume of ``shape``: DICOM's x (to the
    patient's left) and y (to the back) negated, z (to the head) as is."""
    spacing_z, spacing_y, spacing_x = (fov / size for fov, size in zip(FIELD_OF_VIEW_MM, shape, strict=True))
    return np.diag([-spacing_x, -spacing_y, spacing_z, 1.0])


def make_dataset(out: Path, n: int, shape: tuple[int, int, int], seed: int) -> list[str]:
    """Write ``n`` cases under ``out`` (see the module docs); returns their ids."""
    cases = []
    for case in range(n):
        volume, labels = phantom(shape, np.random.default_rng([seed, case]))
        folder = out / f"case_{case:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for data, name in ((volume, IMAGE_FILE), (labels, SEG_FILE)):
            stored = np.ascontiguousarray(data.transpose(2, 1, 0))  # [z, y, x] -> x, y, z
            nib.save(nib.Nifti1Image(stored, affine(shape)), folder / name)  # type: ignore[no-untyped-call]
        cases.append(folder.name)
    return cases


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 2 <= args.n <= MAX_CASES or min(args.shape) < 8:
        parser.error(f"--n must be in 2..{MAX_CASES} (KiTS21's case ids) and every --shape size at least 8")
    cases = make_dataset(args.out, args.n, (args.shape[0], args.shape[1], args.shape[2]), args.seed)
    print(f"wrote {len(cases)} cases of {tuple(args.shape)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
