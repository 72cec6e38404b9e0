"""``ModelEpochSummary``: a table of the best epoch against the current one, printed and written after each
training epoch (rank zero only)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Checkpoint

__all__ = ["ModelEpochSummary"]

_MODES = ("min", "max")


class ModelEpochSummary(Checkpoint):  # a Checkpoint: Lightning runs it after the module's epoch-end hook
    """After every training epoch (validation included), compare ``monitor`` with its best value so far and write a
    table of every logged value at the best epoch and at the current one to ``<dirpath>/<filename>``
    (``epoch_summary_<monitor>.txt`` by default; ``epoch_summary.txt`` without a monitor, which keeps the latest
    epoch as "best"). The file is rewritten at the first summary of a run and appended afterwards; the best epoch
    survives a resume (callback state in the checkpoint). A NaN value is never best.

    It is a Lightning ``Checkpoint`` callback (it saves no model): Lightning calls those after
    ``LightningModule.on_train_epoch_end``, so the table holds the training losses and metrics that hook logs for
    the same epoch (a plain ``Callback`` would see the previous epoch's).

    :param dirpath: where to write (``None``: print only).
    :param filename: the file name (default as above).
    :param monitor: the logged value that decides the best epoch, e.g. ``"validation.metrics.auc"``.
    :param mode: ``"min"`` or ``"max"``.
    :param print_table: also print the table after each epoch (rank zero); False: write the file only.

    >>> summary = ModelEpochSummary(dirpath=None, monitor="validation.losses.total_loss", mode="min")
    >>> summary.filename
    'epoch_summary_validation.losses.total_loss.txt'
    """

    def __init__(
        self,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        mode: str = "min",
        print_table: bool = True,
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {list(_MODES)}, got {mode!r}")
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.print_table = print_table
        if filename is None:
            filename = "epoch_summary.txt" if monitor is None else f"epoch_summary_{safe_file_name(monitor)}.txt"
        self.filename = filename
        self.best_epoch: int | None = None
        self.best_values: dict[str, float] = {}
        self._written = False

    @property
    def state_key(self) -> str:
        return f"ModelEpochSummary{{monitor={self.monitor!r}}}"

    def state_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_values": dict(self.best_values)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_epoch = state_dict["best_epoch"]
        self.best_values = dict(state_dict["best_values"])
        self._written = True  # a resumed run appends

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        current = {name: _as_float(value) for name, value in sorted(trainer.callback_metrics.items())}
        epoch = trainer.current_epoch
        if self._is_better(current):
            self.best_epoch, self.best_values = epoch, dict(current)
        if not trainer.is_global_zero:
            return
        table = self._table(epoch, current)
        if self.print_table:
            print(table)
        if self.dirpath is not None:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            with open(self.dirpath / self.filename, "a" if self._written else "w") as file:
                file.write(table + "\n")
            self._written = True

    def _is_better(self, current: dict[str, float]) -> bool:
        if self.monitor is None:
            return True
        if self.monitor not in current:
            raise KeyError(
                f"ModelEpochSummary: monitor {self.monitor!r} was not logged this epoch; logged: {sorted(current)}"
            )
        value = current[self.monitor]
        if math.isnan(value):
            return False
        if self.best_epoch is None:
            return True
        best = self.best_values.get(self.monitor, math.nan)
        return math.isnan(best) or (value < best if self.mode == "min" else value > best)

    def _table(self, epoch: int, current: dict[str, float]) -> str:
        best_title = "no best epoch yet" if self.best_epoch is None else f"Best Epoch ({self.best_epoch})"
        title = f"Current Epoch ({epoch})"
        names = sorted(set(current) | set(self.best_values))
        width = max([len("value"), *map(len, names)])
        lines = [
            f"Epoch summary (monitor: {self.monitor}, mode: {self.mode})",
            f"{'value':<{width}} | {best_title:>20} | {title:>20}",
            f"{'-' * width}-+-{'-' * 20}-+-{'-' * 20}",
        ]
        for name in names:
            best = self.best_values.get(name)
            now = current.get(name)
            lines.append(f"{name:<{width}} | {_cell(best):>20} | {_cell(now):>20}")
        return "\n".join(lines)


def safe_file_name(text: str) -> str:
    """``text`` usable in a file name."""
    return re.sub(r"[^\w.-]", "_", text)


def _as_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().reshape(-1)[0]) if value.numel() else math.nan
    return float(value)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
