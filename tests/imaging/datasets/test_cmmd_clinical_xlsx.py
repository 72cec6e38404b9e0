"""fuse.imaging.CMMD reads the clinical sheet as TCIA distributes it (``CMMD_clinicaldata_revision.xlsx``) when the
CSV conversion FuseMedML asked for is not there, with the same result, and names the fix when openpyxl is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse.imaging.datasets import CMMD

ROWS = [
    {"ID1": "D1-0001", "LeftRight": "R", "Age": 44, "number": 1, "abnormality": "mass", "classification": "Benign", "subtype": None},
    {"ID1": "D2-0001", "LeftRight": "L", "Age": 61, "number": 1, "abnormality": "both", "classification": "Malignant", "subtype": "Luminal B"},
]  # fmt: skip


def _mammogram(path: Path, side: str, view: str) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation as MG
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MG
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MG, meta.MediaStorageSOPInstanceUID, "MG"
    ds.ImageLaterality = side
    code = Dataset()
    code.CodeMeaning = view
    ds.ViewCodeSequence = [code]
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 8, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _tree(root: Path, clinical_format: str) -> None:
    table = pd.DataFrame(ROWS)
    if clinical_format == "csv":
        table.to_csv(root / "CMMD_clinicaldata_revision.csv", index=False)
    else:
        table.to_excel(root / "CMMD_clinicaldata_revision.xlsx", index=False)
    # TCIA's NBIA layout: patient / study / series / image
    _mammogram(
        root / "CMMD" / "D1-0001" / "07-18-2010-NA-NA-79377" / "1.000000-NA-70244" / "1-1.dcm", "R", "cranio-caudal"
    )
    _mammogram(root / "CMMD" / "D2-0001" / "07-18-2011-NA-NA-12345" / "1.000000-NA-54321" / "1-1.dcm", "L", "medio-lateral oblique")  # fmt: skip


def test_the_xlsx_sheet_gives_the_table_of_the_csv(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    tables = {}
    for clinical_format in ("csv", "xlsx"):
        root = tmp_path / clinical_format
        root.mkdir()
        _tree(root, clinical_format)
        table, ids = CMMD.merge_clinical_data_with_dicom_tags(
            root, tmp_path / f"misc_{clinical_format}", "classification"
        )
        assert ids == [
            "CMMD/D1-0001/07-18-2010-NA-NA-79377/1.000000-NA-70244/1-1.dcm",
            "CMMD/D2-0001/07-18-2011-NA-NA-12345/1.000000-NA-54321/1-1.dcm",
        ]
        tables[clinical_format] = table
    pd.testing.assert_frame_equal(tables["xlsx"], tables["csv"])
    assert tables["xlsx"]["classification"].tolist() == [0, 1]
    assert tables["xlsx"]["subtype"].tolist() == [4, 1]


def test_without_openpyxl_the_error_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openpyxl")
    _tree(tmp_path, "xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    with pytest.raises(ImportError, match=r"CMMD_clinicaldata_revision\.xlsx' needs openpyxl: pip install openpyxl"):
        CMMD.merge_clinical_data_with_dicom_tags(tmp_path, tmp_path / "misc", "classification")


@pytest.mark.parametrize("value", ["benign", "Benign ", None])
def test_a_classification_other_than_benign_or_malignant_is_refused_naming_the_patient(
    tmp_path: Path, value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FuseMedML read anything but "Benign" as malignant: a typo or an empty cell became a cancer label."""
    monkeypatch.setitem(ROWS[0], "classification", value)
    monkeypatch.setitem(ROWS[0], "subtype", "Luminal A")
    _tree(tmp_path, "csv")
    with pytest.raises(ValueError, match=r"'Benign' or 'Malignant'.*D1-0001/R"):
        CMMD.merge_clinical_data_with_dicom_tags(
            tmp_path, tmp_path / "misc", "subtype" if value is None else "classification"
        )
