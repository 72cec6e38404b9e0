"""fuse-dl's training step: steps per second of the fuse stack against a plain LightningModule, side by side.

Both train the same MLP (64 -> 256 -> 256 -> 2, ReLU) with Adam(lr=1e-3) on the same 160 batches of 64 samples
(fuse-data: a ``DatasetDefault`` collated by ``CollateDefault`` once, held in memory, so data loading is out of the
measurement), one epoch per run, one torch thread, ``logger=False``, ``enable_checkpointing=False``, no validation
loop.

- fuse: ``LightningModuleDefault`` + ``ModelWrapSeqToDict`` (logits and softmax into the batch dict) +
  ``LossDefault(F.cross_entropy)`` + ``MetricAUCROC`` collected every step and evaluated at the epoch end;
- plain: a ``LightningModule`` doing the same by hand: cross-entropy, the probabilities and labels kept per step,
  ``sklearn.metrics.roc_auc_score`` and the mean loss logged at the epoch end.

Steps per second are timed from ``on_train_epoch_start`` to the end of the module's ``on_train_epoch_end`` (so the
epoch-end metric is included; the Trainer's start-up is not, nor the ``last.ckpt`` that LightningModuleDefault always
writes after it), best of interleaved rounds; the median of the paired per-round ratios is reported too.

A second configuration measures what the fuse stack itself costs per step, with nothing else to hide it: an MLP
64 -> 256 -> 2 trained with SGD(lr=0.01) on the same batches, ``LightningModuleDefault`` + ``ModelWrapSeqToDict`` +
``LossDefault`` with no metrics against the leanest plain ``LightningModule`` (cross-entropy returned, nothing logged
or kept). Its steps are timed from ``on_train_epoch_start`` to the end of the last batch (the fuse epoch end, which
averages and logs the losses once per epoch, is reported beside it, in ms per epoch).

Run: ``python benchmarks/train_step.py`` (from the repository root; ``nox -s bench`` runs every benchmark).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from fuse.core import NDict
from fuse.data import CollateDefault, DatasetDefault, OpBase, OpToTensor, PipelineDefault
from fuse.dl import LightningModuleDefault, LossDefault, ModelWrapSeqToDict
from fuse.eval import MetricAUCROC
from section import Ratio, Section

NUM_FEATURES = 64
HIDDEN = 256
BATCH_SIZE = 64
NUM_BATCHES = 160
ROUNDS = 7
TARGET_OVERHEAD = 0.05
LEAN_HIDDEN = 256
LEAN_ROUNDS = 40  # the lean step is short and the machine may be busy: more rounds for a stable best


class OpMakeSample(OpBase):
    """Features and label of sample ``i`` (label = sign of a fixed projection), deterministic per id."""

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        rng = np.random.default_rng(int(sample_dict["data.sample_id"]))
        features = rng.standard_normal(NUM_FEATURES).astype(np.float32)
        sample_dict["data.input.x"] = features
        sample_dict["data.label"] = int(features[: NUM_FEATURES // 2].sum() > 0)
        return sample_dict


def _batches() -> list[dict[str, Any]]:
    static = PipelineDefault("static", [(OpMakeSample(), {})])
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": ["data.input.x", "data.label"]})])
    dataset = DatasetDefault(list(range(BATCH_SIZE * NUM_BATCHES)), static, dynamic)
    dataset.create()
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=BATCH_SIZE,
        collate_fn=CollateDefault(),
    )
    return [dict(batch) for batch in loader]


class _Replay:
    """The batches as one iterable (Lightning reads a bare list as a collection of loaders)."""

    def __init__(self, batches: list[dict[str, Any]]) -> None:
        self._batches = batches

    def __iter__(self) -> Any:
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)


def _mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(NUM_FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 2),
    )


def _now() -> tuple[float, float]:
    """Wall-clock time and this thread's CPU time (everything runs in this thread: one torch thread, no workers)."""
    return time.perf_counter(), time.thread_time()


def _adam(module: pl.LightningModule) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=1e-3)


