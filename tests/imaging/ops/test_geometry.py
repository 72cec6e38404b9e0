"""OpResampleToSpacing and OpReorient: values against analytic ramps and nibabel's own reorientation, every voxel's
world position (through the metadata affine) preserved, label maps kept, metadata updated, cache identities."""

from __future__ import annotations

import itertools
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch

from fuse.core import NDict, Uniform, create_initial_sample, set_seed
from fuse.data import MissingSampleKeyError, OpSample, PipelineDefault
from fuse.imaging import OpReorient, OpResampleToSpacing

KEY, META, SEG = "data.input.img", "data.input.img_meta", "data.gt.seg"


def _rotation(axis: int, degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    i, j = [index for index in range(3) if index != axis]
    rotation = np.eye(3)
    rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = cos, -sin, sin, cos
    return rotation


def _affine(direction: np.ndarray, spacing: tuple[float, ...], origin: tuple[float, ...]) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, : len(spacing)] = direction[:, : len(spacing)] * np.asarray(spacing)
    affine[:3, 3] = origin
    return affine


def _sample(image: Any, spacing: tuple[float, ...], affine: np.ndarray, **extra: Any) -> NDict:
    sample = create_initial_sample("case_7")
    sample[KEY] = image
    direction = np.eye(3)
    direction[:, : len(spacing)] = affine[:3, : len(spacing)] / np.asarray(spacing)
    sample[META] = {
        "spacing": spacing,
        "origin": tuple(affine[:3, 3]),
        "direction": direction,
        "affine": affine,
        "format": "nifti",
        "path": "/data/case_7.nii.gz",
        "modality": None,
        "series_uid": None,
    }
    for key, value in extra.items():
        sample[key] = value
    return sample


