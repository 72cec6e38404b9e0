"""Common ops: wrap functions, apply ops by key pattern or type, set / copy / delete / keep keys, look values up,
one-hot, concatenate, normalise and replace elements (FuseMedML's ``fuse/data/ops/ops_common.py``).

Every op reads required keys with :func:`~fuse.data._sample_keys.sample_value`, so a missing key raises
:class:`~fuse.data._sample_keys.MissingSampleKeyError` naming the op, the key and the sample id. What a reversible
op needs for ``reverse`` is stored under its ``op_id`` (``"internal.<pipeline>.<n>"`` inside a pipeline).

>>> from fuse.core import create_initial_sample
>>> from fuse.data._pipeline import PipelineDefault
>>> pipeline = PipelineDefault("static", [
...     (OpSet(), {"key": "data.gender", "value": "female"}),
...     (OpLookup({"male": 0, "female": 1}), {"key_in": "data.gender", "key_out": "data.gender_id"}),
...     (OpToOneHot(num_classes=2), {"key_in": "data.gender_id", "key_out": "data.gender_one_hot"}),
... ])
>>> pipeline(create_initial_sample("case_1"))["data.gender_one_hot"]
array([0., 1.])
"""

from __future__ import annotations

import copy
import hashlib
import math
import numbers
import operator
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import NDict
from fuse.data._identity import value_identity
from fuse.data._op_base import OpBase, OpReversibleBase, SampleResult, op_call, op_reverse
from fuse.data._patterns import Patterns, TypeDetectorBase
from fuse.data._pipeline import BOOKKEEPING_PREFIX, PipelineDefault
from fuse.data._sample_keys import sample_value

__all__ = [
    "OpApplyPatterns",
    "OpApplyTypes",
    "OpCollectMarker",
    "OpConcat",
    "OpCond",
    "OpCopy",
    "OpDeleteKeypaths",
    "OpFunc",
    "OpKeepKeypaths",
    "OpLambda",
    "OpLookup",
    "OpOverrideNaN",
    "OpReplaceAnyElements",
    "OpReplaceElements",
    "OpSet",
    "OpSetIfNotExist",
    "OpSetRandomChoice",
    "OpToOneHot",
    "OpZScoreNorm",
    "find_collect_marker",
]

_COPY_MODES = ("reference", "shallow", "deep")


# ---------------------------------------------------------------------------------------------- helpers
def _sample_id(sample_dict: Mapping[str, Any]) -> Any:
    return sample_dict.get("data.sample_id")


def _key_list(value: Any, op: object, argument: str) -> list[str]:
    """A list of keys from a sequence of keys; a bare string (which would be iterated char by char) is refused."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"{type(op).__name__}: {argument} must be a list of keys, got {value!r}; write [{value!r}] for one key"
        )
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"{type(op).__name__}: {argument} must hold key strings, got {key!r}")
    return keys


def _as_sample(result: Any, op: object, inner: object) -> NDict | None:
    """Check what an inner op returned to a meta op that does not support splitting."""
    if result is None:
        return None
    if isinstance(result, list):
        raise TypeError(
            f"{type(op).__name__}: the inner op {inner!r} split the sample (returned a list); splitting is not "
            "supported inside this op, put the splitting op directly in the pipeline"
        )
    if isinstance(result, NDict):
        return result
    if isinstance(result, dict):
        return NDict(result)
    raise TypeError(
        f"{type(op).__name__}: the inner op {inner!r} returned {type(result).__name__}; an op returns the sample "
        "(a dict) or None to drop it"
    )


def _check_op_and_kwargs(entry: Any, op: object, where: str) -> tuple[Any, dict[str, Any]]:
    if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Mapping)):
        raise TypeError(f"{type(op).__name__}: {where} must map to a tuple (op, kwargs dict), got {entry!r}")
    inner, kwargs = entry
    if isinstance(inner, type) or not callable(inner):
        raise TypeError(f"{type(op).__name__}: {where} maps to {inner!r}, which is not an op instance")
    return inner, dict(kwargs)


def _is_bookkeeping(key: str) -> bool:
    return key.startswith(BOOKKEEPING_PREFIX + ".")


def _torch_tensor_module(value: Any) -> Any | None:
    """The torch module when ``value`` is a tensor (torch is only imported by then), else ``None``."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.is_tensor(value):
        return torch
    return None