def _logits_and_probabilities(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits, F.softmax(logits, dim=1)


class _FuseTimed(LightningModuleDefault):
    """The fuse stack; records when its epoch end (metrics and losses logged) is done."""

    epoch_started = (0.0, 0.0)
    epoch_done = (0.0, 0.0)

    def on_train_epoch_start(self) -> None:
        self.epoch_started = _now()

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        self.epoch_done = _now()


def _fuse_module() -> _FuseTimed:
    model = ModelWrapSeqToDict(
        model=_mlp(),
        model_inputs=["data.input.x"],
        model_outputs=["model.logits.cls", "model.output.cls"],
        post_forward_processing_function=_logits_and_probabilities,
    )
    return _FuseTimed(
        model_dir=None,
        model=model,
        losses={"ce": LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)},
        train_metrics={"auc": MetricAUCROC(pred="model.output.cls", target="data.label")},
        optimizers_and_lr_schs=_adam,
    )


class _Plain(pl.LightningModule):
    """The same training written directly against Lightning."""

    epoch_started = (0.0, 0.0)
    epoch_done = (0.0, 0.0)

    def __init__(self) -> None:
        super().__init__()
        self.network = _mlp()
        self._losses: list[torch.Tensor] = []
        self._probabilities: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self.network(batch["data.input.x"])
        loss = F.cross_entropy(logits, batch["data.label"])
        self._losses.append(loss.detach())
        self._probabilities.append(F.softmax(logits.detach(), dim=1)[:, 1].numpy())
        self._labels.append(batch["data.label"].numpy())
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return _adam(self)

    def on_train_epoch_start(self) -> None:
        self.epoch_started = _now()

    def on_train_epoch_end(self) -> None:
        self.log("train.losses.ce", torch.stack(self._losses).mean(), on_epoch=True)
        auc = roc_auc_score(np.concatenate(self._labels), np.concatenate(self._probabilities))
        self.log("train.metrics.auc", float(auc), on_epoch=True)
        self._losses, self._probabilities, self._labels = [], [], []
        self.epoch_done = _now()


def _lean_mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(NUM_FEATURES, LEAN_HIDDEN), torch.nn.ReLU(), torch.nn.Linear(LEAN_HIDDEN, 2)
    )


def _sgd(module: pl.LightningModule) -> torch.optim.Optimizer:
    return torch.optim.SGD(module.parameters(), lr=0.01)


class _StepsTimed:
    """Records when the epoch starts, when its last batch ends and when the epoch end is done."""

    epoch_started = (0.0, 0.0)
    steps_done = (0.0, 0.0)
    epoch_done = (0.0, 0.0)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == NUM_BATCHES - 1:
            self.steps_done = _now()


class _LeanPlain(_StepsTimed, pl.LightningModule):
    """The leanest plain module: the network and the loss, nothing logged or kept."""

    def __init__(self) -> None:
        super().__init__()
        self.network = _lean_mlp()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.network(batch["data.input.x"]), batch["data.label"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return _sgd(self)

    def on_train_epoch_start(self) -> None:
        self.epoch_started = _now()

    def on_train_epoch_end(self) -> None:
        self.epoch_done = _now()


class _LeanFuse(_StepsTimed, LightningModuleDefault):
    """The fuse stack without metrics."""

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.epoch_started = _now()

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        self.epoch_done = _now()


def _lean_fuse_module() -> _LeanFuse:
    model = ModelWrapSeqToDict(model=_lean_mlp(), model_inputs=["data.input.x"], model_outputs=["model.logits.cls"])
    return _LeanFuse(
        model_dir=None,
        model=model,
        losses={"ce": LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)},
        optimizers_and_lr_schs=_sgd,
    )


