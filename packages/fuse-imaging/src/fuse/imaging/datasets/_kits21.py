"""KiTS21, the 2021 Kidney and Kidney Tumor Segmentation challenge (FuseMedML's ``fuseimg/datasets/kits21.py``).

On-disk layout (what :meth:`KITS21.download` writes)::

    <data_path>/case_00000/imaging.nii.gz
    <data_path>/case_00000/aggregated_MAJ_seg.nii.gz
    ...

Sample keys: ``data.input.img_path`` / ``data.gt.seg_path`` (relative paths), ``data.input.img`` (the CT clipped to
[-500, 500] HU and mapped to [0, 1]) and ``data.gt.seg`` (the label map), both with the last axis moved first.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, Uniform, progress
from fuse.data import (
    DatasetDefault,
    OpLambda,
    OpReversibleBase,
    OpSample,
    OpSampleAndRepeat,
    OpToTensor,
    PipelineDefault,
    sample_value,
)
from fuse.imaging import (
    OpAugAffine2D,
    OpAugColor,
    OpClip,
    OpLoadImage,
    OpResizeTo,
    OpToRange,
    download_file,
    mirror_url,
)
from fuse.imaging.datasets._common import _SLICE_AFFINE, _add_channel_axis, _cached_dataset, _last_axis_first

__all__ = ["KITS21", "KITS21_IMAGE_MIRROR", "KITS21_SEG_MIRROR", "OpKits21SampleIDDecode"]

KITS21_IMAGE_MIRROR = "https://kits19.sfo2.digitaloceanspaces.com"
"""Base URL of the KiTS images (``master_{case:05d}.nii.gz``); override with ``FUSE_KITS21_MIRROR``."""
KITS21_SEG_MIRROR = "https://github.com/neheller/kits21/raw/master/kits21/data"
"""Base URL of the segmentations (``case_{case:05d}/aggregated_MAJ_seg.nii.gz``); override with
``FUSE_KITS21_SEG_MIRROR``."""

_NUM_CASES = 300
_IMAGE_FILE = "imaging.nii.gz"
_SEG_FILE = "aggregated_MAJ_seg.nii.gz"


class OpKits21SampleIDDecode(OpReversibleBase):
    """Write the image and segmentation paths of sample id ``case_NNNNN`` (relative to the data folder) into
    ``data.input.img_path`` and ``data.gt.seg_path``; ``reverse`` leaves the sample unchanged.

    >>> from fuse.core import create_initial_sample
    >>> sample = OpKits21SampleIDDecode()(create_initial_sample("case_00007"))
    >>> sample["data.input.img_path"], sample["data.gt.seg_path"]
    ('case_00007/imaging.nii.gz', 'case_00007/aggregated_MAJ_seg.nii.gz')
    """

    def __call__(self, sample_dict: NDict, op_id: str | None = None) -> NDict:
        """Write the two paths."""
        sample_id = sample_value(sample_dict, "data.sample_id", self)
        sample_dict["data.input.img_path"] = f"{sample_id}/{_IMAGE_FILE}"
        sample_dict["data.gt.seg_path"] = f"{sample_id}/{_SEG_FILE}"
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Nothing to undo."""
        return sample_dict