def _writable_copy(value: Any, copy_it: bool) -> Any:
    if not copy_it:
        return value
    if _torch_tensor_module(value) is not None:
        return value.clone()
    return value.copy()


def _is_nan(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)


# ---------------------------------------------------------------------------------------------- function ops
class OpLambda(OpReversibleBase):
    """Apply a function to ``sample[key]`` (or, with ``key=None``, to the whole sample, which the function then
    returns), optionally reversible with ``func_reverse``.

    Per-call kwargs other than ``key`` are passed to ``func``. The key it was applied to is stored under the
    ``op_id``, and ``reverse`` applies ``func_reverse`` to ``key_to_reverse`` when that key is ``key_to_follow``
    (or applies it to the whole sample when the op was called with ``key=None``).

    >>> from fuse.core import create_initial_sample
    >>> from fuse.data._pipeline import PipelineDefault
    >>> op = OpLambda(lambda x, n: x + n, func_reverse=lambda x: x - 1)
    >>> pipeline = PipelineDefault("p", [(op, {"key": "x", "n": 1})])
    >>> sample = create_initial_sample("s1")
    >>> sample["x"] = 5
    >>> sample = pipeline(sample)
    >>> sample["x"], sample["internal.p.0"]
    (6, 'x')
    >>> sample["pred"] = 16
    >>> pipeline.reverse(sample, key_to_reverse="pred", key_to_follow="x")["pred"]
    15
    """

    def __init__(self, func: Callable[..., Any], func_reverse: Callable[..., Any] | None = None) -> None:
        super().__init__()
        if not callable(func):
            raise TypeError(f"OpLambda: func must be callable, got {func!r}")
        if func_reverse is not None and not callable(func_reverse):
            raise TypeError(f"OpLambda: func_reverse must be callable or None, got {func_reverse!r}")
        self._func = func
        self._func_reverse = func_reverse

    def __call__(
        self, sample_dict: NDict, op_id: str | None = None, key: str | None = None, **kwargs: Any
    ) -> SampleResult:
        """Replace ``sample[key]`` by ``func(sample[key], **kwargs)``, or the sample by ``func(sample, **kwargs)``."""
        if key is not None:
            sample_dict[key] = self._func(sample_value(sample_dict, key, self), **kwargs)
            result: Any = sample_dict
        else:
            result = self._func(sample_dict, **kwargs)
            if result is None or isinstance(result, list):
                return result  # dropped or split: the parts carry no bookkeeping
            if not isinstance(result, dict):
                raise TypeError(
                    f"OpLambda with key=None: func must return the sample (a dict), None or a list of samples; it "
                    f"returned {type(result).__name__}. To transform one value, pass key=<keypath>"
                )
            result = result if isinstance(result, NDict) else NDict(result)
        if op_id is not None:
            result[op_id] = key
        return result  # type: ignore[no-any-return]

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Apply ``func_reverse`` to ``key_to_reverse`` if this op was applied to ``key_to_follow``."""
        if op_id is None:
            raise ValueError("OpLambda.reverse needs the op_id the op was called with (where it stored its key)")
        key = sample_value(sample_dict, op_id, self)
        if key is not None and key != key_to_follow:
            return sample_dict
        if self._func_reverse is None:
            applied_to = "the whole sample" if key is None else f"{key!r} (the followed key)"
            raise ValueError(  # a request the op cannot honour, not a missing implementation
                f"OpLambda (op_id {op_id!r}) was applied to {applied_to} but has no func_reverse; pass "
                "OpLambda(func, func_reverse=...) to make it reversible"
            )
        if key is None:
            reversed_sample = self._func_reverse(sample_dict)
            if not isinstance(reversed_sample, dict):
                raise TypeError(
                    f"OpLambda with key=None: func_reverse must return the sample, got {type(reversed_sample).__name__}"
                )
            return reversed_sample if isinstance(reversed_sample, NDict) else NDict(reversed_sample)
        sample_dict[key_to_reverse] = self._func_reverse(sample_value(sample_dict, key_to_reverse, self))
        return sample_dict


class OpFunc(OpReversibleBase):
    """Wrap a plain function: read its arguments from sample keys and store what it returns under output keys.

    ``inputs`` maps sample keys to argument names (``None`` passes the whole sample as ``sample_dict=``); other
    per-call kwargs are passed as they are. A single output key stores the returned value; a sequence of output
    keys stores each item of the returned tuple. Not reversible: ``reverse`` leaves the sample unchanged.

    >>> from fuse.core import create_initial_sample
    >>> def split_name(full_name, sep=" "):
    ...     first, last = full_name.split(sep)
    ...     return first, last
    >>> sample = create_initial_sample("s1")
    >>> sample["data.name"] = "Ada Lovelace"
    >>> sample = OpFunc(split_name)(sample, inputs={"data.name": "full_name"}, outputs=["data.first", "data.last"])
    >>> sample["data.first"], sample["data.last"]
    ('Ada', 'Lovelace')
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        super().__init__()
        if not callable(func):
            raise TypeError(f"OpFunc: func must be callable, got {func!r}")
        self._func = func

    def __call__(
        self,
        sample_dict: NDict,
        op_id: str | None = None,
        *,
        inputs: Mapping[str, str] | None,
        outputs: str | Sequence[str],
        **kwargs: Any,
    ) -> SampleResult:
        """Call ``func(**kwargs, **{argument: sample[key] for key, argument in inputs.items()})``."""
        if isinstance(outputs, str):
            output_keys: list[str] | None = None
        else:
            output_keys = _key_list(outputs, self, "outputs")
            if not output_keys:
                raise ValueError("OpFunc: outputs is empty; give the key (or list of keys) to store the result under")
        if inputs is None:
            from_sample: dict[str, Any] = {"sample_dict": sample_dict}
        elif isinstance(inputs, Mapping):
            from_sample = {argument: sample_value(sample_dict, key, self) for key, argument in inputs.items()}
        else:
            raise TypeError(f"OpFunc: inputs must map sample keys to argument names (or be None), got {inputs!r}")
        clashes = sorted(set(from_sample) & set(kwargs))
        if clashes:
            raise ValueError(
                f"OpFunc: arguments {clashes} come both from the sample (inputs) and from the per-call kwargs; "
                "give each argument one source"
            )
        result = self._func(**kwargs, **from_sample)
        if output_keys is None:
            sample_dict[outputs] = result  # type: ignore[index]
            return sample_dict
        if isinstance(result, (str, bytes)) or not isinstance(result, Sequence) or len(result) != len(output_keys):
            raise ValueError(
                f"OpFunc: {len(output_keys)} output keys {output_keys} but {self._func!r} returned "
                f"{type(result).__name__} {result!r:.80}; return a tuple with one item per output key"
            )
        for key, value in zip(output_keys, result, strict=True):
            sample_dict[key] = value
        return sample_dict


