"""Assembling a DICOM series from its slices: choosing the series of a directory, checking that the slices agree
(shape, pixel spacing, orientation), ordering them along the slice normal and checking that they are evenly spaced
on one line (see :mod:`fuse.imaging.io._dicom` for the rules)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fuse.imaging.io._dicom_tags import _number, _Slice, _unit
from fuse.imaging.io._format import ImageLoadError

_GAP_TOLERANCE = 0.05  # a slice step may differ from the median step by this fraction before it is a gap
_DUPLICATE_MM = 1e-3  # slices closer than this along the normal share a position
_ORIENTATION_TOLERANCE = 1e-4  # absolute, on the direction cosines
_SPACING_TOLERANCE = 1e-4  # relative, on PixelSpacing
_NAMED = 3  # how many offending files an error names


def _choose_series(directory: Path, groups: dict[str | None, list[_Slice]], series_uid: str | None) -> str | None:
    by_size = sorted(groups, key=lambda uid: (-len(groups[uid]), str(uid)))
    listing = ", ".join(f"{uid!r} ({len(groups[uid])} files)" for uid in by_size)
    if series_uid is not None:
        if series_uid not in groups:
            raise ImageLoadError(directory, f"it has no series with SeriesInstanceUID {series_uid!r}; it has {listing}")
        return series_uid
    chosen = by_size[0]
    if len(groups) > 1:
        others = ", ".join(f"{uid!r} ({len(groups[uid])} files)" for uid in by_size[1:])
        warnings.warn(
            f"{directory} holds {len(groups)} DICOM series; loading the largest, {chosen!r} ({len(groups[chosen])} "
            f"files); the others: {others}. Pass series_uid=... to choose one",
            UserWarning,
            stacklevel=2,
        )
    return chosen


# ---------------------------------------------------------------------------------------------- geometry
def _check_consistent(directory: Path, slices: list[_Slice]) -> None:
    """Every slice has the first one's shape, pixel spacing and orientation (within tolerances)."""
    reference = slices[0]
    comparisons: tuple[tuple[str, Callable[[_Slice], Any], Callable[[Any, Any], bool]], ...] = (
        ("shape (rows, columns[, samples per pixel])", lambda s: s.shape, lambda a, b: bool(a == b)),
        (
            "pixel spacing",
            lambda s: s.pixel_spacing,
            lambda a, b: bool(np.allclose(a, b, rtol=_SPACING_TOLERANCE, atol=0.0)),
        ),
        (
            "orientation",
            lambda s: s.orientation,
            lambda a, b: bool(np.allclose(a, b, rtol=0.0, atol=_ORIENTATION_TOLERANCE)),
        ),
    )
    for what, value_of, equal in comparisons:
        expected = value_of(reference)
        differing = [s for s in slices[1:] if not _agree(value_of(s), expected, equal)]
        if differing:
            named = ", ".join(f"{s.path.name} has {_show(value_of(s))}" for s in differing[:_NAMED])
            more = f" and {len(differing) - _NAMED} more" if len(differing) > _NAMED else ""
            raise ImageLoadError(
                directory,
                f"its slices disagree on the {what}: {reference.path.name} has {_show(expected)}, {named}{more}",
            )


def _agree(value: Any, expected: Any, equal: Callable[[Any, Any], bool]) -> bool:
    if value is None or expected is None:
        return value is None and expected is None
    return equal(value, expected)


