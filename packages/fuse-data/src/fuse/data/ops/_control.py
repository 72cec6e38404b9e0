"""Control ops: wrap a function (:class:`~fuse.data.OpLambda`, :class:`~fuse.data.OpFunc`), apply an op per key
by pattern or by type, apply one conditionally, and mark where a partial run of the dynamic pipeline stops.

>>> from fuse.core import create_initial_sample
>>> op = OpApplyPatterns({r".*img$": (OpLambda(lambda x: 2 * x), {})})
>>> sample = create_initial_sample("case_1")
>>> sample.update({"data.img": 3, "data.label": 7})
>>> sample = op(sample, op_id="internal.p.0")
>>> sample["data.img"], sample["data.label"]
(6, 7)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fuse.core import NDict
from fuse.data._pipeline import PipelineDefault, is_bookkeeping_key
from fuse.data._sample_keys import sample_value
from fuse.data.cache._identity import value_identity
from fuse.data.ops._base import OpReversibleBase, SampleResult, op_call, op_reverse
from fuse.data.ops._common import as_sample, check_op_and_kwargs, key_list
from fuse.data.ops._patterns import Patterns, TypeDetectorBase

__all__ = ["OpApplyPatterns", "OpApplyTypes", "OpCollectMarker", "OpCond", "OpFunc", "OpLambda", "find_collect_marker"]


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
            output_keys = key_list(outputs, self, "outputs")
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
def _apply_per_key(
    op: object,
    sample_dict: NDict,
    op_id: str | None,
    kwargs: Mapping[str, Any],
    entry_of: Callable[[NDict, str], tuple[Any, Mapping[str, Any]] | None],
    clash: str,
) -> SampleResult:
    """Call ``entry_of(sample, key)``'s op on each key present when the call starts (bookkeeping keys excepted)
    with ``key=<key>``, the per-call kwargs updated with the entry's kwargs and ``op_id=f"{op_id}_{key}"``;
    ``clash`` (formatted with ``key``) is the error when those kwargs already set ``key``."""
    result: NDict = sample_dict
    for key in sample_dict.keypaths():
        if is_bookkeeping_key(key):
            continue
        entry = entry_of(result, key)
        if entry is None:
            continue
        inner, inner_kwargs = entry
        call_kwargs = {**kwargs, **inner_kwargs}
        if "key" in call_kwargs:
            raise ValueError(clash.format(key=key))
        inner_op_id = None if op_id is None else f"{op_id}_{key}"
        called = as_sample(op_call(inner, result, inner_op_id, key=key, **call_kwargs), op, inner)
        if called is None:
            return None
        result = called
    return result


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
            check_op_and_kwargs(entry, self, f"pattern {pattern!r}")

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Apply the matching op to each key present when the call starts."""
        if "key" in kwargs:
            raise ValueError(f"{type(self).__name__} sets `key` for each matching key itself; remove it from kwargs")

        def entry_of(_: NDict, key: str) -> tuple[Any, Mapping[str, Any]] | None:
            entry: tuple[Any, Mapping[str, Any]] = self._patterns.get_value(key)
            return None if entry[0] is None else entry

        clash = f"{type(self).__name__}: the kwargs for {{key!r}} set `key`; the op sets it itself"
        return _apply_per_key(self, sample_dict, op_id, kwargs, entry_of, clash)

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
    >>> from fuse.data.ops._patterns import TypeDetectorPatternsBased
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
            key_type: check_op_and_kwargs(entry, self, f"type {key_type!r}")
            for key_type, entry in type_to_op_dict.items()
        }
        if not isinstance(type_detector, TypeDetectorBase):
            raise TypeError(f"OpApplyTypes: type_detector must be a TypeDetectorBase, got {type_detector!r}")
        self._type_detector = type_detector

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Apply the op of each key's type to each key present when the call starts."""
        clash = (
            "OpApplyTypes: `key` is already in the kwargs; it sets `key` itself for each key of a matching type (an "
            "OpApplyTypes inside another one is not supported)"
        )
        return _apply_per_key(
            self,
            sample_dict,
            op_id,
            kwargs,
            lambda sample, key: self._type_to_op.get(self._type_detector.get_type(sample, key)),
            clash,
        )

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
        self._static_key_deps = tuple(key_list(static_key_deps, self, "static_key_deps"))

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

    >>> from fuse.data import OpSet
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