# ---------------------------------------------------------------------------------------------- dispatching ops
class OpApplyPatterns(OpReversibleBase):
    """Apply an op to every sample key that matches a pattern: for each key present when the call starts (except
    bookkeeping keys under ``internal.``), the first regex in ``patterns_dict`` that matches it (``re.match``)
    selects ``(op, kwargs)``; the op is called with ``key=<key>``, the per-call kwargs updated with that entry's
    kwargs, and ``op_id=f"{op_id}_{key}"``.

    >>> from fuse.core import create_initial_sample
    >>> double = OpLambda(lambda x: 2 * x, func_reverse=lambda x: x // 2)
    >>> op = OpApplyPatterns({r".*img$": (double, {}), r".*seg$": (OpLambda(lambda x: -x), {})})
    >>> sample = create_initial_sample("s1")
    >>> sample.update({"data.cc.img": 3, "data.cc.seg": 1, "data.label": 7})
    >>> sample = op(sample, op_id="internal.p.0")
    >>> sample["data.cc.img"], sample["data.cc.seg"], sample["data.label"]
    (6, -1, 7)
    >>> sample["pred"] = 10
    >>> op.reverse(sample, key_to_reverse="pred", key_to_follow="data.cc.img", op_id="internal.p.0")["pred"]
    5
    """

    def __init__(self, patterns_dict: Mapping[str, tuple[Any, Mapping[str, Any]]] | None = None) -> None:
        super().__init__()
        self._patterns = Patterns(patterns_dict, (None, {}))
        for pattern, entry in self._patterns.patterns.items():
            _check_op_and_kwargs(entry, self, f"pattern {pattern!r}")

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Apply the matching op to each key present when the call starts."""
        if "key" in kwargs:
            raise ValueError(f"{type(self).__name__} sets `key` for each matching key itself; remove it from kwargs")
        result: NDict = sample_dict
        for key in sample_dict.keypaths():
            if _is_bookkeeping(key):
                continue
            inner, inner_kwargs = self._patterns.get_value(key)
            if inner is None:
                continue
            call_kwargs = {**kwargs, **inner_kwargs}
            if "key" in call_kwargs:
                raise ValueError(f"{type(self).__name__}: the kwargs for {key!r} set `key`; the op sets it itself")
            inner_op_id = None if op_id is None else f"{op_id}_{key}"
            called = _as_sample(op_call(inner, result, inner_op_id, key=key, **call_kwargs), self, inner)
            if called is None:
                return None
            result = called
        return result

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse the op that was selected for ``key_to_follow`` (no change when no pattern matches it)."""
        inner, _ = self._patterns.get_value(key_to_follow)
        if inner is None:
            return sample_dict
        inner_op_id = None if op_id is None else f"{op_id}_{key_to_follow}"
        return op_reverse(inner, sample_dict, key_to_reverse, key_to_follow, inner_op_id)

    def cache_identity(self) -> str:
        """As :meth:`OpBase.cache_identity`, plus the order of the patterns (the first match wins)."""
        order = value_identity(list(self._patterns.patterns), "OpApplyPatterns pattern order")
        identity = f"{super().cache_identity()}|{order}"
        return hashlib.sha256(identity.encode()).hexdigest()


