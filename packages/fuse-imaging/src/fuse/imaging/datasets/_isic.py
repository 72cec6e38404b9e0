"""ISIC 2019 skin-lesion classification, dermoscopic images plus clinical data (FuseMedML's
``fuseimg/datasets/isic.py``).

On-disk layout (what :meth:`ISIC.download` writes)::

    <data_path>/ISIC2019/ISIC_2019_Training_Input/ISIC_0000000.jpg ...
    <data_path>/ISIC2019/ISIC_2019_Training_GroundTruth.csv   (image, MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK)
    <data_path>/ISIC2019/ISIC_2019_Training_Metadata.csv      (image, age_approx, anatom_site_general, ..., sex)

Sample keys: ``data.input.img_path``, ``data.input.img`` (float32 ``[3, H, W]`` in [0, 1]), ``data.cls_labels.<CLS>``,
``data.label`` (the index in :attr:`ISIC.CLASS_NAMES` of the class marked 1; 0 when none is, e.g. UNK),
``data.input.clinical.{age_approx, anatom_site_general, sex}`` (missing: -1.0, ``"N/A"``, ``"N/A"``),
``data.input.clinical.encoding.{site, sex, age}`` (one-hot float64 vectors of 9, 3 and 7) and, after the dynamic
pipeline, ``data.input.clinical.all`` (their 19-long concatenation as a float32 tensor).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from fuse.core import NDict, RandBool, RandInt, Uniform
from fuse.data import (
    DatasetDefault,
    OpAugOneHot,
    OpBase,
    OpConcat,
    OpLambda,
    OpOverrideNaN,
    OpRandApply,
    OpReadDataframe,
    OpSample,
    OpToTensor,
    PipelineDefault,
    sample_value,
)
from fuse.imaging import (
    OpAugAffine2D,
    OpAugColor,
    OpAugGaussian,
    OpLoadImage,
    OpResizeTo,
    OpToRange,
    download_file,
    extract_archive,
    mirror_url,
)
from fuse.imaging.datasets._common import _cached_dataset, _one_hot, _OpSampleIdToImagePath

__all__ = ["ISIC", "ISIC_MIRROR", "OpEncodeMetaData", "OpISICSampleIDDecode"]

ISIC_MIRROR = "https://isic-challenge-data.s3.amazonaws.com/2019"
"""Base URL of the ISIC 2019 training files; override with ``FUSE_ISIC_MIRROR``."""

_INPUT = "ISIC_2019_Training_Input"
_GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
_METADATA = "ISIC_2019_Training_Metadata.csv"


class OpISICSampleIDDecode(_OpSampleIdToImagePath):
    """Write the image file name of the sample id into ``data.input.img_path`` (``<id>.jpg``).

    >>> from fuse.core import create_initial_sample
    >>> OpISICSampleIDDecode()(create_initial_sample("ISIC_0000001"))["data.input.img_path"]
    'ISIC_0000001.jpg'
    """

    template = "{}.jpg"


def _derive_label(sample_dict: NDict) -> NDict:
    """``data.label``: the index of the last class whose ``data.cls_labels.<CLS>`` is 1 (0 when none is)."""
    label = 0
    for index, name in enumerate(ISIC.CLASS_NAMES):
        if int(sample_value(sample_dict, f"data.cls_labels.{name}", "ISIC derive_label")) == 1:
            label = index
    sample_dict["data.label"] = label
    return sample_dict


class OpEncodeMetaData(OpBase):
    """One-hot encode ISIC's clinical data into ``<out_prefix>.site`` (9: :attr:`ISIC.ANATOM_SITE_INDEX`, unknown
    values all zero), ``<out_prefix>.sex`` (3: :attr:`ISIC.SEX_INDEX`) and ``<out_prefix>.age`` (7: ``age // 20`` for
    ``0 < age < 120``, else index 6), as float64 numpy vectors, as FuseMedML.

    :param items_to_encode: which of ``"site"``, ``"sex"``, ``"age"`` to encode.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("ISIC_0000001")
    >>> sample["site"], sample["sex"], sample["age"] = "head/neck", "female", 55.0
    >>> sample = OpEncodeMetaData()(sample, key_site="site", key_sex="sex", key_age="age", out_prefix="enc")
    >>> sample["enc.site"].argmax(), sample["enc.sex"].tolist(), sample["enc.age"].tolist()
    (np.int64(5), [0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, items_to_encode: Sequence[str] = ("site", "sex", "age")) -> None:
        super().__init__()
        unknown = sorted(set(items_to_encode) - {"site", "sex", "age"})
        if unknown or isinstance(items_to_encode, str):
            raise ValueError(
                f"OpEncodeMetaData: items_to_encode must be a list of 'site', 'sex', 'age', got {items_to_encode!r}"
            )
        self._items_to_encode = tuple(items_to_encode)

    def __call__(self, sample_dict: NDict, key_site: str, key_sex: str, key_age: str, out_prefix: str) -> NDict:
        """Write the requested encodings."""
        if "site" in self._items_to_encode:
            site = sample_value(sample_dict, key_site, self)
            sites = ISIC.ANATOM_SITE_INDEX
            sample_dict[f"{out_prefix}.site"] = _one_hot(sites.get(site), len(sites))
        if "sex" in self._items_to_encode:
            sex = sample_value(sample_dict, key_sex, self)
            sample_dict[f"{out_prefix}.sex"] = _one_hot(ISIC.SEX_INDEX.get(sex), len(ISIC.SEX_INDEX))
        if "age" in self._items_to_encode:
            age = int(sample_value(sample_dict, key_age, self))
            sample_dict[f"{out_prefix}.age"] = _one_hot(age // 20 if 0 < age < 120 else 6, 7)
        return sample_dict


class ISIC:
    """ISIC 2019: classify dermoscopic images (plus age, sex and anatomical site) into eight diagnostic classes.

    >>> ISIC.CLASS_NAMES[ISIC.CLASS_NAMES.index("BCC")], len(ISIC.ANATOM_SITE_INDEX) + len(ISIC.SEX_INDEX) + 7
    ('BCC', 19)
    """

    DATASET_VER = 0
    CLASS_NAMES: ClassVar[list[str]] = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    SEX_INDEX: ClassVar[dict[str, int]] = {"male": 0, "female": 1, "N/A": 2}
    ANATOM_SITE_INDEX: ClassVar[dict[str, int]] = {
        "anterior torso": 0,
        "upper extremity": 1,
        "posterior torso": 2,
        "lower extremity": 3,
        "lateral torso": 4,
        "head/neck": 5,
        "palms/soles": 6,
        "oral/genital": 7,
        "N/A": 8,
    }

    @staticmethod
    def download(
        data_path: str | os.PathLike[str],
        sample_ids_to_download: Sequence[str] | None = None,
        *,
        mirror: str | None = None,
        progress: bool = True,
    ) -> None:
        """Download the training images (a zip, extracted safely; only the given ids when
        ``sample_ids_to_download`` is set) and the two CSV files into ``data_path/ISIC2019/``. The images folder
        appears only once the whole archive is extracted; no checksums are published for these files, so a CSV file
        is kept only when an earlier download of it is known to be complete (a ``.<name>.complete`` marker, see
        :func:`~fuse.imaging.download_file`). Nothing is downloaded again when the images folder and complete CSV
        files are there.

        :param mirror: base URL (default: ``FUSE_ISIC_MIRROR``, else :data:`ISIC_MIRROR`).
        """
        base = mirror_url("isic", ISIC_MIRROR, mirror)
        root = Path(data_path) / "ISIC2019"
        if not (root / _INPUT).is_dir():
            archive = download_file(f"{base}/{_INPUT}.zip", Path(data_path) / f"{_INPUT}.zip", progress=progress)
            members = None if sample_ids_to_download is None else [f"{_INPUT}/{i}.jpg" for i in sample_ids_to_download]
            extract_archive(archive, root, members=members, progress=progress)
        for name in (_GROUND_TRUTH, _METADATA):
            download_file(f"{base}/{name}", root / name, progress=progress)

    @staticmethod
    def sample_ids(data_path: str | os.PathLike[str]) -> list[str]:
        """The stems of the ``.jpg`` files in ``data_path/ISIC2019/ISIC_2019_Training_Input``, sorted."""
        folder = Path(data_path) / "ISIC2019" / _INPUT
        if not folder.is_dir():
            raise FileNotFoundError(
                f"ISIC: {str(folder)!r} not found; expected {_INPUT}/*.jpg, {_GROUND_TRUTH} and {_METADATA} under "
                f"{str(Path(data_path) / 'ISIC2019')!r}: call ISIC.download(data_path)"
            )
        return sorted(path.stem for path in folder.iterdir() if path.suffix == ".jpg")

    @staticmethod
    def static_pipeline(data_path: str | os.PathLike[str]) -> PipelineDefault:
        """Load the image (float32 ``[3, H, W]``, mapped from 0-255 to 0-1), read its labels and clinical data, fill
        missing clinical values, derive ``data.label`` and encode the clinical data.
        """
        root = Path(data_path) / "ISIC2019"
        rename_labels = {name: f"data.cls_labels.{name}" for name in ISIC.CLASS_NAMES}
        rename_clinical = {c: f"data.input.clinical.{c}" for c in ("age_approx", "anatom_site_general", "sex")}
        return PipelineDefault(
            "static",
            [
                (OpISICSampleIDDecode(), {}),
                (
                    OpLoadImage(root / _INPUT),
                    {
                        "key_in": "data.input.img_path",
                        "key_out": "data.input.img",
                        "channels_first": True,
                        "dtype": np.float32,
                    },
                ),
                (OpToRange(), {"key": "data.input.img", "from_range": (0.0, 255.0), "to_range": (0.0, 1.0)}),
                (
                    OpReadDataframe(
                        data_filename=root / _GROUND_TRUTH,
                        key_column="image",
                        columns_to_extract=list(rename_labels),
                        rename_columns=rename_labels,
                    ),
                    {},
                ),
                (
                    OpReadDataframe(
                        data_filename=root / _METADATA,
                        key_column="image",
                        columns_to_extract=list(rename_clinical),
                        rename_columns=rename_clinical,
                    ),
                    {},
                ),
                (OpOverrideNaN(), {"key": "data.input.clinical.anatom_site_general", "value_to_fill": "N/A"}),
                (OpOverrideNaN(), {"key": "data.input.clinical.sex", "value_to_fill": "N/A"}),
                (OpOverrideNaN(), {"key": "data.input.clinical.age_approx", "value_to_fill": -1.0}),
                (OpLambda(_derive_label), {}),
                (
                    OpEncodeMetaData(),
                    {
                        "key_site": "data.input.clinical.anatom_site_general",
                        "key_sex": "data.input.clinical.sex",
                        "key_age": "data.input.clinical.age_approx",
                        "out_prefix": "data.input.clinical.encoding",
                    },
                ),
            ],
        )

    @staticmethod
    def dynamic_pipeline(
        train: bool = False,
        append: Sequence[tuple[Any, dict[str, Any]]] | None = None,
        resize_to: Sequence[int] = (300, 300),
    ) -> PipelineDefault:
        """Resize the image to ``resize_to`` (``(H, W)``; reflect mode, anti-aliased), make it a float32 tensor,
        augment when ``train`` (affine, color, Gaussian noise, and rarely a changed sex / age encoding), run the
        ``append`` steps, and concatenate the clinical encodings into ``data.input.clinical.all`` (float32 tensor).

        The random shift is up to 1/6 of the image on each axis: FuseMedML's 50 pixels of its fixed 300x300 images.
        """
        # in pixels after the resize; 50 of 300 (FuseMedML) whatever resize_to is, not 50 pixels of a smaller image
        shift_rows, shift_columns = (round(50 * size / 300) for size in resize_to)
        steps: list[tuple[Any, dict[str, Any]]] = [
            (
                OpResizeTo(channels_first=True),
                {"key": "data.input.img", "output_shape": (*resize_to, 3), "mode": "reflect", "anti_aliasing": True},
            ),
            (OpToTensor(), {"key": "data.input.img", "dtype": torch.float32}),
        ]
        if train:
            steps += [
                (
                    OpSample(OpAugAffine2D()),
                    {
                        "key": "data.input.img",
                        "rotate": Uniform(-180.0, 180.0),
                        "scale": Uniform(0.9, 1.1),
                        "flip": (RandBool(0.3), RandBool(0.3)),
                        "translate": (RandInt(-shift_columns, shift_columns), RandInt(-shift_rows, shift_rows)),
                    },
                ),
                (
                    OpSample(OpAugColor()),
                    {
                        "key": "data.input.img",
                        "gamma": Uniform(0.9, 1.1),
                        "contrast": Uniform(0.85, 1.15),
                        "add": Uniform(-0.06, 0.06),
                        "mul": Uniform(0.95, 1.05),
                    },
                ),
                (OpAugGaussian(), {"key": "data.input.img", "std": 0.03}),
                (
                    OpRandApply(OpAugOneHot(), 0.05),
                    {"key": "data.input.clinical.encoding.sex", "idx": 2, "mode": "default"},
                ),
                (
                    OpRandApply(OpAugOneHot(), 0.05),
                    {"key": "data.input.clinical.encoding.age", "mode": "ranking", "freeze_indices": [6]},
                ),
            ]
        if append is not None:
            steps += list(append)
        steps += [
            (
                OpConcat(),
                {
                    "keys_in": [f"data.input.clinical.encoding.{c}" for c in ("site", "sex", "age")],
                    "key_out": "data.input.clinical.all",
                },
            ),
            (OpToTensor(), {"key": "data.input.clinical.all", "dtype": torch.float32}),
        ]
        return PipelineDefault("dynamic", steps)

    @staticmethod
    def dataset(
        data_path: str | os.PathLike[str],
        cache_path: str | os.PathLike[str],
        train: bool = False,
        reset_cache: bool = False,
        num_workers: int = 10,
        append_dyn_pipeline: Sequence[tuple[Any, dict[str, Any]]] | None = None,
        samples_ids: Sequence[Hashable] | None = None,
        *,
        download: bool = True,
        mirror: str | None = None,
        resize_to: Sequence[int] = (300, 300),
    ) -> DatasetDefault:
        """The samples as a created :class:`~fuse.data.DatasetDefault`, the static pipeline cached under
        ``cache_path/isic_cache_ver0``. Downloads first (as FuseMedML) when ``download`` and the files are missing.

        :param samples_ids: the ids to use (default: every image found).
        :param num_workers: processes that fill the cache (0: this process).
        """
        if download:
            ISIC.download(
                data_path,
                sample_ids_to_download=None if samples_ids is None else [str(i) for i in samples_ids],
                mirror=mirror,
            )
        if samples_ids is None:
            samples_ids = ISIC.sample_ids(data_path)
        static = ISIC.static_pipeline(data_path)
        dynamic = ISIC.dynamic_pipeline(train, append_dyn_pipeline, resize_to)
        name = f"isic_cache_ver{ISIC.DATASET_VER}"
        return _cached_dataset(name, samples_ids, static, dynamic, cache_path, reset_cache, num_workers)
