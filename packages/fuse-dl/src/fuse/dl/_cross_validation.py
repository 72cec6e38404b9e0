"""Cross-validation runner (FuseMedML's ``fuse.dl.cross_validation.pipeline.run``).

For each repetition, every fold in its own process: train, infer and evaluate on the fold's validation set, then infer
and evaluate on the test set; then an ensemble (mean) of the folds' test predictions and its evaluation. Processes come from a ``"spawn"`` multiprocessing context created when the runner is called (nothing
is set at import); each gets its GPU ids through ``CUDA_VISIBLE_DEVICES`` (none: CPU). The user functions must be
importable (defined at module level, not in ``__main__`` of an interactive session or as lambdas).

Output layout (``paths`` keys ``model_dir``, ``inference_dir``, ``eval_dir``; ``cache_dir`` optional)::

    <model_dir>/rep_<r>/<fold>/                        what train_func writes
    <inference_dir>/validation/rep_<r>/<fold>/         what infer_func writes on the fold's validation set
    <inference_dir>/test/rep_<r>/<fold>/infer.gz       infer_func on the test set (must write infer.gz)
    <inference_dir>/test/rep_<r>/ensemble/infer.gz     the folds' test predictions averaged
    <eval_dir>/{validation|test}/rep_<r>/<fold or ensemble>/   what eval_func writes
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Literal

from fuse.core import Seed, num_available_cores

__all__ = ["ensemble", "run_cross_validation"]

INFER_FILENAME = "infer.gz"
_REQUIRED_PATHS = ("model_dir", "inference_dir", "eval_dir")

Folds = Sequence[tuple[Sequence[Hashable], Sequence[Hashable]]]


def ensemble(
    test_dirs: Sequence[str | os.PathLike[str]],
    test_infer_filename: str,
    pred_key: str,
    target_key: str,
    ensembled_output_file: str | os.PathLike[str],
) -> None:
    """Average the predictions ``pred_key`` of the inference files ``<dir>/<test_infer_filename>`` (one per model;
    DataFrames with an ``id`` column) with fuse-eval's ``MetricEnsemble`` and write them, with the targets of the
    first file, to ``ensembled_output_file`` (a ``.gz`` pickled DataFrame: ``id``, ``pred_key``, ``target_key``).

    >>> import tempfile, pandas as pd
    >>> from fuse.core import read_dataframe, save_dataframe
    >>> root = Path(tempfile.mkdtemp())
    >>> for fold, p in enumerate([0.2, 0.6]):
    ...     (root / str(fold)).mkdir()
    ...     save_dataframe(pd.DataFrame({"id": [7], "pred": [p], "label": [1]}), root / str(fold) / "infer.gz")
    >>> ensemble([root / "0", root / "1"], "infer.gz", "pred", "label", root / "ensemble" / "infer.gz")
    >>> read_dataframe(root / "ensemble" / "infer.gz")["pred"].round(2).tolist()
    [0.4]
    >>> import shutil; shutil.rmtree(root)
    """
    from fuse.eval import EvaluatorDefault, MetricEnsemble

    if not test_dirs:
        raise ValueError("ensemble needs at least one inference directory, got none")
    files = [Path(directory) / test_infer_filename for directory in test_dirs]
    missing = [str(file) for file in files if not file.is_file()]
    if missing:
        raise FileNotFoundError(f"inference files to ensemble are missing: {missing} (infer_func must write them)")
    Path(ensembled_output_file).parent.mkdir(parents=True, exist_ok=True)
    metric = MetricEnsemble(
        pred_keys=[f"{index}.{pred_key}" for index in range(len(files))],
        target=f"0.{target_key}",
        output_file=str(ensembled_output_file),
        output_pred_key=pred_key,
        output_target_key=target_key,
    )
    data = {str(index): str(file) for index, file in enumerate(files)}
    EvaluatorDefault().eval(ids=None, data=data, metrics={"ensemble": metric})


def run_cross_validation(
    num_folds: int,
    num_folds_used: int,
    num_gpus_total: int,
    num_gpus_per_split: int,
    num_repetitions: int,
    dataset_func: Callable[..., Any],
    train_func: Callable[..., Any],
    infer_func: Callable[..., Any],
    eval_func: Callable[..., Any],
    dataset_params: Mapping[str, Any] | None = None,
    train_params: Mapping[str, Any] | None = None,
    infer_params: Mapping[str, Any] | None = None,
    eval_params: Mapping[str, Any] | None = None,
    paths: Mapping[str, str] | None = None,
    deterministic_mode: bool = True,
    sample_ids_per_fold: Folds | None = None,
    split_seed: int = 1234,
) -> Folds:
    """Run a cross-validation experiment: per fold (one process each) train, infer and evaluate on its validation
    set, then infer and evaluate on the test set; then ensemble the folds' test predictions and evaluate the ensemble; repeated
    ``num_repetitions`` times with seeds ``0 .. num_repetitions-1`` (``fuse.core.Seed.set_seed`` in every process;
    the folds do not change between repetitions).

    :param num_folds: the number of folds the train/validation set is split into.
    :param num_folds_used: how many of them to run (``num_folds=5, num_folds_used=1``: one 80/20 model).
    :param num_gpus_total: GPUs to use (the first ``num_gpus_total`` that torch sees); ``0`` runs every fold on the CPU, all folds
        at once, each with at most its share of the available cores as torch threads.
    :param num_gpus_per_split: GPUs per fold process (it sees them as ``cuda:0 ..`` through
        ``CUDA_VISIBLE_DEVICES``); folds wait for a free group.
    :param num_repetitions: how many times to repeat the whole procedure (seed = repetition index).
    :param dataset_func: ``dataset_func(train_val_sample_ids, paths, params)``: with ``None`` returns
        ``(train_validation_dataset, test_dataset)``; with a fold's ``(train_ids, validation_ids)`` returns
        ``(train_dataset, validation_dataset)``.
    :param train_func: ``train_func(train_dataset, validation_dataset, paths, train_params)``; writes to
        ``paths["model_dir"]``.
    :param infer_func: ``infer_func(dataset, paths, infer_params)``; reads ``paths["model_dir"]`` and writes
        ``paths["inference_dir"]/infer.gz`` (a DataFrame with ``id`` and ``infer_params["pred_key"]``).
    :param eval_func: ``eval_func(paths, eval_params)``; reads ``paths["inference_dir"]``, writes
        ``paths["eval_dir"]``.
    :param dataset_params: must hold ``target_key`` (the target column carried into the ensemble file).
    :param infer_params: must hold ``pred_key`` (the prediction column the ensemble averages).
    :param paths: ``model_dir``, ``inference_dir``, ``eval_dir`` (and optionally ``cache_dir``); each fold gets
        ``.../rep_<r>/<fold>`` versions of them.
    :param deterministic_mode: passed to ``Seed.set_seed`` (torch deterministic algorithms).
    :param sample_ids_per_fold: explicit folds, ``num_folds`` pairs ``(train_ids, validation_ids)``; by default the
        sample ids of the train/validation dataset (``get_all_sample_ids()``, else positions ``0 .. len-1``) are
        split by ``sklearn.model_selection.KFold(num_folds, shuffle=True, random_state=split_seed)``.
    :param split_seed: the ``random_state`` of that split.
    :return: the folds used, ``[(train_ids, validation_ids), ...]``.

    >>> run_cross_validation(2, 3, 0, 1, 1, print, print, print, print)
    Traceback (most recent call last):
    ...
    ValueError: num_folds_used must be between 1 and num_folds=2, got 3
    """
    _check_counts(num_folds, num_folds_used, num_gpus_total, num_gpus_per_split, num_repetitions)
    dataset_params, train_params = dict(dataset_params or {}), dict(train_params or {})
    infer_params, eval_params = dict(infer_params or {}), dict(eval_params or {})
    if paths is None or any(key not in paths for key in _REQUIRED_PATHS):
        raise ValueError(f"paths must hold {list(_REQUIRED_PATHS)} (and optionally 'cache_dir'), got {paths!r}")
    if "pred_key" not in infer_params:
        raise ValueError("infer_params must hold 'pred_key': the prediction column of infer.gz that is ensembled")
    if "target_key" not in dataset_params:
        raise ValueError("dataset_params must hold 'target_key': the target column carried into the ensemble file")
    paths = dict(paths)

    if sample_ids_per_fold is None:
        dataset, _ = dataset_func(train_val_sample_ids=None, paths=paths, params=dataset_params)
        folds = split_folds(_sample_ids(dataset), num_folds, split_seed)
    else:
        folds = [(list(train), list(validation)) for train, validation in sample_ids_per_fold]
        if len(folds) != num_folds:
            raise ValueError(f"sample_ids_per_fold holds {len(folds)} folds but num_folds={num_folds}")

    gpu_groups = _gpu_groups(num_gpus_total, num_gpus_per_split)
    context = multiprocessing.get_context("spawn")
    used = range(num_folds_used)
    # on the CPU every fold runs at once: each gets its share of the cores (torch's default, all of them, oversubscribes)
    cpu_threads = None if gpu_groups is not None else max(1, num_available_cores() // num_folds_used)
    for rep in range(num_repetitions):
        jobs = []
        for fold in used:  # one process per fold: validation train/infer/eval, then test infer/eval
            steps: tuple[_Step, ...] = (
                ("train", train_func, train_params, folds[fold]),
                ("infer", infer_func, infer_params, folds[fold]),
                ("eval", eval_func, eval_params, folds[fold]),
                ("infer", infer_func, infer_params, None),
                ("eval", eval_func, eval_params, None),
            )
            job = _FoldJob(fold, rep, deterministic_mode, dataset_func, dataset_params, paths, cpu_threads)
            jobs.append((f"fold {fold} of repetition {rep}", (job, steps)))
        _run_processes(context, gpu_groups, jobs)

        test_root = Path(paths["inference_dir"]) / "test" / f"rep_{rep}"
        ensemble(
            [test_root / str(fold) for fold in used],
            INFER_FILENAME,
            infer_params["pred_key"],
            dataset_params["target_key"],
            test_root / "ensemble" / INFER_FILENAME,
        )
        Seed.set_seed(rep, deterministic_mode=deterministic_mode)  # as in the fold processes (and FuseMedML)
        eval_paths = dict(paths)
        eval_paths["inference_dir"] = str(test_root / "ensemble")
        eval_paths["eval_dir"] = str(Path(paths["eval_dir"]) / "test" / f"rep_{rep}" / "ensemble")
        eval_func(paths=eval_paths, eval_params=eval_params)
    return folds


def split_folds(
    sample_ids: Sequence[Hashable], num_folds: int, seed: int = 1234
) -> list[tuple[list[Hashable], list[Hashable]]]:
    """``[(train_ids, validation_ids)]`` per fold: ``KFold(num_folds, shuffle=True, random_state=seed)`` on the ids.

    >>> [validation for _, validation in split_folds(["a", "b", "c", "d"], 2, seed=0)]
    [['c', 'd'], ['a', 'b']]
    """
    from sklearn.model_selection import KFold

    ids = list(sample_ids)
    if len(ids) < num_folds:
        raise ValueError(f"cannot split {len(ids)} samples into num_folds={num_folds} folds")
    kfold = KFold(n_splits=num_folds, shuffle=True, random_state=seed)
    return [([ids[i] for i in train], [ids[i] for i in validation]) for train, validation in kfold.split(ids)]


def _sample_ids(dataset: Any) -> list[Hashable]:
    if hasattr(dataset, "get_all_sample_ids"):
        return list(dataset.get_all_sample_ids())
    return list(range(len(dataset)))


def _check_counts(folds: int, used: int, gpus: int, per_split: int, repetitions: int) -> None:
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"num_folds must be an int >= 2, got {folds!r}")
    if not isinstance(used, int) or not 1 <= used <= folds:
        raise ValueError(f"num_folds_used must be between 1 and num_folds={folds}, got {used!r}")
    if not isinstance(gpus, int) or gpus < 0:
        raise ValueError(f"num_gpus_total must be an int >= 0 (0: CPU), got {gpus!r}")
    if gpus and (not isinstance(per_split, int) or not 1 <= per_split <= gpus):
        raise ValueError(f"num_gpus_per_split must be between 1 and num_gpus_total={gpus}, got {per_split!r}")
    if not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"num_repetitions must be an int >= 1, got {repetitions!r}")


def _gpu_groups(total: int, per_split: int) -> list[tuple[str, ...]] | None:
    """Groups of ``per_split`` GPU ids (a remainder smaller than a group is left unused); ``None`` for the CPU.
    The ids are those of this process's ``CUDA_VISIBLE_DEVICES`` when it is set (the first ``total`` of them)."""
    if total == 0:
        return None
    import torch

    available = torch.cuda.device_count()
    if total > available:
        raise ValueError(f"num_gpus_total={total} but torch sees {available} CUDA device(s); use at most that")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [gpu.strip() for gpu in visible.split(",")] if visible else [str(gpu) for gpu in range(available)]
    return [tuple(ids[start : start + per_split]) for start in range(0, total - per_split + 1, per_split)]


