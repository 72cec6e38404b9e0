"""Perplexity and sequence/token counts without torch: against a direct numpy formula, across the evaluator's
input modes, with FuseMedML's count example, and through a duck-typed stand-in for a device tensor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import is_tensor, to_numpy
from fuse.eval import (
    EvaluatorDefault,
    GroupAnalysis,
    MetricCountSeqAndTokens,
    MetricPerplexity,
    UndefinedMetricWarning,
    count_seq_and_tokens,
    perplexity,
    perplexity_update,
)

IGNORE = -100


def _sequences(seed: int, batch: int = 12, length: int = 9, vocabulary: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(vocabulary), size=(batch, length)).astype(np.float32)
    target = rng.integers(0, vocabulary, (batch, length))
    target[rng.random((batch, length)) < 0.2] = IGNORE  # padding
    return probs, target


def _direct_perplexity(probs: np.ndarray, target: np.ndarray) -> float:
    """exp(mean of -log p(target)) over the non-ignored tokens, written with plain numpy indexing."""
    b, t = np.nonzero(target != IGNORE)
    return float(np.exp(-np.mean(np.log(probs[b, t, target[b, t]].astype(np.float64)))))


# --- perplexity ---------------------------------------------------------------------------------------------------


def test_perplexity_equals_the_direct_formula() -> None:
    probs, target = _sequences(0)
    expected = _direct_perplexity(probs, target)
    assert perplexity(probs, target, ignore_index=IGNORE) == pytest.approx(expected, rel=1e-13)
    negative_log_sum, tokens = perplexity_update(probs, target, ignore_index=IGNORE)
    assert tokens == int(np.sum(target != IGNORE))
    assert np.exp(negative_log_sum / tokens) == pytest.approx(expected, rel=1e-13)
    # sequences of per-sample arrays (a collated list, a DataFrame column) give the same
    assert perplexity(list(probs), list(target), ignore_index=IGNORE) == perplexity(probs, target, IGNORE)


def test_uniform_predictions_have_the_vocabulary_size_as_perplexity() -> None:
    assert perplexity(np.full((3, 5, 8), 1 / 8), np.zeros((3, 5), dtype=int)) == pytest.approx(8.0, rel=1e-14)


def _batches(probs: np.ndarray, target: np.ndarray, size: int) -> Iterator[dict[str, Any]]:
    for start in range(0, len(probs), size):
        yield {"pred": probs[start : start + size], "label": target[start : start + size]}


def test_metric_gives_the_same_value_in_every_evaluator_mode() -> None:
    probs, target = _sequences(1)
    expected = _direct_perplexity(probs, target)
    frame = pd.DataFrame({"id": range(len(probs)), "pred": list(probs), "label": list(target)})

    def metric() -> dict[str, MetricPerplexity]:
        return {"perplexity": MetricPerplexity(preds="pred", target="label", ignore_index=IGNORE)}

    from_frame = EvaluatorDefault().eval(ids=None, data=frame, metrics=metric())["metrics.perplexity"]
    from_batches = EvaluatorDefault().eval(ids=None, data=_batches(probs, target, 5), metrics=metric(), batch_size=0)[
        "metrics.perplexity"
    ]
    from_samples = EvaluatorDefault().eval(
        ids=None, data=iter(frame.to_dict("records")), metrics=metric(), batch_size=4
    )["metrics.perplexity"]
    # float64 sums: the value no longer depends on how the data was batched (FuseMedML's did)
    assert from_frame == pytest.approx(expected, rel=1e-13)
    assert from_batches == pytest.approx(expected, rel=1e-13)
    assert from_samples == pytest.approx(expected, rel=1e-13)


def test_sums_are_float64() -> None:
    # 3000 tokens at p = 0.1 (not exact in float32): a float32 running sum drifts, a float64 one does not
    probs = np.full((3000, 1, 2), 0.1, dtype=np.float32)
    target = np.zeros((3000, 1), dtype=int)
    negative_log_sum, _ = perplexity_update(probs, target)
    assert negative_log_sum == pytest.approx(-3000 * np.log(np.float64(np.float32(0.1))), rel=1e-14)
    float32_sum = np.float32(0)
    for value in -np.log(probs[:, 0, 0]):
        float32_sum += value
    assert abs(float(float32_sum) - negative_log_sum) > 1e-4


def test_zero_probabilities() -> None:
    probs = np.array([[[1.0, 0.0], [0.5, 0.5]]])
    target = np.array([[1, 0]])
    with np.errstate(all="raise"):  # no numpy warning escapes
        assert perplexity(probs.astype(np.float32), target) == np.inf
        # float16 probabilities underflow to 0, so FuseMedML clamps them (only them) to 1e-10
        assert perplexity(probs.astype(np.float16), target) == pytest.approx(np.sqrt(2 / 1e-10), rel=1e-9)


def test_no_scored_token_is_nan_with_a_warning() -> None:
    probs, target = _sequences(2)
    with pytest.warns(UndefinedMetricWarning, match="without target tokens"):
        assert np.isnan(perplexity(probs, np.full_like(target, IGNORE), ignore_index=IGNORE))
    metric = MetricPerplexity(preds="pred", target="label")
    with pytest.warns(UndefinedMetricWarning, match="without target tokens"):
        assert np.isnan(metric.eval())  # nothing collected


def test_invalid_inputs_raise() -> None:
    probs, target = _sequences(3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        perplexity(probs, target)  # the padding id -100 is not ignored
    with pytest.raises(ValueError, match="apply softmax"):
        perplexity(np.log(probs), target, ignore_index=IGNORE)
    with pytest.raises(ValueError, match=r"\[batch, length, vocabulary\]"):
        perplexity(probs[0], target[0])
    with pytest.raises(ValueError, match=r"target must hold token ids \[batch, length\] = \[12, 9\]"):
        perplexity(probs, target[:, :3])
    with pytest.raises(ValueError, match="integer token ids"):
        perplexity(probs, target.astype(float))
    with pytest.raises(ValueError, match="ignore_index must be an integer"):
        MetricPerplexity(preds="pred", target="label", ignore_index=0.5)  # type: ignore[arg-type]
    metric = MetricPerplexity(preds="pred", target="label")
    with pytest.raises(KeyError, match="MetricPerplexity: key 'label' is missing"):
        metric.collect({"pred": probs})


def test_per_batch_metrics_cannot_be_evaluated_per_group() -> None:
    probs, target = _sequences(4)
    frame = pd.DataFrame({"id": range(12), "pred": list(probs), "label": list(target), "g": [0, 1] * 6})
    metrics = {"p": GroupAnalysis(MetricPerplexity(preds="pred", target="label", ignore_index=IGNORE), group="g")}
    with pytest.raises(ValueError, match="cannot be selected by sample id"):
        EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)


def test_tensor_batches_pick_target_probabilities_before_copying(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from fuse.eval.metrics import _sequence

    host_copies: list[int] = []

    def recording(value: Any) -> Any:
        if is_tensor(value):
            host_copies.append(int(value.numel()))
        return to_numpy(value)

    monkeypatch.setattr(_sequence, "to_numpy", recording)
    probs, target = _sequences(5, batch=4, length=6, vocabulary=50)
    expected = perplexity_update(probs, target, IGNORE)
    on_device = perplexity_update(torch.from_numpy(probs), torch.from_numpy(target), IGNORE)
    assert on_device[1] == expected[1]
    assert on_device[0] == pytest.approx(expected[0], rel=1e-12)
    assert max(host_copies) == 4 * 6  # never the 4 x 6 x 50 probabilities
    # a tensor with an array target takes the host path, with the same result
    assert perplexity_update(torch.from_numpy(probs), target, IGNORE) == pytest.approx(expected, rel=1e-12)


# --- sequence and token counts ------------------------------------------------------------------------------------


def test_fusemedml_count_example() -> None:
    tokens = np.arange(5000).reshape(10, 500)
    batches = ({"encoder_input_tokens": tokens[i : i + 1], "id": [i]} for i in range(10))
    metric = MetricCountSeqAndTokens(encoder_input="encoder_input_tokens", ignore_index=4999)
    results = EvaluatorDefault().eval(ids=None, data=batches, metrics={"count": metric}, batch_size=0)
    assert results["metrics.count.seq_num"] == 10
    assert results["metrics.count.token_num"] == 4999
    assert isinstance(results["metrics.count.seq_num"], int)


def test_a_dataframe_row_is_one_sequence() -> None:
    tokens = np.arange(5000).reshape(10, 500)
    frame = pd.DataFrame({"id": range(10), "encoder_input_tokens": list(tokens)})
    metric = MetricCountSeqAndTokens(encoder_input="encoder_input_tokens", ignore_index=4999)
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics={"count": metric})
    assert results["metrics.count"] == {"seq_num": 10, "token_num": 4999}  # FuseMedML: seq_num 5000


def test_counts_are_cumulative_across_evaluations() -> None:
    tokens = np.arange(5000).reshape(10, 500)

    def batches() -> Iterator[dict[str, Any]]:
        return ({"tokens": tokens[i : i + 2]} for i in range(0, 10, 2))

    metric = MetricCountSeqAndTokens(encoder_input="tokens", ignore_index=4999)
    evaluator = EvaluatorDefault()
    assert evaluator.eval(None, batches(), {"c": metric}, batch_size=0)["metrics.c"] == {
        "seq_num": 10,
        "token_num": 4999,
    }
    assert metric.eval() == {"seq_num": 10, "token_num": 4999}  # evaluating again adds nothing new
    assert evaluator.eval(None, batches(), {"c": metric}, batch_size=0)["metrics.c.seq_num"] == 20
    state = metric.get_state()
    assert state == {"seq_num": 20, "token_num": 9998}
    state["seq_num"] = 0
    assert metric.get_state()["seq_num"] == 20  # a copy
    resumed = MetricCountSeqAndTokens(encoder_input="tokens", ignore_index=4999, state=metric.get_state())
    assert evaluator.eval(None, batches(), {"c": resumed}, batch_size=0)["metrics.c"] == {
        "seq_num": 30,
        "token_num": 14997,
    }


def test_decoder_tokens_are_added() -> None:
    encoder = np.array([[1, 2, 0], [3, 0, 0]])
    decoder = np.array([[4, 0], [5, 6]])
    assert count_seq_and_tokens(encoder, decoder, ignore_index=0) == (2, 6)
    assert count_seq_and_tokens(encoder, decoder) == (2, 10)
    metric = MetricCountSeqAndTokens(encoder_input="enc", decoder_input="dec", ignore_index=0)
    metric.collect({"enc": encoder, "dec": decoder})
    assert metric.eval() == {"seq_num": 2, "token_num": 6}
    with pytest.raises(ValueError, match="decoder_input holds 1 sequences but encoder_input holds 2"):
        count_seq_and_tokens(encoder, decoder[:1])
    with pytest.raises(KeyError, match="key 'dec' is missing"):
        metric.collect({"enc": encoder})


def test_ragged_sequences_and_tensor_like_tokens() -> None:
    assert count_seq_and_tokens([np.array([1, 2, 3]), np.array([4])], ignore_index=4) == (2, 3)


def test_tensor_tokens_are_counted() -> None:
    torch = pytest.importorskip("torch")
    assert count_seq_and_tokens(torch.tensor([[1, 2], [3, 9]]), ignore_index=9) == (2, 3)


def test_invalid_count_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"'token_num'\] missing"):
        MetricCountSeqAndTokens(encoder_input="tokens", state={"seq_num": 3})
    with pytest.raises(ValueError, match=r"state\['seq_num'\] must be a non-negative integer, got -1"):
        MetricCountSeqAndTokens(encoder_input="tokens", state={"seq_num": -1, "token_num": 0})
    with pytest.raises(ValueError, match="one token sequence per sample"):
        count_seq_and_tokens(np.int64(5))
