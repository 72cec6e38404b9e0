"""CMMD, the Chinese Mammography Database (FuseMedML's ``fuseimg/datasets/cmmd.py``). Manual download only.

Get it from The Cancer Imaging Archive (https://doi.org/10.7937/tcia.eqde-4b16; the DICOM files through the NBIA
Data Retriever, and the clinical data sheet, read as TCIA distributes it or converted to CSV). Expected layout::

    <data_dir>/CMMD_clinicaldata_revision.csv   (columns ID1, LeftRight, Age, number, abnormality, classification,
                                                  subtype; or CMMD_clinicaldata_revision.xlsx, read with openpyxl)
    <data_dir>/CMMD/<ID1>/**/*.dcm               (one mammogram per file; ImageLaterality and ViewCodeSequence set)

Sample ids are the DICOM paths relative to ``data_dir``. Keys: ``data.input.img_path``, ``data.input.img`` (the
mammogram with the breast on the left, cropped to it, normalised to [0, 1], resized and padded; a float32 tensor
``[1, H, W]`` after the dynamic pipeline), ``data.patientID``, ``data.gt.classification`` (0 benign, 1 malignant)
and ``data.gt.subtype`` (0 Luminal A, 1 Luminal B, 2 HER2-enriched, 3 triple negative, 4 unknown).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
import torch

from fuse.core import RandBool, RandInt, Uniform
from fuse.data import (
    DatasetDefault,
    OpLambda,
    OpRandApply,
    OpReadDataframe,
    OpSample,
    OpToNumpy,
    OpToTensor,
    PipelineDefault,
)
from fuse.imaging import (
    OpAugAffine2D,
    OpAugColor,
    OpFindBiggestNonEmptyBbox2D,
    OpFlipBrightSideOnLeft2D,
    OpLoadImage,
    OpNormalizeAgainstSelf,
    OpResizeAndPad2D,
)
from fuse.imaging.datasets._common import _add_channel_axis, _cached_dataset, _OpSampleIdToImagePath

__all__ = ["CMMD", "OpCMMDSampleIDDecode"]

_CLINICAL = "CMMD_clinicaldata_revision.csv"
_CLINICAL_XLSX = "CMMD_clinicaldata_revision.xlsx"  # what TCIA distributes; read when the CSV is not there
_LAYOUT = (
    f"expected <data_dir>/{_CLINICAL} (or TCIA's {_CLINICAL_XLSX}) and <data_dir>/CMMD/<patient>/**/*.dcm; CMMD "
    "cannot be downloaded automatically: get it from The Cancer Imaging Archive, https://doi.org/10.7937/tcia.eqde-4b16"
)
_SUBTYPES = {"Luminal A": 0, "Luminal B": 1, "HER2-enriched": 2, "triple negative": 3}


def _read_clinical(root: Path) -> pd.DataFrame:
    """The clinical table: ``CMMD_clinicaldata_revision.csv`` when there, else TCIA's ``.xlsx`` (needs openpyxl)."""
    if (root / _CLINICAL).is_file():
        return pd.read_csv(root / _CLINICAL)
    try:
        return pd.read_excel(root / _CLINICAL_XLSX, engine="openpyxl")
    except ImportError as error:
        raise ImportError(
            f"CMMD: reading {str(root / _CLINICAL_XLSX)!r} needs openpyxl: pip install openpyxl, or save the sheet "
            f"as {str(root / _CLINICAL)!r}"
        ) from error


class OpCMMDSampleIDDecode(_OpSampleIdToImagePath):
    """Copy the sample id (the DICOM path relative to the data folder) into ``data.input.img_path``.

    >>> from fuse.core import create_initial_sample
    >>> OpCMMDSampleIDDecode()(create_initial_sample("CMMD/D1-0001/1-1.dcm"))["data.input.img_path"]
    'CMMD/D1-0001/1-1.dcm'
    """


_CLASSIFICATION_LABELS = {"Benign": 0, "Malignant": 1}


