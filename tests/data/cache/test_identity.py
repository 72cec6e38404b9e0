"""Cache identities: stable across processes, changed by every kind of change, never a memory address."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch

from fuse.core import RandInt, Uniform, defining_module
from fuse.data import OpBase, OpLambda, OpReversibleBase, PipelineDefault, UnstableIdentityError, value_identity
from fuse.data.cache import _origin as origin_module
from fuse.data.cache._identity import class_identity

OPS_MODULE = textwrap.dedent(
    """
    import numpy as np
    from fuse.data import OpBase

    class OpScale(OpBase):
        def __init__(self, factor, table=None):
            super().__init__()
            self._factor = factor
            self._table = table

        def __call__(self, sample_dict, key):
            sample_dict[key] = sample_dict[key] * self._factor
            return sample_dict

    def shift(sample, key, amount):
        sample[key] = sample[key] + amount
        return sample

    def pipeline(factor=2.0, amount=1, table=None):
        from fuse.data import PipelineDefault
        from fuse.core import Uniform
        import pandas as pd
        return PipelineDefault("static", [
            (OpScale(factor, table=table if table is not None else pd.DataFrame({"a": [1, 2]})), {"key": "x"}),
            (shift, {"key": "x", "amount": amount, "noise": Uniform(0.0, 1.0), "fn": lambda v: v * 3}),
        ])
    """
)


def _write_module(directory: Path, source: str) -> None:
    (directory / "user_ops.py").write_text(source)


def _identity_in_fresh_process(directory: Path, expression: str = "pipeline()") -> str:
    code = f"import sys; sys.path.insert(0, {str(directory)!r}); import user_ops; print(user_ops.{expression}.cache_identity())"
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_pipeline_identity_is_the_same_in_a_new_process(tmp_path: Path) -> None:
    _write_module(tmp_path, OPS_MODULE)
    first = _identity_in_fresh_process(tmp_path)
    assert first == _identity_in_fresh_process(tmp_path)  # hash randomisation differs between the two processes
    assert len(first) == 64


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ("constructor argument", "pipeline(factor=3.0)"),
        ("per-op kwarg", "pipeline(amount=2)"),
        ("DataFrame content", "pipeline(table=__import__('pandas').DataFrame({'a': [1, 3]}))"),
    ],
)
def test_pipeline_identity_changes_with_arguments(tmp_path: Path, change: str, expression: str) -> None:
    _write_module(tmp_path, OPS_MODULE)
    assert _identity_in_fresh_process(tmp_path, expression) != _identity_in_fresh_process(tmp_path), change


@pytest.mark.parametrize(
    ("change", "old", "new"),
    [
        ("op source", "sample_dict[key] * self._factor", "sample_dict[key] * self._factor + 0"),
        ("function source", "sample[key] + amount", "sample[key] - amount"),
        ("lambda in kwargs", "lambda v: v * 3", "lambda v: v * 4"),
        ("sampler parameters", "Uniform(0.0, 1.0)", "Uniform(0.0, 2.0)"),
    ],
)
def test_pipeline_identity_changes_with_code(tmp_path: Path, change: str, old: str, new: str) -> None:
    _write_module(tmp_path, OPS_MODULE)
    before = _identity_in_fresh_process(tmp_path)
    assert old in OPS_MODULE
    _write_module(tmp_path, OPS_MODULE.replace(old, new))
    assert _identity_in_fresh_process(tmp_path) != before, change


class OpLookupLike(OpBase):
    """Derives directly from OpBase: FuseMedML lost exactly these constructor arguments."""

    def __init__(self, mapping: dict[str, int], not_exist_error: bool = True) -> None:
        super().__init__()
        self._mapping = mapping
        self._not_exist_error = not_exist_error

    def __call__(self, sample_dict: Any, key: str) -> Any:
        sample_dict[key] = self._mapping[sample_dict[key]]
        return sample_dict


class OpLookupDeeper(OpLookupLike):
    def __init__(self, mapping: dict[str, int], offset: int = 0) -> None:
        super().__init__({name: value + offset for name, value in mapping.items()})


class OpNoInit(OpReversibleBase):
    def __call__(self, sample_dict: Any, op_id: str | None = None) -> Any:
        return sample_dict


def test_constructor_arguments_are_captured_at_any_depth() -> None:
    assert OpLookupLike({"a": 1}).init_arguments() == {"mapping": {"a": 1}, "not_exist_error": True}
    assert OpLookupDeeper({"a": 1}, offset=2).init_arguments() == {"mapping": {"a": 1}, "offset": 2}
    assert OpNoInit().init_arguments() == {}
    assert OpLookupLike({"a": 1}).cache_identity() != OpLookupLike({"a": 2}).cache_identity()
    assert OpLookupDeeper({"a": 1}).cache_identity() != OpLookupDeeper({"a": 1}, offset=1).cache_identity()
    assert OpLookupLike({"a": 1}).cache_identity() == OpLookupLike({"a": 1}).cache_identity()
    assert repr(OpLookupDeeper({"a": 1})) == "OpLookupDeeper(mapping={'a': 1}, offset=0)"


class Opaque:
    """A plain object of your own class is identified by its class's code and its attributes: a lock is not."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


