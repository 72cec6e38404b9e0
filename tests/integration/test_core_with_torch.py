"""fuse-core's torch-aware behaviour, against real torch (fuse-core itself never imports torch at module level)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from fuse.core import NDict, Seed, is_tensor, loaded_torch, to_numpy, uncollate


def test_set_seed_seeds_torch_and_returns_a_generator() -> None:
    generator = Seed.set_seed(1234)
    assert isinstance(generator, torch.Generator)
    assert generator.initial_seed() == 1234
    first = (torch.rand(3), np.random.rand(), random.random())
    Seed.set_seed(1234)
    second = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(first[0], second[0])
    assert first[1:] == second[1:]
    assert torch.are_deterministic_algorithms_enabled()
    Seed.set_seed(1234, deterministic_mode=False)
    assert not torch.are_deterministic_algorithms_enabled()


class _RandomDataset(Dataset[tuple[float, float]]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> tuple[float, float]:
        return float(np.random.rand()), random.random()


def _draws(generator: torch.Generator) -> list[tuple[float, float]]:
    loader = DataLoader(
        _RandomDataset(), batch_size=1, num_workers=2, worker_init_fn=Seed.seed_worker_init,
        generator=generator, multiprocessing_context="fork",
    )  # fmt: skip
    return [(float(a), float(b)) for a, b in loader]


def test_seed_worker_init_gives_workers_distinct_reproducible_streams() -> None:
    draws = _draws(Seed.set_seed(7))  # type: ignore[arg-type]
    assert len(set(draws)) == len(draws)  # without worker seeding, both workers would repeat numpy draws
    assert _draws(Seed.set_seed(7)) == draws  # type: ignore[arg-type]


def test_ndict_with_tensors() -> None:
    nd = NDict({"a": np.arange(3), "b": {"c": torch.tensor([[10, 11], [12, 13], [14, 15]]), "d": [0, 1, 2], "f": 4}})
    selected = nd.indices(np.array([True, False, True]))
    assert torch.equal(selected["b.c"], torch.tensor([[10, 11], [14, 15]]))
    assert selected["b.d"] == [0, 2]
    assert selected["b.f"] == 4
    assert torch.equal(nd.indices(torch.tensor([2]))["b.c"], torch.tensor([[14, 15]]))
    assert nd == nd.clone()
    assert nd != NDict({**nd.to_dict(), "b.c": torch.zeros(3, 2, dtype=torch.int64)})
    assert NDict({"t": torch.zeros(2)}) != NDict({"t": torch.zeros(1)})  # no broadcasting into "equal"
    assert NDict({"t": torch.zeros(2)}) != NDict({"t": np.zeros(2)})


def test_uncollate_tensors() -> None:
    batch = {"data.sample_id": ["x", "y"], "logits": torch.tensor([[0.1, 0.9], [0.7, 0.3]]), "loss": torch.tensor(0.5)}
    samples = uncollate(batch)
    assert [s["data.sample_id"] for s in samples] == ["x", "y"]
    assert torch.equal(samples[1]["logits"], torch.tensor([0.7, 0.3]))
    assert torch.equal(samples[0]["loss"], torch.tensor(0.5))  # 0-d tensor: broadcast


@pytest.mark.cuda
def test_cuda_tensors_in_ndict_and_uncollate() -> None:
    device = torch.device("cuda")
    nd = NDict({"img": torch.arange(6, device=device).reshape(3, 2), "ids": ["a", "b", "c"]})
    selected = nd.indices(torch.tensor([True, False, True], device=device))
    assert selected["img"].device.type == "cuda"
    assert torch.equal(selected["img"].cpu(), torch.tensor([[0, 1], [4, 5]]))
    assert selected["ids"] == ["a", "c"]
    assert nd == nd.clone()
    samples = uncollate({"data.sample_id": ["a", "b", "c"], "img": nd["img"]})
    assert samples[2]["img"].device.type == "cuda"
    assert torch.equal(samples[2]["img"].cpu(), torch.tensor([4, 5]))


@pytest.mark.cuda
def test_set_seed_makes_cuda_work_reproducible() -> None:
    def run() -> torch.Tensor:
        Seed.set_seed(2024)
        a = torch.randn(512, 512, device="cuda")
        b = torch.randn(512, 512, device="cuda")
        return (a @ b).sum(dim=0).cpu()

    assert torch.equal(run(), run())


def test_tensors_are_leaves_and_mappings_still_nest() -> None:
    tensor, parameter = torch.zeros(2), torch.nn.Parameter(torch.ones(1))
    for _ in range(2):  # the second time through the cached leaf types
        nd = NDict({"data": {"x": tensor, "w": parameter}})
        nd["model.out"] = tensor
        nd["model.heads"] = {"a": tensor, "b": {"c": parameter}}
        assert nd.keypaths() == ["data.x", "data.w", "model.out", "model.heads.a", "model.heads.b.c"]
        assert nd["model.out"] is tensor
        assert nd["model.heads.b.c"] is parameter


def test_tensor_interop_recognises_tensors_and_converts_them() -> None:
    assert loaded_torch() is torch
    parameter = torch.nn.Parameter(torch.ones(2, requires_grad=True))
    assert is_tensor(parameter)
    assert is_tensor(torch.zeros(1))
    assert not is_tensor(np.zeros(1))
    converted = to_numpy(parameter * 2)
    assert isinstance(converted, np.ndarray)
    assert converted.tolist() == [2.0, 2.0]
    widened = to_numpy(torch.tensor([1.5], dtype=torch.bfloat16))
    assert widened.dtype == np.float32
    assert widened.tolist() == [1.5]
