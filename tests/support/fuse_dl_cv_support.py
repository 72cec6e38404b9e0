"""User functions for the cross-validation runner test (importable: the runner's processes are spawned).

The task is ``fuse_dl_train_support``'s; train/validation ids ``0 .. num_samples-1``, test ids ``1000 ..``.
``train_func`` trains a few epochs (a plain loop over the fuse model and loss: a Trainer per process would only add
start-up time) and records what its process saw (sample ids, seed, ``CUDA_VISIBLE_DEVICES``);
``infer_func`` writes ``infer.gz`` (``id``, ``pred`` = probability of class 1, ``data.label``); ``eval_func``
writes the AUC to ``results.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from fuse.core import NDict, read_dataframe, save_dataframe
from fuse.data import DatasetDefault
from fuse.dl import LossDefault
from fuse.eval import EvaluatorDefault, MetricAUCROC
from fuse_dl_train_support import make_dataset, make_loader, make_model

TEST_IDS = range(1000, 1040)


def dataset_func(
    train_val_sample_ids: Any, paths: dict[str, str], params: dict[str, Any]
) -> tuple[DatasetDefault, DatasetDefault]:
    if train_val_sample_ids is None:
        return make_dataset(range(params["num_samples"])), make_dataset(TEST_IDS)
    train_ids, validation_ids = train_val_sample_ids
    return make_dataset(train_ids), make_dataset(validation_ids)


def train_func(
    train_dataset: DatasetDefault,
    validation_dataset: DatasetDefault,
    paths: dict[str, str],
    train_params: dict[str, Any],
) -> None:
    threads_at_start = torch.get_num_threads()  # what the runner gave this fold process
    torch.set_num_threads(1)
    model_dir = Path(paths["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    train_ids = [int(i) for i in train_dataset.get_all_sample_ids()]  # type: ignore[call-overload]
    record = {
        "train_ids": train_ids,
        "validation_ids": validation_dataset.get_all_sample_ids(),
        "torch_seed": torch.initial_seed(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch_threads_at_start": threads_at_start,
    }
    (model_dir / "process.json").write_text(json.dumps(record))
    model = make_model(seed=torch.initial_seed())
    loss = LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(train_params["epochs"]):
        for batch in make_loader(train_ids, shuffle=True):
            optimizer.zero_grad()
            loss(model(NDict(dict(batch)))).backward()
            optimizer.step()
    torch.save(model.state_dict(), model_dir / "weights.pt")


def infer_func(dataset: DatasetDefault, paths: dict[str, str], infer_params: dict[str, Any]) -> None:
    torch.set_num_threads(1)
    model = make_model()
    model.load_state_dict(torch.load(Path(paths["model_dir"]) / "weights.pt", weights_only=True))
    model.eval()
    ids = [int(i) for i in dataset.get_all_sample_ids()]  # type: ignore[call-overload]
    rows = []
    with torch.no_grad():
        for batch in make_loader(ids):
            output = model(NDict(dict(batch)))
            rows.append(
                pd.DataFrame(
                    {
                        "id": list(batch["data.sample_id"]),
                        infer_params["pred_key"]: output["model.output.cls"][:, 1].tolist(),
                        "data.label": batch["data.label"].tolist(),
                    }
                )
            )
    Path(paths["inference_dir"]).mkdir(parents=True, exist_ok=True)
    save_dataframe(pd.concat(rows, ignore_index=True), Path(paths["inference_dir"]) / "infer.gz")


def eval_func(paths: dict[str, str], eval_params: dict[str, Any]) -> None:
    data = read_dataframe(Path(paths["inference_dir"]) / "infer.gz")
    results = EvaluatorDefault().eval(
        ids=None, data=data, metrics={"auc": MetricAUCROC(pred=eval_params["pred_key"], target="data.label")}
    )
    Path(paths["eval_dir"]).mkdir(parents=True, exist_ok=True)
    (Path(paths["eval_dir"]) / "results.json").write_text(json.dumps({"auc": float(results["metrics.auc"])}))


def failing_train_func(
    train_dataset: DatasetDefault,
    validation_dataset: DatasetDefault,
    paths: dict[str, str],
    train_params: dict[str, Any],
) -> None:
    raise RuntimeError("training failed on purpose")