class KITS21:
    """KiTS21 kidney and kidney-tumor CT segmentation (https://github.com/neheller/kits21): the image and the
    aggregated majority-vote segmentation of each case.

    >>> KITS21.sample_ids()[:2], len(KITS21.sample_ids())
    (['case_00000', 'case_00001'], 300)
    """

    KITS21_DATASET_VER = 0

    @staticmethod
    def download(
        path: str | os.PathLike[str],
        cases: int | Sequence[int] | None = None,
        *,
        mirror: str | None = None,
        seg_mirror: str | None = None,
        progress_bar: bool = True,
    ) -> None:
        """Download the image and the segmentation of ``cases`` (``None``: all 300; an int: that case) into
        ``path/case_NNNNN/`` (atomic). No checksums are published for these files, so a file is kept only when an
        earlier download of it is known to be complete (its announced length arrived: a ``.<name>.complete`` marker
        next to it, see :func:`~fuse.imaging.download_file`); any other file there is downloaded again.

        :param mirror: base URL of the images (default: ``FUSE_KITS21_MIRROR``, else :data:`KITS21_IMAGE_MIRROR`).
        :param seg_mirror: base URL of the segmentations (default: ``FUSE_KITS21_SEG_MIRROR``, else
            :data:`KITS21_SEG_MIRROR`).
        """
        if cases is None:
            case_list = list(range(_NUM_CASES))
        elif isinstance(cases, (int, np.integer)) and not isinstance(cases, bool):
            case_list = [int(cases)]
        elif isinstance(cases, Sequence) and not isinstance(cases, str):
            case_list = [int(case) for case in cases]
        else:
            raise TypeError(f"KITS21.download: cases must be None, an int or a list of ints, got {cases!r}")
        bad = [case for case in case_list if not 0 <= case < _NUM_CASES]
        if bad:
            raise ValueError(f"KITS21.download: cases must be in [0, {_NUM_CASES - 1}], got {bad}")
        image_base = mirror_url("kits21", KITS21_IMAGE_MIRROR, mirror)
        seg_base = mirror_url("kits21_seg", KITS21_SEG_MIRROR, seg_mirror)
        for case in progress(case_list, total=len(case_list), desc="KiTS21 cases", enabled=progress_bar):
            folder = Path(path) / f"case_{case:05d}"
            download_file(f"{image_base}/master_{case:05d}.nii.gz", folder / _IMAGE_FILE, progress=progress_bar)
            download_file(f"{seg_base}/case_{case:05d}/{_SEG_FILE}", folder / _SEG_FILE, progress=progress_bar)

    @staticmethod
    def sample_ids(data_path: str | os.PathLike[str] | None = None) -> list[str]:
        """``case_00000`` ... ``case_00299``; with ``data_path``, only the cases whose two files are there."""
        ids = [f"case_{case:05d}" for case in range(_NUM_CASES)]
        if data_path is None:
            return ids
        root = Path(data_path)
        return [i for i in ids if (root / i / _IMAGE_FILE).is_file() and (root / i / _SEG_FILE).is_file()]

    @staticmethod
    def static_pipeline(data_path: str | os.PathLike[str]) -> PipelineDefault:
        """Decode the paths, load image (float32) and segmentation (integer), clip the image to [-500, 500] and map
        it to [0, 1], and move the last axis first in both (FuseMedML moved it in the image only).
        """
        return PipelineDefault(
            "static",
            [
                (OpKits21SampleIDDecode(), {}),
                (OpLoadImage(data_path), {"key_in": "data.input.img_path", "key_out": "data.input.img"}),
                (OpLoadImage(data_path), {"key_in": "data.gt.seg_path", "key_out": "data.gt.seg"}),
                (OpClip(), {"key": "data.input.img", "clip": (-500.0, 500.0)}),
                (OpToRange(), {"key": "data.input.img", "from_range": (-500.0, 500.0), "to_range": (0.0, 1.0)}),
                (OpLambda(_last_axis_first), {"key": "data.input.img"}),
                (OpLambda(_last_axis_first), {"key": "data.gt.seg"}),
            ],
        )

    @staticmethod
    def dynamic_pipeline(resize_to: Sequence[int] = (110, 256, 256), augment: bool = True) -> PipelineDefault:
        """Resize image (linear, anti-aliased) and segmentation (nearest) to ``resize_to`` (``[D, H, W]``), make
        both float32 tensors, augment (when ``augment``: the same random 2-D affine per slice on both, nearest for the
        segmentation; gamma / contrast / brightness on the image) and add a channel axis to the image
        (``[1, D, H, W]``).
        """
        repeat_for = [{"key": "data.input.img"}, {"key": "data.gt.seg", "interpolation": "nearest"}]
        steps: list[tuple[Any, dict[str, Any]]] = [
            (OpResizeTo(channels_first=False), {"key": "data.input.img", "output_shape": tuple(resize_to)}),
            (
                OpResizeTo(channels_first=False),
                {"key": "data.gt.seg", "output_shape": tuple(resize_to), "order": 0, "preserve_range": True},
            ),
            (OpToTensor(), {"key": ["data.input.img", "data.gt.seg"], "dtype": torch.float32}),
        ]
        if augment:
            steps += [
                (
                    OpSampleAndRepeat(OpAugAffine2D(), repeat_for),
                    dict(_SLICE_AFFINE),
                ),
                (
                    OpSample(OpAugColor()),
                    {
                        "key": "data.input.img",
                        "gamma": Uniform(0.8, 1.2),
                        "contrast": Uniform(0.9, 1.1),
                        "add": Uniform(-0.01, 0.01),
                    },
                ),
            ]
        steps.append((OpLambda(_add_channel_axis), {"key": "data.input.img"}))
        return PipelineDefault("dynamic", steps)

    @staticmethod
    def dataset(
        data_path: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str],
        reset_cache: bool = False,
        num_workers: int = 10,
        sample_ids: Sequence[Hashable] | None = None,
        *,
        resize_to: Sequence[int] = (110, 256, 256),
        augment: bool = True,
    ) -> DatasetDefault:
        """The cases as a created :class:`~fuse.data.DatasetDefault`, the static pipeline cached under
        ``cache_dir/kits21_cache_ver0``.

        :param sample_ids: the cases to use (default: every case found in ``data_path``).
        :param num_workers: processes that fill the cache (0: this process).
        """
        if sample_ids is None:
            sample_ids = KITS21.sample_ids(data_path)
            if not sample_ids:
                raise FileNotFoundError(
                    f"KITS21: no case found in {os.fspath(data_path)!r}; expected case_00000/{_IMAGE_FILE} and "
                    f"case_00000/{_SEG_FILE} (...) there: download them with KITS21.download(path, cases)"
                )
        static = KITS21.static_pipeline(data_path)
        dynamic = KITS21.dynamic_pipeline(resize_to, augment)
        name = f"kits21_cache_ver{KITS21.KITS21_DATASET_VER}"
        return _cached_dataset(name, sample_ids, static, dynamic, cache_dir, reset_cache, num_workers)
