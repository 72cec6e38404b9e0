"""run_cross_validation: a 3-fold run in spawned processes writes the documented tree, the folds are disjoint and
cover the ids, each process is seeded and sees no GPU, and the ensemble is the mean of the folds' predictions."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import torch

from fuse.core import read_dataframe
from fuse.dl import run_cross_validation
from fuse.dl._cross_validation import ensemble, split_folds
from fuse_dl_cv_support import TEST_IDS, dataset_func, eval_func, failing_train_func, infer_func, train_func

NUM_SAMPLES = 60


def _run(tmp_path: Path, **kwargs: object) -> object:
    arguments: dict[str, object] = {
        "num_folds": 3,
        "num_folds_used": 3,
        "num_gpus_total": 0,
        "num_gpus_per_split": 1,
        "num_repetitions": 1,
        "dataset_func": dataset_func,
        "train_func": train_func,
        "infer_func": infer_func,
        "eval_func": eval_func,
        "dataset_params": {"num_samples": NUM_SAMPLES, "target_key": "data.label"},
        "train_params": {"epochs": 3},
        "infer_params": {"pred_key": "pred"},
        "eval_params": {"pred_key": "pred"},
        "paths": {key: str(tmp_path / key) for key in ("model_dir", "inference_dir", "eval_dir")},
    }
    arguments.update(kwargs)
    return run_cross_validation(**arguments)  # type: ignore[arg-type]


@pytest.mark.slow  # three spawned processes, each importing torch and Lightning
def test_three_fold_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start_method = multiprocessing.get_start_method(allow_none=True)
    # folds on the CPU share the cores: 3 cores for 3 folds is 1 torch thread each, where torch would take 2 here
    monkeypatch.setattr("fuse.dl._cross_validation.num_available_cores", lambda: 3)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the fold processes' torch default (they inherit the environment)
    folds = cast("list[tuple[list[int], list[int]]]", _run(tmp_path))
    if start_method != "spawn":  # the runner used a spawn context, not a global set_start_method
        assert multiprocessing.get_start_method() != "spawn"

    validation_sets = []
    for fold in range(3):
        record = json.loads((tmp_path / "model_dir" / "rep_0" / str(fold) / "process.json").read_text())
        train_ids, validation_ids = set(record["train_ids"]), set(record["validation_ids"])
        assert not train_ids & validation_ids
        assert train_ids | validation_ids == set(range(NUM_SAMPLES))
        assert (train_ids, validation_ids) == (set(folds[fold][0]), set(folds[fold][1]))
        assert record["torch_seed"] == 0  # Seed.set_seed(repetition index)
        assert record["cuda_visible_devices"] == ""  # CPU
        assert record["torch_threads_at_start"] == 1
        validation_sets.append(validation_ids)
        for split in ("validation", "test"):
            assert (tmp_path / "inference_dir" / split / "rep_0" / str(fold) / "infer.gz").is_file()
            assert (tmp_path / "eval_dir" / split / "rep_0" / str(fold) / "results.json").is_file()
        validation_frame = read_dataframe(tmp_path / "inference_dir" / "validation" / "rep_0" / str(fold) / "infer.gz")
        assert set(validation_frame["id"]) == validation_ids
    assert sum(len(ids) for ids in validation_sets) == NUM_SAMPLES  # validation sets disjoint, covering the ids
    assert set().union(*validation_sets) == set(range(NUM_SAMPLES))
    # KFold(shuffle=True, random_state=1234) on the ids, as FuseMedML
    assert [set(v) for _, v in folds] == [set(v) for _, v in split_folds(range(NUM_SAMPLES), 3, seed=1234)]

    test_root = tmp_path / "inference_dir" / "test" / "rep_0"
    frames = [read_dataframe(test_root / str(fold) / "infer.gz").set_index("id") for fold in range(3)]
    expected = np.mean([frame.loc[list(TEST_IDS), "pred"].to_numpy() for frame in frames], axis=0)
    ensembled = read_dataframe(test_root / "ensemble" / "infer.gz").set_index("id")
    np.testing.assert_allclose(ensembled.loc[list(TEST_IDS), "pred"].to_numpy(dtype=float), expected, rtol=1e-6)
    assert ensembled.loc[list(TEST_IDS), "data.label"].tolist() == frames[0].loc[list(TEST_IDS), "data.label"].tolist()
    auc = json.loads((tmp_path / "eval_dir" / "test" / "rep_0" / "ensemble" / "results.json").read_text())["auc"]
    assert auc > 0.8  # three models trained on a learnable task


def test_split_folds_partition() -> None:
    ids = [f"s{i}" for i in range(10)]
    folds = split_folds(ids, 4, seed=7)
    validation = [v for _, v in folds]
    assert sorted(str(i) for v in validation for i in v) == sorted(ids)
    for train, valid in folds:
        assert sorted(str(i) for i in [*train, *valid]) == sorted(ids)
    assert [len(v) for v in validation] == [3, 3, 2, 2]
    assert split_folds(ids, 4, seed=7) == folds  # deterministic
    assert split_folds(ids, 4, seed=8) != folds


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_folds": 1}, "num_folds must be"),
        ({"num_folds_used": 4}, "num_folds_used must be between 1 and num_folds=3"),
        ({"num_gpus_total": -1}, "num_gpus_total must be"),
        ({"num_repetitions": 0}, "num_repetitions must be"),
        ({"paths": {"model_dir": "m"}}, "paths must hold"),
        ({"infer_params": {}}, "'pred_key'"),
        ({"dataset_params": {}}, "'target_key'"),
        ({"sample_ids_per_fold": [([0], [1])]}, "holds 1 folds but num_folds=3"),
    ],
)
def test_bad_arguments(arguments: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "num_folds": 3,
        "num_folds_used": 3,
        "num_gpus_total": 0,
        "num_gpus_per_split": 1,
        "num_repetitions": 1,
        "dataset_func": dataset_func,
        "train_func": train_func,
        "infer_func": infer_func,
        "eval_func": eval_func,
        "dataset_params": {"num_samples": 6, "target_key": "data.label"},
        "infer_params": {"pred_key": "pred"},
        "paths": {"model_dir": "m", "inference_dir": "i", "eval_dir": "e"},
    }
    base.update(arguments)
    with pytest.raises(ValueError, match=message):
        run_cross_validation(**base)  # type: ignore[arg-type]


def test_ensemble_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="infer_func must write them"):
        ensemble([tmp_path], "infer.gz", "pred", "label", tmp_path / "out" / "infer.gz")


@pytest.mark.slow  # a spawned process
def test_a_failing_fold_raises(tmp_path: Path) -> None:
    folds = [(list(range(10)), list(range(10, 15)))] * 3
    with pytest.raises(RuntimeError, match=r"failed: \['fold 0 of repetition 0 \(exit code 1\)'\]"):
        _run(tmp_path, train_func=failing_train_func, num_folds_used=1, sample_ids_per_fold=folds)
    assert not (tmp_path / "inference_dir" / "test" / "rep_0" / "ensemble").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_one_gpu_per_fold(tmp_path: Path) -> None:
    _run(tmp_path, num_folds=2, num_folds_used=2, num_gpus_total=1, num_gpus_per_split=1)
    for fold in range(2):
        record = json.loads((tmp_path / "model_dir" / "rep_0" / str(fold) / "process.json").read_text())
        assert record["cuda_visible_devices"] == "0"  # the folds took turns on GPU 0
    assert (tmp_path / "inference_dir" / "test" / "rep_0" / "ensemble" / "infer.gz").is_file()


def test_gpu_groups_follow_the_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuse.dl._cross_validation import _gpu_groups

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7")
    assert _gpu_groups(3, 1) == [("3",), ("5",), ("7",)]
    assert _gpu_groups(3, 2) == [("3", "5")]  # the remainder is left unused
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert _gpu_groups(2, 1) == [("0",), ("1",)]
    assert _gpu_groups(0, 1) is None
    with pytest.raises(ValueError, match="num_gpus_total=4 but torch sees 3"):
        _gpu_groups(4, 1)