def _run_processes(
    context: Any, gpu_groups: list[tuple[str, ...]] | None, jobs: list[tuple[str, tuple[Any, ...]]]
) -> None:
    """Run each job in its own spawned process, at most one per free GPU group (all at once on the CPU); raise if
    any failed, after all have ended."""
    free: list[tuple[str, ...]] = list(gpu_groups) if gpu_groups is not None else [()] * len(jobs)
    pending = list(jobs)
    running: dict[Any, tuple[str, tuple[str, ...], Any]] = {}
    failed: list[str] = []
    try:
        _schedule(context, free, pending, running, failed)
    except BaseException:  # interrupted (Ctrl-C) or failed to start one: do not leave folds running
        for _, _, process in running.values():
            process.terminate()
            process.join()
        raise
    if failed:
        raise RuntimeError(f"cross-validation processes failed: {failed}; see their tracebacks above")


def _schedule(
    context: Any,
    free: list[tuple[str, ...]],
    pending: list[tuple[str, tuple[Any, ...]]],
    running: dict[Any, tuple[str, tuple[str, ...], Any]],
    failed: list[str],
) -> None:
    while pending or running:
        while pending and free:
            name, arguments = pending.pop(0)
            group = free.pop(0)
            process = context.Process(target=_fold_process, args=arguments, name=name)
            previous = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(group)  # the child inherits it
            try:
                process.start()
            finally:
                if previous is None:
                    del os.environ["CUDA_VISIBLE_DEVICES"]
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
            running[process.sentinel] = (name, group, process)
        for sentinel in wait(list(running)):
            name, group, process = running.pop(sentinel)
            process.join()
            if process.exitcode != 0:
                failed.append(f"{name} (exit code {process.exitcode})")
            process.close()
            free.append(group)