def _sort(directory: Path, slices: list[_Slice]) -> tuple[list[_Slice], np.ndarray, np.ndarray]:
    """The slices in order, the step vector between consecutive slices and the position of the first one: in LPS,
    or, without orientation, in the plain (slice, row, column) frame."""
    first = slices[0]
    if first.orientation is None:
        normal = np.array([1.0, 0.0, 0.0])
    else:
        normal = _unit(np.cross(_unit(first.orientation[:3]), _unit(first.orientation[3:])))
    positions = [s.position for s in slices]
    if first.orientation is not None and all(position is not None for position in positions):
        points = np.array(positions, dtype=np.float64)
        along = points @ normal
        order = np.argsort(along, kind="stable")
        ordered = [slices[i] for i in order]
        points, along = points[order], along[order]
        if len(ordered) == 1:
            return ordered, normal * _slice_spacing(first)[0], points[0]
        _check_spacing(directory, ordered, along)
        step = (points[-1] - points[0]) / (len(ordered) - 1)
        _check_on_a_line(directory, ordered, points, step)
        return ordered, step, points[0]
    # no geometry on some files: InstanceNumber decides the order, the header the spacing
    missing = [s for s in slices if s.position is None or s.orientation is None]
    unnumbered = [s for s in slices if s.instance_number is None]
    if unnumbered:
        raise ImageLoadError(
            directory,
            f"cannot order its slices: {_names(missing)} lack ImagePositionPatient or ImageOrientationPatient and "
            f"{_names(unnumbered)} lack InstanceNumber",
        )
    ordered = sorted(slices, key=lambda s: s.instance_number or 0)
    repeated = [(a, b) for a, b in itertools.pairwise(ordered) if a.instance_number == b.instance_number]
    if repeated:
        pairs = "; ".join(f"{a.path.name} and {b.path.name}" for a, b in repeated[:_NAMED])
        raise ImageLoadError(directory, f"cannot order its slices: the same InstanceNumber in {pairs}")
    spacing, source = _slice_spacing(first)
    if len(slices) > 1:
        warnings.warn(
            f"{directory}: {len(missing)} of {len(slices)} files lack ImagePositionPatient or "
            f"ImageOrientationPatient ({_names(missing)}); slices ordered by InstanceNumber "
            f"({ordered[0].instance_number} to {ordered[-1].instance_number}), slice spacing {spacing:g} mm from "
            f"{source}",
            UserWarning,
            stacklevel=2,
        )
    start = ordered[0].position
    origin = start if first.orientation is not None and start is not None else np.zeros(3)
    return ordered, normal * spacing, origin


def _check_spacing(directory: Path, ordered: list[_Slice], along: np.ndarray) -> None:
    steps = np.diff(along)
    duplicates = np.flatnonzero(steps < _DUPLICATE_MM)
    if duplicates.size:
        pairs = "; ".join(
            f"{ordered[i].path.name} and {ordered[i + 1].path.name} at {along[i]:.3f} mm" for i in duplicates[:_NAMED]
        )
        raise ImageLoadError(
            directory,
            f"{duplicates.size} pair(s) of slices share a position along the slice normal ({pairs}): several images "
            "per position (multi-echo, dynamic, diffusion?) or a duplicated file; keep one volume per directory",
        )
    median = float(np.median(steps))
    gaps = np.flatnonzero(np.abs(steps - median) > _GAP_TOLERANCE * median)
    if gaps.size:
        named = "; ".join(
            f"{steps[i]:.3f} mm between {ordered[i].path.name} and {ordered[i + 1].path.name}" for i in gaps[:_NAMED]
        )
        more = f" and {gaps.size - _NAMED} more" if gaps.size > _NAMED else ""
        raise ImageLoadError(
            directory,
            f"its slices are not evenly spaced: the median step is {median:.3f} mm but it is {named}{more} "
            "(a missing slice?)",
        )


def _check_on_a_line(directory: Path, ordered: list[_Slice], positions: np.ndarray, step: np.ndarray) -> None:
    expected = positions[0] + np.arange(len(ordered))[:, None] * step
    off = np.linalg.norm(positions - expected, axis=1)
    bad = np.flatnonzero(off > _GAP_TOLERANCE * np.linalg.norm(step))
    if bad.size:
        named = ", ".join(f"{ordered[i].path.name} ({off[i]:.3f} mm)" for i in bad[:_NAMED])
        raise ImageLoadError(
            directory, f"its slice positions are not on one line: off the line from first to last slice are {named}"
        )


def _slice_spacing(slice_: _Slice) -> tuple[float, str]:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _number(slice_.path, slice_.dataset, keyword, 0.0)
        if value > 0:
            return value, keyword
    return 1.0, "a default (no SpacingBetweenSlices or SliceThickness)"


def _names(slices: list[_Slice]) -> str:
    named = ", ".join(s.path.name for s in slices[:_NAMED])
    return named + (f" and {len(slices) - _NAMED} more" if len(slices) > _NAMED else "")


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return "none" if value is None else str(value)