def _classification_labels(merged: pd.DataFrame) -> pd.Series:
    """``classification`` as 0 (Benign) / 1 (Malignant); any other value raises naming the rows, since reading it
    as malignant (FuseMedML's ``!= "Benign"``) would silently mislabel a typo or an empty cell."""
    labels = merged["classification"].map(_CLASSIFICATION_LABELS)
    unknown = merged.loc[labels.isna(), ["ID1", "LeftRight", "classification"]].drop_duplicates()
    if len(unknown):
        rows = ", ".join(f"{r.ID1}/{r.LeftRight}: {r.classification!r}" for r in unknown.head(5).itertuples())
        raise ValueError(
            f"CMMD: the clinical table's classification must be 'Benign' or 'Malignant'; {len(unknown)} patient "
            f"side(s) have another value ({rows}): correct the table (spelling and case matter)"
        )
    return labels.astype(int)


class CMMD:
    """CMMD (https://doi.org/10.7937/tcia.eqde-4b16): mammograms with benign / malignant labels and molecular
    subtypes. See the module docs for the layout; there is no automatic download.

    >>> try:
    ...     CMMD.merge_clinical_data_with_dicom_tags("/nonexistent", "/nonexistent/misc", "classification")
    ... except FileNotFoundError as error:
    ...     print(str(error).split(";")[0])
    CMMD: '/nonexistent/CMMD_clinicaldata_revision.csv' not found
    """

    CMMD_DATASET_VER = 0

    @staticmethod
    def static_pipeline(
        data_dir: str | os.PathLike[str],
        data_source: pd.DataFrame,
        target: str,
        resize_to: tuple[int, int] = (2200, 1200),
        padding: tuple[int, int] = (60, 60),
    ) -> PipelineDefault:
        """Load the DICOM image, put the breast on the left, crop to it, normalise to [0, 1], resize and pad
        (``resize_to``, ``padding``) and read the labels of the file from ``data_source`` (the table
        :meth:`merge_clinical_data_with_dicom_tags` returns). ``target`` is unused (kept for FuseMedML's signature).
        """
        return PipelineDefault(
            "cmmd_static",
            [
                (OpCMMDSampleIDDecode(), {}),
                (
                    OpLoadImage(data_dir),
                    {"key_in": "data.input.img_path", "key_out": "data.input.img", "format": "dicom"},
                ),
                (OpFlipBrightSideOnLeft2D(), {"key": "data.input.img"}),
                (OpFindBiggestNonEmptyBbox2D(), {"key": "data.input.img"}),
                (OpToNumpy(), {"key": "data.input.img", "dtype": np.float32}),
                (OpNormalizeAgainstSelf(), {"key": "data.input.img"}),
                (OpResizeAndPad2D(), {"key": "data.input.img", "resize_to": resize_to, "padding": padding}),
                (
                    OpReadDataframe(
                        data_source,
                        key_column="file",
                        key_name="data.input.img_path",
                        columns_to_extract=["ID1", "classification", "subtype"],
                        rename_columns={
                            "ID1": "data.patientID",
                            "classification": "data.gt.classification",
                            "subtype": "data.gt.subtype",
                        },
                    ),
                    {},
                ),
            ],
        )

    @staticmethod
    def dynamic_pipeline(train: bool = False) -> PipelineDefault:
        """A float32 tensor with a channel axis; when ``train``, a random affine and a random color change (each
        with probability 0.5)."""
        steps: list[tuple[Any, dict[str, Any]]] = [
            (OpToTensor(), {"key": "data.input.img", "dtype": torch.float32}),
            (OpLambda(_add_channel_axis), {"key": "data.input.img"}),
        ]
        if train:
            steps += [
                (
                    OpRandApply(OpSample(OpAugAffine2D()), 0.5),
                    {
                        "key": "data.input.img",
                        "rotate": Uniform(-30.0, 30.0),
                        "scale": Uniform(0.9, 1.1),
                        "flip": (RandBool(0.3), RandBool(0.5)),
                        "translate": (RandInt(-10, 10), RandInt(-10, 10)),
                    },
                ),
                (
                    OpRandApply(OpSample(OpAugColor()), 0.5),
                    {
                        "key": "data.input.img",
                        "gamma": Uniform(0.9, 1.1),
                        "contrast": Uniform(0.85, 1.15),
                        "mul": Uniform(0.95, 1.05),
                        "add": Uniform(-0.06, 0.06),
                    },
                ),
            ]
        return PipelineDefault("cmmd_dynamic", steps)

    @staticmethod
    def merge_clinical_data_with_dicom_tags(
        data_dir: str | os.PathLike[str], data_misc_dir: str | os.PathLike[str], target: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """One row per image: the clinical data (one row per patient and breast side) joined with each DICOM file's
        laterality (``ImageLaterality``) and view (``ViewCodeSequence[0].CodeMeaning``), keeping the rows whose
        ``target`` is known; ``classification`` becomes 0 (Benign) / 1, ``subtype`` 0-3 or 4 (unknown). Saved as
        ``data_misc_dir/files_combined_<target>.csv`` and read from there when it exists. Returns the table and the
        file paths (the sample ids).
        """
        root = Path(data_dir)
        combined = Path(data_misc_dir) / f"files_combined_{target}.csv"
        if combined.is_file():
            table = pd.read_csv(combined)
            return table, [str(f) for f in table["file"]]
        has_table = (root / _CLINICAL).is_file() or (root / _CLINICAL_XLSX).is_file()
        if not has_table or not (root / "CMMD").is_dir():
            missing = root / "CMMD" if has_table else root / _CLINICAL
            raise FileNotFoundError(f"CMMD: {str(missing)!r} not found; {_LAYOUT}")
        clinical = _read_clinical(root)
        if target not in clinical.columns:
            raise ValueError(f"CMMD: target must be a column of {_CLINICAL} {sorted(clinical.columns)}, got {target!r}")
        scans = []
        for patient in sorted(p for p in (root / "CMMD").iterdir() if p.is_dir()):
            for dicom_file in sorted(patient.rglob("*.dcm")):
                header = pydicom.dcmread(dicom_file, stop_before_pixels=True)
                try:
                    view = str(header.ViewCodeSequence[0].CodeMeaning)
                    side = str(header.ImageLaterality)
                except (AttributeError, IndexError) as error:
                    raise ValueError(
                        f"CMMD: {str(dicom_file)!r} lacks ImageLaterality or ViewCodeSequence[0].CodeMeaning ({error})"
                    ) from error
                scans.append(
                    {
                        "ID1": patient.name,
                        "LeftRight": side,
                        "file": dicom_file.relative_to(root).as_posix(),
                        "view": view,
                    }
                )
        tags = pd.DataFrame(scans, columns=["ID1", "LeftRight", "file", "view"])
        merged = pd.merge(clinical, tags, how="inner", on=["ID1", "LeftRight"])
        merged = merged[merged[target].notna()].copy()
        merged["classification"] = _classification_labels(merged)
        merged["subtype"] = [_SUBTYPES.get(s, 4) if isinstance(s, str) else 4 for s in merged["subtype"]]
        merged = merged.reset_index(drop=True)
        combined.parent.mkdir(parents=True, exist_ok=True)
        merged.to_csv(combined, index=False)
        return merged, [str(f) for f in merged["file"]]

    @staticmethod
    def dataset(
        data_dir: str | os.PathLike[str],
        data_misc_dir: str | os.PathLike[str],
        target: str,
        cache_dir: str | os.PathLike[str],
        reset_cache: bool = False,
        num_workers: int = 10,
        sample_ids: Sequence[Hashable] | None = None,
        train: bool = False,
        *,
        resize_to: tuple[int, int] = (2200, 1200),
        padding: tuple[int, int] = (60, 60),
    ) -> DatasetDefault:
        """The images as a created :class:`~fuse.data.DatasetDefault`, the static pipeline cached (and audited)
        under ``cache_dir/cmmd_cache_ver0``. FuseMedML reset the cache by default and disabled the audit.

        :param target: the clinical column a row must have (e.g. ``"classification"`` or ``"subtype"``).
        :param sample_ids: the DICOM paths to use (default: every image with a known ``target``).
        """
        table, all_ids = CMMD.merge_clinical_data_with_dicom_tags(data_dir, data_misc_dir, target)
        if sample_ids is None:
            sample_ids = all_ids
        static = CMMD.static_pipeline(data_dir, table, target, resize_to=resize_to, padding=padding)
        dynamic = CMMD.dynamic_pipeline(train)
        name = f"cmmd_cache_ver{CMMD.CMMD_DATASET_VER}"
        return _cached_dataset(name, sample_ids, static, dynamic, cache_dir, reset_cache, num_workers)
