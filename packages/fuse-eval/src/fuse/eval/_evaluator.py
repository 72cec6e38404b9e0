"""``EvaluatorDefault``: read predictions and targets in any of FuseMedML's forms, run metrics, report."""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import CollateToBatchList, NDict, read_dataframe, save_text_file
from fuse.eval.framework._metric_base import MetricBase
from fuse.eval.framework._plain_values import json_ready

__all__ = ["EvaluatorDefault"]

DataSource = str | os.PathLike[str] | pd.DataFrame


class EvaluatorDefault:
    """Evaluate metrics on predictions and targets (FuseMedML's ``EvaluatorDefault``).

    >>> import pandas as pd
    >>> from fuse.eval import MetricAUCROC
    >>> data = pd.DataFrame({"id": [1, 2, 3, 4], "pred": [0.1, 0.4, 0.35, 0.8], "target": [0, 0, 1, 1]})
    >>> results = EvaluatorDefault().eval(ids=None, data=data, metrics={"auc": MetricAUCROC(pred="pred", target="target")})
    >>> results["metrics.auc"]
    0.75
    """

    def eval(
        self,
        ids: Sequence[Hashable] | None,
        data: Any,
        metrics: Mapping[str, MetricBase],
        id_key: str = "id",
        batch_size: int | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        silent: bool = True,
        error_missing_ids: bool = True,
    ) -> NDict:
        """Collect ``data`` into every metric, evaluate the metrics in order, and return ``metrics.<name>...``.

        :param ids: the sample ids to evaluate (all when ``None``).
        :param data: with ``batch_size=None``: a file path (csv, tsv, pickle, gz, xlsx), a DataFrame, a list
            of those (one per fold; an ``evaluator_fold`` column numbers them), a dict of any of these (columns
            prefixed ``"<key>."``, joined on id), or an iterable of sample dicts. With ``batch_size > 0``: an
            iterable of samples, collated ``batch_size`` at a time. With ``batch_size == 0``: an iterable of
            batch dicts (a DataLoader; array-likes such as tensors are accepted). A pickle file can run code
            when it is read: only read pickle files you trust (or wrote yourself); prefer csv from elsewhere.
        :param metrics: name -> metric, evaluated in order; a metric may read earlier results through
            ``"results:metrics.<name>..."`` arguments.
        :param id_key: the column or key holding the sample id.
        :param output_dir: write ``results.txt``, ``results.json`` and ``results.md`` there.
        :param silent: ``False`` prints the results as a table.
        :param error_missing_ids: raise when requested ids, or ids of one dict entry, are missing elsewhere;
            otherwise evaluate the intersection (and pad dict entries with NaN / None).
        """
        if batch_size is not None and batch_size < 0:
            raise ValueError(f"batch_size must be None, 0 (batches) or > 0 (samples), got {batch_size!r}")
        for metric in metrics.values():
            metric.reset()
        eval_ids: list[Any] | None = list(ids) if ids is not None else None
        if batch_size is None:
            frame = read_data(data, ids, id_key=id_key, error_missing_ids=error_missing_ids)
            frame["id"] = frame[id_key]
            eval_ids = None  # the frame holds exactly the requested ids, in order: evaluate everything collected
            for name, metric in metrics.items():
                _named(name, "set", metric.set, frame)
        elif batch_size > 0:
            _collect_samples(data, metrics, id_key, batch_size)
        else:
            _collect_batches(data, metrics)

        results = NDict()
        for name, metric in metrics.items():
            results[f"metrics.{name}"] = _named(name, "eval", metric.eval, results, eval_ids)
        if not silent:
            print(results_table(results))
        if output_dir is not None:
            write_results(results, output_dir)
        return results

    def read_data(
        self,
        data: Any,
        ids: Sequence[Hashable] | pd.DataFrame | None = None,
        id_key: str = "id",
        error_missing_ids: bool = True,
    ) -> pd.DataFrame:
        """Every input form of :meth:`eval` (with ``batch_size=None``) as one DataFrame indexed by id, restricted to
        ``ids`` (FuseMedML's ``read_data``). ``ids`` may also be FuseMedML's ``ids_df``, a DataFrame whose
        ``id_key`` column, else its index, holds the ids. Rows keep the data's order; duplicate ids always raise.

        >>> import pandas as pd
        >>> frame = pd.DataFrame({"id": ["a", "b", "c"], "pred": [0.1, 0.9, 0.4]})
        >>> EvaluatorDefault().read_data(frame, ids=["c", "a"])["pred"].tolist()
        [0.1, 0.4]
        """
        if isinstance(ids, pd.DataFrame):
            ids = (ids[id_key] if id_key in ids.columns else ids.index).tolist()
        return read_data(data, ids, id_key=id_key, error_missing_ids=error_missing_ids)

    def dump_metrics_results(self, metrics_results: NDict, output_dir: str | os.PathLike[str]) -> None:
        """Write ``results.txt``, ``results.json`` and ``results.md`` to ``output_dir``, as :meth:`eval` does with
        ``output_dir`` (FuseMedML's ``dump_metrics_results``, which wrote ``results.txt`` and a pickle); metrics whose
        name starts with ``_`` are left out.
        """
        write_results(metrics_results, output_dir)


