"""PI-CAI, prostate cancer detection in bi-parametric MRI (FuseMedML's ``fuseimg/datasets/picai.py``). Manual
download only; MHA files are read with SimpleITK (the ``itk`` extra).

Get the images from https://zenodo.org/record/6624726 and the labels (marksheet and whole-gland segmentations) from
https://github.com/DIAGNijmegen/picai_labels. Expected layout (the paths given in ``paths``)::

    <data_dir>/<patient_id>/<patient_id>_<study_id>_t2w.mha   (one file per sequence of cfg["series_config"])
    <seg_dir>/<patient_id>_<study_id>.nii.gz                    (whole-gland segmentation)
    <clinical_file>                                             (marksheet.csv: patient_id, study_id, mri_date,
                                                                 patient_age, case_ISUP, case_csPCa (YES / NO), ...)

Sample ids are ``"<patient_id>_<study_id>"``. Keys: ``data.input.img_path``, ``data.input.img<seq>`` per sequence
(``[D, H, W]`` resized to ``resize_to`` and normalised to [0, 1]; a float32 tensor ``[1, D, H, W]`` after the dynamic
pipeline), ``data.gt.seg`` (nearest-resized; an int32 tensor ``[1, D, H, W]``), ``data.patientID``, ``study_id``,
``mri_date``, ``patient_age``, ``data.gt.subtype`` (ISUP grade), ``data.gt.classification`` (csPCa: 0 / 1) and
``data.gt.classification_one_hot``. A sample whose sequence or segmentation file is missing is dropped with a
warning, as in FuseMedML.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fuse.core import NDict, RandBool, RandInt, Uniform
from fuse.data import (
    DatasetDefault,
    OpBase,
    OpLambda,
    OpLookup,
    OpRandApply,
    OpReadDataframe,
    OpRepeat,
    OpSampleAndRepeat,
    OpToNumpy,
    OpToOneHot,
    OpToTensor,
    PipelineDefault,
    sample_value,
)
from fuse.imaging import (
    OpAugAffine2D,
    OpAugSqueeze3Dto2D,
    OpAugUnsqueeze3DFrom2D,
    OpNormalizeAgainstSelf,
    OpResizeTo,
    load_image,
)
from fuse.imaging.datasets._common import _add_channel_axis, _cached_dataset, _OpSampleIdToImagePath

__all__ = [
    "PICAI",
    "OpLoadPICAIImage",
    "OpLoadPICAISegmentation",
    "OpLoadPICAISegmentationWholeGland",
    "OpPICAISampleIDDecode",
]

_WHERE = (
    "PI-CAI cannot be downloaded automatically: get the images from https://zenodo.org/record/6624726 and the "
    "labels from https://github.com/DIAGNijmegen/picai_labels"
)


class OpPICAISampleIDDecode(_OpSampleIdToImagePath):
    """Copy the sample id (``<patient_id>_<study_id>``) into ``data.input.img_path``.

    >>> from fuse.core import create_initial_sample
    >>> OpPICAISampleIDDecode()(create_initial_sample("10000_1000000"))["data.input.img_path"]
    '10000_1000000'
    """


class OpLoadPICAIImage(OpBase):
    """Load ``dir_path/<patient_id>/<id><seq>.mha`` into ``<key_out><seq>`` for every ``seq`` of ``sequences``
    (SimpleITK's ``[D, H, W]`` order); drop the sample (with a warning) when a file is missing.

    Compatibility: FuseMedML's version ignored ``sequences`` (a misspelt keyword) and loaded ``_t2w`` only.

    >>> OpLoadPICAIImage("/data", sequences=["_t2w", "_adc"])
    OpLoadPICAIImage(dir_path='/data', sequences=['_t2w', '_adc'])
    """

    def __init__(self, dir_path: str | os.PathLike[str], sequences: Sequence[str] = ("_t2w",)) -> None:
        super().__init__()
        self._dir_path = Path(dir_path)
        self._sequences = list(sequences)

    def __call__(self, sample_dict: NDict, key_in: str, key_out: str) -> NDict | None:
        """Load every sequence, or return ``None`` when one is missing."""
        name = str(sample_value(sample_dict, key_in, self))
        for seq in self._sequences:
            path = self._dir_path / name.split("_", maxsplit=1)[0] / f"{name}{seq}.mha"
            if not path.is_file():
                warnings.warn(
                    f"PICAI: sample {name!r} dropped: sequence {seq!r} file {str(path)!r} does not exist", stacklevel=2
                )
                return None
            sample_dict[f"{key_out}{seq}"] = load_image(path)[0]
        return sample_dict


def _seg_to_image_order(seg: np.ndarray) -> np.ndarray:
    """NIfTI index order (x, y, z) -> the MHA images' (z, y, x)."""
    return np.ascontiguousarray(np.transpose(seg, (2, 1, 0)))


class OpLoadPICAISegmentationWholeGland(OpBase):
    """Load ``dir_path/<id>.nii.gz`` into ``key_out``, transposed to the images' ``[D, H, W]`` order; drop the
    sample (with a warning) when the file is missing. ``data_dir`` and ``gt`` are kept for FuseMedML's signature.

    >>> OpLoadPICAISegmentationWholeGland("/data", "/segs")
    OpLoadPICAISegmentationWholeGland(data_dir='/data', dir_path='/segs')
    """

    def __init__(self, data_dir: str | os.PathLike[str], dir_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self._dir_path = Path(dir_path)

    def __call__(self, sample_dict: NDict, key_in: str, key_out: str, gt: str | None = None) -> NDict | None:
        """Load the segmentation, or return ``None`` when its file is missing."""
        name = str(sample_value(sample_dict, key_in, self))
        path = self._dir_path / f"{name}.nii.gz"
        if not path.is_file():
            warnings.warn(
                f"PICAI: sample {name!r} dropped: segmentation file {str(path)!r} does not exist", stacklevel=2
            )
            return None
        sample_dict[key_out] = _seg_to_image_order(load_image(path)[0])
        return sample_dict


_MAX_ISUP = 5


def _t2w_path(data_dir: Path, name: str) -> Path:
    return data_dir / name.split("_", maxsplit=1)[0] / f"{name}_t2w.mha"


def _case_isup(value: Any) -> int | None:
    """The case's ISUP grade as an int in 0..5, or ``None`` when it is missing or not such a grade."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(number) or number != int(number) or not 0 <= number <= _MAX_ISUP:
        return None
    return int(number)


class OpLoadPICAISegmentation(OpBase):
    """Load the csPCa lesion delineation ``dir_path/<id>.nii.gz`` (each lesion's voxels hold its ISUP grade, 0 is
    background; e.g. picai_labels' ``csPCa_lesion_delineations/human_expert/resampled``) into ``key_out`` as an
    ``int32`` array in the T2W image's ``[D, H, W]`` order.

    - A study without a delineation file gets an all-zero mask of its T2W image's shape
      (``data_dir/<patient_id>/<id>_t2w.mha``) when its case ISUP grade (``sample_dict[gt]``) is 0 or 1 (no csPCa
      lesion to delineate); with a grade of 2 or more it is dropped with a warning (an empty mask would be wrong).
    - The mask must match the case: a case graded 2 or more must have that grade among its voxel values (the case
      grade is its worst lesion's), a case graded 0 or 1 no lesion; a study breaking this, or without a valid grade
      (0..5), is dropped with a warning naming it. ``gt=None`` skips these checks.
    - A mask whose shape differs from the T2W image's, or holding values other than the grades 0..5, raises
      ``ValueError`` naming the file.

    Compatibility: FuseMedML's version returned ``float64`` in NIfTI's ``(x, y, z)`` order, dropped every ISUP 1
    case (ISUP 1 lesions are not delineated, so 1 never appears in the mask) and made the empty mask for any case.

    >>> OpLoadPICAISegmentation("/data", "/labels/csPCa_lesion_delineations/human_expert/resampled")
    OpLoadPICAISegmentation(data_dir='/data', dir_path='/labels/csPCa_lesion_delineations/human_expert/resampled')
    """

    def __init__(self, data_dir: str | os.PathLike[str], dir_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self._data_dir = Path(data_dir)
        self._dir_path = Path(dir_path)

    def __call__(self, sample_dict: NDict, key_in: str, key_out: str, gt: str | None = None) -> NDict | None:
        """Load (or make) the mask and check it against the case grade; ``None`` drops the sample."""
        name = str(sample_value(sample_dict, key_in, self))
        isup = None
        if gt is not None:
            raw = sample_value(sample_dict, gt, self)
            isup = _case_isup(raw)
            if isup is None:
                _warn_dropped(name, f"its case ISUP grade ({gt!r}) is {raw!r}, not an integer in 0..{_MAX_ISUP}")
                return None
        path = self._dir_path / f"{name}.nii.gz"
        t2w = _t2w_path(self._data_dir, name)
        if not t2w.is_file():
            _warn_dropped(name, f"its T2W image {str(t2w)!r} (which gives the mask's shape) does not exist")
            return None
        shape = load_image(t2w)[0].shape
        if not path.is_file():
            if isup is not None and isup >= 2:
                _warn_dropped(
                    name, f"lesion segmentation file {str(path)!r} does not exist and its case ISUP is {isup}"
                )
                return None
            sample_dict[key_out] = np.zeros(shape, dtype=np.int32)
            return sample_dict
        mask = _seg_to_image_order(load_image(path)[0])
        if mask.shape != shape:
            raise ValueError(
                f"PICAI: sample {name!r}: lesion segmentation {str(path)!r} has shape {mask.shape} (as [D, H, W]) but "
                f"its T2W image {str(t2w)!r} has {shape}; use the delineations resampled to the T2W images"
            )
        values = np.unique(mask)
        if not np.all((values == np.rint(values)) & (values >= 0) & (values <= _MAX_ISUP)):
            raise ValueError(
                f"PICAI: sample {name!r}: lesion segmentation {str(path)!r} holds values {values.tolist()[:10]}; "
                f"expected ISUP grades 0..{_MAX_ISUP} (0: background)"
            )
        grades = {int(v) for v in values if v > 0}
        if isup is not None and (isup not in grades if isup >= 2 else bool(grades)):
            _warn_dropped(
                name, f"its case ISUP is {isup} but its lesion segmentation {str(path)!r} holds grades {sorted(grades)}"
            )
            return None
        sample_dict[key_out] = mask.astype(np.int32)
        return sample_dict


def _warn_dropped(name: str, why: str) -> None:
    warnings.warn(f"PICAI: sample {name!r} dropped: {why}", stacklevel=3)


class PICAI:
    """PI-CAI (https://pi-cai.grand-challenge.org/): csPCa classification and ISUP grading from bi-parametric MRI.
    See the module docs for the layout; there is no automatic download.

    >>> PICAI.dynamic_pipeline([{"key": "data.input.img_t2w"}]).get_name()
    'picai_dynamic'
    """

    PICAI_DATASET_VER = 0

    @staticmethod
    def static_pipeline(
        data_source: pd.DataFrame,
        data_dir: str | os.PathLike[str],
        seg_dir: str | os.PathLike[str],
        target: str,
        repeat_images: Sequence[Mapping[str, Any]],
        resize_to: Sequence[int] = (32, 256, 256),
    ) -> PipelineDefault:
        """Load the sequences named by ``repeat_images`` (``[{"key": "data.input.img_t2w"}, ...]``), read the
        labels from ``data_source`` (the marksheet with an ``index`` column ``<patient_id>_<study_id>``), load the
        whole-gland segmentation, resize everything to ``resize_to`` (images linear and anti-aliased, the
        segmentation nearest) and normalise each image to [0, 1] (float32). ``target`` is unused (FuseMedML's
        signature).
        """
        images = [dict(step) for step in repeat_images]
        sequences = [str(step["key"])[len("data.input.img") :] for step in images]
        bad = [step["key"] for step in images if not str(step["key"]).startswith("data.input.img")]
        if bad:
            raise ValueError(f"PICAI: repeat_images keys must be 'data.input.img<sequence>', got {bad}")
        bool_map = {"NO": 0, "YES": 1}
        shape = tuple(resize_to)
        return PipelineDefault(
            "picai_static",
            [
                (OpPICAISampleIDDecode(), {}),
                (OpLoadPICAIImage(data_dir, sequences), {"key_in": "data.input.img_path", "key_out": "data.input.img"}),
                (
                    OpReadDataframe(
                        data_source,
                        key_column="index",
                        key_name="data.input.img_path",
                        columns_to_extract=[
                            "patient_id",
                            "study_id",
                            "mri_date",
                            "patient_age",
                            "case_ISUP",
                            "case_csPCa",
                        ],
                        rename_columns={
                            "patient_id": "data.patientID",
                            "case_csPCa": "data.gt.classification",
                            "case_ISUP": "data.gt.subtype",
                        },
                    ),
                    {},
                ),
                (OpLookup(bool_map), {"key_in": "data.gt.classification", "key_out": "data.gt.classification"}),
                (
                    OpToOneHot(len(bool_map)),
                    {"key_in": "data.gt.classification", "key_out": "data.gt.classification_one_hot"},
                ),
                (
                    OpLoadPICAISegmentationWholeGland(data_dir, seg_dir),
                    {"key_in": "data.input.img_path", "key_out": "data.gt.seg", "gt": "data.gt.subtype"},
                ),
                (
                    OpRepeat(OpResizeTo(channels_first=False), images),
                    {"output_shape": shape, "mode": "reflect", "anti_aliasing": True, "preserve_range": True},
                ),
                (
                    OpResizeTo(channels_first=False),
                    {"key": "data.gt.seg", "output_shape": shape, "order": 0, "preserve_range": True},
                ),
                (OpRepeat(OpNormalizeAgainstSelf(), images), {}),
                (OpRepeat(OpToNumpy(), images), {"dtype": np.float32}),
            ],
        )

    @staticmethod
    def dynamic_pipeline(
        repeat_images: Sequence[Mapping[str, Any]],
        train: bool = False,
        aug_params: Mapping[str, Any] | None = None,
    ) -> PipelineDefault:
        """Tensors with a channel axis (images float32, segmentation int32); when ``train``, one random 2-D affine per
        slice, the same for every sequence and the segmentation (nearest), with probability
        ``aug_params["apply_aug_prob"]``; ``aug_params`` also gives the ``rotate`` and ``scale`` ranges, ``flip`` (a
        float is the probability of each flip; a bool or a sampler is used as it is) and the ``translate`` range.
        """
        images = [dict(step) for step in repeat_images]
        with_seg = [*images, {"key": "data.gt.seg"}]
        ops: list[tuple[Any, dict[str, Any]]] = [
            (OpRepeat(OpToTensor(), images), {"dtype": torch.float32}),
            (OpToTensor(), {"key": "data.gt.seg", "dtype": torch.int32}),
            (OpRepeat(OpLambda(_add_channel_axis), with_seg), {}),
        ]
        if train:
            if aug_params is None:
                raise ValueError(
                    "PICAI.dynamic_pipeline(train=True) needs aug_params with apply_aug_prob, rotate, scale, flip and "
                    "translate"
                )
            affine_steps = [*images, {"key": "data.gt.seg", "interpolation": "nearest"}]
            flip = aug_params["flip"]
            flip = RandBool(flip) if isinstance(flip, float) else flip  # a probability, or a bool / sampler as is
            ops += [
                (OpRepeat(OpAugSqueeze3Dto2D(), with_seg), {"axis_squeeze": 1}),
                (
                    OpRandApply(OpSampleAndRepeat(OpAugAffine2D(), affine_steps), aug_params["apply_aug_prob"]),
                    {
                        "rotate": Uniform(*aug_params["rotate"]),
                        "scale": Uniform(*aug_params["scale"]),
                        "flip": (flip, flip),
                        "translate": (RandInt(*aug_params["translate"]), RandInt(*aug_params["translate"])),
                    },
                ),
                (OpRepeat(OpAugUnsqueeze3DFrom2D(), with_seg), {"axis_squeeze": 1, "channels": 1}),
            ]
        return PipelineDefault("picai_dynamic", ops)

    @staticmethod
    def dataset(
        paths: Mapping[str, Any],
        cfg: Mapping[str, Any],
        reset_cache: bool = False,
        sample_ids: Sequence[Hashable] | None = None,
        train: bool = False,
        run_sample: int = 0,
    ) -> DatasetDefault:
        """The studies as a created :class:`~fuse.data.DatasetDefault`, cached (and audited) under
        ``paths["cache_dir"]/picai_cache_ver0``. FuseMedML reset the cache by default and disabled the audit.

        :param paths: ``clinical_file``, ``data_dir``, ``seg_dir`` and ``cache_dir``.
        :param cfg: ``series_config`` (e.g. ``["_t2w", "_adc", "_hbv"]``), ``target``, ``num_workers``,
            ``aug_params`` (when ``train``) and optionally ``resize_to`` (default ``(32, 256, 256)``).
        :param run_sample: use only the first ``run_sample`` ids when > 0.
        """
        clinical_file = Path(paths["clinical_file"])
        if not clinical_file.is_file():
            raise FileNotFoundError(f"PICAI: clinical file {str(clinical_file)!r} not found; {_WHERE}")
        table = pd.read_csv(clinical_file)
        table["index"] = table["patient_id"].astype(str) + "_" + table["study_id"].astype(str)
        ids: Sequence[Hashable] = table["index"].to_list() if sample_ids is None else sample_ids
        if run_sample > 0:
            ids = list(ids)[:run_sample]
        repeat_images = [{"key": f"data.input.img{seq}"} for seq in cfg["series_config"]]
        static = PICAI.static_pipeline(
            table,
            paths["data_dir"],
            paths["seg_dir"],
            cfg["target"],
            repeat_images,
            resize_to=cfg.get("resize_to", (32, 256, 256)),
        )
        dynamic = PICAI.dynamic_pipeline(
            repeat_images, train=train, aug_params=cfg.get("aug_params") if train else None
        )
        name = f"picai_cache_ver{PICAI.PICAI_DATASET_VER}"
        return _cached_dataset(name, ids, static, dynamic, paths["cache_dir"], reset_cache, cfg.get("num_workers", 0))
