"""Lightning checkpoints are read with ``torch.load(weights_only=True)``: fuse-dl requires a torch whose default it
is (2.6), so ``trainer.predict(ckpt_path=...)`` and ``load_from_checkpoint`` never unpickle code from a file."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from fuse_dl_train_support import make_loader, make_module

PYPROJECT = Path(__file__).resolve().parents[3] / "packages" / "fuse-dl" / "pyproject.toml"


def test_fuse_dl_requires_a_torch_that_loads_weights_only_by_default() -> None:
    # the dependency lines ("torch >= 2.6", ...): tomllib is Python 3.11+, fuse supports 3.10
    lines = re.findall(r'^\s*"(torch\b[^"]*)"', PYPROJECT.read_text(), flags=re.MULTILINE)
    (torch_requirement,) = [Requirement(line) for line in lines]
    assert Version("2.6") in torch_requirement.specifier
    assert Version("2.5.1") not in torch_requirement.specifier  # weights_only=False by default there


class _Payload:
    """Stands for code a tampered checkpoint would run when unpickled."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled",))


def test_predict_from_a_checkpoint_holding_code_refuses_it(tmp_path: Path) -> None:
    module = make_module(None)
    trainer = pl.Trainer(
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module.set_predictions_keys(["model.output.cls"])
    good = tmp_path / "good.ckpt"
    trainer.strategy.connect(module)
    trainer.save_checkpoint(good)
    tampered = tmp_path / "tampered.ckpt"
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["payload"] = _Payload()
    torch.save(checkpoint, tampered)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        trainer.predict(module, make_loader(range(8)), ckpt_path=str(tampered))
    assert len(trainer.predict(module, make_loader(range(8)), ckpt_path=str(good)) or []) == 1


def test_a_checkpoint_names_no_fuse_module_so_it_loads_whatever_file_a_class_moved_to(tmp_path: Path) -> None:
    import pickletools
    import zipfile

    from fuse.dl import LightningModuleDefault
    from fuse_dl_train_support import make_model

    objects = ["model", "losses", "train_metrics", "validation_metrics", "optimizers_and_lr_schs"]
    module = make_module(tmp_path / "model", save_hyperparameters_kwargs={"ignore": objects})
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, make_loader(range(16), batch_size=8), make_loader(range(16, 24), batch_size=8))
    checkpoint = tmp_path / "model" / "last.ckpt"
    with zipfile.ZipFile(checkpoint) as archive:
        (pickled,) = [archive.read(name) for name in archive.namelist() if name.endswith("data.pkl")]
    strings = [str(arg) for _, arg, _ in pickletools.genops(pickled) if isinstance(arg, str)]
    assert not [text for text in strings if re.match(r"fuse\.(dl|core|data|eval)\b", text)]  # no class path to break
    assert module.hparams["model_dir"] == str(tmp_path / "model")  # a Path would not load with weights_only=True
    loaded = LightningModuleDefault.load_from_checkpoint(checkpoint, model=make_model(seed=5))
    for name, value in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


def test_a_second_fit_into_the_same_folder_replaces_the_checkpoints_it_reads_back(tmp_path: Path) -> None:
    """``best_epoch.ckpt`` and ``last.ckpt`` hold the latest fit's model: Lightning's version counter used to write
    ``best_epoch-v1.ckpt`` on a rerun, so whoever loaded ``best_epoch.ckpt`` got the earlier run's weights."""
    weights = []
    for seed in (0, 1):
        module = make_module(tmp_path / "model", seed=seed)
        trainer = pl.Trainer(
            max_epochs=1,
            limit_train_batches=1,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, make_loader(range(16), batch_size=8), make_loader(range(16, 24), batch_size=8))
        weights.append({name: value.clone() for name, value in module.state_dict().items()})
    assert sorted(path.name for path in (tmp_path / "model").glob("*.ckpt")) == ["best_epoch.ckpt", "last.ckpt"]
    for name in ("best_epoch.ckpt", "last.ckpt"):
        saved = torch.load(tmp_path / "model" / name, weights_only=True)["state_dict"]
        assert all(torch.equal(saved[key], weights[1][key]) for key in weights[1]), name
        assert not all(torch.equal(saved[key], weights[0][key]) for key in weights[0]), name
