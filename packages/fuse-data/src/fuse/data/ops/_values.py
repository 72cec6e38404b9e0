"""Value ops: look a value up, one-hot encode, concatenate, override NaN, z-score normalise, replace elements.

Every op reads required keys with :func:`~fuse.data.sample_value`, so a missing key raises
:class:`~fuse.data.MissingSampleKeyError` naming the op, the key and the sample id.

>>> from fuse.core import create_initial_sample
>>> from fuse.data._pipeline import PipelineDefault
>>> from fuse.data.ops._keypaths import OpSet
>>> pipeline = PipelineDefault("static", [
...     (OpSet(), {"key": "data.gender", "value": "female"}),
...     (OpLookup({"male": 0, "female": 1}), {"key_in": "data.gender", "key_out": "data.gender_id"}),
...     (OpToOneHot(num_classes=2), {"key_in": "data.gender_id", "key_out": "data.gender_one_hot"}),
... ])
>>> pipeline(create_initial_sample("case_1"))["data.gender_one_hot"]
array([0., 1.])
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import NDict, is_tensor, loaded_torch
from fuse.data._sample_keys import sample_id_of, sample_value
from fuse.data.ops._base import OpBase
from fuse.data.ops._common import is_nan, key_list, writable_copy

__all__ = [
    "OpConcat",
    "OpLookup",
    "OpOverrideNaN",
    "OpReplaceAnyElements",
    "OpReplaceElements",
    "OpToOneHot",
    "OpZScoreNorm",
]


class OpLookup(OpBase):
    """Map ``sample[key_in]`` through ``map`` into ``key_out`` (``key_in`` when not given). A value missing from
    the map raises ``ValueError``, or, with ``not_exist_error=False``, leaves the sample unchanged (``key_out`` is
    not written).

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.gender"] = "female"
    >>> OpLookup({"male": 0, "female": 1})(sample, key_in="data.gender", key_out="data.gender_id")["data.gender_id"]
    1
    """

    def __init__(self, map: Mapping[Any, Any], not_exist_error: bool = True) -> None:
        super().__init__()
        if not isinstance(map, Mapping):
            raise TypeError(f"OpLookup: map must be a mapping of old value -> new value, got {type(map).__name__}")
        self._map = dict(map)
        self._not_exist_error = not_exist_error

    def __call__(self, sample_dict: NDict, key_in: str, key_out: str | None = None) -> NDict:
        """Store ``map[sample[key_in]]`` under ``key_out``."""
        value = sample_value(sample_dict, key_in, self)
        try:
            found = value in self._map
        except TypeError:
            raise TypeError(
                f"OpLookup: sample {sample_id_of(sample_dict)!r} key {key_in!r} holds the unhashable "
                f"{type(value).__name__} {value!r:.80}, which cannot be looked up"
            ) from None
        if found:
            sample_dict[key_in if key_out is None else key_out] = self._map[value]
        elif self._not_exist_error:
            known = list(self._map)
            raise ValueError(
                f"OpLookup: sample {sample_id_of(sample_dict)!r} key {key_in!r} holds {value!r}, which is not in the "
                f"map; known values: {known[:20]!r}{' ...' if len(known) > 20 else ''}. Add it to the map, or pass "
                "not_exist_error=False to leave such samples unchanged"
            )
        return sample_dict


class OpToOneHot(OpBase):
    """Store a float one-hot numpy vector of length ``num_classes`` for the class index ``sample[key_in]``.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.label"] = 2
    >>> OpToOneHot(num_classes=4)(sample, key_in="data.label", key_out="data.label_one_hot")["data.label_one_hot"]
    array([0., 0., 1., 0.])
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"OpToOneHot: num_classes must be a positive int, got {num_classes!r}")
        self._num_classes = int(num_classes)

    def __call__(self, sample_dict: NDict, key_in: str, key_out: str) -> NDict:
        """Store the one-hot vector."""
        value = sample_value(sample_dict, key_in, self)
        try:
            index = operator.index(value)
        except TypeError:
            raise TypeError(
                f"OpToOneHot: sample {sample_id_of(sample_dict)!r} key {key_in!r} holds {value!r:.80} "
                f"({type(value).__name__}); a class index must be an integer"
            ) from None
        if not 0 <= index < self._num_classes:
            raise ValueError(
                f"OpToOneHot: sample {sample_id_of(sample_dict)!r} key {key_in!r} holds class {index}, outside "
                f"[0, {self._num_classes}) for num_classes={self._num_classes}"
            )
        one_hot = np.zeros(self._num_classes)
        one_hot[index] = 1.0
        sample_dict[key_out] = one_hot
        return sample_dict