class OpApplyTypes(OpReversibleBase):
    """Apply an op to every sample key of a given type: ``type_detector`` tells each key's type (bookkeeping keys
    under ``internal.`` excluded) and ``type_to_op_dict`` maps types to ``(op, kwargs)``; the op is called with
    ``key=<key>``, the per-call kwargs updated with that entry's kwargs, and ``op_id=f"{op_id}_{key}"``. Not
    nestable (``key`` may not be in the kwargs).

    >>> from enum import Enum
    >>> from fuse.core import create_initial_sample
    >>> from fuse.data._patterns import TypeDetectorPatternsBased
    >>> class DataType(Enum):
    ...     IMAGE = 0
    >>> detector = TypeDetectorPatternsBased({r".*img$": DataType.IMAGE})
    >>> op = OpApplyTypes({DataType.IMAGE: (OpLambda(lambda x, factor: x * factor), {"factor": 10})}, detector)
    >>> sample = create_initial_sample("s1")
    >>> sample.update({"data.cc.img": 1, "data.mlo.img": 2, "data.label": 3})
    >>> sample = op(sample, op_id="internal.p.0")
    >>> sample["data.cc.img"], sample["data.mlo.img"], sample["data.label"]
    (10, 20, 3)
    """

    def __init__(self, type_to_op_dict: Mapping[Any, tuple[Any, Mapping[str, Any]]], type_detector: TypeDetectorBase):
        super().__init__()
        if not isinstance(type_to_op_dict, Mapping):
            raise TypeError(f"OpApplyTypes: type_to_op_dict must map types to (op, kwargs), got {type_to_op_dict!r}")
        self._type_to_op = {
            key_type: _check_op_and_kwargs(entry, self, f"type {key_type!r}")
            for key_type, entry in type_to_op_dict.items()
        }
        if not isinstance(type_detector, TypeDetectorBase):
            raise TypeError(f"OpApplyTypes: type_detector must be a TypeDetectorBase, got {type_detector!r}")
        self._type_detector = type_detector

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Apply the op of each key's type to each key present when the call starts."""
        result: NDict = sample_dict
        for key in sample_dict.keypaths():
            if _is_bookkeeping(key):
                continue
            entry = self._type_to_op.get(self._type_detector.get_type(result, key))
            if entry is None:
                continue
            inner, inner_kwargs = entry
            call_kwargs = {**kwargs, **inner_kwargs}
            if "key" in call_kwargs:
                raise ValueError(
                    "OpApplyTypes: `key` is already in the kwargs; it sets `key` itself for each key of a matching "
                    "type (an OpApplyTypes inside another one is not supported)"
                )
            inner_op_id = None if op_id is None else f"{op_id}_{key}"
            called = _as_sample(op_call(inner, result, inner_op_id, key=key, **call_kwargs), self, inner)
            if called is None:
                return None
            result = called
        return result

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse the op of ``key_to_follow``'s type (no change when its type has no op)."""
        entry = self._type_to_op.get(self._type_detector.get_type(sample_dict, key_to_follow))
        if entry is None:
            return sample_dict
        inner_op_id = None if op_id is None else f"{op_id}_{key_to_follow}"
        return op_reverse(entry[0], sample_dict, key_to_reverse, key_to_follow, inner_op_id)


