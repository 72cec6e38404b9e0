"""MNIST from hand-written IDX files (5 images): values against numpy, ids, keys, dtypes, errors, download."""

from __future__ import annotations

import hashlib
import http.server
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict
from fuse.data import PipelineDefault
from fuse.imaging import ChecksumMismatchError
from fuse.imaging.datasets import MNIST, _mnist
from fuse.imaging.datasets._mnist import OpReadMNIST, read_idx
from fuse_mnist_idx import idx_bytes, write_split  # IDX written independently of read_idx (struct + raw bytes)

N = 5


def _images(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(N, 28, 28), dtype=np.uint8)


def _labels() -> np.ndarray:
    return np.array([5, 0, 4, 1, 9], dtype=np.uint8)


def _expected(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float64) / 255.0 - 0.1307) / 0.3081


@pytest.mark.parametrize("compress", [True, False])
def test_dataset_values_keys_and_ids(tmp_path: Path, compress: bool) -> None:
    images, labels = _images(), _labels()
    write_split(tmp_path / "MNIST" / "raw", "train", images, labels, compress)  # torchvision's layout
    ds = MNIST.dataset(tmp_path, train=True, download=False)
    assert len(ds) == N
    for i in range(N):
        sample = ds[i]
        assert sample["data.sample_id"] == ("mnist-train", i)
        image = sample["data.image"]
        assert isinstance(image, torch.Tensor)
        assert image.dtype == torch.float32
        assert tuple(image.shape) == (1, 28, 28)
        np.testing.assert_allclose(image[0].numpy(), _expected(images[i]), rtol=0, atol=1e-5)
        assert sample["data.label"] == int(labels[i])
        assert isinstance(sample["data.label"], int)


def test_test_split_in_flat_folder_and_subset(tmp_path: Path) -> None:
    images, labels = _images(seed=1), _labels()[::-1].copy()
    write_split(tmp_path, "t10k", images, labels, compress=False)
    assert MNIST.sample_ids(tmp_path, train=False) == [("mnist-test", i) for i in range(N)]
    ds = MNIST.dataset(tmp_path, train=False, sample_ids=[("mnist-test", 3), ("mnist-test", 1)], download=False)
    assert len(ds) == 2
    assert [ds[i]["data.label"] for i in range(2)] == [int(labels[3]), int(labels[1])]
    np.testing.assert_allclose(ds[0]["data.image"][0].numpy(), _expected(images[3]), atol=1e-5)


def test_read_idx_checks(tmp_path: Path) -> None:
    good = np.arange(6, dtype=np.uint8).reshape(2, 3)
    (tmp_path / "ok").write_bytes(idx_bytes(good))
    np.testing.assert_array_equal(read_idx(tmp_path / "ok", expected_ndim=2), good)
    (tmp_path / "magic").write_bytes(b"\x1f\x8b\x08\x00" + bytes(10))
    with pytest.raises(ValueError, match=r"'.*magic' is not an IDX file: bad magic number '1f8b0800'"):
        read_idx(tmp_path / "magic")
    with pytest.raises(ValueError, match=r"2-d IDX array, expected 3-d"):
        read_idx(tmp_path / "ok", expected_ndim=3)
    (tmp_path / "short").write_bytes(idx_bytes(good)[:-1])
    with pytest.raises(ValueError, match=r"has 17 bytes but its IDX header \(shape \(2, 3\), uint8\) needs 18"):
        read_idx(tmp_path / "short")
    big_endian_ints = np.array([1, -2, 70000], dtype=">i4")
    header = struct.pack(">BBBBI", 0, 0, 0x0C, 1, 3)
    (tmp_path / "ints").write_bytes(header + big_endian_ints.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "ints"), [1, -2, 70000])


def test_missing_files_and_bad_ids(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*MNIST\.download"):
        MNIST.dataset(tmp_path, download=False)
    with pytest.raises(ValueError, match="needs cache_dir"):
        MNIST.dataset(None, download=False)
    write_split(tmp_path, "train", _images(), _labels(), compress=True)
    ds = MNIST.dataset(tmp_path, sample_ids=[("mnist-train", N)], download=False)
    with pytest.raises(ValueError, match=r"sample id \('mnist-train', 5\) must be .* in \[0, 5\)"):
        ds[0]


def test_mismatched_label_count(tmp_path: Path) -> None:
    write_split(tmp_path, "train", _images(), _labels()[:3], compress=False)
    with pytest.raises(ValueError, match="same number of items"):
        MNIST.sample_ids(tmp_path)


def test_cache_identity_depends_on_arguments(tmp_path: Path) -> None:
    def identity(folder: Path, train: bool) -> str:
        return PipelineDefault("p", [(OpReadMNIST(folder, train), {})]).cache_identity()

    assert identity(tmp_path, True) == identity(tmp_path, True)
    assert identity(tmp_path, True) != identity(tmp_path, False)
    assert identity(tmp_path, True) != identity(tmp_path / "other", True)


def test_download_from_local_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    write_split(served, "train", _images(), _labels(), compress=True)
    write_split(served, "t10k", _images(seed=2), _labels(), compress=True)
    md5s = {p.name[:-3]: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setattr(_mnist, "_FILES", md5s)
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("FUSE_MNIST_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
        data = tmp_path / "data"
        ds = MNIST.dataset(data, train=True)
        assert sorted(requests) == sorted(f"/{stem}.gz" for stem in md5s)
        assert sorted(p.name for p in (data / "MNIST" / "raw").iterdir()) == sorted(f"{s}.gz" for s in md5s)
        assert [ds[i]["data.label"] for i in range(N)] == _labels().tolist()
        MNIST.dataset(data, train=False)  # everything present: no new request
        assert len(requests) == 4
        monkeypatch.setattr(_mnist, "_FILES", {**md5s, "t10k-labels-idx1-ubyte": "0" * 32})
        (data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
        with pytest.raises(ChecksumMismatchError):
            MNIST.download(data, progress=False)
        assert not (data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").exists()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_the_op_finds_the_files_once_and_again_when_they_move(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    images, labels = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([4, 1, 7], dtype=np.uint8)
    written = write_split(tmp_path, "train", images, labels, compress=False)
    op = OpReadMNIST(tmp_path, train=True)
    before = PipelineDefault("p", [(op, {})]).cache_identity()
    assert op(NDict({"data.sample_id": ("mnist-train", 2)}))["data.label"] == 7
    # the files found are derived state: a pipeline that has run keys the same cache as a fresh one
    assert PipelineDefault("p", [(op, {})]).cache_identity() == before
    for path in written:  # replaced by gzipped files with other labels: found and read again, never stale
        path.unlink()
    write_split(tmp_path, "train", images, np.array([0, 0, 3], dtype=np.uint8), compress=True)
    assert op(NDict({"data.sample_id": ("mnist-train", 2)}))["data.label"] == 3
