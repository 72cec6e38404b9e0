"""Model ensembling: average or vote the predictions of several models on the same samples.

FuseMedML's ``MetricEnsemble`` with the same arguments and result format: ``{output_pred_key: PerSampleData,
output_target_key: PerSampleData, <extra keys>: PerSampleData}``, so later metrics read
``"results:metrics.<name>.preds"``; optionally written to a gzip-pickled DataFrame.

- ``"average"`` / ``"mean"``: the mean over models, ignoring missing (NaN) predictions (``np.nanmean``). Works on
  scalars (probabilities, regression outputs) and on score vectors.
- ``"vote"`` / ``"voting"``: the most frequent class label over models (``scipy.stats.mode`` semantics: ties go to
  the smallest label). Score vectors are first turned into labels by argmax (hard voting); missing predictions
  are ignored.

A sample without any prediction is NaN with an :class:`~fuse.eval.UndefinedMetricWarning`.

Compatibility: FuseMedML's ``MetricEnsemble``; ``dropna`` also filters targets and extra outputs, and only
``pred_keys`` are ensembled (see docs/migration.md).
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import AtomicFileWriter
from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._lazy import scipy_stats
from fuse.eval.framework._metric_base import MetricDefault, MetricWithCollectorBase
from fuse.eval.framework._per_sample import PerSampleData, distinct_samples
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel

__all__ = ["MetricEnsemble", "ensemble", "ENSEMBLE_METHODS"]


ENSEMBLE_METHODS: tuple[str, ...] = ("average", "mean", "vote", "voting")


_PRED = "_ensemble_pred_"


_EXTRA = "_ensemble_extra_"


# arguments of the collecting base class: everything else in MetricEnsemble's **kwargs is an extra output key
_BASE_ARGUMENTS = frozenset(inspect.signature(MetricWithCollectorBase.__init__).parameters) - {
    "self",
    "kwargs",
    "extract_ids",
}


def ensemble(preds: Sequence[ArrayLike], method: str = "average") -> np.ndarray:
    """Ensemble the predictions of several models on the same samples.

    :param preds: one array per model, each ``[n_samples]`` (scalars or labels) or ``[n_samples, n_classes]``
        (score vectors); NaN marks a missing prediction.
    :param method: ``"average"``/``"mean"`` or ``"vote"``/``"voting"`` (case-insensitive), see the module docs.
    :return: ``[n_samples]`` or ``[n_samples, n_classes]`` (average); ``[n_samples]`` labels (vote: integers unless
        a sample has no prediction, which is NaN).

    >>> ensemble([np.array([0.2, 0.9]), np.array([0.4, np.nan])])
    array([0.3, 0.9])
    >>> ensemble([[1, 0, 2], [1, 2, 2], [0, 2, 1]], method="vote")
    array([1, 2, 2])
    """
    kind = _check_method(method)
    stacked = _stack_models(preds)
    if kind == "average":
        return _average(stacked)
    return _vote(stacked)


def _check_method(method: Any) -> str:
    """``"average"`` or ``"vote"`` for a valid ``method``; ``ValueError`` otherwise."""
    lowered = method.lower() if isinstance(method, str) else None
    if lowered not in ENSEMBLE_METHODS:
        raise ValueError(f"method must be one of {list(ENSEMBLE_METHODS)}, got {method!r}")
    return "average" if lowered in ("average", "mean") else "vote"


def _stack_models(preds: Sequence[ArrayLike]) -> np.ndarray:
    """``[n_samples, n_models]`` or ``[n_samples, n_models, n_classes]`` floats."""
    if len(preds) == 0:
        raise ValueError("ensemble needs the predictions of at least one model, got none")
    arrays = [_model_array(pred, index) for index, pred in enumerate(preds)]
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"every model must predict the same shape for the same samples, got {[array.shape for array in arrays]}"
        )
    return np.stack(arrays, axis=1)


def _model_array(pred: ArrayLike, index: int) -> np.ndarray:
    """One model's predictions as floats ``[n]`` or ``[n, C]`` (float32 stays float32, as in FuseMedML); an object
    column of vectors (NaN-padded rows allowed) is stacked, and vectors of length 1 are scalars (FuseMedML).
    """
    try:
        if not isinstance(pred, np.ndarray) or pred.dtype == object:
            items = [_numbers(np.nan if item is None else item) for item in pred]
            shapes = {item.shape for item in items if item.ndim > 0}
            if len(shapes) > 1:
                raise ValueError(f"model {index} predicts values of different shapes: {sorted(shapes)}")
            shape = shapes.pop() if shapes else ()
            items = [np.full(shape, np.nan) if item.ndim == 0 and np.isnan(item) else item for item in items]
            try:
                array: np.ndarray = np.stack(items) if items else np.empty(0)
            except ValueError:
                raise ValueError(f"model {index} mixes scalar and vector predictions") from None
        else:
            array = _numbers(pred)
    except TypeError:
        raise ValueError(f"model {index} predictions must be numbers, got {list(pred)[:3]!r}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2):
        raise ValueError(f"model {index} predictions must be one value or one vector per sample, got {array.shape}")
    return array


def _numbers(value: Any) -> np.ndarray:
    """``value`` as a floating array (kept floating dtype, else float64); ``TypeError`` for non-numbers."""
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating):
        return array
    if array.dtype == bool or np.issubdtype(array.dtype, np.number):
        return array.astype(float)
    raise TypeError(f"not numbers: {array.dtype}")


def _average(stacked: np.ndarray) -> np.ndarray:
    missing = np.isnan(stacked).all(axis=1)
    if missing.ndim > 1:
        missing = missing.all(axis=1)
    if missing.any():
        _warn_missing(int(missing.sum()), len(stacked))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice", reported above
        averaged: np.ndarray = np.nanmean(stacked, axis=1)
    return averaged


def _vote(stacked: np.ndarray) -> np.ndarray:
    labels = _labels(stacked)
    n_samples, n_models = labels.shape
    if n_samples == 0:
        return np.empty(0, dtype=np.int64)
    if not np.isnan(labels).any():
        complete: np.ndarray = scipy_stats.mode(labels, axis=1, keepdims=False).mode
        return complete.astype(np.int64)
    # missing votes: scipy's nan_policy="omit" loops over rows in Python (~1000x slower), so the same semantics
    # (most frequent, ties -> smallest), vectorised: sort each row (NaN last), count equal runs, take the longest
    ordered = np.sort(labels, axis=1)
    valid = ~np.isnan(ordered)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = np.cumsum(starts, axis=1) - 1
    rows = np.broadcast_to(np.arange(n_samples)[:, None], run.shape)
    counts = np.bincount((rows * n_models + run)[valid], minlength=n_samples * n_models).reshape(n_samples, n_models)
    best_run = counts.argmax(axis=1)
    first_of_run = (run == best_run[:, None]).argmax(axis=1)
    voted: np.ndarray = ordered[np.arange(n_samples), first_of_run]
    missing = ~valid.any(axis=1)
    if missing.any():
        _warn_missing(int(missing.sum()), n_samples)
        voted[missing] = np.nan
        return voted
    return voted.astype(np.int64)


def _labels(stacked: np.ndarray) -> np.ndarray:
    """``[n, models]`` class labels (NaN = missing); score vectors are argmax-ed, a vector with a NaN is missing."""
    if stacked.ndim == 3:
        missing = np.isnan(stacked).any(axis=2)
        labels: np.ndarray = np.argmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=2).astype(float)
        labels[missing] = np.nan
        return labels
    present = stacked[~np.isnan(stacked)]
    if np.any(present != np.round(present)):
        raise ValueError(
            f"voting needs class labels (integers) or score vectors, got non-integer values such as "
            f"{np.unique(present[present != np.round(present)])[:3].tolist()}; use method='average' for "
            "probabilities, or threshold them first"
        )
    return stacked


def _warn_missing(n_missing: int, n_samples: int) -> None:
    warnings.warn(
        f"{n_missing} of {n_samples} samples have no prediction from any model; their ensemble is NaN",
        UndefinedMetricWarning,
        stacklevel=user_stacklevel(),
    )


class MetricEnsemble(MetricDefault):
    """Ensemble several models' predictions (FuseMedML's ``MetricEnsemble``); returns per-sample data for later
    metrics: ``{output_pred_key: ..., output_target_key: ... (when target is given), <extra keys>: ...}``.

    :param pred_keys: the keys of each model's predictions (e.g. ``"0.model.output.classification"``).
    :param target: optional key of the targets, carried into the output (and the output file).
    :param method: ``"average"``/``"mean"`` or ``"vote"``/``"voting"``, see :func:`ensemble`.
    :param output_file: optional path of a gzip-pickled DataFrame (``id`` plus one column per output) written
        atomically at each evaluation (with the evaluated ids); it must end in ``.gz`` (e.g. ``"ensemble.pkl.gz"``)
        so that ``read_dataframe`` and the evaluator read it back.
    :param output_pred_key: the output name of the ensembled predictions.
    :param output_target_key: the output name of the targets.
    :param rename_in_output: ``{extra key name: output name}`` for extra keys.
    :param scores_normalize_func: applied to each model's predictions array before ensembling (e.g. a softmax).
    :param dropna: drop the samples where any model's prediction has a NaN (from every output).
    :param kwargs: extra ``name=key`` (or ``"results:..."``) pairs are carried into the output as ``name``;
        arguments of :class:`~fuse.eval.MetricWithCollectorBase` (``pre_collect_process_func`` ...) configure
        collection as usual.

    >>> metric = MetricEnsemble(pred_keys=["m0", "m1"], target="label")
    >>> metric.collect({"id": ["a", "b"], "m0": [0.2, 0.9], "m1": [0.4, 0.7], "label": [0, 1]})
    >>> out = metric.eval()
    >>> out["preds"](["b", "a"]).round(2).tolist(), out["target"](["b"]).tolist()
    ([0.8, 0.3], [1])
    """

    def __init__(
        self,
        pred_keys: Sequence[str],
        target: str | None = None,
        method: str = "average",
        output_file: str | os.PathLike[str] | None = None,
        output_pred_key: str = "preds",
        output_target_key: str = "target",
        rename_in_output: Mapping[str, str] | None = None,
        scores_normalize_func: Callable[[np.ndarray], Any] | None = None,
        dropna: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(pred_keys, str) or not pred_keys or not all(isinstance(key, str) for key in pred_keys):
            raise ValueError(f"pred_keys must be a non-empty sequence of keys (str), got {pred_keys!r}")
        _check_method(method)
        if output_file is not None and not os.fspath(output_file).lower().endswith(".gz"):
            raise ValueError(
                f"output_file is written as a gzip-compressed pickle and must end in '.gz' (e.g. 'ensemble.pkl.gz'), "
                f"got {os.fspath(output_file)!r}"
            )
        base_kwargs = {name: value for name, value in kwargs.items() if name in _BASE_ARGUMENTS}
        extra_keys = {name: value for name, value in kwargs.items() if name not in _BASE_ARGUMENTS}
        not_keys = {name: value for name, value in extra_keys.items() if not isinstance(value, str)}
        if not_keys:
            raise ValueError(
                f"MetricEnsemble's extra keyword arguments are keys (str) to carry into the output, got {not_keys!r}"
            )
        renames = dict(rename_in_output or {})
        unknown = sorted(set(renames) - set(extra_keys))
        if unknown:
            raise ValueError(
                f"rename_in_output names {unknown}, which are not extra keys; the extra keys are {sorted(extra_keys)}"
            )
        output_names = [output_pred_key, *([output_target_key] if target is not None else [])]
        output_names += [renames.get(name, name) for name in extra_keys]
        if len(set(output_names)) != len(output_names) or "id" in output_names:
            raise ValueError(f"output names must be unique and not 'id', got {output_names}")
        ensemble_func = functools.partial(
            _ensemble_outputs,
            n_models=len(pred_keys),
            method=method,
            output_file=os.fspath(output_file) if output_file is not None else None,
            output_pred_key=output_pred_key,
            output_target_key=output_target_key,
            output_names={name: renames.get(name, name) for name in extra_keys},
            scores_normalize_func=scores_normalize_func,
            dropna=dropna,
        )
        collected = {f"{_PRED}{index}": key for index, key in enumerate(pred_keys)}
        collected.update({f"{_EXTRA}{name}": key for name, key in extra_keys.items()})
        super().__init__(metric_func=ensemble_func, target=target, extract_ids=True, **collected, **base_kwargs)


def _ensemble_outputs(
    ids: Sequence[Hashable] | np.ndarray | None,
    n_models: int,
    method: str,
    output_file: str | None,
    output_pred_key: str,
    output_target_key: str,
    output_names: Mapping[str, str],
    scores_normalize_func: Callable[[np.ndarray], Any] | None,
    dropna: bool,
    target: ArrayLike | None = None,
    **collected: Any,
) -> dict[str, PerSampleData]:
    preds = [_model_array(collected[f"{_PRED}{index}"], index) for index in range(n_models)]
    columns: dict[str, Any] = {}
    if target is not None:
        columns[output_target_key] = target
    columns.update({output_names[name]: collected[f"{_EXTRA}{name}"] for name in output_names})
    id_array, first = distinct_samples(ids, "MetricEnsemble (to align its outputs)")
    if first is not None:  # a bootstrap's repeated ids: the ensemble is per sample, computed once per id
        preds = [pred[first] for pred in preds]
        columns = {name: _rows(values, first) for name, values in columns.items()}
    if dropna:
        has_nan = np.zeros(len(id_array), dtype=bool)
        for pred in preds:
            has_nan |= np.isnan(pred).reshape(len(pred), -1).any(axis=1)
        keep = np.flatnonzero(~has_nan)
        id_array, preds = id_array[keep], [pred[keep] for pred in preds]
        columns = {name: _rows(values, keep) for name, values in columns.items()}
    if scores_normalize_func is not None:
        preds = [_model_array(scores_normalize_func(pred), index) for index, pred in enumerate(preds)]
    outputs = {output_pred_key: PerSampleData(ensemble(preds, method), ids=id_array)}
    outputs.update({name: PerSampleData(_rows(values, None), ids=id_array) for name, values in columns.items()})
    if output_file is not None:
        _write_output(output_file, id_array, outputs)
    return outputs


def _rows(values: Any, keep: np.ndarray | None) -> np.ndarray:
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    return array if keep is None else array[keep]


def _write_output(path: str, ids: np.ndarray, outputs: Mapping[str, PerSampleData]) -> None:
    """``id`` plus one column per output (vectors as one array per cell), gzip-pickled atomically."""
    frame = pd.DataFrame({"id": list(ids)})
    for name, data in outputs.items():
        values = data()
        frame[name] = list(values) if values.ndim > 1 else values
    with AtomicFileWriter(path, "wb") as file:  # gzip-compressed by the '.gz' suffix
        frame.to_pickle(file, compression=None)
