"""A training run prints what the user needs: no Lightning tips, no notice of fuse's callbacks replacing their own
copies or Lightning's default checkpoint, no Lightning-internal deprecation warning; the notice when a callback the
user gave the Trainer is replaced, and Lightning's real warnings, still appear.

The run is a fresh interpreter with its output piped (not a terminal), as when a training's output is redirected to
a log file: what pytest's capture would see in this process depends on which handlers were set up before."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from fuse.dl.training._output import interactive_output

SUPPORT = Path(__file__).resolve().parents[2] / "support"

_SCRIPT = """
import sys
import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from fuse_dl_train_support import make_loader, make_module

model_dir = sys.argv[1]
train, validation = make_loader(range(32), batch_size=8), make_loader(range(32, 40), batch_size=8)
module = make_module(model_dir)
module.set_predictions_keys(["model.output.cls"])
trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_model_summary=False, limit_train_batches=2)
trainer.fit(module, train, validation)
trainer.validate(module, validation)
trainer.predict(module, validation)
print("--- a Trainer given a checkpoint of its own", flush=True)
mine = ModelCheckpoint(dirpath=model_dir + "/mine", monitor="validation.losses.total_loss")
trainer = pl.Trainer(
    max_epochs=1, accelerator="cpu", logger=False, enable_model_summary=False, limit_train_batches=2, callbacks=[mine]
)
trainer.fit(module, train, validation)
trainer.predict(module, validation)
"""


def test_a_training_run_prints_no_noise_and_keeps_real_warnings(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "old.ckpt").write_bytes(b"")  # Lightning warns that the checkpoint directory is not empty: a real one
    done = subprocess.run(
        [sys.executable, "-u", "-c", _SCRIPT, str(model_dir)],  # unbuffered: the two streams in order, in one pipe
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(SUPPORT)},
    )
    output = done.stdout
    assert done.returncode == 0, output[-3000:]
    first, second = output.split("--- a Trainer given a checkpoint of its own")
    assert "Tip:" not in output  # Lightning's product tips
    assert "LeafSpec" not in output  # Lightning's own deprecation, not the user's to act on
    assert "will override" not in first  # fuse's callbacks replaced Lightning's default checkpoint and their copies
    # the user's own checkpoint is replaced: said once, at the fit, not again at the predict
    assert second.count("will override existing callbacks passed to Trainer: ModelCheckpoint") == 1
    assert "exists and is not empty" in first  # a genuine Lightning warning still shows
    assert "GPU available" in first  # Lightning's other information too


def test_interactive_output_only_on_terminals() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Closed(io.StringIO):
        def isatty(self) -> bool:
            raise ValueError("I/O operation on closed file")

    assert interactive_output(Terminal(), Terminal())
    assert not interactive_output(Terminal(), io.StringIO())  # one redirected stream is enough
    assert not interactive_output(Closed())
    assert not interactive_output(object())  # no isatty at all