def _trainer(root: Path) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=str(root),
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def _fit_lean(module: _LeanPlain | _LeanFuse, batches: list[dict[str, Any]], root: Path) -> tuple[float, float]:
    """CPU seconds of this thread per training step (epoch start to the last batch's end), and of the epoch end."""
    trainer = _trainer(root)
    trainer.fit(module, train_dataloaders=_Replay(batches))
    assert trainer.global_step == NUM_BATCHES
    step = (module.steps_done[1] - module.epoch_started[1]) / NUM_BATCHES
    return step, module.epoch_done[1] - module.steps_done[1]


def _warm_step(module: _LeanPlain | _LeanFuse, batches: list[dict[str, Any]], passes: int = 5) -> float:
    """CPU seconds of one ``training_step`` call alone (no Lightning loop, no backward), best of ``passes`` passes
    over the batches: what the module's own code costs when nothing else runs between its steps."""
    best = float("inf")
    for _ in range(passes):
        module.on_train_epoch_start()  # each pass starts an epoch: fuse's per-epoch loss record starts empty
        start = time.thread_time()
        for index, batch in enumerate(batches):
            module.training_step(batch, index)
        best = min(best, (time.thread_time() - start) / len(batches))
    return best


def _fit(module: _FuseTimed | _Plain, batches: list[dict[str, Any]], root: Path) -> tuple[float, float]:
    """Steps per second of one epoch: by wall-clock time and by CPU time of this thread."""
    trainer = _trainer(root)
    trainer.fit(module, train_dataloaders=_Replay(batches))
    assert trainer.global_step == NUM_BATCHES
    (wall_start, cpu_start), (wall_end, cpu_end) = module.epoch_started, module.epoch_done
    return NUM_BATCHES / (wall_end - wall_start), NUM_BATCHES / (cpu_end - cpu_start)


def run() -> Section:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run()
    finally:
        torch.set_num_threads(threads)