def _world(affine: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """World coordinates of (N, 3) voxel indices."""
    return (affine[:3, :3] @ indices.T).T + affine[:3, 3]


# ---------------------------------------------------------------------------------------------------- resampling
OBLIQUE = _rotation(2, 20.0) @ _rotation(0, -10.0) @ np.diag([-1.0, -1.0, 1.0])  # LPS-like and oblique


def test_resample_linear_ramp_to_half_spacing_matches_the_analytic_ramp() -> None:
    spacing = (2.0, 1.5, 3.0)
    shape = (5, 6, 4)
    index = np.indices(shape).astype(np.float64)
    # a ramp in millimetres along the array axes: linear interpolation reproduces it exactly
    ramp = 0.7 * index[0] * spacing[0] - 0.2 * index[1] * spacing[1] + 0.1 * index[2] * spacing[2]
    affine = _affine(OBLIQUE, spacing, (10.0, -5.0, 3.0))
    sample = OpResampleToSpacing()(
        _sample(ramp.astype(np.float32), spacing, affine), key=KEY, key_metadata=META, spacing=(1.0, 0.75, 1.5)
    )
    resampled = sample[KEY]
    assert resampled.shape == (9, 11, 7)  # (n - 1) * 2 + 1 voxels: the same first and last voxel centres
    assert resampled.dtype == np.float32
    new_index = np.indices(resampled.shape).astype(np.float64)
    expected = 0.7 * new_index[0] * 1.0 - 0.2 * new_index[1] * 0.75 + 0.1 * new_index[2] * 1.5
    np.testing.assert_allclose(resampled, expected, atol=1e-5)
    assert sample[f"{META}.spacing"] == (1.0, 0.75, 1.5)


def test_resample_metadata_affine_maps_each_voxel_to_the_same_world_point() -> None:
    spacing = (2.0, 1.5, 3.0)
    affine = _affine(OBLIQUE, spacing, (10.0, -5.0, 3.0))
    sample = OpResampleToSpacing()(
        _sample(np.zeros((5, 6, 4)), spacing, affine), key=KEY, key_metadata=META, spacing=(0.5, 0.5, 1.0)
    )
    new_affine = sample[f"{META}.affine"]
    new_indices = np.array(list(itertools.product(range(17), range(16), range(10))), dtype=np.float64)
    old_indices = new_indices * np.array([0.25, 1 / 3, 1 / 3])  # new spacing / old spacing
    np.testing.assert_allclose(_world(new_affine, new_indices), _world(affine, old_indices), atol=1e-9)
    # origin (voxel 0's centre) and direction are unchanged; the affine still is direction * spacing
    np.testing.assert_array_equal(new_affine[:3, 3], affine[:3, 3])
    np.testing.assert_allclose(new_affine[:3, :3], sample[f"{META}.direction"] * np.array([0.5, 0.5, 1.0]))
    assert sample[f"{META}.origin"] == tuple(affine[:3, 3])
    assert sample[f"{META}.path"] == "/data/case_7.nii.gz"


def test_resample_nearest_keeps_the_label_set_and_dtype_and_resamples_segmentations() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((6, 6, 6))
    labels = rng.integers(0, 4, size=(6, 6, 6)).astype(np.int32)
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    sample = _sample(torch.from_numpy(labels), (1.0, 1.0, 1.0), affine)
    resampled = OpResampleToSpacing()(sample, key=KEY, key_metadata=META, spacing=0.4, interpolation="nearest")[KEY]
    assert isinstance(resampled, torch.Tensor)
    assert resampled.dtype == torch.int32
    assert set(resampled.unique().tolist()) == {0, 1, 2, 3}
    # each new voxel holds the label of the old voxel nearest to its position
    new_index = np.indices(resampled.shape) * 0.4
    np.testing.assert_array_equal(resampled.numpy(), labels[tuple(np.rint(new_index).astype(int))])

    sample = _sample(image, (1.0, 1.0, 1.0), affine, **{SEG: labels.astype(np.uint8)})
    sample = OpResampleToSpacing()(sample, key=KEY, key_metadata=META, spacing=0.5, key_seg=[SEG])
    assert sample[SEG].shape == sample[KEY].shape == (11, 11, 11)
    assert sample[SEG].dtype == np.uint8
    np.testing.assert_array_equal(sample[SEG][::2, ::2, ::2], labels)
    np.testing.assert_allclose(sample[KEY][::2, ::2, ::2], image)


def test_resample_keeps_bfloat16_with_nearest_and_gives_float32_with_linear() -> None:
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    image = torch.arange(8.0).reshape(2, 2, 2).to(torch.bfloat16)
    op = OpResampleToSpacing()
    nearest = op(
        _sample(image, (1.0, 1.0, 1.0), affine), key=KEY, key_metadata=META, spacing=0.5, interpolation="nearest"
    )
    assert nearest[KEY].dtype == torch.bfloat16
    assert torch.equal(nearest[KEY][::2, ::2, ::2], image)
    linear = op(_sample(image, (1.0, 1.0, 1.0), affine), key=KEY, key_metadata=META, spacing=0.5)[KEY]
    assert linear.dtype == torch.float32
    assert float(linear[1, 0, 0]) == pytest.approx(2.0)  # halfway between 0 and 4


def test_resample_two_dimensional_image_with_channels_last() -> None:
    rows, cols = np.mgrid[0:4, 0:5].astype(np.float64)
    image = np.stack([rows, cols, rows + cols], axis=-1)  # [H, W, 3]
    affine = _affine(np.eye(3), (2.0, 1.0), (0.0, 0.0, 0.0))
    sample = OpResampleToSpacing()(
        _sample(image, (2.0, 1.0), affine), key=KEY, key_metadata=META, spacing=(1.0, 2.0), channel_axis=-1
    )
    resampled = sample[KEY]
    assert resampled.shape == (7, 3, 3)
    new_rows, new_cols = np.mgrid[0:7, 0:3] * np.array([0.5, 2.0])[:, None, None]
    np.testing.assert_allclose(resampled, np.stack([new_rows, new_cols, new_rows + new_cols], axis=-1))
    np.testing.assert_allclose(sample[f"{META}.affine"], np.diag([1.0, 2.0, 1.0, 1.0]))


def test_resample_rounds_the_voxel_count_of_the_extent() -> None:
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    sample = _sample(np.arange(10.0)[:, None, None] * np.ones((10, 3, 3)), (1.0, 1.0, 1.0), affine)
    resampled = OpResampleToSpacing()(sample, key=KEY, key_metadata=META, spacing=(2.5, 1.0, 1.0))[KEY]
    # extent 9 mm / 2.5 = 3.6 -> 4 steps -> 5 voxels at 0, 2.5, 5, 7.5 and 10 (beyond 9: the edge value)
    np.testing.assert_allclose(resampled[:, 0, 0], [0.0, 2.5, 5.0, 7.5, 9.0])


def test_resample_errors_name_the_sample_and_the_fix() -> None:
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    op = OpResampleToSpacing()
    with pytest.raises(ValueError, match=r"spacing must be a number > 0 or 3 numbers > 0"):
        op(_sample(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), affine), key=KEY, key_metadata=META, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"'case_7'.*pass channel_axis=0 .* or channel_axis=-1"):
        op(_sample(np.zeros((2, 2, 2, 3)), (1.0, 1.0, 1.0), affine), key=KEY, key_metadata=META, spacing=1.0)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        op(
            _sample(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), affine),
            key=KEY,
            key_metadata=META,
            spacing=1,
            interpolation="cubic",
        )
    with pytest.raises(MissingSampleKeyError, match=r"sample 'case_7' has no key 'data\.other_meta\.spacing'"):
        op(_sample(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), affine), key=KEY, key_metadata="data.other_meta", spacing=1.0)
    sample = _sample(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), affine, **{SEG: np.zeros((3, 2, 2))})
    with pytest.raises(ValueError, match=r"segmentation of shape \(3, 2, 2\) does not match .* \(2, 2, 2\)"):
        op(sample, key=KEY, key_metadata=META, spacing=1.0, key_seg=SEG)


