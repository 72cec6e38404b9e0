"""What the dataset wrappers share: the op that turns a sample id into an image path, the axis moves their
pipelines apply with ``OpLambda``, a one-hot vector, and building a cached, created dataset.

>>> from fuse.core import create_initial_sample
>>> class OpDecode(_OpSampleIdToImagePath):
...     template = "images/{}.png"
>>> OpDecode()(create_initial_sample("case_3"))["data.input.img_path"]
'images/case_3.png'
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from fuse.core import NDict, RandBool, RandInt, Uniform, is_tensor
from fuse.data import DatasetDefault, OpBase, PipelineDefault, SamplesCacher, sample_value

_SLICE_AFFINE: Mapping[str, Any] = MappingProxyType(
    {
        "rotate": Uniform(-180.0, 180.0),
        "scale": Uniform(0.8, 1.2),
        "flip": (RandBool(0.5), RandBool(0.5)),
        "translate": (RandInt(-15, 15), RandInt(-15, 15)),
    }
)
"""The random 2-D affine (``OpAugAffine2D`` under ``OpSample``) the CT wrappers (KiTS21, KNIGHT, STOIC21) apply to
each slice: any rotation, a zoom of 0.8-1.2, flips and shifts of up to 15 pixels (FuseMedML's values)."""


class _OpSampleIdToImagePath(OpBase):
    """Write the image path that the sample id names into ``data.input.img_path``: ``template`` with the id in
    place of ``{}`` (a subclass sets ``template``; ``"{}"``: the id is the path)."""

    template = "{}"

    def __call__(self, sample_dict: NDict) -> NDict:
        """Write the path."""
        sample_id = sample_value(sample_dict, "data.sample_id", self)
        sample_dict["data.input.img_path"] = self.template.format(sample_id)
        return sample_dict


def _last_axis_first(image: Any) -> Any:
    """``[H, W, D]`` -> ``[D, H, W]`` (a view), for a numpy array or a tensor.

    >>> _last_axis_first(np.zeros((2, 3, 4))).shape
    (4, 2, 3)
    """
    return image.movedim(-1, 0) if is_tensor(image) else np.moveaxis(image, -1, 0)


def _add_channel_axis(image: Any) -> Any:
    """``[D, H, W]`` -> ``[1, D, H, W]`` (a view), for a numpy array or a tensor."""
    return image[None]


def _drop_channel_axis(image: Any) -> Any:
    """``[1, D, H, W]`` -> ``[D, H, W]``; any other first axis is an error (a view)."""
    if image.shape[0] != 1:
        raise ValueError(f"expected a channel axis of 1 to drop, got an image of shape {tuple(image.shape)}")
    return image[0]


def _one_hot(position: int | None, size: int) -> np.ndarray:
    """A float64 vector of ``size`` zeros with a 1 at ``position`` (all zeros for ``None``: an unknown value).

    >>> _one_hot(1, 3), _one_hot(None, 2)
    (array([0., 1., 0.]), array([0., 0.]))
    """
    vector = np.zeros(size)
    if position is not None:
        vector[position] = 1
    return vector


def _cached_dataset(
    cache_name: str,
    sample_ids: Sequence[Hashable],
    static: PipelineDefault,
    dynamic: PipelineDefault,
    cache_dir: str | os.PathLike[str],
    reset_cache: bool,
    workers: int,
) -> DatasetDefault:
    """A created :class:`~fuse.data.DatasetDefault` whose static pipeline is cached under ``cache_dir/cache_name``
    (``reset_cache``: start the cache again; ``workers``: processes that fill it, 0 for this one)."""
    cacher = SamplesCacher(cache_name, static, cache_dir, restart_cache=reset_cache, workers=workers)
    dataset = DatasetDefault(sample_ids, static, dynamic, cacher)
    dataset.create()
    return dataset