class OpCond(OpReversibleBase):
    """Apply ``op`` only when ``condition`` holds: a bool, or the key of a sample value read as a bool.

    The inner op gets the same ``op_id``; when it is reversible, whether it ran is stored under
    ``f"{op_id}_applied"`` so that ``reverse`` undoes it only then.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample.update({"x": 1, "flip": False})
    >>> OpCond(OpLambda(lambda x: -x))(sample, op_id="internal.p.0", condition="flip", key="x")["x"]
    1
    >>> OpCond(OpLambda(lambda x: -x))(sample, op_id="internal.p.1", condition=True, key="x")["x"]
    -1
    """

    def __init__(self, op: Callable[..., Any]) -> None:
        super().__init__()
        if isinstance(op, type) or not callable(op):
            raise TypeError(f"OpCond: op must be an op instance, got {op!r}")
        self._op = op

    def __call__(
        self, sample_dict: NDict, op_id: str | None = None, *, condition: str | bool, **kwargs: Any
    ) -> SampleResult:
        """Call the op (with ``kwargs``) if the condition holds."""
        applied = bool(sample_value(sample_dict, condition, self) if isinstance(condition, str) else condition)
        reversible = isinstance(self._op, OpReversibleBase)
        result = op_call(self._op, sample_dict, op_id, **kwargs) if applied else sample_dict
        if reversible and op_id is not None and isinstance(result, dict):
            result[f"{op_id}_applied"] = applied
        return result

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse the inner op if it was applied."""
        if not isinstance(self._op, OpReversibleBase):
            return sample_dict
        if op_id is None:
            raise ValueError("OpCond.reverse needs the op_id the op was called with")
        if not sample_value(sample_dict, f"{op_id}_applied", self):
            return sample_dict
        return op_reverse(self._op, sample_dict, key_to_reverse, key_to_follow, op_id)


# ---------------------------------------------------------------------------------------------- collect marker
class OpCollectMarker(OpReversibleBase):
    """An identity op that marks a point of the dynamic pipeline for components that need only part of a sample
    (a balancing sampler, an export, statistics).

    A dataset asked for ``collect_marker_name=<name>`` reads only ``static_key_deps`` from the static pipeline's
    cache, runs the dynamic pipeline up to and including this marker (``until_op_id``, found with
    :func:`find_collect_marker`) and returns the result, instead of loading and processing the whole sample.
    Put the ops that compute what such a component needs before the marker, and list in ``static_key_deps``
    every static key they read.

    >>> marker = OpCollectMarker("sampler", static_key_deps=["data.label"])
    >>> marker.marker_name, marker.static_key_deps
    ('sampler', ('data.label',))
    >>> marker.get_info()
    {'name': 'sampler', 'static_keys_deps': ['data.label']}
    """

    def __init__(self, name: str, static_key_deps: Sequence[str]) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"OpCollectMarker: name must be a non-empty string, got {name!r}")
        self._name = name
        self._static_key_deps = tuple(_key_list(static_key_deps, self, "static_key_deps"))

    @property
    def marker_name(self) -> str:
        """The name components ask for (``collect_marker_name``)."""
        return self._name

    @property
    def static_key_deps(self) -> tuple[str, ...]:
        """The static-pipeline keys that the dynamic ops up to this marker read."""
        return self._static_key_deps

    def get_info(self) -> dict[str, Any]:
        """FuseMedML's form: ``{"name": ..., "static_keys_deps": [...]}``."""
        return {"name": self._name, "static_keys_deps": list(self._static_key_deps)}

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Return the sample unchanged."""
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Nothing to undo."""
        return sample_dict


