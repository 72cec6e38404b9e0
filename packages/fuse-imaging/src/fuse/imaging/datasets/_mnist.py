"""MNIST (FuseMedML's ``fuseimg/datasets/mnist.py``) read from the IDX files directly, without torchvision.

The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``; gzip-compressed with a ``.gz`` suffix or raw) are looked up in ``<data_dir>/MNIST/raw/``
(torchvision's layout, so an existing torchvision download is reused) and then in ``<data_dir>`` itself.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from fuse.core import NDict
from fuse.data import DatasetDefault, OpBase, PipelineDefault, sample_value
from fuse.imaging import download_file, mirror_url

__all__ = ["MNIST", "MNIST_MIRROR", "OpReadMNIST", "read_idx"]

MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist"
"""The default base URL of the MNIST files (torchvision's first mirror); override with ``FUSE_MNIST_MIRROR``."""

# file stem -> MD5 of the .gz file, as torchvision publishes them
_FILES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MEAN, _STD = 0.1307, 0.3081
# IDX type code -> numpy dtype (big-endian), from the format's definition
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str], expected_ndim: int | None = None) -> npt.NDArray[np.generic]:
    """Read an IDX file (gzip-compressed when its name ends in ``.gz``) into a numpy array in native byte order.

    The magic number (two zero bytes, a type code, the number of dimensions) and the file size are checked; a
    mismatch raises ``ValueError`` naming the file.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> _ = Path(path).write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(path, expected_ndim=1)
    array([7, 2, 1], dtype=uint8)
    """
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{os.fspath(path)!r} is not an IDX file: bad magic number {raw[:4].hex()!r}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(f"{os.fspath(path)!r} holds a {ndim}-d IDX array, expected {expected_ndim}-d")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{os.fspath(path)!r} is truncated: its IDX header is incomplete")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected_bytes:
        raise ValueError(
            f"{os.fspath(path)!r} has {len(raw)} bytes but its IDX header (shape {shape}, {dtype}) needs {expected_bytes}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(data_dir: Path, stem: str) -> Path | None:
    for folder in (data_dir / "MNIST" / "raw", data_dir):
        for name in (stem, f"{stem}.gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _split_files(data_dir: Path, train: bool) -> tuple[Path, Path]:
    prefix = "train" if train else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find(data_dir, stem) for stem in stems]
    missing = [stem for stem, path in zip(stems, found, strict=True) if path is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST: {missing} (raw or .gz) not found in {str(data_dir / 'MNIST' / 'raw')!r} nor in {str(data_dir)!r}; "
            "call MNIST.download(data_dir) or MNIST.dataset(..., download=True)"
        )
    return found[0], found[1]  # type: ignore[return-value]


_ARRAYS: dict[tuple[str, int, int], tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]] = {}
_ARRAYS_LOCK = threading.Lock()


def _resolved_split_files(data_dir: Path, train: bool) -> tuple[Path, Path]:
    images_path, labels_path = _split_files(data_dir, train)
    return images_path.resolve(), labels_path.resolve()


