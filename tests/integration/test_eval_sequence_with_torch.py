"""fuse-eval's sequence-generation metrics fed with real torch tensors (fuse-eval itself never imports torch):
FuseMedML's perplexity and count examples, DataLoader batches, half precision, and the on-device gather."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from fuse.eval import EvaluatorDefault, MetricCountSeqAndTokens, MetricPerplexity, perplexity, perplexity_update

# FuseMedML 0.4.1: example_seq_gen_0 (DataFrame, float32 sums per row) and example_seq_gen_1 (batches of 100,
# float32 sums per batch). fuse sums in float64, so both routes give the float64 value, close to both.
FUSEMEDML_DATAFRAME = 162.87090508064747
FUSEMEDML_BATCHES = 162.87088391196144


def _seq_gen_data(seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    pred = torch.nn.functional.softmax(torch.randn(1000, 7, 100), dim=-1)
    target = torch.randint(0, 100, (1000, 7))
    return pred, target


def _float64_reference(pred: torch.Tensor, target: torch.Tensor) -> float:
    picked = pred.gather(2, target.unsqueeze(-1)).squeeze(-1).double()
    return float(torch.exp(-picked.log().sum() / picked.numel()))


class _DictDataset(Dataset[dict[str, Any]]):
    def __init__(self, **columns: torch.Tensor) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"id": index, **{key: value[index] for key, value in self.columns.items()}}


def test_fusemedml_perplexity_example_from_a_dataframe() -> None:
    pred, target = _seq_gen_data()
    frame = pd.DataFrame({"pred": list(pred.numpy()), "label": list(target.numpy()), "id": range(1000)})
    results = EvaluatorDefault().eval(
        ids=None, data=frame, metrics={"perplexity": MetricPerplexity(preds="pred", target="label")}
    )
    value = results["metrics.perplexity"]
    assert value == pytest.approx(_float64_reference(pred, target), rel=1e-13)
    assert value == pytest.approx(FUSEMEDML_DATAFRAME, rel=1e-7)
    assert value == pytest.approx(162.87, abs=0.005)


def test_fusemedml_perplexity_example_from_tensor_batches() -> None:
    pred, target = _seq_gen_data()
    loader = DataLoader(_DictDataset(pred=pred, label=target), batch_size=100)
    results = EvaluatorDefault().eval(
        ids=None, data=loader, metrics={"perplexity": MetricPerplexity(preds="pred", target="label")}, batch_size=0
    )
    value = results["metrics.perplexity"]
    assert value == pytest.approx(_float64_reference(pred, target), rel=1e-13)
    assert value == pytest.approx(FUSEMEDML_BATCHES, rel=1e-6)
    assert value == pytest.approx(FUSEMEDML_DATAFRAME, rel=1e-7)  # no longer depends on the batching


def test_fusemedml_count_example_with_a_dataloader() -> None:
    tokens = torch.arange(5000).reshape(10, 500)
    loader = DataLoader(_DictDataset(encoder_input_tokens=tokens), batch_size=1)
    metric = MetricCountSeqAndTokens(encoder_input="encoder_input_tokens", ignore_index=4999)
    results = EvaluatorDefault().eval(ids=None, data=loader, metrics={"count": metric}, batch_size=0)
    assert results["metrics.count"] == {"seq_num": 10, "token_num": 4999}


def test_tensors_with_padding_and_mixed_inputs() -> None:
    pred, target = _seq_gen_data(7)
    pred, target = pred[:50], target[:50].clone()
    target[:, 5:] = -100
    expected = perplexity(pred.numpy(), target.numpy(), ignore_index=-100)
    assert perplexity(pred, target, ignore_index=-100) == pytest.approx(expected, rel=1e-14)  # on-device gather
    assert perplexity(pred, target.numpy(), ignore_index=-100) == expected  # host path
    assert perplexity(list(pred), list(target), ignore_index=-100) == expected  # collated lists of tensors


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors(dtype: torch.dtype) -> None:
    pred, target = _seq_gen_data(3)
    pred, target = pred[:20].to(dtype), target[:20]
    picked = pred.gather(2, target.unsqueeze(-1)).squeeze(-1).double()
    expected = float(torch.exp(-picked.log().sum() / picked.numel()))
    assert perplexity(pred, target) == pytest.approx(expected, rel=1e-13)
    assert perplexity(pred, target.numpy()) == pytest.approx(expected, rel=1e-13)  # bfloat16 widened on the host


def test_invalid_tensor_targets_raise_before_gathering() -> None:
    pred, target = _seq_gen_data(4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        perplexity_update(pred[:2], target[:2] + 100)


@pytest.mark.cuda
def test_cuda_tensors_are_gathered_on_the_device() -> None:
    pred, target = _seq_gen_data(5)
    expected = perplexity(pred.numpy(), target.numpy())
    on_gpu = perplexity(pred.cuda(), target.cuda())
    assert on_gpu == pytest.approx(expected, rel=1e-13)
    assert perplexity(pred.cuda(), target) == pytest.approx(expected, rel=1e-13)  # target moved to preds' device
    metric = MetricCountSeqAndTokens(encoder_input="tokens", ignore_index=0)
    metric.collect({"tokens": torch.tensor([[1, 2, 0]], device="cuda")})
    assert metric.eval() == {"seq_num": 1, "token_num": 2}
    assert np.isfinite(on_gpu)
