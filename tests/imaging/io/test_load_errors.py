"""One rule for a reader's failure, whatever the format: an ``ImageLoadError`` naming the file, the problem and the
reader's own error (kept as the cause); a ``MemoryError`` passes as it is (it says nothing about the file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from fuse.imaging import ImageLoadError, load_image
from fuse.imaging.io import _dicom
from fuse.imaging.io._format import as_load_error


def test_a_readers_error_becomes_a_load_error_naming_the_file_and_keeping_the_cause() -> None:
    cause = OSError("truncated")
    with pytest.raises(ImageLoadError) as info, as_load_error("scans/a.png", "not a readable PNG image"):
        raise cause
    assert str(info.value) == "cannot load scans/a.png: not a readable PNG image (OSError: truncated)"
    assert info.value.path == Path("scans/a.png")
    assert info.value.__cause__ is cause


@pytest.mark.parametrize("error", [MemoryError(), ImageLoadError("b.nii", "its header is wrong")])
def test_memory_errors_and_load_errors_pass_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as info, as_load_error("a.png", "not a readable PNG image"):
        raise error
    assert info.value is error


def _fail_with(error: Exception) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


def test_dicom_pixel_decoding_failure_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(get_testdata_file("CT_small.dcm"))  # bundled with pydicom: no download
    monkeypatch.setattr(_dicom, "pixel_array", _fail_with(RuntimeError("no decoder for this transfer syntax")))
    with pytest.raises(ImageLoadError, match=r"CT_small\.dcm: cannot decode its pixel data \(RuntimeError: no decoder"):
        load_image(path)
    monkeypatch.setattr(_dicom, "pixel_array", _fail_with(MemoryError()))
    with pytest.raises(MemoryError):
        load_image(path)


def test_pillow_failure_names_the_file_and_memory_errors_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(np.zeros((3, 4), dtype=np.uint8)).save(path)
    monkeypatch.setattr(Image, "open", _fail_with(ValueError("decoder error -2")))
    with pytest.raises(ImageLoadError, match=r"grey\.png: not a readable PNG image \(ValueError: decoder error -2\)"):
        load_image(path)
    monkeypatch.setattr(Image, "open", _fail_with(MemoryError()))
    with pytest.raises(MemoryError):
        load_image(path)