class OpConcat(OpBase):
    """Concatenate the values of ``keys_in`` (numpy arrays, or anything ``np.asarray`` takes; scalars become 1-D)
    along ``axis`` into ``key_out``.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample.update({"data.age": 50, "data.sex_one_hot": np.array([0.0, 1.0])})
    >>> OpConcat()(sample, keys_in=["data.age", "data.sex_one_hot"], key_out="data.clinical")["data.clinical"]
    array([50.,  0.,  1.])
    """

    def __call__(self, sample_dict: NDict, keys_in: Sequence[str], key_out: str, axis: int = 0) -> NDict:
        """Store the concatenation."""
        keys = key_list(keys_in, self, "keys_in")
        if not keys:
            raise ValueError("OpConcat: keys_in is empty; give the keys of the values to concatenate")
        values = [np.asarray(sample_value(sample_dict, key, self)) for key in keys]
        values = [value if value.ndim > 0 else value.reshape(1) for value in values]
        try:
            sample_dict[key_out] = np.concatenate(values, axis=axis)
        except ValueError as error:  # numpy's AxisError is a ValueError too
            shapes = {key: value.shape for key, value in zip(keys, values, strict=True)}
            raise ValueError(
                f"OpConcat: cannot concatenate along axis {axis} for sample {sample_id_of(sample_dict)!r}: shapes "
                f"{shapes} ({error})"
            ) from None
        return sample_dict


class OpOverrideNaN(OpBase):
    """Replace ``sample[key]`` with ``value_to_fill`` when it is a NaN number (arrays are left as they are).

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.age"] = float("nan")
    >>> OpOverrideNaN()(sample, key="data.age", value_to_fill=-1)["data.age"]
    -1
    """

    def __call__(self, sample_dict: NDict, key: str, value_to_fill: Any) -> NDict:
        """Fill the value if it is NaN."""
        if is_nan(sample_value(sample_dict, key, self)):
            sample_dict[key] = value_to_fill
        return sample_dict


class OpZScoreNorm(OpBase):
    """Normalise ``sample[key]`` to ``(value - mean) / std`` (scalars, arrays or tensors).

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.age"] = 70.0
    >>> OpZScoreNorm()(sample, key="data.age", mean=50.0, std=10.0)["data.age"]
    2.0
    """

    def __call__(self, sample_dict: NDict, key: str, mean: Any, std: Any) -> NDict:
        """Normalise the value."""
        if isinstance(std, numbers.Real) and std == 0:
            raise ValueError(f"OpZScoreNorm: std is 0 for key {key!r}; a z-score needs a non-zero std")
        sample_dict[key] = (sample_value(sample_dict, key, self) - mean) / std
        return sample_dict


class OpReplaceElements(OpBase):
    """Replace every element equal to ``find_val`` with ``replace_with_val`` in a numpy array or tensor (in place
    unless ``key_out`` is given, then in a copy), a string (``str.replace``) or a list / tuple (gives a list).
    A NaN ``find_val`` matches NaN elements.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.tokens"] = np.array([0, 1, 2, 0])
    >>> op = OpReplaceElements()
    >>> op(sample, key_in="data.tokens", find_val=0, replace_with_val=-100, key_out="data.labels")["data.labels"]
    array([-100,    1,    2, -100])
    >>> op(sample, key_in="data.tokens", find_val=0, replace_with_val=7)["data.tokens"]
    array([7, 1, 2, 7])
    """

    def __call__(
        self, sample_dict: NDict, key_in: str, find_val: Any, replace_with_val: Any, key_out: str | None = None
    ) -> NDict:
        """Replace the elements and store the result under ``key_out`` (``key_in`` when not given)."""
        value = sample_value(sample_dict, key_in, self)
        torch = loaded_torch() if is_tensor(value) else None
        if torch is not None or isinstance(value, np.ndarray):
            value = writable_copy(value, key_out is not None)
            if is_nan(find_val):
                mask = torch.isnan(value) if torch is not None else np.isnan(value)
            else:
                mask = value == find_val
            value[mask] = replace_with_val
            result: Any = value
        elif isinstance(value, str):
            if not isinstance(find_val, str) or not isinstance(replace_with_val, str):
                raise TypeError(
                    f"OpReplaceElements: key {key_in!r} holds a string, so find_val and replace_with_val must be "
                    f"strings, got {find_val!r} and {replace_with_val!r}"
                )
            result = value.replace(find_val, replace_with_val)
        elif isinstance(value, (list, tuple)):
            nan = is_nan(find_val)
            result = [replace_with_val if (is_nan(x) if nan else x == find_val) else x for x in value]
        else:
            raise TypeError(
                f"OpReplaceElements: key {key_in!r} of sample {sample_id_of(sample_dict)!r} holds a "
                f"{type(value).__name__}; supported: numpy array, torch tensor, str, list, tuple"
            )
        sample_dict[key_in if key_out is None else key_out] = result
        return sample_dict


