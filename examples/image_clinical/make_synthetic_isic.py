"""Write a synthetic ISIC 2019 set: dermoscopy-like JPEG images plus the clinical table, in ISIC 2019's layout.

FuseMedML's image + clinical example trained on ISIC 2019 through its ``ISIC`` dataset; this writes the files that
``fuse.imaging.datasets.ISIC`` reads::

    <out>/ISIC2019/ISIC_2019_Training_Input/ISIC_0000000.jpg ...
    <out>/ISIC2019/ISIC_2019_Training_GroundTruth.csv   (image, MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK)
    <out>/ISIC2019/ISIC_2019_Training_Metadata.csv      (image, age_approx, anatom_site_general, lesion_id, sex)

The planted signal, split between the two modalities so that each alone is imperfect: melanomas (MEL) are darker and
more irregular lesions (the image), in older patients, more often men, more often on the posterior torso (the
clinical data). A few clinical values are missing, as in the real table.

    python examples/image_clinical/make_synthetic_isic.py --out isic_synthetic --n 300
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
CLASS_SHARE = (0.3, 0.4, 0.12, 0.04, 0.1, 0.02, 0.01, 0.01, 0.0)
SITES = ("anterior torso", "upper extremity", "posterior torso", "lower extremity", "lateral torso", "head/neck",
         "palms/soles", "oral/genital")  # fmt: skip
SITE_SHARE = {
    True: (0.14, 0.15, 0.35, 0.15, 0.02, 0.15, 0.02, 0.02),  # melanoma
    False: (0.27, 0.2, 0.15, 0.24, 0.03, 0.08, 0.02, 0.01),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write ISIC2019/ into")
    parser.add_argument("--n", type=int, default=300, help="number of images (default: %(default)s)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help answers before numpy and Pillow are imported
    parse_args(sys.argv[1:])

try:
    import numpy as np
    from PIL import Image
except ModuleNotFoundError as missing:
    raise SystemExit(f"{Path(__file__).name} needs numpy and Pillow ({missing}): pip install numpy pillow") from None


def make_image(rng: np.random.Generator, size: int, melanoma: bool) -> np.ndarray:
    """A ``[size, size, 3]`` uint8 picture: skin, a lesion (darker and blotchier for a melanoma), noise."""
    skin = np.array([225.0, 185.0, 155.0]) * rng.uniform(0.85, 1.05)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.35, 0.65, 2)
    ry, rx = rng.uniform(0.12, 0.3, 2)
    angle = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u, v = dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)
    radius = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    darkness = float(np.clip(rng.normal(0.58 if melanoma else 0.42, 0.12), 0.1, 0.9))
    lesion = np.clip(1.2 - radius, 0.0, 1.0) ** 0.5  # soft border
    if melanoma or rng.random() < 0.2:  # blotches: irregular pigment
        for _ in range(int(rng.integers(2, 5))):
            by, bx = cy + rng.normal(0, ry / 2), cx + rng.normal(0, rx / 2)
            blob = np.exp(-((yy - by) ** 2 + (xx - bx) ** 2) / (2 * (0.25 * min(rx, ry)) ** 2))
            lesion = np.maximum(lesion, blob * rng.uniform(0.6, 1.0))
    brown = np.array([0.55, 0.75, 0.95])  # pigment darkens blue most
    image = skin[None, None, :] * (1.0 - darkness * lesion[..., None] * brown[None, None, :] * 1.4)
    image += rng.normal(0.0, 6.0, image.shape)
    pixels: np.ndarray = np.clip(image, 0, 255).astype(np.uint8)
    return pixels


def make_set(out: Path, n: int = 300, size: int = 96, seed: int = 0) -> list[int]:
    """Write the three ISIC 2019 items under ``out/ISIC2019``; returns 1 for each melanoma, 0 otherwise, in image
    order."""
    if n < 2 or size < 16:
        raise ValueError(f"make_set: need n >= 2 and size >= 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    root = out / "ISIC2019"
    (root / "ISIC_2019_Training_Input").mkdir(parents=True, exist_ok=True)
    truth = [",".join(("image", *CLASSES))]
    metadata = ["image,age_approx,anatom_site_general,lesion_id,sex"]
    melanomas = []
    for index in range(n):
        image_id = f"ISIC_{index:07d}"
        label = int(rng.choice(len(CLASSES), p=CLASS_SHARE))
        melanoma = label == 0
        Image.fromarray(make_image(rng, size, melanoma)).save(
            root / "ISIC_2019_Training_Input" / f"{image_id}.jpg", quality=95
        )
        truth.append(",".join([image_id, *("1.0" if c == label else "0.0" for c in range(len(CLASSES)))]))
        age = float(np.clip(5 * round(rng.normal(66 if melanoma else 48, 13) / 5), 5, 85))
        sex = "male" if rng.random() < (0.68 if melanoma else 0.45) else "female"
        site = SITES[int(rng.choice(len(SITES), p=SITE_SHARE[melanoma]))]
        fields = [f"{age:.1f}", site, f"HAM_{index:07d}", sex]
        for column in (0, 1, 3):  # a few missing values, empty as in the real table
            if rng.random() < 0.03:
                fields[column] = ""
        metadata.append(",".join([image_id, *fields]))
        melanomas.append(int(melanoma))
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text("\n".join(truth) + "\n")
    (root / "ISIC_2019_Training_Metadata.csv").write_text("\n".join(metadata) + "\n")
    return melanomas


def main(argv: list[str] | None = None) -> int:
    """Write the set; returns the exit status."""
    args = parse_args(argv)
    melanomas = make_set(args.out, args.n, args.size, args.seed)
    print(f"wrote {len(melanomas)} images ({sum(melanomas)} melanomas) to {args.out / 'ISIC2019'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
