"""Type conversions between tensors, numpy arrays, Python numbers and lists: :class:`Cast` and the cast ops.

The cast ops are reversible: each records the original type name of every key it converts under
``f"{op_id}_{key}"`` (FuseMedML's key), and ``reverse`` converts a followed key back to that type. torch is
imported on the first conversion that needs it, so importing ``fuse.data`` stays light.

A ``dtype`` may be given as a ``torch.dtype``, a numpy dtype (``np.float32``, ``np.dtype("int64")``) or a string
(a torch dtype name such as ``"float32"`` for tensors, a numpy dtype name for arrays). Strings are the safest
choice in pipelines: they always have a stable cache identity.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fuse.core import NDict, is_tensor, loaded_torch, to_numpy
from fuse.data._sample_keys import sample_value
from fuse.data.ops._base import OpBase, OpReversibleBase

__all__ = ["Cast", "OpCast", "OpOneHotToNumber", "OpToFloat", "OpToInt", "OpToNumpy", "OpToTensor"]


class Cast:
    """Conversions between tensors, numpy arrays, Python numbers and lists (FuseMedML's ``Cast``).

    Unsupported inputs raise ``TypeError`` naming the type and the supported ones (:meth:`to` and :meth:`like`
    included: they never return ``None`` for an unknown type).

    >>> import numpy as np
    >>> Cast.to_tensor([1, 2], dtype="float32")
    tensor([1., 2.])
    >>> Cast.to_numpy(Cast.to_tensor(np.arange(3)))
    array([0, 1, 2])
    >>> Cast.to_int(np.float32(2.0)), Cast.to_float("0.5"), Cast.to_list(np.arange(2))
    (2, 0.5, [0, 1])
    >>> Cast.to(np.arange(2), "Tensor"), Cast.like([1, 2], np.zeros(1, dtype=np.float32))
    (tensor([0, 1]), array([1., 2.], dtype=float32))
    """

    @staticmethod
    def to_tensor(value: Any, dtype: Any = None, device: Any = None, ignore_none: bool = False) -> Any:
        """A ``torch.Tensor`` from a tensor, ndarray, number (numpy scalars included), list or tuple.

        A tensor without ``dtype`` and ``device`` is returned as it is; ``None`` is passed through with
        ``ignore_none=True``. A writable numpy array becomes a tensor sharing its memory (as in torch's
        ``DataLoader``) when no conversion is needed; a read-only one is copied.
        """
        if value is None and ignore_none:
            return None
        torch = _torch()
        torch_dtype = _torch_dtype(dtype)
        if isinstance(value, torch.Tensor):
            if torch_dtype is None and device is None:
                return value
            return value.to(dtype=torch_dtype, device=device)
        if isinstance(value, np.ndarray):
            if any(stride < 0 for stride in value.strides):  # e.g. a flipped array: torch refuses negative strides
                value = value.copy()
            if value.flags.writeable and value.dtype.kind in "biufc":
                # shares memory with the array, as torch's DataLoader conversion does: no copy of large volumes
                return torch.as_tensor(value, dtype=torch_dtype, device=device)
            return torch.tensor(value, dtype=torch_dtype, device=device)
        if isinstance(value, (int, float, list, tuple, np.generic)):
            return torch.tensor(value, dtype=torch_dtype, device=device)
        hint = "; pass ignore_none=True to keep None values" if value is None else ""
        raise TypeError(
            f"Cast.to_tensor cannot convert a {type(value).__name__}{hint}; it converts tensors, numpy arrays, "
            "numbers (numpy scalars included), lists and tuples"
        )

    @staticmethod
    def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
        """A numpy array (a copy) from a tensor (any device; bfloat16 becomes float32), ndarray, number, list,
        tuple or bytes (one element per byte). An ndarray without ``dtype`` is returned as it is.
        """
        numpy_dtype = _numpy_dtype(dtype)
        if isinstance(value, np.ndarray):
            return value if numpy_dtype is None else np.array(value, dtype=numpy_dtype)
        if is_tensor(value):
            return np.array(to_numpy(value), dtype=numpy_dtype)
        if isinstance(value, (int, float, list, tuple, np.generic)):
            return np.array(value, dtype=numpy_dtype)
        if isinstance(value, bytes):
            return np.array(list(value), dtype=numpy_dtype)
        raise TypeError(
            f"Cast.to_numpy cannot convert a {type(value).__name__}; it converts tensors, numpy arrays, numbers, "
            "lists, tuples and bytes"
        )

    @staticmethod
    def to_int(value: Any) -> int:
        """A Python ``int`` from an int, bool, float (truncated), str, bytes, numpy scalar, or a one-element
        array or tensor.
        """
        return int(_to_scalar(value, int, "Cast.to_int"))

    @staticmethod
    def to_float(value: Any) -> float:
        """A Python ``float`` from a float, int, bool, str, bytes, numpy scalar, or a one-element array or tensor."""
        return float(_to_scalar(value, float, "Cast.to_float"))

    @staticmethod
    def to_list(value: Any) -> list[Any]:
        """A (nested) Python list from a list, tuple, ndarray or tensor with at least one dimension."""
        if isinstance(value, list):
            return value
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, np.ndarray) or is_tensor(value):
            if value.ndim == 0:
                raise ValueError(
                    "Cast.to_list got a 0-d array/tensor (a single value), which has no list form; use Cast.to_int "
                    "or Cast.to_float, or reshape it to 1-d first"
                )
            result: list[Any] = value.tolist()
            return result
        raise TypeError(f"Cast.to_list cannot convert a {type(value).__name__}; it converts tuples, arrays and tensors")

    @staticmethod
    def to(value: Any, type_name: str, **kwargs: Any) -> Any:
        """Convert ``value`` to the type named ``type_name`` (``type(x).__name__`` of the target):
        ``"ndarray"``, ``"Tensor"``, ``"int"``, ``"float"``, ``"bool"``, ``"list"``, ``"tuple"``, a numpy scalar
        type (``"float32"``, ``"int64"``, ...) or ``"NoneType"`` (for ``None`` only). ``kwargs`` go to the
        conversion (e.g. ``dtype``).
        """
        converters: dict[str, Callable[..., Any]] = {
            "ndarray": Cast.to_numpy,
            "Tensor": Cast.to_tensor,
            "float": Cast.to_float,
            "int": Cast.to_int,
            "list": Cast.to_list,
            "tuple": lambda item: tuple(Cast.to_list(item)),
            "bool": lambda item: bool(Cast.to_float(item)),
        }
        if type_name in converters:
            return converters[type_name](value, **kwargs)
        numpy_scalar_type = _numpy_scalar_type(type_name)
        if numpy_scalar_type is not None:
            array = Cast.to_numpy(value, dtype=numpy_scalar_type)
            if array.size != 1:
                raise ValueError(f"Cast.to(..., {type_name!r}) needs a single value, got shape {array.shape}")
            return array.reshape(())[()]
        if type_name == "NoneType" and value is None:
            return None
        raise ValueError(
            f"Cast.to cannot convert to {type_name!r}; type_name must be one of {[*converters, 'NoneType']} or a "
            "numpy scalar type name such as 'float32'"
        )

    @staticmethod
    def like(value: Any, like_value: Any) -> Any:
        """Convert ``value`` to the type of ``like_value``, with its dtype (and device, for tensors)."""
        if isinstance(like_value, np.ndarray):
            return Cast.to_numpy(value, dtype=like_value.dtype)
        if is_tensor(like_value):
            return Cast.to_tensor(value, dtype=like_value.dtype, device=like_value.device)
        if isinstance(like_value, np.generic):
            return Cast.to(value, type(like_value).__name__)
        if isinstance(like_value, bool):
            return bool(Cast.to_float(value))
        if isinstance(like_value, int):
            return Cast.to_int(value)
        if isinstance(like_value, float):
            return Cast.to_float(value)
        if isinstance(like_value, list):
            return Cast.to_list(value)
        if isinstance(like_value, tuple):
            return tuple(Cast.to_list(value))
        raise TypeError(
            f"Cast.like cannot convert to a {type(like_value).__name__}; like_value must be an ndarray, a tensor, "
            "a number, a list or a tuple"
        )


class OpCast(OpReversibleBase):
    """Base of the reversible cast ops: ``__call__(sample, key, op_id=None, **cast_kwargs)`` converts
    ``sample[key]`` (or each key of a list) with :meth:`_cast`, and records the original type name under
    ``sample[f"{op_id}_{key}"]``; :meth:`reverse` converts ``key_to_reverse`` back to the type recorded for
    ``key_to_follow`` (and leaves the sample unchanged when this op did not convert ``key_to_follow``).

    Subclasses implement ``_cast(value, **cast_kwargs)``; per-call ``cast_kwargs`` override the defaults given to
    the constructor.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> class OpToList(OpCast):
    ...     def _cast(self, value):
    ...         return Cast.to_list(value)
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.x"] = np.arange(3)
    >>> OpToList()(sample, key="data.x", op_id="internal.static.0")["data.x"]
    [0, 1, 2]
    >>> OpToList().reverse(sample, "data.x", "data.x", op_id="internal.static.0")["data.x"]
    array([0, 1, 2])
    """

    def __init__(self, **default_cast_kwargs: Any) -> None:
        super().__init__()
        self._default_cast_kwargs = dict(default_cast_kwargs)

    def __call__(  # type: ignore[override]  # FuseMedML's positional order: (sample, key, op_id)
        self, sample_dict: NDict, key: str | Sequence[str], op_id: str | None = None, **kwargs: Any
    ) -> NDict:
        """Convert ``sample[key]`` (one key or a list of keys) in place."""
        keys = _keys(type(self).__name__, key)
        cast_kwargs = {**self._default_cast_kwargs, **kwargs}
        for key_name in keys:
            value = sample_value(sample_dict, key_name, self)
            converted = self._cast(value, **cast_kwargs)
            if op_id is not None:
                sample_dict[f"{op_id}_{key_name}"] = type(value).__name__
            sample_dict[key_name] = converted
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Convert ``sample[key_to_reverse]`` back to the original type of ``key_to_follow``."""
        if op_id is None:
            raise ValueError(f"{type(self).__name__}.reverse needs the op_id the op was called with")
        record_key = f"{op_id}_{key_to_follow}"
        if record_key not in sample_dict:  # this op did not convert key_to_follow
            return sample_dict
        type_name = sample_dict[record_key]
        value = sample_value(sample_dict, key_to_reverse, self)
        if type(value).__name__ != type_name:
            sample_dict[key_to_reverse] = Cast.to(value, type_name)
        return sample_dict

    @abstractmethod
    def _cast(self, value: Any, **kwargs: Any) -> Any:
        """Convert one value."""


class OpToTensor(OpCast):
    """Convert keys to ``torch.Tensor`` (:meth:`Cast.to_tensor`); ``dtype``, ``device`` and ``ignore_none`` may be
    given to the constructor or per call (FuseMedML: ``(OpToTensor(), dict(key="data.img", dtype=torch.float))``).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.img"] = np.zeros((2, 2))
    >>> OpToTensor(dtype="float32")(sample, key="data.img", op_id="internal.static.0")["data.img"].dtype
    torch.float32
    >>> sample["internal.static.0_data.img"]
    'ndarray'
    """

    def __init__(self, dtype: Any = None, device: Any = None, ignore_none: bool = False) -> None:
        super().__init__(dtype=dtype, device=device, ignore_none=ignore_none)

    def _cast(  # type: ignore[override]
        self, value: Any, dtype: Any = None, device: Any = None, ignore_none: bool = False
    ) -> Any:
        return Cast.to_tensor(value, dtype=dtype, device=device, ignore_none=ignore_none)


class OpToNumpy(OpCast):
    """Convert keys to numpy arrays (:meth:`Cast.to_numpy`); ``dtype`` may be given to the constructor or per
    call.

    >>> import torch
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.x"] = torch.tensor([1, 2])
    >>> OpToNumpy()(sample, key="data.x", dtype="float32")["data.x"]
    array([1., 2.], dtype=float32)
    """

    def __init__(self, dtype: Any = None) -> None:
        super().__init__(dtype=dtype)

    def _cast(self, value: Any, dtype: Any = None) -> np.ndarray:  # type: ignore[override]
        return Cast.to_numpy(value, dtype=dtype)


class OpToInt(OpCast):
    """Convert keys to Python ``int`` (:meth:`Cast.to_int`).

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.label"] = "3"
    >>> OpToInt()(sample, key="data.label")["data.label"]
    3
    """

    def __init__(self) -> None:
        super().__init__()

    def _cast(self, value: Any) -> int:  # type: ignore[override]
        return Cast.to_int(value)


class OpToFloat(OpCast):
    """Convert keys to Python ``float`` (:meth:`Cast.to_float`).

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.a"], sample["data.b"] = 1, "2.5"
    >>> sample = OpToFloat()(sample, key=["data.a", "data.b"])
    >>> sample["data.a"], sample["data.b"]
    (1.0, 2.5)
    """

    def __init__(self) -> None:
        super().__init__()

    def _cast(self, value: Any) -> float:  # type: ignore[override]
        return Cast.to_float(value)


class OpOneHotToNumber(OpBase):
    """Replace a one-hot vector (array, list or tensor) by its class index, as a 0-d int64 tensor:
    ``[0, 0, 1, 0] -> tensor(2)``. With ``verify_arguments`` (the default) the vector must have ``num_classes``
    entries and exactly one 1 (the rest 0); turn it off for speed.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.label"] = [0, 0, 1, 0]
    >>> OpOneHotToNumber(num_classes=4)(sample, key="data.label")["data.label"]
    tensor(2)
    """

    def __init__(self, num_classes: int, verify_arguments: bool = True) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"OpOneHotToNumber num_classes must be an int >= 1, got {num_classes!r}")
        self._num_classes = int(num_classes)
        self._verify_arguments = verify_arguments

    def __call__(self, sample_dict: NDict, key: str) -> NDict:  # type: ignore[override,unused-ignore]
        """Replace ``sample[key]`` by the index of its hot entry."""
        value = sample_value(sample_dict, key, self)
        vector = to_numpy(value) if is_tensor(value) else np.asarray(value)
        if self._verify_arguments:
            if vector.ndim != 1 or vector.shape[0] != self._num_classes:
                raise ValueError(
                    f"OpOneHotToNumber expects a 1-D one-hot vector of num_classes={self._num_classes} entries in "
                    f"{key!r}, got shape {vector.shape}"
                )
            if not self.is_one_hot_vector(vector):
                raise ValueError(
                    f"OpOneHotToNumber expects a one-hot vector (a single 1, the rest 0) in {key!r}, got {vector}"
                )
        sample_dict[key] = _torch().tensor(int(vector.argmax()))
        return sample_dict

    @staticmethod
    def is_one_hot_vector(vector: np.ndarray) -> bool:
        """``True`` when ``vector`` holds a single 1 and otherwise 0 (one class, not several features)."""
        vector = np.asarray(vector)
        return bool(vector.size > 0 and vector.max() == 1 and vector.min() == 0 and vector.sum() == 1)