@dataclass(frozen=True)
class _FoldJob:
    """What one spawned fold process needs (pickled to it): the fold, the repetition and the shared settings."""

    fold: int
    rep: int
    deterministic_mode: bool
    dataset_func: Callable[..., Any]
    dataset_params: dict[str, Any]
    paths: dict[str, str]
    cpu_threads: int | None = None  # torch threads at most (folds sharing the CPU); None: torch's default


# (step, the user's function for it, its params, the fold's (train_ids, validation_ids) or None for the test set)
_Step = tuple[Literal["train", "infer", "eval"], Callable[..., Any], dict[str, Any], Any]


def _fold_process(job: _FoldJob, steps: Sequence[_Step]) -> None:
    """The body of one spawned process: seed, then each step (train / infer / eval) in turn."""
    if job.cpu_threads is not None:
        import torch

        torch.set_num_threads(min(torch.get_num_threads(), job.cpu_threads))  # never more than the user set
    Seed.set_seed(job.rep, deterministic_mode=job.deterministic_mode)
    for step, func, params, ids in steps:
        fold_paths = _fold_paths(job.paths, ids, job.fold, job.rep)
        if step == "eval":
            func(paths=fold_paths, eval_params=params)
            continue
        train_dataset, dataset = job.dataset_func(train_val_sample_ids=ids, paths=fold_paths, params=job.dataset_params)
        if step == "train":
            func(train_dataset=train_dataset, validation_dataset=dataset, paths=fold_paths, train_params=params)
        else:
            func(dataset=dataset, paths=fold_paths, infer_params=params)


def _fold_paths(paths: Mapping[str, str], ids: Any, fold: int, rep: int) -> dict[str, str]:
    split = "test" if ids is None else "validation"
    fold_paths = dict(paths)
    fold_paths["model_dir"] = os.path.join(paths["model_dir"], f"rep_{rep}", str(fold))
    if "cache_dir" in paths:
        fold_paths["cache_dir"] = os.path.join(paths["cache_dir"], f"rep_{rep}", str(fold))
    fold_paths["inference_dir"] = os.path.join(paths["inference_dir"], split, f"rep_{rep}", str(fold))
    fold_paths["eval_dir"] = os.path.join(paths["eval_dir"], split, f"rep_{rep}", str(fold))
    return fold_paths