class OpReplaceAnyElements(OpBase):
    """Replace every element that equals any of ``find_any_val`` with ``replace_with_val`` in a numpy array or
    tensor (in place unless ``key_out`` is given, then in a copy), a list / tuple (gives a list) or a string (every
    character in ``find_any_val``, each a single character, is replaced, as with ``str.translate``). As in
    FuseMedML, ``find_any_val`` may be a string, meaning its characters (for string and list values).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample.update({"data.tokens": np.array([[0, 1], [2, 3]]), "data.text": "a-b_c"})
    >>> op = OpReplaceAnyElements()
    >>> op(sample, key_in="data.tokens", find_any_val=[0, 2], replace_with_val=-100)["data.tokens"]
    array([[-100,    1],
           [-100,    3]])
    >>> op(sample, key_in="data.text", find_any_val=["-", "_"], replace_with_val=" ")["data.text"]
    'a b c'
    >>> op(sample, key_in="data.text", find_any_val=" ", replace_with_val="+")["data.text"]
    'a+b+c'
    """

    def __call__(
        self,
        sample_dict: NDict,
        key_in: str,
        find_any_val: Sequence[Any],
        replace_with_val: Any,
        key_out: str | None = None,
    ) -> NDict:
        """Replace the elements and store the result under ``key_out`` (``key_in`` when not given)."""
        if isinstance(find_any_val, bytes) or not isinstance(find_any_val, (Sequence, set, frozenset)):
            raise TypeError(
                f"OpReplaceAnyElements: find_any_val must be a list of values (or a string of characters), got "
                f"{find_any_val!r}"
            )
        find = list(find_any_val)  # a string: its characters, as in FuseMedML
        value = sample_value(sample_dict, key_in, self)
        torch = loaded_torch() if is_tensor(value) else None
        if isinstance(find_any_val, str) and (torch is not None or isinstance(value, np.ndarray)):
            raise TypeError(
                f"OpReplaceAnyElements: find_any_val is the string {find_any_val!r} but key {key_in!r} of sample "
                f"{sample_id_of(sample_dict)!r} holds an array; pass the values to replace as a list, e.g. [0, 2]"
            )
        if torch is not None:
            value = writable_copy(value, key_out is not None)
            candidates = torch.as_tensor(find, device=value.device).to(value.dtype)
            value[torch.isin(value, candidates)] = replace_with_val
            result: Any = value
        elif isinstance(value, np.ndarray):
            value = writable_copy(value, key_out is not None)
            value[np.isin(value, np.asarray(find))] = replace_with_val
            result = value
        elif isinstance(value, str):
            bad = [item for item in find if not (isinstance(item, str) and len(item) == 1)]
            if bad:
                raise ValueError(
                    f"OpReplaceAnyElements: key {key_in!r} holds a string, so each of find_any_val must be a single "
                    f"character, got {bad!r}; use OpReplaceElements to replace a substring"
                )
            if replace_with_val is not None and not isinstance(replace_with_val, str):
                raise TypeError(
                    f"OpReplaceAnyElements: replace_with_val must be a string (or None to delete) for the string "
                    f"key {key_in!r}, got {replace_with_val!r}"
                )
            table: dict[str, str | int | None] = dict.fromkeys(find, replace_with_val)
            result = value.translate(str.maketrans(table))
        elif isinstance(value, (list, tuple)):
            try:
                lookup: Any = set(find)
            except TypeError:  # unhashable candidates: compare one by one
                lookup = find
            result = [replace_with_val if x in lookup else x for x in value]
        else:
            raise TypeError(
                f"OpReplaceAnyElements: key {key_in!r} of sample {sample_id_of(sample_dict)!r} holds a "
                f"{type(value).__name__}; supported: numpy array, torch tensor, str, list, tuple"
            )
        sample_dict[key_in if key_out is None else key_out] = result
        return sample_dict