def _run() -> Section:
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    batches = _batches()
    root = Path(tempfile.mkdtemp(prefix="fuse-bench-train-"))
    wall: dict[str, list[float]] = {"plain": [], "fuse": []}
    cpu: dict[str, list[float]] = {"plain": [], "fuse": []}
    lean_step: dict[str, list[float]] = {"plain": [], "fuse": []}
    lean_end: dict[str, list[float]] = {"plain": [], "fuse": []}
    warm = {"plain": _warm_step(_LeanPlain(), batches), "fuse": _warm_step(_lean_fuse_module(), batches)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's advice on num_workers and the like
            for round_index in range(max(ROUNDS, LEAN_ROUNDS)):  # interleaved: all see the same machine state
                if round_index < ROUNDS:
                    for name, make in (("plain", _Plain), ("fuse", _fuse_module)):
                        wall_speed, cpu_speed = _fit(make(), batches, root / name)
                        wall[name].append(wall_speed)
                        cpu[name].append(cpu_speed)
                for name, make_lean in (("plain", _LeanPlain), ("fuse", _lean_fuse_module)):
                    step, end = _fit_lean(make_lean(), batches, root / f"lean_{name}")
                    lean_step[name].append(step)
                    lean_end[name].append(end)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    best_cpu = {name: max(speeds) for name, speeds in cpu.items()}
    best_wall = {name: max(speeds) for name, speeds in wall.items()}
    overhead = best_cpu["plain"] / best_cpu["fuse"] - 1.0
    paired = float(np.median([p / f for p, f in zip(cpu["plain"], cpu["fuse"], strict=True)])) - 1.0
    verdict = "met" if overhead <= TARGET_OVERHEAD else "**not met**"

    def row(label: str, name: str) -> str:
        return (
            f"| {label} | {best_cpu[name]:.1f} | {1e3 / best_cpu[name]:.3f} | {best_wall[name]:.1f} | "
            f"{min(wall[name]):.1f} |\n"
        )

    lean_best = {name: min(steps) for name, steps in lean_step.items()}
    lean_ratio = lean_best["fuse"] / lean_best["plain"]
    lean_paired = float(np.median([f / p for p, f in zip(lean_step["plain"], lean_step["fuse"], strict=True)]))
    ratios = [
        Ratio(
            "training step: fuse stack / plain LightningModule CPU time",
            best_cpu["plain"] / best_cpu["fuse"],
            "x",
            target=1.0 + TARGET_OVERHEAD,
        ),
        Ratio(
            "lean training step (no metrics, 64-256-2 MLP, SGD): fuse stack / leanest plain LightningModule CPU time",
            lean_ratio,
            "x",
            target=1.0 + TARGET_OVERHEAD,
        ),
    ]
    lean_verdict = "met" if lean_ratio <= 1.0 + TARGET_OVERHEAD else "**not met**"
    markdown = (
        "## fuse-dl training step (`benchmarks/train_step.py`)\n\n"
        f"MLP {NUM_FEATURES}-{HIDDEN}-{HIDDEN}-2, Adam, {NUM_BATCHES} batches of {BATCH_SIZE} (collated by fuse-data "
        "once, in memory), one epoch per run, CPU, one torch thread, `logger=False`, `enable_checkpointing=False`; "
        f"{ROUNDS} interleaved rounds, timed from the epoch start to the end of the epoch-end hook. Steps/s by the "
        "CPU time of the training thread (everything runs in it), which other processes on the machine disturb "
        "less than the wall clock; wall-clock steps/s beside it.\n\n"
        "| training | steps/s (CPU time, best) | ms/step | steps/s (wall, best) | steps/s (wall, worst) |\n"
        "|---|---|---|---|---|\n"
        + row("plain `LightningModule` (cross-entropy, sklearn AUC at the epoch end)", "plain")
        + row("`LightningModuleDefault` + `ModelWrapSeqToDict` + `LossDefault` + `MetricAUCROC`", "fuse")
        + f"\nOverhead of the fuse stack: **{overhead * 100:+.1f}%** time per step "
        f"(target <= {TARGET_OVERHEAD * 100:.0f}%: {verdict}); median of the paired per-round ratios {paired * 100:+.1f}%, "
        f"wall-clock best against best {(best_wall['plain'] / best_wall['fuse'] - 1.0) * 100:+.1f}%.\n\n"
        f"Lean step: MLP {NUM_FEATURES}-{LEAN_HIDDEN}-2, SGD(lr=0.01), the same batches, no metrics, {LEAN_ROUNDS} "
        "interleaved rounds, CPU time from the epoch start to the end of the last batch.\n\n"
        "| training | µs/step (CPU time, best) | epoch end, ms (best) |\n|---|---|---|\n"
        f"| leanest plain `LightningModule` (cross-entropy returned, nothing logged) | {lean_best['plain'] * 1e6:.1f} | "
        f"{min(lean_end['plain']) * 1e3:.2f} |\n"
        f"| `LightningModuleDefault` + `ModelWrapSeqToDict` + `LossDefault` | {lean_best['fuse'] * 1e6:.1f} | "
        f"{min(lean_end['fuse']) * 1e3:.2f} |\n"
        f"\nLean fuse / plain: **{lean_ratio:.3f}x** time per step ({(lean_best['fuse'] - lean_best['plain']) * 1e6:+.1f} "
        f"µs; target <= {1 + TARGET_OVERHEAD:.2f}x: {lean_verdict}); median of the paired per-round ratios "
        f"{lean_paired:.3f}x. The fuse epoch end (losses averaged and logged once) is per epoch, not per step.\n\n"
        f"`training_step` alone, called in a loop over the batches (no Lightning loop, no backward, best of 5 passes): "
        f"plain {warm['plain'] * 1e6:.1f} µs, fuse {warm['fuse'] * 1e6:.1f} µs "
        f"({(warm['fuse'] - warm['plain']) * 1e6:+.1f} µs); inside the fit the difference is "
        f"{(lean_best['fuse'] - lean_best['plain']) / (warm['fuse'] - warm['plain']):.1f} times that. Between two "
        "steps of a fit Lightning, autograd and the optimizer run, and the step's code and data leave the CPU caches: "
        "compare the two to see how much of the overhead is fuse's own work.\n"
    )
    return Section(markdown, ratios)


if __name__ == "__main__":
    print(run().markdown)
