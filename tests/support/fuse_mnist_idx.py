"""Write MNIST-format IDX files, and a small synthetic MNIST whose classes can be learned (numpy + stdlib only).

The IDX format is written here independently of fuse-imaging's reader: ``struct`` for the header (two zero bytes,
the type code 0x08 for unsigned bytes, the number of dimensions, then each dimension as a big-endian uint32) and
the raw bytes of the array after it.

The synthetic images: class ``k`` is a bright blob at its own position of a 4 x 3 grid (a per-image shift of up to
two pixels and a random brightness), on a noisy background, so that a small CNN separates the ten classes after
a few steps. As a script it writes a synthetic set, e.g. to time the MNIST examples at full size::

    python tests/support/fuse_mnist_idx.py /tmp/mnist --train 60000 --test 10000
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["idx_bytes", "main", "synthetic_mnist", "write_split", "write_synthetic_mnist"]

SIDE = 28
NUM_CLASSES = 10
# the blob centre of each class: 10 cells of a 4 (rows) x 3 (columns) grid
_CENTRES = [(5 + 6 * (cell // 3), 6 + 8 * (cell % 3)) for cell in range(NUM_CLASSES)]
_CHUNK = 4096


def idx_bytes(array: npt.NDArray[np.uint8]) -> bytes:
    """The IDX encoding of a uint8 array: header, then the raw bytes."""
    if array.dtype != np.uint8:
        raise ValueError(f"idx_bytes writes uint8 arrays only, got {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_split(
    folder: Path, prefix: str, images: npt.NDArray[np.uint8], labels: npt.NDArray[np.uint8], compress: bool
) -> list[Path]:
    """Write ``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte`` (``prefix`` is ``train`` or
    ``t10k``) into ``folder``, gzip-compressed with a ``.gz`` suffix when ``compress``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        if compress:
            path = folder / f"{stem}.gz"
            path.write_bytes(gzip.compress(idx_bytes(array), compresslevel=1))
        else:
            path = folder / stem
            path.write_bytes(idx_bytes(array))
        written.append(path)
    return written


def synthetic_mnist(n: int, seed: int = 0) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """``n`` learnable 28 x 28 uint8 images and their labels (each class ``n // 10`` or one more times, shuffled)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.uint8)
    images = np.empty((n, SIDE, SIDE), dtype=np.uint8)
    rows, columns = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    for start in range(0, n, _CHUNK):  # a chunk at a time: bounded memory at full MNIST size
        chunk = labels[start : start + _CHUNK]
        centres = np.array(_CENTRES, dtype=np.float32)[chunk] + rng.integers(-2, 3, size=(len(chunk), 2))
        distance2 = (rows - centres[:, 0, None, None]) ** 2 + (columns - centres[:, 1, None, None]) ** 2
        brightness = rng.uniform(160.0, 255.0, size=(len(chunk), 1, 1)).astype(np.float32)
        noise = rng.normal(0.0, 25.0, size=(len(chunk), SIDE, SIDE)).astype(np.float32)
        images[start : start + _CHUNK] = np.clip(brightness * np.exp(-distance2 / 8.0) + noise, 0, 255)
    return images, labels


def write_synthetic_mnist(
    folder: Path, num_train: int, num_test: int, seed: int = 0, compress: bool = True
) -> list[Path]:
    """The four MNIST IDX files of a synthetic set in ``folder`` (the test images drawn with ``seed + 1``)."""
    train = write_split(folder, "train", *synthetic_mnist(num_train, seed), compress=compress)
    test = write_split(folder, "t10k", *synthetic_mnist(num_test, seed + 1), compress=compress)
    return train + test


def main(argv: list[str] | None = None) -> int:
    """Write a synthetic MNIST set (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where to write the four IDX files")
    parser.add_argument("--train", type=int, default=60000, help="number of training images")
    parser.add_argument("--test", type=int, default=10000, help="number of test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raw", action="store_true", help="write uncompressed files (default: .gz)")
    args = parser.parse_args(argv)
    for path in write_synthetic_mnist(args.folder, args.train, args.test, args.seed, compress=not args.raw):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