def _named(name: str, step: str, func: Any, *args: Any) -> Any:
    """Call ``func``; an error keeps its type and, on Python 3.11+, gets a note naming the metric."""
    try:
        return func(*args)
    except Exception as error:
        if hasattr(error, "add_note"):
            error.add_note(f"while running {step}() of metric {name!r}")
        raise


def _collect_samples(
    data: Iterable[Mapping[str, Any]], metrics: Mapping[str, MetricBase], id_key: str, batch_size: int
) -> None:
    if isinstance(data, pd.DataFrame) or not isinstance(data, Iterable):
        raise TypeError(f"batch_size > 0 needs an iterable of sample dicts, got {type(data).__name__}")
    collate = CollateToBatchList()
    samples: list[NDict] = []

    def flush() -> None:
        if samples:
            batch = collate(samples)
            for metric in metrics.values():
                metric.collect(batch)
            samples.clear()

    for index, raw in enumerate(data):
        sample = raw if isinstance(raw, NDict) else NDict(raw)
        if id_key not in sample:
            raise KeyError(f"sample #{index} has no {id_key!r} key (id_key); keys: {sample.keypaths()[:10]}")
        sample["id"] = sample[id_key]
        samples.append(sample)
        if len(samples) == batch_size:
            flush()
    flush()


def _collect_batches(data: Iterable[Mapping[str, Any]], metrics: Mapping[str, MetricBase]) -> None:
    if isinstance(data, pd.DataFrame) or not isinstance(data, Iterable):
        raise TypeError(
            f"batch_size == 0 needs an iterable of batch dicts (e.g. a DataLoader), got {type(data).__name__}"
        )
    for batch in data:
        for metric in metrics.values():
            metric.collect(batch)


# ---------------------------------------------------------------------------------------------- reading data
def read_data(
    data: Any, ids: Sequence[Hashable] | None, id_key: str = "id", error_missing_ids: bool = True
) -> pd.DataFrame:
    """Every input form of :meth:`EvaluatorDefault.eval` (with ``batch_size=None``) as one DataFrame indexed by id."""
    if isinstance(data, pd.DataFrame):
        frame = _indexed(data, id_key, "the DataFrame")
    elif isinstance(data, (str, os.PathLike)):
        frame = _indexed(read_dataframe(data), id_key, f"file {os.fspath(data)!r}")
    elif isinstance(data, Mapping):
        frame = _join_sources(data, ids, id_key, error_missing_ids)
    elif isinstance(data, Sequence) and data and all(isinstance(d, (str, os.PathLike, pd.DataFrame)) for d in data):
        folds = []
        for fold, source in enumerate(data):
            fold_frame = read_data(source, ids, id_key=id_key, error_missing_ids=False)
            fold_frame["evaluator_fold"] = fold
            folds.append(fold_frame)
        frame = pd.concat(folds)
    elif isinstance(data, Iterable):
        samples = [dict(element) for element in data]
        _reject_batches(samples, id_key)
        frame = _indexed(pd.DataFrame(samples), id_key, "the iterable of samples")
    else:
        raise TypeError(
            f"unsupported data of type {type(data).__name__}: give a file path, a DataFrame, a list of those (folds), "
            "a dict of those, or an iterable of samples"
        )
    if ids is not None:
        wanted = pd.Index(list(ids), tupleize_cols=False)
        missing = wanted.difference(frame.index, sort=False)
        if error_missing_ids and len(missing):
            raise KeyError(
                f"{len(missing)} of {len(wanted)} requested ids are not in the data, e.g. {missing[:5].tolist()}; "
                "pass error_missing_ids=False to evaluate the ids present"
            )
        frame = frame.loc[frame.index.intersection(wanted, sort=False)]
    duplicated = frame.index[frame.index.duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"{len(duplicated)} ids appear more than once in the data, e.g. {duplicated[:10].tolist()}")
    return frame