# ---------------------------------------------------------------------------------------------------- reorientation
# array axis 0 -> mostly Superior, axis 1 -> mostly Left, axis 2 -> mostly Posterior, slightly oblique
PERMUTED = _rotation(1, 8.0) @ np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def test_reorient_to_ras_preserves_every_voxels_world_position_and_value() -> None:
    spacing = (2.5, 0.8, 1.2)
    affine = _affine(PERMUTED, spacing, (-30.0, 40.0, 12.0))
    data = np.random.default_rng(1).random((4, 5, 6)).astype(np.float32)
    sample = OpReorient()(_sample(data, spacing, affine), key=KEY, key_metadata=META)
    new_data, new_affine = sample[KEY], sample[f"{META}.affine"]
    assert nib.aff2axcodes(affine) == ("S", "L", "P")
    assert nib.aff2axcodes(new_affine) == ("R", "A", "S")
    assert new_data.shape == (5, 6, 4)
    new_indices = np.array(list(itertools.product(*map(range, new_data.shape))), dtype=np.float64)
    old_indices = _world(np.linalg.inv(affine), _world(new_affine, new_indices))
    np.testing.assert_allclose(old_indices, np.rint(old_indices), atol=1e-9)  # lands on a voxel centre
    old = np.rint(old_indices).astype(int)
    np.testing.assert_array_equal(new_data[tuple(new_indices.astype(int).T)], data[tuple(old.T)])


def test_reorient_matches_nibabels_closest_canonical_and_updates_the_metadata() -> None:
    spacing = (2.5, 0.8, 1.2)
    affine = _affine(PERMUTED, spacing, (-30.0, 40.0, 12.0))
    data = np.random.default_rng(2).integers(0, 100, size=(4, 5, 6)).astype(np.int16)
    canonical = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    sample = OpReorient()(_sample(torch.from_numpy(data), spacing, affine), key=KEY, key_metadata=META)
    assert isinstance(sample[KEY], torch.Tensor)
    assert sample[KEY].dtype == torch.int16
    np.testing.assert_array_equal(sample[KEY].numpy(), np.asanyarray(canonical.dataobj))
    np.testing.assert_allclose(sample[f"{META}.affine"], canonical.affine, atol=1e-12)
    new_spacing = sample[f"{META}.spacing"]
    assert new_spacing == (0.8, 1.2, 2.5)
    np.testing.assert_allclose(
        sample[f"{META}.direction"] * np.array(new_spacing), canonical.affine[:3, :3], atol=1e-12
    )
    assert sample[f"{META}.origin"] == pytest.approx(tuple(canonical.affine[:3, 3]))