def find_collect_marker(pipeline: PipelineDefault, marker_name: str) -> tuple[str, OpCollectMarker]:
    """The op id and the :class:`OpCollectMarker` named ``marker_name`` among the ops of ``pipeline``; run
    ``pipeline(sample, until_op_id=op_id)`` to stop right after it. Raises ``ValueError`` when the pipeline has
    no such marker, or more than one.

    >>> marker = OpCollectMarker("sampler", [])
    >>> pipeline = PipelineDefault("dynamic", [(OpSet(), {"key": "x", "value": 1}), (marker, {})])
    >>> find_collect_marker(pipeline, "sampler")
    ('1', OpCollectMarker(name='sampler', static_key_deps=[]))
    """
    found = [
        (op_id, op)
        for op_id, op in zip(pipeline.op_ids, pipeline.ops, strict=True)
        if isinstance(op, OpCollectMarker) and op.marker_name == marker_name
    ]
    if len(found) != 1:
        names = [op.marker_name for op in pipeline.ops if isinstance(op, OpCollectMarker)]
        problem = (
            "no OpCollectMarker" if not found else f"{len(found)} OpCollectMarkers (op ids {[i for i, _ in found]})"
        )
        raise ValueError(
            f"pipeline {pipeline.get_name()!r} has {problem} named {marker_name!r}; its collect markers: {names}"
        )
    return found[0]


# ---------------------------------------------------------------------------------------------- key management
class OpKeepKeypaths(OpBase):
    """Keep only ``keep_keypaths`` (a prefix keeps its whole branch) in a new sample, e.g. to send less data from
    DataLoader workers. Keep ``"data.sample_id"`` explicitly if later steps need it.

    >>> from fuse.core import NDict
    >>> sample = NDict({"data": {"sample_id": "s1", "img": 1, "meta": {"age": 50, "sex": "F"}}})
    >>> OpKeepKeypaths()(sample, keep_keypaths=["data.sample_id", "data.meta"]).keypaths()
    ['data.sample_id', 'data.meta.age', 'data.meta.sex']
    """

    def __call__(self, sample_dict: NDict, keep_keypaths: Sequence[str]) -> NDict:
        """A new sample with only those keypaths."""
        kept = NDict()
        for key in _key_list(keep_keypaths, self, "keep_keypaths"):
            kept[key] = sample_value(sample_dict, key, self)
        return kept


