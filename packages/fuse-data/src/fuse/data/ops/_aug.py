"""Augmentation meta ops (random application, drawing random keyword arguments) and sequence / one-hot augmentations.

Random draws come from Python's global ``random`` (and numpy's, through fuse-core's param samplers), so they are
reproducible under :func:`fuse.core.set_seed`; :class:`OpRandCropSeq` can instead own a generator seeded by its
``seed`` argument.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import NDict, RandBool, draw_samples_recursively, is_tensor
from fuse.data._sample_keys import sample_value
from fuse.data.ops._base import OpBase, OpReversibleBase, SampleResult, op_call, op_reverse
from fuse.data.ops._cast import Cast
from fuse.data.ops._repeat import OpRepeat

__all__ = ["OpAugOneHot", "OpRandApply", "OpRandCropSeq", "OpRepeatAndSample", "OpSample", "OpSampleAndRepeat"]

_CROP_MODES = ("both", "left_only", "right_only")
_ONE_HOT_MODES = ("default", "ranking")


class OpRandApply(OpReversibleBase):
    """Apply ``op`` with the given probability (a :class:`fuse.core.RandBool` draw on every call).

    Whether it was applied is stored in ``sample[op_id]``; the wrapped op runs with ``op_id=f"{op_id}.apply"``,
    and :meth:`reverse` reverses it only for samples where it was applied. ``probability=0`` never applies the op
    and ``probability=1`` always does.

    >>> from fuse.core import create_initial_sample
    >>> def negate(sample, key):
    ...     sample[key] = -sample[key]
    ...     return sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.x"] = 3
    >>> sample = OpRandApply(negate, probability=1.0)(sample, op_id="internal.static.0", key="data.x")
    >>> sample["data.x"], sample["internal.static.0"]
    (-3, True)
    """

    def __init__(self, op: Callable[..., Any], probability: float) -> None:
        super().__init__()
        _check_op("OpRandApply", op)
        if isinstance(probability, bool) or not isinstance(probability, numbers.Real) or not 0 <= probability <= 1:
            raise ValueError(f"OpRandApply probability must be a number in [0, 1], got {probability!r}")
        self._op: Callable[..., Any] = op
        self._probability: float = float(probability)
        self._param_sampler: RandBool = RandBool(probability=self._probability)

    @property
    def op(self) -> Callable[..., Any]:
        """The op applied at random."""
        return self._op

    @property
    def probability(self) -> float:
        """The probability of applying the op."""
        return self._probability

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Draw whether to apply the op; record the draw under ``op_id`` and apply the op with ``kwargs`` if drawn."""
        # always draw (so the random stream does not depend on the probability), never apply with probability 0
        apply = bool(self._param_sampler.sample()) and self._probability > 0.0
        if op_id is not None:
            sample_dict[op_id] = apply
        if apply:
            return op_call(self._op, sample_dict, _apply_id(op_id), **kwargs)
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse the op if it was applied to this sample (read from ``sample[op_id]``)."""
        if op_id is None:
            raise ValueError(
                "OpRandApply.reverse needs the op_id the op was called with (it records there whether it applied)"
            )
        if sample_value(sample_dict, op_id, self):
            sample_dict = op_reverse(self._op, sample_dict, key_to_reverse, key_to_follow, _apply_id(op_id))
        return sample_dict


class OpSample(OpReversibleBase):
    """Replace every param sampler (:class:`fuse.core.Uniform`, ``RandInt``, ``RandBool``, ``Choice``,
    ``Gaussian``, nested in dicts / lists / tuples) in the kwargs by a drawn value, then call ``op`` with them and
    the same ``op_id``.

    >>> from fuse.core import RandInt, create_initial_sample
    >>> def add(sample, key, amount):
    ...     sample[key] = sample[key] + amount
    ...     return sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.x"] = 0
    >>> OpSample(add)(sample, key="data.x", amount=RandInt(5, 5))["data.x"]
    5
    """

    def __init__(self, op: Callable[..., Any]) -> None:
        super().__init__()
        _check_op(type(self).__name__, op)
        self._op: Callable[..., Any] = op

    @property
    def op(self) -> Callable[..., Any]:
        """The wrapped op."""
        return self._op

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Call the op with the drawn kwargs."""
        return op_call(self._op, sample_dict, op_id, **draw_samples_recursively(kwargs))

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse the wrapped op (same ``op_id``)."""
        return op_reverse(self._op, sample_dict, key_to_reverse, key_to_follow, op_id)


class OpSampleAndRepeat(OpSample):
    """Draw the kwargs once, then repeat ``op`` once per dict of ``kwargs_per_step_to_add`` with the same drawn
    values: ``OpSample(OpRepeat(op, kwargs_per_step_to_add))``. Use it to give an image and its segmentation the
    same random transform.

    >>> from fuse.core import Uniform, create_initial_sample
    >>> def add(sample, key, amount):
    ...     sample[key] = sample[key] + amount
    ...     return sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.image"], sample["data.seg"] = 0.0, 0.0
    >>> op = OpSampleAndRepeat(add, [{"key": "data.image"}, {"key": "data.seg"}])
    >>> sample = op(sample, op_id="internal.static.0", amount=Uniform(0.0, 1.0))
    >>> sample["data.image"] == sample["data.seg"]
    True
    """

    def __init__(self, op: Callable[..., Any], kwargs_per_step_to_add: Sequence[Mapping[str, Any]]) -> None:
        _check_op("OpSampleAndRepeat", op)
        super().__init__(OpRepeat(op, kwargs_per_step_to_add))


class OpRepeatAndSample(OpRepeat):
    """Repeat ``op`` once per dict of ``kwargs_per_step_to_add``, drawing the kwargs anew for every step:
    ``OpRepeat(OpSample(op), kwargs_per_step_to_add)``. Use it for independent augmentations of several keys.

    >>> from fuse.core import Choice, create_initial_sample, set_seed
    >>> def put(sample, key, value):
    ...     sample[key] = value
    ...     return sample
    >>> _ = set_seed(0)
    >>> op = OpRepeatAndSample(put, [{"key": f"data.x{index}"} for index in range(20)])
    >>> sample = op(create_initial_sample("case_1"), op_id="internal.static.0", value=Choice(["a", "b"]))
    >>> sorted({sample[f"data.x{index}"] for index in range(20)})
    ['a', 'b']
    """

    def __init__(self, op: Callable[..., Any], kwargs_per_step_to_add: Sequence[Mapping[str, Any]]) -> None:
        _check_op("OpRepeatAndSample", op)
        super().__init__(OpSample(op), kwargs_per_step_to_add)


class OpRandCropSeq(OpBase):
    """Randomly crop a string (or any sliceable sequence): a ratio is drawn uniformly from ``[0, crop_max_ratio]``
    and that share of the length is removed from both ends (``"both"``, split at random), from the left
    (``"left_only"``) or from the right (``"right_only"``). An augmentation for protein / token sequences.

    The draws come from a ``random.Random(seed)`` owned by the op (FuseMedML's behaviour); with ``seed=None`` they
    come from Python's global ``random``, which :func:`fuse.core.set_seed` and per-worker seeding control.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.seq"] = "ABCDEFGHIJ"
    >>> sample = OpRandCropSeq(seed=0, crop_max_ratio=0.5, crop_mode="left_only")(sample, "data.seq", "data.cropped")
    >>> "ABCDEFGHIJ".endswith(sample["data.cropped"]) and len(sample["data.cropped"]) >= 5
    True
    """

    def __init__(self, seed: int | None, crop_max_ratio: float = 0.3, crop_mode: str = "both") -> None:
        super().__init__()
        if isinstance(crop_max_ratio, bool) or not isinstance(crop_max_ratio, numbers.Real):
            raise TypeError(f"OpRandCropSeq crop_max_ratio must be a number in [0, 1], got {crop_max_ratio!r}")
        if not 0 <= crop_max_ratio <= 1:
            raise ValueError(f"OpRandCropSeq crop_max_ratio must be in [0, 1], got {crop_max_ratio!r}")
        if crop_mode not in _CROP_MODES:
            raise ValueError(f"OpRandCropSeq crop_mode must be one of {list(_CROP_MODES)}, got {crop_mode!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"OpRandCropSeq seed must be an int (or None for the global random), got {seed!r}")
        self.crop_max_ratio: float = float(crop_max_ratio)
        self.crop_mode: str = crop_mode
        self._random_generator: random.Random | None = None if seed is None else random.Random(int(seed))

    def __call__(  # type: ignore[override,unused-ignore]
        self, sample_dict: NDict, string_key_in: str, string_key_out: str
    ) -> NDict:
        """Crop ``sample[string_key_in]`` and store the result in ``sample[string_key_out]``."""
        sequence = sample_value(sample_dict, string_key_in, self)
        generator: Any = random if self._random_generator is None else self._random_generator
        length = len(sequence)
        crop_ratio = generator.uniform(0, self.crop_max_ratio)
        crop_length = int(length * crop_ratio)
        if self.crop_mode == "both":
            left = generator.randint(0, crop_length)
        elif self.crop_mode == "left_only":
            left = crop_length
        else:
            left = 0
        # FuseMedML's right_only sliced [:-0] when nothing was to be cropped, which returned an empty string
        sample_dict[string_key_out] = sequence[left : length - (crop_length - left)]
        return sample_dict


class OpAugOneHot(OpBase):
    """Augment a one-hot vector (numpy array, list or tensor) stored under ``key``.

    - ``mode="default"``: replace it by the one-hot vector of ``idx``.
    - ``mode="ranking"``: move the hot index one step up or down (probability 1/2 each, drawn from Python's
      global ``random``; clamped to the vector), unless it is one of ``freeze_indices``. For ordinal encodings
      (age groups, ...).

    Usually wrapped in :class:`OpRandApply`, e.g.
    ``(OpRandApply(OpAugOneHot(), 0.05), dict(key="data.clinical.age", mode="ranking", freeze_indices=[6]))``.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.sex"] = np.array([1.0, 0.0, 0.0])
    >>> OpAugOneHot()(sample, key="data.sex", idx=2)["data.sex"]
    array([0., 0., 1.])
    """

    def __call__(  # type: ignore[override,unused-ignore]
        self,
        sample_dict: NDict,
        key: str,
        idx: int | None = None,
        freeze_indices: Sequence[int] = (),
        mode: str = "default",
    ) -> NDict:
        """Replace ``sample[key]`` by the augmented one-hot vector (same type and dtype)."""
        if mode not in _ONE_HOT_MODES:
            raise ValueError(f"OpAugOneHot mode must be one of {list(_ONE_HOT_MODES)}, got {mode!r}")
        if mode == "ranking" and idx is not None:
            raise ValueError(f"OpAugOneHot: idx={idx!r} is only used in mode='default'; remove it for mode='ranking'")
        if mode == "default" and idx is None:
            raise ValueError("OpAugOneHot mode='default' needs idx, the index to set to 1")
        value = sample_value(sample_dict, key, self)
        vector = _as_numpy_vector(value, key)
        length = vector.shape[0]
        if mode == "ranking":
            current = int(np.argmax(vector))
            if current in freeze_indices:
                return sample_dict
            new_index = current + 1 if random.random() < 0.5 else current - 1
            new_index = min(max(new_index, 0), length - 1)
        else:
            assert idx is not None
            if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or not 0 <= idx < length:
                raise ValueError(
                    f"OpAugOneHot idx must be an int in [0, {length}) for the {length}-long vector in {key!r}, "
                    f"got {idx!r}"
                )
            new_index = int(idx)
        result = np.zeros_like(vector)
        result[new_index] = 1
        sample_dict[key] = _like(result, value)
        return sample_dict


def _check_op(name: str, op: Any) -> None:
    if isinstance(op, type) or not callable(op):
        shown = op.__qualname__ if isinstance(op, type) else repr(op)
        raise TypeError(f"{name} needs an op instance (or a function), got {shown}; write e.g. {name}(MyOp(), ...)")


def _apply_id(op_id: str | None) -> str | None:
    return None if op_id is None else f"{op_id}.apply"


def _as_numpy_vector(value: Any, key: str) -> np.ndarray:
    vector = Cast.to_numpy(value) if is_tensor(value) else np.asarray(value)
    if vector.ndim != 1 or vector.shape[0] == 0:
        raise ValueError(f"OpAugOneHot expects a non-empty 1-D one-hot vector in {key!r}, got shape {vector.shape}")
    return vector


def _like(result: np.ndarray, original: Any) -> Any:
    if is_tensor(original):
        return Cast.like(result, original)
    if isinstance(original, list):
        return result.tolist()
    if isinstance(original, tuple):
        return tuple(result.tolist())
    return result
