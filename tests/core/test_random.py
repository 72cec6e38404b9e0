"""Seeding and parameter samplers (FuseMedML's test_param_sampler.py behaviours), torch-free paths."""

from __future__ import annotations

import importlib.util
import random
import sys

import numpy as np
import pytest

from fuse.core import (
    Choice,
    Gaussian,
    NDict,
    ParamSamplerBase,
    RandBool,
    RandInt,
    Seed,
    Uniform,
    draw_samples_recursively,
    seed_worker_init,
    set_seed,
)


def test_uniform() -> None:
    Seed.set_seed(0)
    low = random.random() * 1000
    high = random.random() * 1000 + low
    uniform = Uniform(low, high)
    values = [uniform.sample() for _ in range(100)]
    assert all(low <= v <= high for v in values)
    assert len(set(values)) == 100
    Seed.set_seed(1234)
    first = uniform.sample()
    Seed.set_seed(1234)
    assert uniform.sample() == first


def test_randint_is_inclusive_and_reproducible() -> None:
    Seed.set_seed(0)
    randint = RandInt(3, 5)
    assert {randint.sample() for _ in range(200)} == {3, 4, 5}
    Seed.set_seed(1234)
    first = [randint.sample() for _ in range(10)]
    Seed.set_seed(1234)
    assert [randint.sample() for _ in range(10)] == first


def test_randbool() -> None:
    Seed.set_seed(0)
    assert {RandBool(0.5).sample() for _ in range(50)} == {True, False}
    Seed.set_seed(0)
    assert sum(RandBool(0.99).sample() for _ in range(1000)) >= 980
    assert not any(RandBool(0.0).sample() for _ in range(100))


def test_choice() -> None:
    Seed.set_seed(0)
    population = list(range(1000))
    choice = Choice(population)
    assert choice.sample() in population
    Seed.set_seed(1234)
    first = choice.sample()
    Seed.set_seed(1234)
    assert choice.sample() == first
    Seed.set_seed(0)
    probabilities = [0.01 / 999] * 1000
    probabilities[5] = 0.99
    weighted = Choice(population, probabilities)
    assert sum(weighted.sample() == 5 for _ in range(1000)) >= 980
    several = Choice(["x", "y"], k=4).sample()
    assert len(several) == 4
    assert set(several) <= {"x", "y"}


def test_gaussian_uses_numpy_global_generator() -> None:
    Seed.set_seed(42)
    a = Gaussian((2, 3), mean=10.0, std=0.0).sample()
    np.testing.assert_array_equal(a, np.full((2, 3), 10.0))
    Seed.set_seed(42)
    b = Gaussian((1000,), mean=1.0, std=2.0).sample()
    Seed.set_seed(42)
    np.testing.assert_array_equal(b, Gaussian((1000,), mean=1.0, std=2.0).sample())
    assert abs(b.mean() - 1.0) < 0.3
    assert abs(b.std() - 2.0) < 0.3


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Uniform(2, 1), "min <= max"),
        (lambda: RandInt(2, 1), "min <= max"),
        (lambda: RandBool(1.5), r"\[0, 1\]"),
        (lambda: Choice([]), "non-empty"),
        (lambda: Choice([1, 2], [1.0]), "1 probabilities for 2 elements"),
        (lambda: Choice([1], k=-1), "k must be"),
        (lambda: Gaussian((1,), 0, -1), "std"),
    ],
)
def test_samplers_reject_bad_parameters(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_samplers_have_a_stable_identity() -> None:
    assert repr(Uniform(1, 2)) == "Uniform(min=1, max=2)"
    assert repr(Choice(["a", "b"], None, 0)) == "Choice(seq=['a', 'b'], probabilities=None, k=0)"
    assert Uniform(1, 2) == Uniform(1, 2)
    assert Uniform(1, 2) != Uniform(1, 3)
    assert Uniform(1, 2) != RandInt(1, 2)
    assert hash(RandInt(1, 2)) == hash(RandInt(1, 2))
    assert "0x" not in repr(Gaussian((2,), 0.0, 1.0))


def test_param_sampler_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ParamSamplerBase()  # type: ignore[abstract]


def test_draw_samples_recursively_keeps_structure() -> None:
    Seed.set_seed(0)
    data = {
        "a": 5,
        "b": [3, RandInt(1, 5), 9],
        "c": {"d": 3, "f": [1, 2, RandBool(0.5), {"h": RandInt(10, 15)}]},
        "e": {"g": Choice([6, 7, 8])},
        "t": (Uniform(0, 1), "s"),
    }
    drawn = draw_samples_recursively(data)
    assert drawn["a"] == 5
    assert drawn["b"][0] == 3
    assert drawn["b"][2] == 9
    assert drawn["b"][1] in range(1, 6)
    assert drawn["c"]["f"][2] in (True, False)
    assert drawn["c"]["f"][3]["h"] in range(10, 16)
    assert drawn["e"]["g"] in (6, 7, 8)
    assert isinstance(drawn["t"], tuple)
    assert 0 <= drawn["t"][0] <= 1
    assert isinstance(data["b"][1], RandInt)  # the input is not modified
    nd = draw_samples_recursively(NDict({"x": {"y": RandInt(4, 4)}}))
    assert isinstance(nd, NDict)
    assert nd["x.y"] == 4


def test_set_seed_validates_and_seeds_random_and_numpy() -> None:
    set_seed(7)
    expected = (random.random(), np.random.rand())
    set_seed(np.int64(7))
    assert (random.random(), np.random.rand()) == expected
    with pytest.raises(TypeError):
        set_seed(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        set_seed(-1)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="checks the torch-free path")
def test_without_torch_set_seed_returns_none_and_imports_nothing() -> None:
    assert set_seed(3) is None
    assert "torch" not in sys.modules
    with pytest.raises(RuntimeError, match="torch DataLoaders"):
        seed_worker_init(0)