class OpDeleteKeypaths(OpBase):
    """Delete ``keypaths`` from the sample (a prefix deletes its whole branch).

    >>> from fuse.core import NDict
    >>> sample = NDict({"data": {"sample_id": "s1", "img": 1, "meta": {"age": 50}}})
    >>> OpDeleteKeypaths()(sample, keypaths=["data.img", "data.meta"]).keypaths()
    ['data.sample_id']
    """

    def __call__(self, sample_dict: NDict, keypaths: Sequence[str]) -> NDict:
        """Delete the keypaths; a missing one raises ``MissingSampleKeyError``."""
        for key in _key_list(keypaths, self, "keypaths"):
            sample_value(sample_dict, key, self)
            del sample_dict[key]
        return sample_dict


class OpSet(OpBase):
    """Set (or override) ``sample[key] = value``.

    >>> from fuse.core import create_initial_sample
    >>> OpSet()(create_initial_sample("s1"), key="data.label", value=3)["data.label"]
    3
    """

    def __call__(self, sample_dict: NDict, key: str, value: Any) -> NDict:
        """Store the value."""
        sample_dict[key] = value
        return sample_dict


class OpSetIfNotExist(OpBase):
    """Set ``sample[key] = value`` only when the sample has no ``key`` yet.

    >>> from fuse.core import create_initial_sample
    >>> sample = OpSetIfNotExist()(create_initial_sample("s1"), key="data.label", value=0)
    >>> OpSetIfNotExist()(sample, key="data.label", value=1)["data.label"]
    0
    """

    def __call__(self, sample_dict: NDict, key: str, value: Any) -> NDict:
        """Store the value if the key is absent."""
        if key not in sample_dict:
            sample_dict[key] = value
        return sample_dict


class OpCopy(OpBase):
    """Copy ``sample[key_source]`` to ``key_dest``: by ``"reference"`` (the same object), ``"shallow"``
    (``copy.copy``) or ``"deep"`` (``copy.deepcopy``).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.img"] = np.zeros(2)
    >>> sample = OpCopy("deep")(sample, key_source="data.img", key_dest="data.img_orig")
    >>> sample["data.img"][0] = 1
    >>> sample["data.img_orig"]
    array([0., 0.])
    """

    def __init__(self, copy_mode: str = "reference") -> None:
        super().__init__()
        if copy_mode not in _COPY_MODES:
            raise ValueError(f"OpCopy: unknown copy_mode {copy_mode!r}; use one of {list(_COPY_MODES)}")
        self._copy_mode = copy_mode

    @property
    def copy_mode(self) -> str:
        """``"reference"``, ``"shallow"`` or ``"deep"``."""
        return self._copy_mode

    def __call__(self, sample_dict: NDict, key_source: str, key_dest: str) -> NDict:
        """Copy the value."""
        value = sample_value(sample_dict, key_source, self)
        if self._copy_mode == "shallow":
            value = copy.copy(value)
        elif self._copy_mode == "deep":
            value = copy.deepcopy(value)
        sample_dict[key_dest] = value
        return sample_dict