class Described:
    def __init__(self, level: int) -> None:
        self.level = level

    def cache_identity(self) -> str:
        return f"Described(level={self.level})"


def test_values_without_a_stable_identity_raise_naming_the_op_and_argument() -> None:
    pipeline = PipelineDefault("static", [(OpLookupLike({"a": 1}), {"key": "x", "helper": Opaque()})])
    with pytest.raises(
        UnstableIdentityError, match=r"op '0' kwargs\['helper'\] attribute\['lock'\].*lock.*cache_version"
    ):
        pipeline.cache_identity()
    with pytest.raises(UnstableIdentityError, match=r"OpLookupLike argument\['mapping'\]\['a'\]"):
        OpLookupLike({"a": Opaque()}).cache_identity()  # type: ignore[dict-item]
    assert value_identity(Described(1)) != value_identity(Described(2))


def test_value_identity_by_content() -> None:
    assert value_identity(np.arange(4)) == value_identity(np.arange(4).copy())
    assert value_identity(np.arange(4)) != value_identity(np.arange(4).reshape(2, 2))
    assert value_identity(np.zeros(3, np.float32)) != value_identity(np.zeros(3, np.float64))
    assert value_identity(torch.arange(3)) == value_identity(torch.arange(3))
    assert value_identity(torch.arange(3)) != value_identity(torch.arange(3) + 1)
    frame = pd.DataFrame({"id": ["a", "b"], "value": [1.0, 2.0]})
    assert value_identity(frame) == value_identity(frame.copy())
    assert value_identity(frame) != value_identity(frame.assign(value=[1.0, 2.5]))
    assert value_identity({"b": 1, "a": [1, 2]}) == value_identity({"a": [1, 2], "b": 1})
    assert value_identity((1, 2)) != value_identity([1, 2])
    assert value_identity({1, 2, 3}) == value_identity({3, 2, 1})
    assert value_identity(functools.partial(max, 1)) != value_identity(functools.partial(max, 2))
    assert value_identity(np.sum) == value_identity(np.sum)
    assert value_identity(RandInt(0, 3)) != value_identity(RandInt(0, 4))
    assert value_identity(torch.float32) != value_identity(torch.float16)
    assert value_identity(torch.device("cpu")) == value_identity(torch.device("cpu"))
    assert value_identity(np.dtype("float32")) != value_identity(np.dtype("float64"))

    def closure(offset: int) -> Any:
        return lambda value: value + offset

    assert value_identity(closure(1)) != value_identity(closure(2))  # same source, different captured value
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(UnstableIdentityError, match="contains itself"):
        value_identity(looped)
    assert Uniform(0.0, 1.0) == Uniform(0.0, 1.0)


@dataclasses.dataclass
class Settings:
    scale: float = 2.0
    names: list[str] = dataclasses.field(default_factory=list)


class Mode(enum.Enum):
    FAST = 1
    SLOW = 2


class Point(NamedTuple):
    x: float
    y: float = 0.0


class Slotted:
    __slots__ = ("a",)

    def __init__(self, a: int) -> None:
        self.a = a


@functools.cache
def doubled(x: float) -> float:
    return 2 * x


def test_common_constructs_of_your_code_are_identified_by_content() -> None:
    """Dataclasses, enums, named tuples, slotted objects, cached functions, builtin methods, library objects with
    only Python state; a library object that keeps state in C (a lock) is refused."""
    assert value_identity(Settings()) == value_identity(Settings())
    assert value_identity(Settings()) != value_identity(Settings(scale=3.0))
    assert value_identity(Settings(names=["a"])) != value_identity(Settings())
    assert value_identity(Mode.FAST) != value_identity(Mode.SLOW)
    assert value_identity(Mode) == value_identity(Mode)
    assert value_identity(Point(1.0)) != value_identity(Point(1.0, 1.0))
    assert value_identity(Slotted(1)) != value_identity(Slotted(2))
    assert value_identity(doubled) == value_identity(doubled)
    assert value_identity(str.join) != value_identity(str.split)
    assert value_identity(tuple.__new__) == value_identity(tuple.__new__)
    linear = torch.nn.Linear(2, 2)
    assert value_identity(linear) == value_identity(linear)
    with torch.no_grad():
        linear.weight[0, 0] += 1
    assert value_identity(linear) != value_identity(torch.nn.Linear(2, 2))
    with pytest.raises(UnstableIdentityError, match=r"value\['lock'\]: a _thread.lock"):
        value_identity({"lock": threading.Lock()})