def test_reorient_to_another_code_with_channels_first_and_a_segmentation() -> None:
    spacing = (1.0, 2.0, 3.0)
    affine = _affine(np.diag([1.0, 1.0, 1.0]), spacing, (0.0, 0.0, 0.0))  # RAS
    rng = np.random.default_rng(3)
    image = rng.random((2, 3, 4, 5))
    labels = rng.integers(0, 3, size=(3, 4, 5))
    sample = _sample(image, spacing, affine, **{SEG: labels})
    sample = OpReorient()(sample, key=KEY, key_metadata=META, orientation="PSL", key_seg=SEG, channel_axis=0)
    assert nib.aff2axcodes(sample[f"{META}.affine"]) == ("P", "S", "L")
    # P: flipped axis 1, S: axis 2, L: flipped axis 0
    expected = np.flip(image, axis=(1, 2)).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(sample[KEY], expected)
    np.testing.assert_array_equal(sample[SEG], np.flip(labels, axis=(0, 1)).transpose(1, 2, 0))
    assert sample[f"{META}.spacing"] == (2.0, 3.0, 1.0)


def test_reorient_rejects_bad_orientations_and_two_dimensional_images() -> None:
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    for orientation in ("RAX", "RRS", "RA", "ras"):
        with pytest.raises(ValueError, match="orientation must be 3 axis codes"):
            OpReorient()(
                _sample(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), affine),
                key=KEY,
                key_metadata=META,
                orientation=orientation,
            )
    with pytest.raises(ValueError, match="needs a 3-D image"):
        OpReorient()(_sample(np.zeros((2, 2, 3)), (1.0, 1.0), affine), key=KEY, key_metadata=META, channel_axis=-1)


# --------------------------------------------------------------------------------------------------- OpSample, identity
def test_resample_under_op_sample_is_reproducible_per_seed() -> None:
    affine = _affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    image = np.random.default_rng(4).random((6, 6, 6))

    def run(seed: int) -> np.ndarray:
        set_seed(seed)
        sample = OpSample(OpResampleToSpacing())(
            _sample(image, (1.0, 1.0, 1.0), affine), key=KEY, key_metadata=META, spacing=(Uniform(0.5, 2.0),) * 3
        )
        return sample[KEY]  # type: ignore[no-any-return]

    first = run(0)
    np.testing.assert_array_equal(first, run(0))
    second = run(1)
    assert first.shape != second.shape or not np.array_equal(first, second)


@pytest.mark.parametrize(
    ("op", "kwargs", "changed"),
    [
        (OpResampleToSpacing(), {"key": KEY, "key_metadata": META, "spacing": 1.0}, {"spacing": 1.5}),
        (OpResampleToSpacing(), {"key": KEY, "key_metadata": META, "spacing": 1.0}, {"interpolation": "nearest"}),
        (OpReorient(), {"key": KEY, "key_metadata": META}, {"orientation": "LPS"}),
        (OpReorient(), {"key": KEY, "key_metadata": META}, {"key_seg": SEG}),
    ],
)
def test_cache_identity_is_stable_and_follows_arguments(
    op: Any, kwargs: dict[str, Any], changed: dict[str, Any]
) -> None:
    def identity(op: Any, kwargs: dict[str, Any]) -> str:
        return PipelineDefault("p", [(op, kwargs)]).cache_identity()

    assert identity(op, kwargs) == identity(type(op)(), dict(kwargs))
    assert identity(op, kwargs) != identity(op, {**kwargs, **changed})
    assert identity(OpResampleToSpacing(), kwargs) != identity(OpReorient(), kwargs)
