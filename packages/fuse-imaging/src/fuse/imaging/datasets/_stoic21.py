"""STOIC2021, COVID-19 severity from CT (FuseMedML's ``fuseimg/datasets/stoic21.py``). Manual download only.

The data comes from https://stoic2021.grand-challenge.org/stoic-db/ (an AWS S3 bucket, after accepting the terms).
Expected layout, MetaImage files read with SimpleITK (the ``itk`` extra)::

    <data_path>/data/mha/<PatientID>.mha     (header keys PatientID, PatientAge "035Y".."085Y", PatientSex, ...)
    <data_path>/metadata/reference.csv       (columns PatientID, probCOVID, probSevere)

Sample ids are ``"data/mha/<file>.mha"``. Keys: ``data.input.img_path``, ``data.input.img`` (``[D, H, W]``, resized
to ``output_shape``; after the dynamic pipeline a float32 tensor ``[1, D, H, W]`` in [0, 1]), ``data.metadata.*``
(the loader's geometry, and each MHA header key, e.g. ``data.metadata.PatientID`` as an int), ``data.gt.PatientID``,
``data.gt.probCOVID``, ``data.gt.probSevere`` and, after the dynamic pipeline, ``data.input.age``,
``data.input.age_one_hot``, ``data.input.gender`` and ``data.input.clinical`` (gender, age one-hot and slice
thickness: a float32 tensor of 8).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fuse.core import NDict
from fuse.data import (
    DatasetDefault,
    OpConcat,
    OpLambda,
    OpLookup,
    OpRandApply,
    OpReadDataframe,
    OpSample,
    OpToFloat,
    OpToInt,
    OpToNumpy,
    OpToOneHot,
    OpToTensor,
    PipelineDefault,
    sample_value,
)
from fuse.imaging import OpAugAffine2D, OpClip, OpLoadImage, OpResizeTo, OpToRange
from fuse.imaging.datasets._common import (
    _SLICE_AFFINE,
    _add_channel_axis,
    _cached_dataset,
    _drop_channel_axis,
    _OpSampleIdToImagePath,
)

__all__ = ["STOIC21", "OpSTOIC21SampleIDDecode"]

_LAYOUT = (
    "expected <data_path>/data/mha/*.mha and <data_path>/metadata/reference.csv (columns PatientID, probCOVID, "
    "probSevere); STOIC2021 cannot be downloaded automatically: get it from "
    "https://stoic2021.grand-challenge.org/stoic-db/"
)
_AGE_MAP = {"035Y": 0, "045Y": 1, "055Y": 2, "065Y": 3, "075Y": 4, "085Y": 5}
_GENDER_MAP = {"F": 0, "M": 1}


class OpSTOIC21SampleIDDecode(_OpSampleIdToImagePath):
    """Copy the sample id (the image path relative to the data folder) into ``data.input.img_path``.

    >>> from fuse.core import create_initial_sample
    >>> OpSTOIC21SampleIDDecode()(create_initial_sample("data/mha/1.mha"))["data.input.img_path"]
    'data/mha/1.mha'
    """


def _lift_header(sample_dict: NDict) -> NDict:
    """Copy each MHA header entry ``data.metadata.header.<key>`` to ``data.metadata.<key>`` (FuseMedML's keys)."""
    header = sample_value(sample_dict, "data.metadata.header", "STOIC21 header")
    for key, value in dict(header).items():
        if key.isidentifier():
            sample_dict[f"data.metadata.{key}"] = value
    return sample_dict


class STOIC21:
    """STOIC2021 (https://stoic2021.grand-challenge.org/): CT volumes with age, sex, the RT-PCR result and the
    one-month severe outcome. See the module docs for the layout; there is no automatic download.

    >>> try:
    ...     STOIC21.download("/nonexistent")
    ... except FileNotFoundError as error:
    ...     print(str(error).split(";")[0])
    STOIC21: no .mha file in '/nonexistent/data/mha'
    """

    STOIC21_DATASET_VER = 0

    @staticmethod
    def download(path: str | os.PathLike[str]) -> None:
        """Check that the data is there (automatic download is not possible); raise ``FileNotFoundError`` describing
        the expected layout and where to get the data otherwise."""
        STOIC21.sample_ids(path)
        if not (Path(path) / "metadata" / "reference.csv").is_file():
            raise FileNotFoundError(f"STOIC21: {str(Path(path) / 'metadata' / 'reference.csv')!r} not found; {_LAYOUT}")

    @staticmethod
    def sample_ids(path: str | os.PathLike[str]) -> list[str]:
        """``"data/mha/<file>.mha"`` for every ``.mha`` file in ``path/data/mha``, sorted."""
        folder = Path(path) / "data" / "mha"
        files = sorted(p.name for p in folder.glob("*.mha")) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"STOIC21: no .mha file in {str(folder)!r}; {_LAYOUT}")
        return [f"data/mha/{name}" for name in files]

    @staticmethod
    def static_pipeline(data_path: str | os.PathLike[str], output_shape: Sequence[int]) -> PipelineDefault:
        """Load the volume (SimpleITK's ``[D, H, W]`` order) and its header, resize it to ``output_shape`` (linear,
        anti-aliased, values preserved), and read the patient's targets from ``metadata/reference.csv``.
        """
        return PipelineDefault(
            "stoic21_static",
            [
                (OpSTOIC21SampleIDDecode(), {}),
                (
                    OpLoadImage(data_path),
                    {"key_in": "data.input.img_path", "key_out": "data.input.img", "key_metadata_out": "data.metadata"},
                ),
                (OpLambda(_lift_header), {}),
                (
                    OpResizeTo(channels_first=False),
                    {
                        "key": "data.input.img",
                        "output_shape": tuple(output_shape),
                        "mode": "reflect",
                        "anti_aliasing": True,
                        "preserve_range": True,
                    },
                ),
                (OpToInt(), {"key": "data.metadata.PatientID"}),
                (
                    OpReadDataframe(
                        data_filename=Path(data_path) / "metadata" / "reference.csv",
                        key_name="data.metadata.PatientID",
                        key_column="data.gt.PatientID",
                        rename_columns={
                            "PatientID": "data.gt.PatientID",
                            "probCOVID": "data.gt.probCOVID",
                            "probSevere": "data.gt.probSevere",
                        },
                        drop_key_column=False,
                    ),
                    {},
                ),
            ],
        )

    @staticmethod
    def dynamic_pipeline(train: bool, clip_range: tuple[float, float]) -> PipelineDefault:
        """Encode age (one-hot of 6) and sex, concatenate them with the slice thickness into ``data.input.clinical``,
        clip the image to ``clip_range`` and map it to [0, 1], make both float32 tensors, add a channel axis, and, when
        ``train``, apply a random 2-D affine per slice with probability 0.5.
        """
        steps: list[tuple[Any, dict[str, Any]]] = [
            (OpToFloat(), {"key": "data.metadata.SliceThickness"}),
            (OpLookup(_AGE_MAP), {"key_in": "data.metadata.PatientAge", "key_out": "data.input.age"}),
            (OpToOneHot(len(_AGE_MAP)), {"key_in": "data.input.age", "key_out": "data.input.age_one_hot"}),
            (OpLookup(_GENDER_MAP), {"key_in": "data.metadata.PatientSex", "key_out": "data.input.gender"}),
            (
                OpConcat(),
                {
                    "keys_in": ["data.input.gender", "data.input.age_one_hot", "data.metadata.SliceThickness"],
                    "key_out": "data.input.clinical",
                },
            ),
            (OpToNumpy(), {"key": "data.input.img", "dtype": np.float32}),
            (OpClip(), {"key": "data.input.img", "clip": tuple(clip_range)}),
            (OpToRange(), {"key": "data.input.img", "from_range": tuple(clip_range), "to_range": (0.0, 1.0)}),
            (OpToTensor(), {"key": "data.input.img", "dtype": torch.float32}),
            (OpToTensor(), {"key": "data.input.clinical", "dtype": torch.float32}),
            (OpLambda(_add_channel_axis), {"key": "data.input.img"}),
        ]
        if train:
            steps += [
                (OpLambda(_drop_channel_axis), {"key": "data.input.img"}),
                (
                    OpRandApply(OpSample(OpAugAffine2D()), 0.5),
                    {"key": "data.input.img", **_SLICE_AFFINE},
                ),
                (OpLambda(_add_channel_axis), {"key": "data.input.img"}),
            ]
        return PipelineDefault("stoic21_dynamic", steps)

    @staticmethod
    def dataset(
        data_path: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str],
        reset_cache: bool = False,
        num_workers: int = 10,
        sample_ids: Sequence[Hashable] | None = None,
        train: bool = False,
        output_shape: Sequence[int] = (32, 256, 256),
        clip_range: tuple[float, float] = (-200.0, 800.0),
    ) -> DatasetDefault:
        """The samples as a created :class:`~fuse.data.DatasetDefault`, the static pipeline cached under
        ``cache_dir/stoic_cache_ver0``.

        :param sample_ids: the ids to use (default: every ``.mha`` file found).
        :param num_workers: processes that fill the cache (0: this process).
        """
        if sample_ids is None:
            sample_ids = STOIC21.sample_ids(data_path)
        static = STOIC21.static_pipeline(data_path, output_shape)
        dynamic = STOIC21.dynamic_pipeline(train, clip_range)
        name = f"stoic_cache_ver{STOIC21.STOIC21_DATASET_VER}"
        return _cached_dataset(name, sample_ids, static, dynamic, cache_dir, reset_cache, num_workers)