class OpSetRandomChoice(OpBase):
    """Set ``sample[key]`` to a value chosen at random from ``values``.

    With a ``seed``, the op draws from its own ``random.Random(seed)`` (the same sequence in every run, and in
    every DataLoader worker, which each get a copy of the op); with ``seed=None`` it draws from Python's global
    ``random``, which ``fuse.core.set_seed`` and ``seed_worker_init`` seed.

    >>> from fuse.core import create_initial_sample
    >>> op = OpSetRandomChoice(seed=0)
    >>> [op(create_initial_sample(i), key="data.site", values=["a", "b", "c"])["data.site"] for i in range(5)]
    ['b', 'b', 'a', 'b', 'c']
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"OpSetRandomChoice: seed must be an int or None, got {seed!r}")
        self._rng: random.Random | None = None if seed is None else random.Random(int(seed))

    def __call__(self, sample_dict: NDict, key: str, values: Sequence[Any]) -> NDict:
        """Store one of the values."""
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise TypeError(f"OpSetRandomChoice: values must be a list of candidates, got {values!r}")
        if len(values) == 0:
            raise ValueError("OpSetRandomChoice: values is empty; give at least one candidate")
        sample_dict[key] = (self._rng or random).choice(values)
        return sample_dict


# ---------------------------------------------------------------------------------------------- value ops
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
                f"OpLookup: sample {_sample_id(sample_dict)!r} key {key_in!r} holds the unhashable "
                f"{type(value).__name__} {value!r:.80}, which cannot be looked up"
            ) from None
        if found:
            sample_dict[key_in if key_out is None else key_out] = self._map[value]
        elif self._not_exist_error:
            known = list(self._map)
            raise ValueError(
                f"OpLookup: sample {_sample_id(sample_dict)!r} key {key_in!r} holds {value!r}, which is not in the "
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
                f"OpToOneHot: sample {_sample_id(sample_dict)!r} key {key_in!r} holds {value!r:.80} "
                f"({type(value).__name__}); a class index must be an integer"
            ) from None
        if not 0 <= index < self._num_classes:
            raise ValueError(
                f"OpToOneHot: sample {_sample_id(sample_dict)!r} key {key_in!r} holds class {index}, outside "
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
        keys = _key_list(keys_in, self, "keys_in")
        if not keys:
            raise ValueError("OpConcat: keys_in is empty; give the keys of the values to concatenate")
        values = [np.asarray(sample_value(sample_dict, key, self)) for key in keys]
        values = [value if value.ndim > 0 else value.reshape(1) for value in values]
        try:
            sample_dict[key_out] = np.concatenate(values, axis=axis)
        except ValueError as error:  # numpy's AxisError is a ValueError too
            shapes = {key: value.shape for key, value in zip(keys, values, strict=True)}
            raise ValueError(
                f"OpConcat: cannot concatenate along axis {axis} for sample {_sample_id(sample_dict)!r}: shapes "
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
        if _is_nan(sample_value(sample_dict, key, self)):
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
        torch = _torch_tensor_module(value)
        if torch is not None or isinstance(value, np.ndarray):
            value = _writable_copy(value, key_out is not None)
            if _is_nan(find_val):
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
            nan = _is_nan(find_val)
            result = [replace_with_val if (_is_nan(x) if nan else x == find_val) else x for x in value]
        else:
            raise TypeError(
                f"OpReplaceElements: key {key_in!r} of sample {_sample_id(sample_dict)!r} holds a "
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
        torch = _torch_tensor_module(value)
        if isinstance(find_any_val, str) and (torch is not None or isinstance(value, np.ndarray)):
            raise TypeError(
                f"OpReplaceAnyElements: find_any_val is the string {find_any_val!r} but key {key_in!r} of sample "
                f"{_sample_id(sample_dict)!r} holds an array; pass the values to replace as a list, e.g. [0, 2]"
            )
        if torch is not None:
            value = _writable_copy(value, key_out is not None)
            candidates = torch.as_tensor(find, device=value.device).to(value.dtype)
            value[torch.isin(value, candidates)] = replace_with_val
            result: Any = value
        elif isinstance(value, np.ndarray):
            value = _writable_copy(value, key_out is not None)
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
                f"OpReplaceAnyElements: key {key_in!r} of sample {_sample_id(sample_dict)!r} holds a "
                f"{type(value).__name__}; supported: numpy array, torch tensor, str, list, tuple"
            )
        sample_dict[key_in if key_out is None else key_out] = result
        return sample_dict
