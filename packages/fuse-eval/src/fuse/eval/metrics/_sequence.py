"""Sequence-generation metrics: perplexity and sequence / token counts, accumulated batch by batch.

FuseMedML's ``MetricPerplexity`` and ``MetricCountSeqAndTokens`` with the same arguments and results, built on
:class:`~fuse.eval.MetricPerBatchDefault`: each batch is reduced to a few numbers while collecting, so the
(large) predictions are never stored. They work in every evaluator mode: DataFrames (``batch_size=None``),
sample iterators (``batch_size > 0``) and batch iterators such as a DataLoader (``batch_size == 0``).

Batches may hold numpy arrays, lists of per-sample arrays or torch tensors; tensors are recognised and copied with
``fuse.core.is_tensor`` / ``to_numpy`` (fuse-eval never imports torch). When both ``preds`` and ``target`` are tensors, the target-token
probabilities are picked on the tensors' device (``gather``), so only ``batch x length`` values reach the host,
not ``batch x length x vocabulary``.

Compatibility: FuseMedML's metrics, summing log-probabilities in float64 so that the perplexity does not depend on
the batch size (see docs/migration.md).
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import is_tensor, to_numpy
from fuse.eval.framework._metric_base import MetricPerBatchDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel

__all__ = ["MetricCountSeqAndTokens", "MetricPerplexity", "count_seq_and_tokens", "perplexity", "perplexity_update"]


# float16 probabilities underflow to 0; FuseMedML clamps them (and only them) before the log
_FLOAT16_MIN_PROBABILITY = 1e-10


def _as_array(value: Any, what: str) -> np.ndarray:
    """A batch value as one array: a tensor, an array, or a sequence of per-sample arrays / tensors (stacked)."""
    value = to_numpy(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value
    items = [np.asarray(to_numpy(item)) for item in value]
    if not items:
        return np.empty((0,))
    try:
        return np.stack(items)
    except ValueError:
        shapes = sorted({item.shape for item in items})
        raise ValueError(f"{what} holds per-sample arrays of different shapes {shapes[:4]}; pad them") from None


def _check_ignore_index(ignore_index: Any) -> None:
    if ignore_index is not None and (not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool)):
        raise ValueError(f"ignore_index must be an integer token id or None, got {ignore_index!r}")


def perplexity_update(preds: Any, target: Any, ignore_index: int | None = None) -> tuple[float, int]:
    """``(-sum log p(target token), number of target tokens)`` of one batch, the sum taken in float64.

    :param preds: probabilities (after softmax) ``[batch, length, vocabulary]``: an array, a tensor, or a
        sequence of per-sample ``[length, vocabulary]`` arrays.
    :param target: token ids ``[batch, length]`` (same forms).
    :param ignore_index: a token id that is not scored (typically padding); it may lie outside the vocabulary.

    A target token of probability 0 gives an infinite sum (float16 probabilities are clamped to 1e-10 first,
    as in FuseMedML, because they underflow).

    >>> import numpy as np
    >>> preds = np.array([[[0.5, 0.5], [0.9, 0.1]]])
    >>> perplexity_update(preds, np.array([[0, 1]]))
    (2.995732273553991, 2)
    >>> perplexity_update(preds, np.array([[0, -100]]), ignore_index=-100)
    (0.6931471805599453, 1)
    """
    _check_ignore_index(ignore_index)
    on_device = is_tensor(preds) and is_tensor(target)
    target_array = _as_array(target, "target")
    preds_array: np.ndarray | None = None
    if on_device:
        preds_shape = tuple(preds.shape)
    else:
        preds_array = _as_array(preds, "preds")
        preds_shape = preds_array.shape
    if len(preds_shape) != 3:
        raise ValueError(f"preds must be probabilities [batch, length, vocabulary], got shape {preds_shape}")
    if target_array.shape != preds_shape[:2]:
        raise ValueError(
            f"target must hold token ids [batch, length] = {list(preds_shape[:2])}, got shape {target_array.shape}"
        )
    vocabulary = preds_shape[2]
    flat_target = target_array.reshape(-1)
    if not (flat_target.dtype == bool or np.issubdtype(flat_target.dtype, np.integer)):
        raise ValueError(f"target must hold integer token ids, got dtype {flat_target.dtype}")
    keep = np.ones(len(flat_target), dtype=bool) if ignore_index is None else flat_target != ignore_index
    tokens = flat_target[keep].astype(np.int64)
    outside = (tokens < 0) | (tokens >= vocabulary)
    if outside.any():
        raise ValueError(
            f"target holds token ids {sorted(set(tokens[outside].tolist()))[:5]} outside the vocabulary "
            f"[0, {vocabulary}) of preds (ignore_index={ignore_index!r})"
        )
    if on_device:
        index = target.detach().reshape(-1, 1).clamp(0, vocabulary - 1).to(preds.device).long()
        gathered = to_numpy(preds.detach().reshape(-1, vocabulary).gather(1, index).reshape(-1))
        probabilities = np.asarray(gathered)[keep]
    else:
        assert preds_array is not None
        probabilities = preds_array.reshape(-1, vocabulary)[np.flatnonzero(keep), tokens]
    half = probabilities.dtype == np.float16
    try:
        probabilities = probabilities.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"preds must hold probabilities (numbers), got dtype {probabilities.dtype}") from None
    invalid = ~((probabilities >= 0) & (probabilities <= 1))
    if invalid.any():
        raise ValueError(
            "preds must hold probabilities in [0, 1] (apply softmax to logits); the target tokens got values such as "
            f"{probabilities[invalid][:3].tolist()}"
        )
    if half:
        probabilities = np.maximum(probabilities, _FLOAT16_MIN_PROBABILITY)
    with np.errstate(divide="ignore"):
        negative_log_sum = float(-np.sum(np.log(probabilities)))
    return negative_log_sum, len(tokens)


def _perplexity_from_sums(
    negative_log_sums: Sequence[float] | np.ndarray, token_counts: Sequence[int] | np.ndarray
) -> float:
    tokens = int(np.sum(np.asarray(token_counts, dtype=np.int64)))
    if tokens == 0:
        warnings.warn(
            "perplexity is undefined without target tokens; returning NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        return float("nan")
    return float(np.exp(np.sum(np.asarray(negative_log_sums, dtype=np.float64)) / tokens))


def perplexity(preds: Any, target: Any, ignore_index: int | None = None) -> float:
    """Perplexity ``exp(-sum log p(target token) / number of tokens)`` of one batch of probabilities; see
    :func:`perplexity_update` for the inputs. NaN with a warning when no token is scored.

    >>> import numpy as np
    >>> round(perplexity(np.full((2, 3, 4), 0.25), np.zeros((2, 3), dtype=int)), 12)  # uniform over 4 tokens
    4.0
    """
    negative_log_sum, tokens = perplexity_update(preds, target, ignore_index)
    return _perplexity_from_sums([negative_log_sum], [tokens])


def count_seq_and_tokens(
    encoder_input: Any, decoder_input: Any = None, ignore_index: int | None = None
) -> tuple[int, int]:
    """``(sequences, tokens)`` of one batch: the number of sequences in ``encoder_input`` and the number of its
    tokens other than ``ignore_index``, plus those of ``decoder_input`` when given (it must hold as many
    sequences). Inputs are ``[batch, length]`` arrays / tensors or sequences of per-sample token arrays (which
    may differ in length).

    >>> import numpy as np
    >>> count_seq_and_tokens(np.array([[5, 6, 0], [7, 0, 0]]), ignore_index=0)
    (2, 3)
    >>> count_seq_and_tokens([np.array([1, 2, 3]), np.array([4])], decoder_input=[np.array([9]), np.array([8, 7])])
    (2, 7)
    """
    _check_ignore_index(ignore_index)
    sequences, tokens = _count(encoder_input, ignore_index, "encoder_input")
    if decoder_input is not None:
        decoder_sequences, decoder_tokens = _count(decoder_input, ignore_index, "decoder_input")
        if decoder_sequences != sequences:
            raise ValueError(
                f"decoder_input holds {decoder_sequences} sequences but encoder_input holds {sequences}; they must match"
            )
        tokens += decoder_tokens
    return sequences, tokens


def _count(value: Any, ignore_index: int | None, what: str) -> tuple[int, int]:
    value = to_numpy(value)
    if isinstance(value, (numbers.Number, np.generic, str)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.ndim == 0:
            raise ValueError(f"{what} must hold one token sequence per sample, got a scalar {value!r}")
        counted = value.size if ignore_index is None else int(np.count_nonzero(value != ignore_index))
        return int(value.shape[0]), int(counted)
    samples = [np.asarray(to_numpy(item)) for item in value]
    if ignore_index is None:
        return len(samples), int(sum(sample.size for sample in samples))
    return len(samples), int(sum(np.count_nonzero(sample != ignore_index) for sample in samples))


def _batch_value(batch: Mapping[str, Any], key: str, metric: str) -> Any:
    try:
        return batch[key]
    except KeyError:
        keys = list(batch.keys())
        raise KeyError(f"{metric}: key {key!r} is missing in the batch; available keys: {keys[:20]}") from None


def _perplexity_batch(
    batch: Mapping[str, Any], preds_key: str, target_key: str, ignore_index: int | None
) -> dict[str, np.ndarray]:
    preds = _batch_value(batch, preds_key, "MetricPerplexity")
    target = _batch_value(batch, target_key, "MetricPerplexity")
    negative_log_sum, tokens = perplexity_update(preds, target, ignore_index)
    return {"neg_log_prob": np.array([negative_log_sum]), "token_num": np.array([tokens], dtype=np.int64)}


def _perplexity_compute(neg_log_prob: np.ndarray | None = None, token_num: np.ndarray | None = None) -> float:
    if neg_log_prob is None or token_num is None:
        neg_log_prob, token_num = np.empty(0), np.empty(0, dtype=np.int64)
    return _perplexity_from_sums(neg_log_prob, token_num)


class MetricPerplexity(MetricPerBatchDefault):
    """Perplexity over all collected batches (FuseMedML's ``MetricPerplexity``): every batch contributes its
    float64 sum of ``-log p(target token)`` and its token count; ``eval`` returns ``exp(total / tokens)``.
    ``preds`` and ``target`` are keys; see :func:`perplexity_update`. Per-batch sums have no sample ids, so this
    metric cannot run inside ``CI``, ``GroupAnalysis`` or ``Filter``.

    >>> import numpy as np
    >>> metric = MetricPerplexity(preds="probs", target="tokens", ignore_index=-100)
    >>> metric.collect({"probs": np.full((2, 3, 4), 0.25), "tokens": np.array([[1, 2, -100], [3, -100, -100]])})
    >>> metric.collect({"probs": np.full((1, 3, 4), 0.5), "tokens": np.array([[0, 1, 2]])})
    >>> round(metric.eval(), 12)  # three tokens at p = 1/4 and three at p = 1/2
    2.828427124746
    """

    def __init__(self, preds: str, target: str, ignore_index: int | None = None, **kwargs: Any) -> None:
        _check_ignore_index(ignore_index)
        super().__init__(
            neg_log_prob="neg_log_prob",
            token_num="token_num",
            metric_per_batch_func=None,
            metric_per_batch_func_pre_collect=functools.partial(
                _perplexity_batch, preds_key=preds, target_key=target, ignore_index=ignore_index
            ),
            result_aggregate_func=_perplexity_compute,
            **kwargs,
        )


def _count_batch(
    batch: Mapping[str, Any], encoder_key: str, decoder_key: str | None, ignore_index: int | None
) -> dict[str, np.ndarray]:
    encoder_input = _batch_value(batch, encoder_key, "MetricCountSeqAndTokens")
    decoder_input = _batch_value(batch, decoder_key, "MetricCountSeqAndTokens") if decoder_key is not None else None
    sequences, tokens = count_seq_and_tokens(encoder_input, decoder_input, ignore_index)
    return {"seq_num": np.array([sequences], dtype=np.int64), "token_num": np.array([tokens], dtype=np.int64)}


class MetricCountSeqAndTokens(MetricPerBatchDefault):
    """The number of sequences and tokens seen, cumulative across evaluations (FuseMedML's
    ``MetricCountSeqAndTokens``): ``{"seq_num", "token_num"}``. See :func:`count_seq_and_tokens`.

    Every ``eval`` adds the batches collected since the previous ``eval`` (or ``reset``) to a running state and
    returns it, so counts keep growing across epochs. Save :meth:`get_state` with a checkpoint and pass it back
    as ``state`` when training resumes.

    >>> import numpy as np
    >>> metric = MetricCountSeqAndTokens(encoder_input="tokens", ignore_index=0, state={"seq_num": 10, "token_num": 50})
    >>> metric.collect({"tokens": np.array([[5, 6, 0], [7, 0, 0]])})
    >>> metric.eval()
    {'seq_num': 12, 'token_num': 53}
    >>> metric.reset(); metric.collect({"tokens": np.array([[1, 2, 3]])})
    >>> metric.eval(), metric.eval()  # counted once
    ({'seq_num': 13, 'token_num': 56}, {'seq_num': 13, 'token_num': 56})
    """

    def __init__(
        self,
        encoder_input: str,
        decoder_input: str | None = None,
        ignore_index: int | None = None,
        state: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        _check_ignore_index(ignore_index)
        super().__init__(
            seq_num="seq_num",
            token_num="token_num",
            metric_per_batch_func=None,
            metric_per_batch_func_pre_collect=functools.partial(
                _count_batch, encoder_key=encoder_input, decoder_key=decoder_input, ignore_index=ignore_index
            ),
            result_aggregate_func=self._accumulate,
            **kwargs,
        )
        self._state = self._initial_state(state)
        self._counted_batches = 0

    @staticmethod
    def _initial_state(state: Mapping[str, int] | None) -> dict[str, int]:
        if state is None:
            return {"seq_num": 0, "token_num": 0}
        missing = [key for key in ("seq_num", "token_num") if key not in state]
        if missing:
            raise ValueError(
                f"state must hold 'seq_num' and 'token_num' (from get_state()); {missing} missing in {state!r}"
            )
        for key in ("seq_num", "token_num"):
            value = state[key]
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"state[{key!r}] must be a non-negative integer, got {value!r}")
        return {"seq_num": int(state["seq_num"]), "token_num": int(state["token_num"])}

    def reset(self) -> None:
        super().reset()
        self._counted_batches = 0

    def _accumulate(self, seq_num: np.ndarray | None = None, token_num: np.ndarray | None = None) -> dict[str, int]:
        if seq_num is not None and token_num is not None:
            new = slice(self._counted_batches, None)
            self._state["seq_num"] += int(np.sum(np.asarray(seq_num[new], dtype=np.int64)))
            self._state["token_num"] += int(np.sum(np.asarray(token_num[new], dtype=np.int64)))
            self._counted_batches = len(seq_num)
        return dict(self._state)

    def get_state(self) -> dict[str, int]:
        """A copy of the running counts, to restore with ``state=`` (e.g. when training resumes)."""
        return dict(self._state)
