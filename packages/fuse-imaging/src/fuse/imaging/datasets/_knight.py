"""KNIGHT, the Kidney clinical Notes and Imaging to Guide and Help personalize Treatment challenge (FuseMedML's
``fuseimg/datasets/knight.py``): predict a patient's AUA risk group from a CT scan and clinical data.
Manual download only: follow https://github.com/neheller/KNIGHT (its download script fetches the images).

Expected layout::

    <data_path>/knight.json                          (training clinical data, a JSON list of case records)
    <data_path>/case_00000/imaging.nii.gz ...        (training images)
    <data_path>/features.json                        (test clinical data; test=True)
    <data_path>/images/case_00000.nii.gz ...         (test images; test=True)

Sample keys: ``data.input.case_id``, ``data.input.img_path`` (and ``data.gt.seg_path`` for training cases),
``data.input.clinical.*`` (the case's record, encoded as FuseMedML does), ``data.input.clinical.all`` (11 float32
features), ``data.input.img`` (clipped to [-62, 301] HU, z-scored with mean 104 and std 75.3, ``[D, H, W]`` resized
to ``resize_to``; a float32 tensor ``[1, D, H, W]`` after the dynamic pipeline) and, for training cases,
``data.gt.gt_global.task_1_label`` (high or very high risk) and ``data.gt.gt_global.task_2_label`` (risk group 0-4).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, Uniform
from fuse.data import (
    DatasetDefault,
    OpBase,
    OpLambda,
    OpRandApply,
    OpSample,
    OpToTensor,
    OpZScoreNorm,
    PipelineDefault,
    sample_value,
)
from fuse.imaging import OpAugAffine2D, OpAugGaussian, OpClip, OpLoadImage, OpResizeTo, OpRotation3D
from fuse.imaging.datasets._common import _SLICE_AFFINE, _add_channel_axis, _cached_dataset, _last_axis_first, _one_hot
from fuse.imaging.io._download import file_sha256

__all__ = ["GENDER_INDEX", "KNIGHT", "OpClinicalLoad", "OpKnightSampleIDDecode", "OpPrepareClinical"]

GENDER_INDEX = {"male": 0, "female": 1}
COMORBIDITIES_INDEX = {"no comorbidities": 0, "comorbidities exist": 1}
SMOKE_HISTORY_INDEX = {"never smoked": 0, "previous smoker": 1, "current smoker": 2}
_SMOKING = ["never_smoked", "previous_smoker", "current_smoker"]
_RISK_GROUPS = ["benign", "low_risk", "intermediate_risk", "high_risk", "very_high_risk"]
_COLUMNS = [
    "case_id",
    "age_at_nephrectomy",
    "body_mass_index",
    "gender",
    "comorbidities",
    "smoking_history",
    "radiographic_size",
    "last_preop_egfr",
    "voxel_spacing",
]
_WHERE = "get it from https://github.com/neheller/KNIGHT (KNIGHT cannot be downloaded automatically)"


class OpKnightSampleIDDecode(OpBase):
    """Write ``data.input.case_id`` and the image path (``<id>/imaging.nii.gz``, or ``images/<id>.nii.gz`` when
    ``test``) and, for training cases, ``data.gt.seg_path``.

    >>> from fuse.core import create_initial_sample
    >>> OpKnightSampleIDDecode()(create_initial_sample("case_00003"), test=True)["data.input.img_path"]
    'images/case_00003.nii.gz'
    """

    def __call__(self, sample_dict: NDict, test: bool = False) -> NDict:
        """Write the keys."""
        sample_id = sample_value(sample_dict, "data.sample_id", self)
        sample_dict["data.input.case_id"] = sample_id
        if test:
            sample_dict["data.input.img_path"] = f"images/{sample_id}.nii.gz"
        else:
            sample_dict["data.input.img_path"] = f"{sample_id}/imaging.nii.gz"
            sample_dict["data.gt.seg_path"] = f"{sample_id}/aggregated_MAJ_seg.nii.gz"
        return sample_dict


class OpClinicalLoad(OpBase):
    """Read the case's record from ``json_path/knight.json`` (``features.json`` when ``test``) into
    ``data.input.clinical`` with FuseMedML's encoding (gender 1 = female; comorbidities 0/1; smoking history
    0-2; missing eGFR 77, ">=90" 90; missing radiographic size 4.1; voxel spacing (z, y, x)), plus the labels of
    training cases. The JSON files' content is part of the op's cache identity.

    >>> import tempfile
    >>> from fuse.core import create_initial_sample
    >>> folder = Path(tempfile.mkdtemp())
    >>> record = {"case_id": "case_00000", "age_at_nephrectomy": 60, "body_mass_index": 25.0, "gender": "Female",
    ...           "comorbidities": {"diabetes": False}, "smoking_history": "current_smoker", "radiographic_size": None,
    ...           "last_preop_egfr": {"value": ">=90"}, "voxel_spacing": {"x_spacing": 0.8, "y_spacing": 0.8,
    ...           "z_spacing": 3.0}, "aua_risk_group": "high_risk"}
    >>> _ = (folder / "knight.json").write_text(json.dumps([record]))
    >>> sample = create_initial_sample("case_00000")
    >>> sample["data.input.case_id"] = "case_00000"
    >>> sample = OpClinicalLoad(folder)(sample)
    >>> sample["data.input.clinical.gender"], sample["data.input.clinical.last_preop_egfr"]
    (1, 90)
    >>> sample["data.gt.gt_global.task_1_label"], sample["data.gt.gt_global.task_2_label"]
    (1, 3)
    """

    def __init__(self, json_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self._json_path = Path(json_path)
        self._records: dict[str, dict[str, dict[str, Any]]] = {}

    def _file(self, test: bool) -> Path:
        return self._json_path / ("features.json" if test else "knight.json")

    def cache_identity(self) -> str:
        """The class, the constructor arguments and the content of ``knight.json`` / ``features.json``."""
        digest = hashlib.sha256(super().cache_identity().encode())
        for test in (False, True):
            path = self._file(test)
            digest.update(f"{path.name}:{file_sha256(path) if path.is_file() else 'absent'};".encode())
        return digest.hexdigest()

    def _table(self, test: bool) -> dict[str, dict[str, Any]]:
        name = "features.json" if test else "knight.json"
        if name not in self._records:
            path = self._file(test)
            if not path.is_file():
                raise FileNotFoundError(f"OpClinicalLoad: {str(path)!r} not found; {_WHERE}")
            records = json.loads(path.read_text(encoding="utf-8"))
            self._records[name] = {str(record["case_id"]): record for record in records}
        return self._records[name]

    def __call__(self, sample_dict: NDict, test: bool = False) -> NDict:
        """Write ``data.input.clinical`` (and the labels of a training case)."""
        case_id = sample_value(sample_dict, "data.input.case_id", self)
        table = self._table(test)
        if case_id not in table:
            raise KeyError(f"OpClinicalLoad: case {case_id!r} is not in {str(self._file(test))!r}")
        record = table[case_id]
        row: dict[str, Any] = {column: record.get(column) for column in _COLUMNS}
        row["gender"] = int(str(row["gender"]).lower() == "female")
        row["comorbidities"] = int(any(bool(v) for v in (row["comorbidities"] or {}).values()))
        row["smoking_history"] = _SMOKING.index(row["smoking_history"])
        egfr = row["last_preop_egfr"]
        if egfr is None or egfr.get("value") is None:
            row["last_preop_egfr"] = 77  # the training set's median
        elif egfr["value"] in (">=90", ">90"):
            row["last_preop_egfr"] = 90
        else:
            row["last_preop_egfr"] = egfr["value"]
        if row["radiographic_size"] is None:
            row["radiographic_size"] = 4.1  # the training set's median
        if not test:
            risk = record["aua_risk_group"]
            sample_dict["data.gt.gt_global.task_1_label"] = int(risk in ("high_risk", "very_high_risk"))
            sample_dict["data.gt.gt_global.task_2_label"] = _RISK_GROUPS.index(risk)
        spacing = row["voxel_spacing"]
        row["voxel_spacing"] = (spacing["z_spacing"], spacing["y_spacing"], spacing["x_spacing"])
        sample_dict["data.input.clinical"] = row
        return sample_dict


def _scaled(value: Any, low: float, high: float, scale: float) -> float:
    return float(value) / scale if value is not None and low < value < high else -1.0


def _encoded(value: Any, index: Mapping[str, int]) -> np.ndarray:
    """The one-hot vector of an encoded value (one of ``index``'s values; all zeros for any other)."""
    return _one_hot(value if value in index.values() else None, len(index))


class OpPrepareClinical(OpBase):
    """``data.input.clinical.all``: age / 120, BMI / 50, radiographic size / 15, eGFR / 90 (each -1 when missing or
    out of range), then one-hot gender (2), comorbidities (2) and smoking history (3): 11 float32 values.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_00000")
    >>> sample["data.input.clinical"] = {"age_at_nephrectomy": 60, "body_mass_index": 5, "radiographic_size": 7.5,
    ...     "last_preop_egfr": 90, "gender": 1, "comorbidities": 0, "smoking_history": 2}
    >>> OpPrepareClinical()(sample)["data.input.clinical.all"].tolist()
    [0.5, -1.0, 0.5, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    """

    def __call__(self, sample_dict: NDict) -> NDict:
        """Write the encoding."""

        def get(name: str) -> Any:
            return sample_value(sample_dict, f"data.input.clinical.{name}", self)

        sample_dict["data.input.clinical.all"] = np.concatenate(
            [
                [_scaled(get("age_at_nephrectomy"), 0, 120, 120.0)],
                [_scaled(get("body_mass_index"), 10, 100, 50.0)],
                [_scaled(get("radiographic_size"), 0, 50, 15.0)],
                [_scaled(get("last_preop_egfr"), 0, 200, 90.0)],
                _encoded(get("gender"), GENDER_INDEX),
                _encoded(get("comorbidities"), COMORBIDITIES_INDEX),
                _encoded(get("smoking_history"), SMOKE_HISTORY_INDEX),
            ]
        ).astype(np.float32)
        return sample_dict


class KNIGHT:
    """KNIGHT (https://research.ibm.com/haifa/Workshops/KNIGHT/challenge.html): the AUA risk group of kidney cancer
    patients from CT and clinical data. See the module docs for the layout; there is no automatic download.

    >>> KNIGHT.sample_ids("/nonexistent")
    []
    """

    @staticmethod
    def sample_ids(path: str | os.PathLike[str]) -> list[str]:
        """The ``case_*`` folders in ``path``, sorted."""
        folder = Path(path)
        return sorted(p.name for p in folder.glob("case_*") if p.is_dir()) if folder.is_dir() else []

    @staticmethod
    def static_pipeline(
        data_path: str | os.PathLike[str], resize_to: Sequence[int], test: bool = False
    ) -> PipelineDefault:
        """Decode the paths, read the clinical record, load the CT (float32), clip, z-score, move the last axis
        first, encode the clinical data and resize the image to ``resize_to``."""
        return PipelineDefault(
            "static",
            [
                (OpKnightSampleIDDecode(), {"test": test}),
                (OpClinicalLoad(data_path), {"test": test}),
                (OpLoadImage(data_path), {"key_in": "data.input.img_path", "key_out": "data.input.img"}),
                (OpClip(), {"key": "data.input.img", "clip": (-62.0, 301.0)}),
                (OpZScoreNorm(), {"key": "data.input.img", "mean": 104.0, "std": 75.3}),
                (OpLambda(_last_axis_first), {"key": "data.input.img"}),
                (OpPrepareClinical(), {}),
                (OpResizeTo(channels_first=False), {"key": "data.input.img", "output_shape": tuple(resize_to)}),
            ],
        )

    @staticmethod
    def train_dynamic_pipeline() -> PipelineDefault:
        """Tensors, random 3-D rotation (p 0.5), random 2-D affine per slice (p 0.5), Gaussian noise (p 0.3) and a
        channel axis."""
        return PipelineDefault(
            "dynamic",
            [
                (OpToTensor(), {"key": "data.input.img", "dtype": torch.float32}),
                (OpToTensor(), {"key": "data.input.clinical.all"}),
                (
                    OpRandApply(OpSample(OpRotation3D()), 0.5),
                    {
                        "key": "data.input.img",
                        "z_rot": Uniform(-5.0, 5.0),
                        "x_rot": Uniform(-5.0, 5.0),
                        "y_rot": Uniform(-5.0, 5.0),
                    },
                ),
                (
                    OpRandApply(OpSample(OpAugAffine2D()), 0.5),
                    {"key": "data.input.img", **_SLICE_AFFINE},
                ),
                (OpRandApply(OpAugGaussian(), 0.3), {"key": "data.input.img", "std": 0.01}),
                (OpLambda(_add_channel_axis), {"key": "data.input.img"}),
            ],
        )

    @staticmethod
    def val_dynamic_pipeline() -> PipelineDefault:
        """Tensors and a channel axis."""
        return PipelineDefault(
            "dynamic",
            [
                (OpToTensor(), {"key": "data.input.img", "dtype": torch.float32}),
                (OpToTensor(), {"key": "data.input.clinical.all"}),
                (OpLambda(_add_channel_axis), {"key": "data.input.img"}),
            ],
        )

    @staticmethod
    def dataset(
        data_path: str | os.PathLike[str] = "data",
        cache_dir: str | os.PathLike[str] = "cache",
        split: Mapping[str, Sequence[Hashable]] | None = None,
        sample_ids: Sequence[Hashable] | None = None,
        test: bool = False,
        reset_cache: bool = False,
        resize_to: Sequence[int] = (70, 256, 256),
        num_workers: int = 8,
    ) -> DatasetDefault | tuple[DatasetDefault, DatasetDefault]:
        """Created, cached datasets, as FuseMedML: with ``sample_ids``, one dataset (cache ``cache_dir/data``; the
        training augmentation unless ``test``); else from ``split``: ``(train, validation)`` for
        ``{"train": ids, "val": ids}`` (caches ``cache_dir/train`` and ``cache_dir/val``), or the test dataset for
        ``{"test": ids}`` (cache ``cache_dir/test``; FuseMedML did not cache it).
        """

        def build(
            ids: Sequence[Hashable], name: str, folder: str, dynamic: PipelineDefault, is_test: bool
        ) -> DatasetDefault:
            if not ids:
                raise FileNotFoundError(
                    f"KNIGHT: no {name.split('_', maxsplit=1)[0]} sample ids; expected {os.fspath(data_path)!r} to hold "
                    f"knight.json and case_NNNNN/imaging.nii.gz (test: features.json and images/case_NNNNN.nii.gz); {_WHERE}"
                )
            static = KNIGHT.static_pipeline(data_path, resize_to=resize_to, test=is_test)
            return _cached_dataset(name, ids, static, dynamic, Path(cache_dir) / folder, reset_cache, num_workers)

        if sample_ids is not None:
            dynamic = KNIGHT.val_dynamic_pipeline() if test else KNIGHT.train_dynamic_pipeline()
            return build(sample_ids, "cache", "data", dynamic, test)
        if split is None:
            raise ValueError("KNIGHT.dataset needs sample_ids or split ({'train': ids, 'val': ids} or {'test': ids})")
        if "train" in split:
            train = build(split["train"], "train_cache", "train", KNIGHT.train_dynamic_pipeline(), False)
            validation = build(split.get("val", []), "val_cache", "val", KNIGHT.val_dynamic_pipeline(), False)
            return train, validation
        if "test" in split:
            return build(split["test"], "test_cache", "test", KNIGHT.val_dynamic_pipeline(), True)
        raise ValueError(f"KNIGHT.dataset: split must have 'train' (and 'val') or 'test' keys, got {sorted(split)}")
