"""LightningModuleDefault end to end: it learns, checkpoints load with weights_only, it resumes, predicts to a
DataFrame that fuse-eval evaluates, and names what failed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint

from fuse.core import NDict
from fuse.data import CollateDefault
from fuse.dl import LightningModuleDefault, LossDefault, convert_predictions_to_dataframe, load_model, step_losses
from fuse.eval import EvaluatorDefault, MetricAUCROC, MetricDefault, MetricPerBatchDefault
from fuse_dl_train_support import make_loader, make_model, make_module

TRAIN, VALIDATION = range(240), range(300, 380)


def _trainer(tmp_path: Path, **kwargs: Any) -> pl.Trainer:
    arguments: dict[str, Any] = {
        "default_root_dir": str(tmp_path),
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "max_epochs": 4,
    }
    arguments.update(kwargs)
    return pl.Trainer(**arguments)


def test_learns_checkpoints_resumes_and_predicts(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    module = make_module(model_dir, save_model=True, save_arguments=True, model_builder=make_model)
    trainer = _trainer(tmp_path)
    trainer.fit(module, make_loader(TRAIN, shuffle=True), make_loader(VALIDATION))
    auc = float(trainer.callback_metrics["validation.metrics.auc"])
    assert auc > 0.9  # the synthetic task is learnable; chance is 0.5
    for name in ["train.losses.ce", "train.losses.total_loss", "train.metrics.auc", "validation.losses.ce"]:
        assert name in trainer.callback_metrics
    assert "validation.metrics.confusion.sensitivity" in trainer.callback_metrics

    # checkpoints: best and last, loadable without unpickling code
    for name in ["best_epoch.ckpt", "last.ckpt"]:
        checkpoint = torch.load(model_dir / name, weights_only=True)
        assert any(key.startswith("_model.") for key in checkpoint["state_dict"])
    summary = (model_dir / "epoch_summary_validation.metrics.auc.txt").read_text()
    assert summary.count("Epoch summary") == 4  # one table per epoch, appended
    assert "validation.metrics.auc" in summary
    assert "train_metrics" in (model_dir / "arguments.txt").read_text()

    # the saved model rebuilds and equals the trained one
    rebuilt = load_model(model_dir, trusted=True)  # make_model is a function
    batch = next(iter(make_loader(VALIDATION)))
    module.eval()
    expected = module(NDict(dict(batch)))["model.output.cls"]
    assert torch.allclose(rebuilt(NDict(dict(batch)))["model.output.cls"], expected)

    # resume from last.ckpt for one more epoch
    resumed = make_module(model_dir)
    trainer = _trainer(tmp_path, max_epochs=5)
    trainer.fit(
        resumed, make_loader(TRAIN, shuffle=True), make_loader(VALIDATION), ckpt_path=str(model_dir / "last.ckpt")
    )
    assert trainer.current_epoch == 5
    assert (model_dir / "epoch_summary_validation.metrics.auc.txt").read_text().count("Epoch summary") == 5

    # predict -> DataFrame -> fuse-eval, equal to the AUC logged for the same weights
    best = LightningModuleDefault.load_from_checkpoint(
        str(model_dir / "best_epoch.ckpt"), model_dir=model_dir, model=make_model(), weights_only=True
    )
    best.set_predictions_keys(["model.output.cls", "data.label"])
    predictions = _trainer(tmp_path).predict(best, make_loader(VALIDATION))
    frame = convert_predictions_to_dataframe(predictions)
    assert frame["id"].tolist() == list(VALIDATION)
    results = EvaluatorDefault().eval(
        ids=None, data=frame, metrics={"auc": MetricAUCROC(pred="model.output.cls", target="data.label")}
    )
    validated = _trainer(tmp_path).validate(
        make_module(None), make_loader(VALIDATION), ckpt_path=str(model_dir / "best_epoch.ckpt"), verbose=False
    )
    assert results["metrics.auc"] == pytest.approx(validated[0]["validation.metrics.auc"])
    assert results["metrics.auc"] > 0.9


def test_several_validation_dataloaders_are_logged_by_name(tmp_path: Path) -> None:
    def metrics() -> dict[str, MetricAUCROC]:
        return {"auc": MetricAUCROC(pred="model.output.cls", target="data.label")}

    module = make_module(
        None,
        validation_metrics=[("early", metrics()), ("late", metrics())],
        validation_losses=[
            ("early", {"ce": LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)}),
            (
                "late",
                {
                    "ce2": LossDefault(
                        pred="model.logits.cls", target="data.label", callable=F.cross_entropy, weight=2.0
                    )
                },
            ),
        ],
        best_epoch_source=None,
        tensorboard_sep="/",
    )
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=False)
    trainer.fit(module, make_loader(TRAIN), [make_loader(range(300, 340)), make_loader(range(340, 380))])
    logged = set(trainer.callback_metrics)
    assert {"validation.early/metrics.auc", "validation.late/metrics.auc"} <= logged
    assert {"validation.early/losses.ce", "validation.late/losses.ce2"} <= logged
    assert "train/losses.total_loss" in logged


def test_a_failing_metric_raises_naming_it(tmp_path: Path) -> None:
    def broken(pred: np.ndarray) -> float:
        raise ZeroDivisionError("no positives")

    module = make_module(
        None,
        validation_metrics={"broken": MetricDefault(metric_func=broken, pred="model.output.cls")},
        best_epoch_source=None,
    )
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=False)
    with pytest.raises(ZeroDivisionError) as raised:
        trainer.validate(module, make_loader(VALIDATION), verbose=False)
    assert "while evaluating metric 'broken' at the end of a validation epoch" in raised.value.__notes__


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="log_unit must be one of"):
        make_module(None, log_unit="hours")
    with pytest.raises(ValueError, match="give a model_dir"):
        make_module(None, save_model=True)
    with pytest.raises(TypeError, match="list of \\(dataloader name, dict of metrics\\)"):
        make_module(None, validation_metrics=[MetricAUCROC(pred="p", target="t")])
    module = make_module(None, optimizers_and_lr_schs=None)
    with pytest.raises(ValueError, match="needs optimizers_and_lr_schs"):
        module.configure_optimizers()
    with pytest.raises(RuntimeError, match="set_predictions_keys"):
        module.predict_step(NDict({"data.input.x": torch.zeros(1, 8)}), 0)
    with pytest.raises(TypeError, match="single string"):
        module.set_predictions_keys("model.output.cls")  # type: ignore[arg-type]


def test_log_unit_epoch_logs_the_epoch_as_step(tmp_path: Path) -> None:
    module = make_module(None, log_unit="epoch", best_epoch_source=None)
    trainer = _trainer(tmp_path, max_epochs=2, enable_checkpointing=False)
    trainer.fit(module, make_loader(range(40)), make_loader(VALIDATION))
    assert float(trainer.callback_metrics["step"]) == 1.0


def test_train_metrics_take_repeated_samples_once_and_checkpointing_off_writes_none(tmp_path: Path) -> None:
    # a sampler drawing with replacement (as a balanced batch sampler does) repeats samples within an epoch
    dataset = make_loader(range(60)).dataset
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=120)  # type: ignore[arg-type]
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, sampler=sampler, collate_fn=CollateDefault())
    model_dir = tmp_path / "model"
    module = make_module(model_dir)
    trainer = _trainer(tmp_path, max_epochs=2, enable_checkpointing=False)
    trainer.fit(module, loader, make_loader(VALIDATION))
    assert 0.0 <= float(trainer.callback_metrics["train.metrics.auc"]) <= 1.0
    assert not [callback for callback in trainer.callbacks if isinstance(callback, ModelCheckpoint)]
    assert not list(model_dir.glob("*.ckpt"))
    assert (model_dir / "epoch_summary_validation.metrics.auc.txt").is_file()  # the summary stays


def test_the_epoch_summary_can_be_written_without_printing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "model"
    module = make_module(model_dir, print_epoch_summary=False)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(module, make_loader(TRAIN[:64], shuffle=True), make_loader(VALIDATION))
    assert "Epoch summary" not in capsys.readouterr().out  # not printed ...
    text = (model_dir / "epoch_summary_validation.metrics.auc.txt").read_text()
    assert text.count("Epoch summary") == 2  # ... but written
    # each table holds its own epoch's training loss (logged by the module's epoch-end hook, which runs first)
    first, last = text.split("Epoch summary")[1:]
    assert "train.losses.ce" in first
    (row,) = [line for line in last.splitlines() if line.startswith("train.losses.ce ")]
    assert float(row.split("|")[2]) == pytest.approx(float(trainer.callback_metrics["train.losses.ce"]), abs=1e-4)


def test_each_training_batch_holds_the_global_step_and_epoch_losses_are_per_sample_means(tmp_path: Path) -> None:
    seen: list[int] = []
    losses: list[tuple[float, int]] = []

    def recording_loss(batch_dict: NDict) -> torch.Tensor:
        seen.append(int(batch_dict["global_step"]))  # FuseMedML's key: the optimizer steps taken so far
        loss = F.cross_entropy(batch_dict["model.logits.cls"], batch_dict["data.label"])
        if torch.is_grad_enabled():
            losses.append((loss.detach().item(), len(batch_dict["data.sample_id"])))
        return loss

    module = make_module(None, losses={"ce": recording_loss}, train_metrics=None, best_epoch_source=None)
    trainer = _trainer(tmp_path, max_epochs=2, enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(module, make_loader(range(40), batch_size=16), make_loader(VALIDATION))  # batches of 16, 16, 8
    training = [step for step in seen if step in range(6)]
    assert training[:3] == [0, 1, 2]
    assert sorted(set(training)) == list(range(6))
    last_epoch = losses[3:]  # the training batches of the second epoch, with their sizes
    expected = sum(value * size for value, size in last_epoch) / sum(size for _, size in last_epoch)
    assert float(trainer.callback_metrics["train.losses.ce"]) == pytest.approx(expected, rel=1e-6)


def test_losses_reach_the_batch_wherever_a_metric_or_a_later_loss_reads_them(tmp_path: Path) -> None:
    read_by_loss: list[float] = []

    def cross_entropy(batch_dict: NDict) -> torch.Tensor:
        return F.cross_entropy(batch_dict["model.logits.cls"], batch_dict["data.label"])

    def reads_the_first(batch_dict: NDict) -> torch.Tensor:
        read_by_loss.append(float(batch_dict["losses.ce"]))
        return torch.zeros((), requires_grad=True)

    module = make_module(
        None, losses={"ce": cross_entropy, "then": reads_the_first}, train_metrics=None, best_epoch_source=None
    )
    _trainer(tmp_path / "a", max_epochs=1, enable_checkpointing=False, num_sanity_val_steps=0).fit(
        module, make_loader(range(32), batch_size=16)
    )
    assert len(read_by_loss) == 2  # a later loss reads an earlier one, every step

    # a training metric reads each batch's loss from the batch
    mean_loss = MetricPerBatchDefault(
        loss="loss",
        metric_per_batch_func=None,
        metric_per_batch_func_pre_collect=lambda batch: {"loss": [float(batch["losses.total_loss"])]},
        result_aggregate_func=lambda loss: float(np.mean(loss)),
    )
    module = make_module(
        None, losses={"ce": cross_entropy}, train_metrics={"mean_loss": mean_loss}, best_epoch_source=None
    )
    trainer = _trainer(tmp_path / "b", max_epochs=1, enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(module, make_loader(range(32), batch_size=16))
    assert float(trainer.callback_metrics["train.metrics.mean_loss"]) == pytest.approx(
        float(trainer.callback_metrics["train.losses.ce"]), rel=1e-5
    )  # two equal batches: the mean of the batch losses is the per-sample mean


class _ForwardCounted(LightningModuleDefault):
    """A subclass whose forward does more than run the model (here: counts its calls)."""

    calls = 0

    def forward(self, batch_dict: NDict) -> NDict:
        type(self).calls += 1
        return super().forward(batch_dict)


def test_every_step_runs_a_subclass_forward_and_the_hooks_on_the_model(tmp_path: Path) -> None:
    # a subclass's forward, and hooks registered on the model or globally, run on every training, validation and
    # predict step: a shortcut past self.forward or nn.Module.__call__ (tempting on the per-step path) skips them
    hooked: list[str] = []
    arguments = {"train_metrics": None, "best_epoch_source": None}
    module = _ForwardCounted(model_dir=None, model=make_model(), **{**_module_arguments(), **arguments})
    module.model.register_forward_hook(lambda *_: hooked.append("model"))
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda layer, *_: hooked.append("global") if isinstance(layer, LossDefault) else None
    )
    try:
        trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=False, num_sanity_val_steps=0)
        trainer.fit(module, make_loader(range(48)), make_loader(range(300, 332)))  # 3 + 2 batches
        module.set_predictions_keys(["model.output.cls"])
        trainer.predict(module, make_loader(range(300, 316)))  # 1 batch
    finally:
        handle.remove()
    assert _ForwardCounted.calls == 6
    assert hooked.count("model") == 6
    assert hooked.count("global") == 5  # the loss of each training and validation step


def test_every_step_runs_a_forward_replaced_on_the_instance(tmp_path: Path) -> None:
    # what Lightning does to a torch.compile'd LightningModule: forward wrapped on the instance
    module = make_module(None, train_metrics=None, best_epoch_source=None)
    calls: list[int] = []
    original = module.forward

    def counted(batch_dict: NDict) -> NDict:
        calls.append(1)
        return original(batch_dict)

    module.forward = counted  # type: ignore[method-assign]
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(module, make_loader(range(48)), make_loader(range(300, 332)))
    assert len(calls) == 5


def _module_arguments() -> dict[str, Any]:
    return {
        "losses": {"ce": LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)},
        "optimizers_and_lr_schs": lambda module: torch.optim.SGD(module.parameters(), lr=0.01),
    }


@pytest.mark.parametrize("name", ["a..b", ".ce", "ce."])
def test_a_loss_name_that_is_not_a_keypath_is_refused_on_every_step(name: str) -> None:
    batch = NDict({"pred": torch.tensor([1.0, 3.0])})
    losses = {name: lambda batch_dict: batch_dict["pred"].mean()}
    for _ in range(2):  # every step, not only the first
        with pytest.raises(ValueError, match=re.escape(f"'losses.{name}'")):
            step_losses(losses, batch)
    assert "losses" not in batch


def test_losses_are_stored_in_ndicts_and_plain_dicts_alike() -> None:
    losses = {"first": lambda b: b["pred"].sum(), "second": lambda b: b["losses.first"] * 2}
    for batch in (NDict({"pred": torch.tensor([1.0, 3.0])}), {"pred": torch.tensor([1.0, 3.0])}):
        total = step_losses(losses, batch)
        assert total is not None
        assert float(total) == 12.0
        stored = {key: float(value) for key, value in batch.items() if key.startswith("losses")}
        assert stored == {"losses.first": 4.0, "losses.second": 8.0, "losses.total_loss": 12.0}
    nested = NDict({"pred": torch.tensor([2.0])})
    step_losses({"ce": lambda b: b["pred"].sum()}, nested)
    assert nested["losses"].to_dict() == {"ce": torch.tensor(2.0), "total_loss": torch.tensor(2.0)}