def _reject_batches(samples: list[dict[Any, Any]], id_key: str) -> None:
    """Batch dicts given as samples (``trainer.predict`` output, say) would become one row per batch: say so."""
    for position, sample in enumerate(samples):
        sample_id = sample.get(id_key)
        if isinstance(sample_id, list):
            count = len(sample_id)
        elif getattr(sample_id, "ndim", 0) >= 1:  # an array or tensor of ids
            count = int(getattr(sample_id, "shape", (0,))[0])
        else:  # one id (a tuple can be one sample's id)
            continue
        raise TypeError(
            f"element {position} of the iterable of samples holds {count} ids under {id_key!r}: it is a "
            "batch, not a sample. Pass batch_size=0 to evaluate an iterable of batch dicts (a DataLoader, the list "
            "trainer.predict returns), or give a DataFrame (fuse.dl.convert_predictions_to_dataframe)"
        )


def _indexed(frame: pd.DataFrame, id_key: str, what: str) -> pd.DataFrame:
    if id_key not in frame.columns:
        raise KeyError(f"{what} has no {id_key!r} column (id_key); columns: {list(frame.columns)[:20]}")
    indexed: pd.DataFrame = frame.set_index(frame[id_key].rename(None), drop=False)
    return indexed


def _join_sources(
    sources: Mapping[str, Any], ids: Sequence[Hashable] | None, id_key: str, error_missing_ids: bool
) -> pd.DataFrame:
    frames = {}
    for key, source in sources.items():
        frames[key] = read_data(source, ids, id_key=id_key, error_missing_ids=error_missing_ids).add_prefix(f"{key}.")
    all_ids = pd.Index([])
    for frame in frames.values():
        all_ids = all_ids.union(frame.index, sort=False)
    for key, frame in frames.items():
        missing = all_ids.difference(frame.index, sort=False)
        if not len(missing):
            continue
        if error_missing_ids:
            raise KeyError(
                f"{len(missing)} ids are missing in data[{key!r}] but present in other entries, e.g. "
                f"{missing[:5].tolist()}; pass error_missing_ids=False to pad them with NaN"
            )
        frames[key] = pd.concat([frame, _padding(frame, missing)])
    joined: pd.DataFrame = pd.concat(list(frames.values()), axis=1, join="inner")
    joined[id_key] = joined.index
    return joined


def _padding(frame: pd.DataFrame, missing: pd.Index) -> pd.DataFrame:
    """Rows for missing ids: NaN for numbers, NaN arrays for arrays, None otherwise."""
    padding: pd.DataFrame = pd.DataFrame(index=missing)
    for name in frame.columns:
        example = frame[name].iloc[0]
        if isinstance(example, np.ndarray):
            padding[name] = pd.Series(
                [np.full_like(example, np.nan, dtype=float) for _ in missing], index=missing, dtype=object
            )
        elif isinstance(example, (int, float, np.integer, np.floating)) and not isinstance(example, bool):
            padding[name] = np.nan
        else:
            padding[name] = None
    return padding


# ---------------------------------------------------------------------------------------------- reporting
def _visible(results: NDict) -> dict[str, Any]:
    """Results without metrics whose name starts with an underscore (FuseMedML's convention for internals)."""
    return {k: v for k, v in results.items() if not k.split(".")[1].startswith("_")}


def results_table(results: NDict) -> str:
    """The results as a readable two-column Markdown table (``keypath | value``)."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in _visible(results).items():
        shown = f"{value:.6g}" if isinstance(value, (float, np.floating)) else repr(json_ready(value, keep_nan=True))
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines)


def write_results(results: NDict, output_dir: str | os.PathLike[str]) -> None:
    """Write ``results.txt`` (one ``keypath: value`` per line), ``results.json`` (valid JSON: undefined values,
    NaN, as ``null``) and ``results.md``."""
    os.makedirs(output_dir, exist_ok=True)
    visible = _visible(results)
    save_text_file(os.path.join(output_dir, "results.txt"), "".join(f"{k}: {v}\n" for k, v in visible.items()))
    nested = NDict({k: json_ready(v) for k, v in visible.items()}, already_flat=True).unflatten()
    save_text_file(os.path.join(output_dir, "results.json"), json.dumps(nested, indent=2, allow_nan=False) + "\n")
    save_text_file(os.path.join(output_dir, "results.md"), "# Evaluation results\n\n" + results_table(results) + "\n")