def test_identity_is_the_same_for_any_hash_seed(tmp_path: Path) -> None:
    code = (
        "from fuse.data import value_identity; "
        "print(value_identity({frozenset({'a', 'b', 'c'}): 1, frozenset({'d', 'e'}): 2, 'x': {'p', 'q', 'r'}}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outputs) == 1


class OpLazy(OpLookupLike):
    cache_identity_exclude = ("_seen",)  # a counter for logging: it does not change the samples

    def __init__(self, mapping: dict[str, int]) -> None:
        super().__init__(mapping)
        self._seen = 0


def test_an_op_attribute_set_after_construction_and_a_helper_are_in_the_identity() -> None:
    op = OpLookupLike({"a": 1})
    before = op.cache_identity()
    op.extra = 1  # type: ignore[attr-defined]
    assert op.cache_identity() != before
    lazy = OpLazy({"a": 1})
    before = lazy.cache_identity()
    lazy._seen = 5
    assert lazy.cache_identity() == before
    lazy._mapping["a"] = 2
    assert lazy.cache_identity() != before
    namespace: dict[str, Any] = {"__name__": "cell"}
    cell = "from fuse.data import OpBase\nclass OpCell(OpBase):\n    SCALE = {}\n    def __call__(self, s):\n        return s\n"
    exec(compile(cell.format(2), "<cell>", "exec"), namespace)  # noqa: S102  (no source to read: a notebook cell)
    first = namespace["OpCell"]().cache_identity()
    exec(compile(cell.format(3), "<cell>", "exec"), namespace)  # noqa: S102
    assert namespace["OpCell"]().cache_identity() != first


def test_a_script_function_has_the_same_identity_in_a_spawned_worker() -> None:
    """A spawned worker runs the script as __mp_main__: the same code must key the same cache."""
    identities = []
    for module in ("__main__", "__mp_main__"):
        namespace: dict[str, Any] = {"__name__": module}
        exec(compile("def scale(sample):\n    return sample\n", "<script>", "exec"), namespace)  # noqa: S102
        identities.append(value_identity(namespace["scale"]))
    assert identities[0] == identities[1]


# ---------------------------------------------------------------------------------------------- public-name policy
class UserOpLambda(OpLambda):
    """A user's subclass of a published op: its own code is walked, its base found where fuse.data defines it."""

    def __call__(self, sample_dict: Any, op_id: str | None = None, key: str | None = None, **kwargs: Any) -> Any:
        return super().__call__(sample_dict, op_id, key=key, **kwargs)


def _identities_without_fallback(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Identities computed with the per-method fallback (for classes no module holds) made to fail."""

    def no_fallback(cls: type) -> str | None:
        raise AssertionError(f"{cls.__qualname__}: identified by the per-method fallback, not by its module")

    monkeypatch.setattr(origin_module, "_origin_of_methods", no_fallback)
    return (
        class_identity(OpLambda),
        class_identity(UserOpLambda),
        PipelineDefault("p", [(UserOpLambda(abs), {"key": "x"})]).cache_identity(),
    )


def test_a_published_class_is_identified_through_its_defining_module(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OpLambda.__module__ == "fuse.data"  # published: what pickles and reprs use
    assert origin_module.class_module(OpLambda) is sys.modules[defining_module(OpLambda) or ""]
    assert origin_module.class_origin(OpLambda) == origin_module.code_origin(inspect.getsourcefile(OpLambda.__call__))
    assert origin_module.class_module(UserOpLambda) is sys.modules[__name__]  # a user's class: not installed
    assert origin_module.class_origin(UserOpLambda) is None
    _identities_without_fallback(monkeypatch)


def test_the_identity_is_the_same_with_or_without_the_published_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing (``__module__ = "fuse.data"``) changes the import path that pickles record, never a cache key."""
    published = _identities_without_fallback(monkeypatch)
    private = defining_module(OpLambda)
    assert private is not None
    assert private.startswith("fuse.data.ops.")
    monkeypatch.setattr(OpLambda, "__module__", private)  # as before publishing
    assert _identities_without_fallback(monkeypatch) == published
    monkeypatch.setattr(OpLambda, "__module__", "fuse.data.moved_elsewhere")  # a path no module holds
    assert _identities_without_fallback(monkeypatch) == published
