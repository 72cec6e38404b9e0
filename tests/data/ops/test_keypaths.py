"""Key-management ops: keep, delete, set, copy, random choice."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    MissingSampleKeyError,
    OpCopy,
    OpDeleteKeypaths,
    OpKeepKeypaths,
    OpSet,
    OpSetIfNotExist,
    OpSetRandomChoice,
)


def _sample(sample_id: str = "case_7", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[key.replace("__", ".")] = value
    return sample


# ---------------------------------------------------------------------------------------------- key management
def test_op_keep_keypaths() -> None:
    sample = _sample(data__img=1, data__meta__age=5, data__meta__sex="F", internal__p__0="x")
    kept = OpKeepKeypaths()(sample, keep_keypaths=["data.sample_id", "data.meta"])
    assert isinstance(kept, NDict)
    assert kept.keypaths() == ["data.sample_id", "data.meta.age", "data.meta.sex"]
    assert sample["data.img"] == 1  # the input is not modified
    with pytest.raises(MissingSampleKeyError, match=r"OpKeepKeypaths: sample 'case_7' has no key 'data.nope'"):
        OpKeepKeypaths()(sample, keep_keypaths=["data.nope"])
    with pytest.raises(TypeError, match="must be a list of keys"):
        OpKeepKeypaths()(sample, keep_keypaths="data.img")


def test_op_delete_keypaths() -> None:
    sample = _sample(data__img=1, data__meta__age=5, data__meta__sex="F")
    sample = OpDeleteKeypaths()(sample, keypaths=["data.img", "data.meta"])
    assert sorted(sample.keypaths()) == ["data.initial_sample_id", "data.sample_id"]
    with pytest.raises(MissingSampleKeyError, match=r"OpDeleteKeypaths: sample 'case_7' has no key 'data.img'"):
        OpDeleteKeypaths()(sample, keypaths=["data.img"])
    with pytest.raises(TypeError, match="must be a list of keys"):
        OpDeleteKeypaths()(sample, keypaths="data.sample_id")


def test_op_set_and_set_if_not_exist() -> None:
    sample = OpSet()(_sample(a=1), key="a", value=2)
    assert sample["a"] == 2
    sample = OpSet()(sample, key="data.meta", value={"age": 3})  # a mapping is nested
    assert sample["data.meta.age"] == 3
    sample = OpSetIfNotExist()(sample, key="a", value=5)
    assert sample["a"] == 2
    sample = OpSetIfNotExist()(sample, key="data.meta", value=5)  # a prefix counts as existing
    assert sample["data.meta.age"] == 3
    assert OpSetIfNotExist()(sample, key="b", value=5)["b"] == 5


@pytest.mark.parametrize("mode", ["reference", "shallow", "deep"])
def test_op_copy_modes(mode: str) -> None:
    inner = [1]
    sample = OpCopy(mode)(_sample(src=[inner]), key_source="src", key_dest="dst")
    assert sample["dst"] == [[1]]
    assert (sample["dst"] is sample["src"]) == (mode == "reference")
    assert (sample["dst"][0] is inner) == (mode != "deep")
    assert OpCopy(mode).copy_mode == mode


def test_op_copy_errors_and_branches() -> None:
    with pytest.raises(ValueError, match=r"unknown copy_mode 'copy'; use one of \['reference', 'shallow', 'deep'\]"):
        OpCopy("copy")
    with pytest.raises(MissingSampleKeyError, match="OpCopy: sample 'case_7' has no key 'src'"):
        OpCopy()(_sample(), key_source="src", key_dest="dst")
    sample = OpCopy("deep")(_sample(data__meta__age=np.ones(1)), key_source="data.meta", key_dest="backup.meta")
    sample["data.meta.age"][0] = 5
    assert sample["backup.meta.age"][0] == 1


def test_op_set_random_choice_is_reproducible() -> None:
    def draws(op: OpSetRandomChoice) -> list[int]:
        return [op(_sample(), key="v", values=list(range(100)))["v"] for _ in range(20)]

    assert draws(OpSetRandomChoice(seed=3)) == draws(OpSetRandomChoice(seed=3))
    assert draws(OpSetRandomChoice(seed=3)) != draws(OpSetRandomChoice(seed=4))
    random.seed(11)  # what fuse.core.set_seed does to Python's generator (set_seed itself is slow: it seeds torch)
    first = draws(OpSetRandomChoice())
    random.seed(11)
    assert draws(OpSetRandomChoice()) == first  # seed=None: the global generator
    random.seed(12)
    assert draws(OpSetRandomChoice()) != first
    seeded = OpSetRandomChoice(seed=5)
    random.seed(0)
    values = draws(seeded)
    random.seed(1)
    assert draws(OpSetRandomChoice(seed=5)) == values  # its own generator ignores the global one


def test_op_set_random_choice_errors() -> None:
    with pytest.raises(ValueError, match="values is empty"):
        OpSetRandomChoice(seed=0)(_sample(), key="v", values=[])
    with pytest.raises(TypeError, match="list of candidates"):
        OpSetRandomChoice(seed=0)(_sample(), key="v", values="abc")
    with pytest.raises(TypeError, match="seed must be an int"):
        OpSetRandomChoice(seed=1.5)  # type: ignore[arg-type]