def _torch() -> Any:
    import torch

    return torch


def _to_scalar(value: Any, convert: Callable[[Any], Any], who: str) -> Any:
    """``convert`` applied to a number, str, bytes or numpy scalar, or to the one value of an array or tensor."""
    if isinstance(value, (int, float, str, bytes, np.generic)):  # bool is an int
        return convert(value)
    if isinstance(value, np.ndarray) or is_tensor(value):
        return convert(_single_item(value, who))
    raise TypeError(
        f"{who} cannot convert a {type(value).__name__}; it converts numbers, strings, bytes and one-element "
        "arrays or tensors"
    )


def _single_item(value: Any, who: str) -> Any:
    size = value.size if isinstance(value, np.ndarray) else value.numel()
    if size != 1:
        raise ValueError(f"{who} needs a single value, got an array/tensor of shape {tuple(value.shape)}")
    return value.item()


def _torch_dtype(dtype: Any) -> Any:
    if dtype is None:
        return None
    torch = _torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return getattr(torch, dtype)
    try:
        return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype
    except (TypeError, ValueError):
        raise ValueError(
            f"unknown tensor dtype {dtype!r}; give a torch.dtype, a torch dtype name such as 'float32', "
            "or a numpy dtype"
        ) from None


def _numpy_dtype(dtype: Any) -> np.dtype[Any] | None:
    if dtype is None:
        return None
    if _is_tensor_dtype(dtype):
        torch = _torch()
        if dtype == torch.bfloat16:
            raise ValueError("numpy has no bfloat16 dtype; convert to numpy with dtype='float32' instead")
        return torch.empty(0, dtype=dtype).numpy().dtype  # type: ignore[no-any-return]
    try:
        numpy_dtype: np.dtype[Any] = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"unknown numpy dtype {dtype!r}; give a numpy dtype such as 'float32' or np.int64") from None
    return numpy_dtype


def _is_tensor_dtype(dtype: Any) -> bool:
    torch = loaded_torch()
    return torch is not None and isinstance(dtype, torch.dtype)


def _numpy_scalar_type(type_name: str) -> type | None:
    candidate = getattr(np, type_name, None)
    if isinstance(candidate, type) and issubclass(candidate, np.number):
        return candidate
    return None


def _keys(op_name: str, key: str | Sequence[str]) -> list[str]:
    keys = [key] if isinstance(key, str) else list(key)
    if not keys or not all(isinstance(item, str) for item in keys):
        raise ValueError(f"{op_name} key must be a key or a non-empty list of keys, got {key!r}")
    return keys
