"""Write a synthetic ISIC 2019 training set in the real layout, for train_and_evaluate.py and fuse.imaging.ISIC.

ISIC 2019 (https://challenge.isic-archive.com/landing/2019/) holds 25,331 dermoscopic images of skin lesions in eight
diagnostic classes, with the patient's approximate age, sex and the lesion's anatomical site. This script fakes a
small set with the same files and columns:

- each image is an RGB JPEG: skin (a random tone, noise, a vignette like a dermoscope's) with one lesion, an ellipse
  whose colour depends on its class (a learnable signal) and whose size, place and shade vary;
- the ground truth has one column per class (``MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK``), ``1.0`` in the
  sample's class and ``0.0`` elsewhere (``UNK`` is never set, as in the real training set);
- the metadata has ``age_approx`` (multiples of 5, older for the malignant classes), ``anatom_site_general``,
  ``lesion_id`` and ``sex``, each missing (an empty cell) for a few images, as in the real file.

The classes take turns, so every class has ``n // 8`` or one more image. The same ``--seed`` gives the same set.

Run ``python examples/isic/make_synthetic_isic.py --help``; e.g.
``python examples/isic/make_synthetic_isic.py --out isic_data``. It writes, under ``--out`` (what
``fuse.imaging.ISIC`` reads as its ``data_path``)::

    ISIC2019/ISIC_2019_Training_Input/ISIC_0000000.jpg ...   (and LICENSE.txt, ATTRIBUTION.txt as the real archive)
    ISIC2019/ISIC_2019_Training_GroundTruth.csv              (image, MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK)
    ISIC2019/ISIC_2019_Training_Metadata.csv                 (image, age_approx, anatom_site_general, lesion_id, sex)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write ISIC2019/ to")
    parser.add_argument("--n", type=int, default=160, help="number of images (default: %(default)s)")
    parser.add_argument(
        "--size",
        type=int,
        default=96,
        help="image height in pixels; widths vary up to 4/3 of it (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below
    build_parser().parse_args(sys.argv[1:])

try:
    import numpy as np
    import pandas as pd
    from PIL import Image
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas", "PIL"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs numpy, pandas and Pillow ({missing}): pip install numpy pandas Pillow "
        "(fuse-imaging brings them)"
    ) from None


CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")  # fuse.imaging.ISIC.CLASS_NAMES' order
GROUND_TRUTH_COLUMNS = (*CLASSES, "UNK")
# The lesion colour of each class (RGB): distinct enough for a small network, shaded per image.
LESION_RGB = {
    "MEL": (40, 25, 20),
    "NV": (120, 75, 45),
    "BCC": (200, 120, 140),
    "AK": (190, 60, 50),
    "BKL": (150, 130, 70),
    "DF": (90, 60, 110),
    "VASC": (150, 20, 60),
    "SCC": (250, 245, 150),
}
MEAN_AGE = {"MEL": 62, "NV": 42, "BCC": 67, "AK": 70, "BKL": 60, "DF": 45, "VASC": 50, "SCC": 70}
SITES = (
    "anterior torso",
    "upper extremity",
    "posterior torso",
    "lower extremity",
    "lateral torso",
    "head/neck",
    "palms/soles",
    "oral/genital",
)
MISSING_RATE = 0.05  # share of images with an empty age, site or sex cell


def sample_ids(n: int) -> list[str]:
    """ISIC's image names: ``ISIC_`` and seven digits."""
    return [f"ISIC_{index:07d}" for index in range(n)]


def lesion_image(height: int, label: str, rng: np.random.Generator) -> np.ndarray:
    """An RGB ``uint8`` image ``[height, width, 3]`` of skin with one lesion coloured by ``label``."""
    width = int(rng.integers(height, height * 4 // 3 + 1))
    y, x = np.meshgrid(np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width), indexing="ij")
    skin = np.array([225, 180, 155], dtype=float) * rng.uniform(0.75, 1.05)
    image = np.broadcast_to(skin, (height, width, 3)).copy()
    image *= (1.0 - 0.35 * np.clip(x**2 + y**2 - 0.6, 0.0, None))[..., None]  # the dermoscope's dark corners
    center_y, center_x = rng.uniform(-0.3, 0.3, size=2)
    radius_y, radius_x = rng.uniform(0.25, 0.5, size=2)
    angle = rng.uniform(0.0, np.pi)
    rotated_y = (y - center_y) * np.cos(angle) + (x - center_x) * np.sin(angle)
    rotated_x = -(y - center_y) * np.sin(angle) + (x - center_x) * np.cos(angle)
    distance = (rotated_y / radius_y) ** 2 + (rotated_x / radius_x) ** 2
    weight = np.clip(1.2 - distance, 0.0, 1.0)[..., None]  # a soft border
    lesion = np.asarray(LESION_RGB[label], dtype=float) * rng.uniform(0.85, 1.15)
    image = image * (1.0 - weight) + lesion * weight
    image += rng.normal(0.0, 6.0, size=image.shape)
    pixels: np.ndarray = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return pixels


def make_isic(out: Path, n: int, size: int, seed: int) -> pd.DataFrame:
    """Write the set under ``out/ISIC2019`` (see the module docs); returns its ground truth table."""
    rng = np.random.default_rng(seed)
    root = out / "ISIC2019"
    images = root / "ISIC_2019_Training_Input"
    images.mkdir(parents=True, exist_ok=True)
    (images / "LICENSE.txt").write_text("Synthetic images, written by make_synthetic_isic.py.\n")
    (images / "ATTRIBUTION.txt").write_text("Synthetic images: no attribution needed.\n")
    truth, metadata = [], []
    for index, image_id in enumerate(sample_ids(n)):
        label = CLASSES[index % len(CLASSES)]
        Image.fromarray(lesion_image(size, label, rng)).save(images / f"{image_id}.jpg", quality=95)
        truth.append({"image": image_id, **{name: float(name == label) for name in GROUND_TRUTH_COLUMNS}})
        age = float(np.clip(5 * np.rint(rng.normal(MEAN_AGE[label], 10) / 5), 5, 85))
        missing = rng.random(3) < MISSING_RATE
        metadata.append(
            {
                "image": image_id,
                "age_approx": np.nan if missing[0] else age,
                "anatom_site_general": np.nan if missing[1] else str(rng.choice(SITES)),
                "lesion_id": f"BCN_{index:07d}",
                "sex": np.nan if missing[2] else str(rng.choice(("male", "female"))),
            }
        )
    truth_table: pd.DataFrame = pd.DataFrame(truth, columns=["image", *GROUND_TRUTH_COLUMNS])
    truth_table.to_csv(root / "ISIC_2019_Training_GroundTruth.csv", index=False)
    pd.DataFrame(metadata).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    return truth_table


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 16:
        parser.error("--n must be at least 1 and --size at least 16")
    table = make_isic(args.out, args.n, args.size, args.seed)
    counts = ", ".join(f"{name} {int(table[name].sum())}" for name in CLASSES)
    print(f"wrote {len(table)} images ({counts}) to {args.out / 'ISIC2019'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