def _load_split(
    data_dir: Path, train: bool, files: tuple[Path, Path] | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The (images, labels) arrays of a split, read once per process (and again if the images file changes).
    ``files``: the split's resolved ``(images, labels)`` paths when already found (finding them costs 8 checks)."""
    images_path, labels_path = files if files is not None else _resolved_split_files(data_dir, train)
    stat = images_path.stat()
    key = (str(images_path), stat.st_mtime_ns, stat.st_size)
    with _ARRAYS_LOCK:
        if key not in _ARRAYS:
            images = read_idx(images_path, expected_ndim=3)
            labels = read_idx(labels_path, expected_ndim=1)
            if images.dtype != np.uint8 or labels.dtype != np.uint8 or len(images) != len(labels):
                raise ValueError(
                    f"MNIST: {str(images_path)!r} ({images.dtype}, {len(images)} items) and {str(labels_path)!r} "
                    f"({labels.dtype}, {len(labels)} items) must both be uint8 with the same number of items"
                )
            _ARRAYS[key] = (images, labels)  # type: ignore[assignment]
        return _ARRAYS[key]


class OpReadMNIST(OpBase):
    """Read MNIST item ``i`` for the sample id ``("mnist-train", i)`` / ``("mnist-test", i)`` (or a plain ``i``):
    ``data.image`` is a float32 tensor ``[1, 28, 28]`` normalised as FuseMedML (torchvision's ``ToTensor`` then
    ``Normalize((0.1307,), (0.3081,))``: ``(pixel / 255 - 0.1307) / 0.3081``) and ``data.label`` an ``int``.

    >>> import tempfile
    >>> from fuse.core import create_initial_sample
    >>> folder = Path(tempfile.mkdtemp())
    >>> header = bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28])
    >>> _ = (folder / "t10k-images-idx3-ubyte").write_bytes(header + bytes(784))
    >>> _ = (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 9]))
    >>> sample = OpReadMNIST(folder, train=False)(create_initial_sample(("mnist-test", 0)))
    >>> sample["data.image"].shape, sample["data.label"], round(float(sample["data.image"][0, 0, 0]), 4)
    (torch.Size([1, 28, 28]), 9, -0.4242)
    """

    cache_identity_exclude = ("_files",)  # where data_dir's files were found: derived from data_dir, set lazily

    def __init__(self, data_dir: str | os.PathLike[str], train: bool = True) -> None:
        super().__init__()
        self._data_dir = Path(data_dir)
        self._train = train
        self._files: tuple[Path, Path] | None = None  # found on the first call

    def __call__(self, sample_dict: NDict) -> NDict:
        """Write ``data.image`` and ``data.label`` of the item the sample id names."""
        sample_id = sample_value(sample_dict, "data.sample_id", self)
        index = sample_id[1] if isinstance(sample_id, tuple) and len(sample_id) == 2 else sample_id
        if self._files is None:
            self._files = _resolved_split_files(self._data_dir, self._train)
        try:
            images, labels = _load_split(self._data_dir, self._train, self._files)
        except FileNotFoundError:  # moved or replaced (x.gz by x, say): find the files again
            self._files = _resolved_split_files(self._data_dir, self._train)
            images, labels = _load_split(self._data_dir, self._train, self._files)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(images):
            raise ValueError(
                f"OpReadMNIST: sample id {sample_id!r} must be (name, i) or i with i an int in [0, {len(images)})"
            )
        pixels = torch.from_numpy(images[int(index)].astype(np.float32) / np.float32(255.0))
        sample_dict["data.image"] = ((pixels - _MEAN) / _STD).unsqueeze(0)
        sample_dict["data.label"] = int(labels[int(index)])
        return sample_dict


class MNIST:
    """FuseMedML's MNIST dataset: samples with ``data.image`` (float32 ``[1, 28, 28]``, normalised with mean 0.1307
    and std 0.3081), ``data.label`` (int) and ``data.sample_id`` (``("mnist-train", i)`` or ``("mnist-test", i)``).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> header = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28])
    >>> _ = (folder / "train-images-idx3-ubyte").write_bytes(header + bytes(2 * 784))
    >>> _ = (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 4, 1]))
    >>> ds = MNIST.dataset(folder, download=False)
    >>> len(ds), ds[1]["data.label"], ds[1]["data.sample_id"]
    (2, 1, ('mnist-train', 1))
    """

    MNIST_DATASET_VER = 0

    @staticmethod
    def download(data_dir: str | os.PathLike[str], mirror: str | None = None, progress: bool = True) -> list[Path]:
        """Download the four gzip-compressed IDX files into ``<data_dir>/MNIST/raw/`` (MD5-verified, atomic; files
        already there are kept) and return their paths.

        :param mirror: base URL to download from (default: ``FUSE_MNIST_MIRROR``, else :data:`MNIST_MIRROR`).
        """
        base = mirror_url("mnist", MNIST_MIRROR, mirror)
        raw = Path(data_dir) / "MNIST" / "raw"
        return [
            download_file(f"{base}/{s}.gz", raw / f"{s}.gz", md5=md5, progress=progress) for s, md5 in _FILES.items()
        ]

    @staticmethod
    def sample_ids(data_dir: str | os.PathLike[str], train: bool = True) -> list[tuple[str, int]]:
        """``("mnist-train", i)`` (or ``("mnist-test", i)``) for every item of the split found under ``data_dir``."""
        _, labels = _load_split(Path(data_dir), train)
        name = "mnist-train" if train else "mnist-test"
        return [(name, i) for i in range(len(labels))]

    @staticmethod
    def static_pipeline(data_dir: str | os.PathLike[str], train: bool = True) -> PipelineDefault:
        """Read the image and the label of the sample id (:class:`OpReadMNIST`)."""
        return PipelineDefault("static", [(OpReadMNIST(data_dir, train), {})])

    @staticmethod
    def dynamic_pipeline() -> PipelineDefault:
        """Empty, as in FuseMedML (the static pipeline already yields normalised tensors)."""
        return PipelineDefault("dynamic", [])

    @staticmethod
    def dataset(
        cache_dir: str | os.PathLike[str] | None = None,
        train: bool = True,
        sample_ids: Sequence[Hashable] | None = None,
        *,
        download: bool = True,
        mirror: str | None = None,
    ) -> DatasetDefault:
        """The MNIST train (``train=True``) or test split as a created :class:`~fuse.data.DatasetDefault`.

        :param cache_dir: the folder holding (or receiving) the IDX files, as FuseMedML's ``cache_dir``. ``None``
            uses ``$FUSE_MNIST_DIR`` when set, else raises. No sample cache is kept: decoding an item from the IDX
            arrays in memory is faster than reading it back from a cache.
        :param sample_ids: a subset of the ids (default: the whole split).
        :param download: download the files first when they are missing.
        :param mirror: see :meth:`download`.
        """
        if cache_dir is None:
            cache_dir = os.environ.get("FUSE_MNIST_DIR") or None
        if cache_dir is None:
            raise ValueError(
                "MNIST.dataset needs cache_dir: the folder holding the IDX files (train-images-idx3-ubyte.gz, ...), "
                "or where to download them; or set FUSE_MNIST_DIR"
            )
        data_dir = Path(cache_dir)
        prefix = "train" if train else "t10k"
        if download and any(
            _find(data_dir, f"{prefix}-{kind}") is None for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
        ):
            MNIST.download(data_dir, mirror=mirror)
        ids = MNIST.sample_ids(data_dir, train) if sample_ids is None else sample_ids
        dataset = DatasetDefault(ids, MNIST.static_pipeline(data_dir, train), MNIST.dynamic_pipeline())
        dataset.create()
        return dataset
