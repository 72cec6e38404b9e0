"""save_model / load_model: state dict + builder JSON, weights_only loading, builder checks and errors."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from fuse.core import NDict
from fuse.dl import Head3D, _model_io, load_model, save_model
from fuse.dl._model_io import MODEL_BUILDER_FILENAME, MODEL_STATE_FILENAME

HEAD_KWARGS: dict[str, Any] = {
    "head_name": "classification",
    "mode": "classification",
    "conv_inputs": [["model.backbone_features", 6]],
    "num_outputs": 2,
    "append_features": [["data.input.clinical", 3]],
    "append_layers_description": [4],
    "layers_description": [5],
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def build_tiny(width: int = 3, depth: int = 1) -> nn.Module:
    """A module-level builder (importable as tests...test_model_io:build_tiny)."""
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])


def _batch() -> NDict:
    return NDict({"model.backbone_features": torch.randn(2, 6, 2, 2, 2), "data.input.clinical": torch.randn(2, 3)})


def test_round_trip_with_class_builder(tmp_path: Path) -> None:
    model = Head3D(**HEAD_KWARGS).eval()
    save_model(tmp_path / "m", model, builder=Head3D, builder_kwargs=HEAD_KWARGS)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [MODEL_BUILDER_FILENAME, MODEL_STATE_FILENAME]
    spec = json.loads((tmp_path / "m" / MODEL_BUILDER_FILENAME).read_text())
    assert spec == {"builder": "fuse.dl:Head3D", "kwargs": HEAD_KWARGS}  # the public name: stable when files move
    # the state file is a plain state dict: it loads with weights_only=True
    state = torch.load(tmp_path / "m" / MODEL_STATE_FILENAME, weights_only=True)
    assert state.keys() == model.state_dict().keys()

    loaded = load_model(tmp_path / "m").eval()
    assert isinstance(loaded, Head3D)
    fresh = Head3D(**HEAD_KWARGS).eval()  # a freshly built model has other weights: the loaded ones are the saved
    batch = _batch()
    expected = model(batch.clone())["model.logits.classification"]
    assert not torch.allclose(fresh(batch.clone())["model.logits.classification"], expected)
    torch.testing.assert_close(loaded(batch.clone())["model.logits.classification"], expected)


def test_load_uses_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(tmp_path, build_tiny(), builder=build_tiny)
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    load_model(tmp_path, trusted=True)
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_function_builder_and_kwargs_override(tmp_path: Path) -> None:
    model = build_tiny(width=4, depth=2)
    save_model(tmp_path, model, builder=build_tiny, builder_kwargs={"width": 4, "depth": 2})
    spec = json.loads((tmp_path / MODEL_BUILDER_FILENAME).read_text())
    assert spec["builder"].endswith(":build_tiny")
    x = torch.randn(3, 4)
    with pytest.raises(
        ValueError, match=r"names the builder .*build_tiny', which is not one of fuse's own .*trusted=True"
    ):
        load_model(tmp_path)  # a builder outside the allow-list is only imported and called when trusted
    torch.testing.assert_close(load_model(tmp_path, trusted=True)(x), model(x))
    # a given builder overrides the saved one; given kwargs override the saved ones
    called: list[dict[str, Any]] = []

    def other_builder(**kwargs: Any) -> nn.Module:
        called.append(kwargs)
        return build_tiny(**kwargs)

    torch.testing.assert_close(load_model(tmp_path, builder=other_builder)(x), model(x))
    assert called == [{"width": 4, "depth": 2}]
    with pytest.raises(
        RuntimeError, match=r"load_model: the weights in .*model_state.pt do not fit the model built by"
    ):
        load_model(tmp_path, trusted=True, depth=1)  # one layer: unexpected keys for the second


def test_saving_without_builder(tmp_path: Path) -> None:
    model = build_tiny()
    save_model(tmp_path, model, builder=build_tiny)
    save_model(tmp_path, model)  # the stale builder file of the earlier save is removed
    assert [p.name for p in tmp_path.iterdir()] == [MODEL_STATE_FILENAME]
    with pytest.raises(ValueError, match=r"has no model_builder.json .* pass builder="):
        load_model(tmp_path)
    x = torch.randn(2, 3)
    torch.testing.assert_close(load_model(tmp_path, builder=build_tiny, width=3)(x), model(x))


def _local_builder() -> nn.Module:
    return build_tiny()


@pytest.mark.parametrize(
    ("builder", "error", "match"),
    [
        (lambda: build_tiny(width=3), ValueError, "is a lambda or is defined inside a function"),
        (functools.partial(build_tiny, width=3), TypeError, "has no importable name"),
        (3, TypeError, "builder must be a class or function"),
    ],
)
def test_unimportable_builders_are_refused(tmp_path: Path, builder: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        save_model(tmp_path, build_tiny(), builder=builder)
    assert not (tmp_path / MODEL_STATE_FILENAME).exists()  # nothing written


def test_local_function_and_renamed_builder_are_refused(tmp_path: Path) -> None:
    def local() -> nn.Module:
        return build_tiny()

    with pytest.raises(
        ValueError, match=r"test_local_function_and_renamed_builder_are_refused\.<locals>\.local is a lambda"
    ):
        save_model(tmp_path, build_tiny(), builder=local)

    def impostor() -> nn.Module:
        return build_tiny()

    impostor.__qualname__ = "_local_builder"  # claims a module-level name that is another function
    with pytest.raises(ValueError, match=r"imports to .*_local_builder.*, not to the builder given"):
        save_model(tmp_path, build_tiny(), builder=impostor)


def test_builder_kwargs_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"builder_kwargs\['layer'\] = Linear.* is not JSON-serialisable"):
        save_model(tmp_path, build_tiny(), builder=build_tiny, builder_kwargs={"width": 3, "layer": nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="builder_kwargs were given without a builder"):
        save_model(tmp_path, build_tiny(), builder_kwargs={"width": 3})
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module, got dict"):
        save_model(tmp_path, {"w": torch.zeros(1)})  # type: ignore[arg-type]


def test_main_builder_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def script_builder() -> nn.Module:
        return build_tiny()

    script_builder.__module__ = "__main__"
    script_builder.__qualname__ = "script_builder"
    monkeypatch.setattr(sys.modules["__main__"], "script_builder", script_builder, raising=False)
    with pytest.warns(UserWarning, match="defined in the __main__ script"):
        save_model(tmp_path, build_tiny(), builder=script_builder)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model_state\.pt not found"):
        load_model(tmp_path)
    save_model(tmp_path, build_tiny(), builder=build_tiny)
    builder_file = tmp_path / MODEL_BUILDER_FILENAME
    builder_file.write_text(json.dumps({"builder": "no_such_module_xyz:build", "kwargs": {}}))
    with pytest.raises(ValueError, match=r"'no_such_module_xyz:build', which is not one of fuse's own builders"):
        load_model(tmp_path)
    with pytest.raises(ImportError, match=r"cannot import module 'no_such_module_xyz' .* pass builder= "):
        load_model(tmp_path, trusted=True)
    builder_file.write_text(json.dumps({"builder": f"{_model_io.__name__}:no_such_builder", "kwargs": {}}))
    with pytest.raises(ImportError, match=r"has no 'no_such_builder' .* pass builder= to load_model"):
        load_model(tmp_path, trusted=True)
    builder_file.write_text("{not json")
    with pytest.raises(ValueError, match="is not a model builder file"):
        load_model(tmp_path)
    builder_file.write_text(json.dumps({"builder": "torch:float32", "kwargs": {}}))
    with pytest.raises(ValueError, match="'torch:float32', which is not one of fuse's own builders"):
        load_model(tmp_path)
    with pytest.raises(TypeError, match="builder 'torch:float32' is a dtype, not a callable"):
        load_model(tmp_path, trusted=True)
    with pytest.raises(TypeError, match=r"builder dict returned a dict, not a torch\.nn\.Module"):
        load_model(tmp_path, builder=dict)


def _write_model_dir(model_dir: Path, builder: str, kwargs: dict[str, Any]) -> None:
    """A model directory as it may come from elsewhere: any builder name, any kwargs."""
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(nn.Linear(1, 1).state_dict(), model_dir / MODEL_STATE_FILENAME)
    (model_dir / MODEL_BUILDER_FILENAME).write_text(json.dumps({"builder": builder, "kwargs": kwargs}))


def test_untrusted_directory_cannot_import_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported.txt"
    module_name = "fuse_test_import_side_effect_xyz"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / f"{module_name}.py").write_text(
        f"import pathlib\nimport torch\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "class Evil(torch.nn.Linear):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    _write_model_dir(tmp_path / "m", f"{module_name}:Evil", {"in_features": 1, "out_features": 1})
    with pytest.raises(ValueError, match=rf"'{module_name}:Evil', which is not one of fuse's own builders"):
        load_model(tmp_path / "m")
    assert not marker.exists()  # refused before the import: its code never ran
    assert module_name not in sys.modules
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    assert isinstance(load_model(tmp_path / "m", trusted=True), nn.Linear)  # the caller's choice
    assert marker.read_text() == "ran"
    monkeypatch.delitem(sys.modules, module_name, raising=False)


def test_untrusted_ensemble_cannot_grant_trust(tmp_path: Path) -> None:
    marker = tmp_path / "called.txt"
    _write_model_dir(
        tmp_path / "inner", "subprocess:run", {"args": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]}
    )
    _write_model_dir(
        tmp_path / "outer",
        "fuse.dl._model_ensemble:ModelEnsemble",  # as recorded before the concern folders
        {"input_model_dirs": [str(tmp_path / "inner")], "trusted": True},
    )
    with pytest.raises(ValueError, match=r"sets kwargs\['trusted'\]; trust is not taken from a model directory"):
        load_model(tmp_path / "outer")
    assert not marker.exists()
    # without the key the ensemble is allowed, but its inner directories are untrusted as well
    _write_model_dir(tmp_path / "outer", "fuse.dl:ModelEnsemble", {"input_model_dirs": [str(tmp_path / "inner")]})
    with pytest.raises(ValueError, match=r"inner.*'subprocess:run', which is not one of fuse's own builders"):
        load_model(tmp_path / "outer")
    assert not marker.exists()
    # a trusted key hidden deeper is refused too
    _write_model_dir(tmp_path / "outer", "fuse.dl:ModelEnsemble", {"input_model_dirs": [], "x": [{"trusted": True}]})
    with pytest.raises(ValueError, match=r"sets kwargs\['x'\]\[0\]\['trusted'\]"):
        load_model(tmp_path / "outer")


def test_fuse_and_torch_builders_load_untrusted(tmp_path: Path) -> None:
    from fuse.dl import ModelEnsemble, vit_tiny

    save_model(tmp_path / "head", Head3D(**HEAD_KWARGS), builder=Head3D, builder_kwargs=HEAD_KWARGS)
    assert isinstance(load_model(tmp_path / "head"), Head3D)
    linear = nn.Linear(2, 3)
    save_model(tmp_path / "linear", linear, builder=nn.Linear, builder_kwargs={"in_features": 2, "out_features": 3})
    torch.testing.assert_close(load_model(tmp_path / "linear").weight, linear.weight)
    # a fuse builder function, under its public name
    kwargs: dict[str, Any] = {"image_shape": [8, 8], "patch_shape": [4, 4], "channels": 1}
    vit = vit_tiny(**kwargs)
    _write_model_dir(tmp_path / "vit", "fuse.dl:vit_tiny", {})
    torch.save(vit.state_dict(), tmp_path / "vit" / MODEL_STATE_FILENAME)
    assert type(load_model(tmp_path / "vit", **kwargs)) is type(vit)
    # an ensemble of fuse models, untrusted all the way down
    ensemble = ModelEnsemble([tmp_path / "head", tmp_path / "head"])
    save_model(
        tmp_path / "ensemble",
        ensemble,
        builder=ModelEnsemble,
        builder_kwargs={"input_model_dirs": [str(tmp_path / "head")] * 2},
    )
    assert isinstance(load_model(tmp_path / "ensemble"), ModelEnsemble)


@pytest.mark.parametrize("trusted", [False, True])
@pytest.mark.parametrize(
    ("recorded", "kwargs"),
    [
        ("fuse.dl._heads:Head3D", HEAD_KWARGS),  # a class, as save_model recorded it before the concern folders
        ("fuse.dl._backbone_vit:vit_tiny", {"image_shape": [8, 8], "patch_shape": [4, 4], "channels": 1}),
        ("fuse.dl.heads._heads:Head3D", HEAD_KWARGS),  # the defining module of today
    ],
)
def test_a_model_directory_naming_a_moved_module_still_loads(
    tmp_path: Path, recorded: str, kwargs: dict[str, Any], trusted: bool
) -> None:
    import fuse.dl

    builder = getattr(fuse.dl, recorded.partition(":")[2])
    model = builder(**kwargs)
    _write_model_dir(tmp_path, recorded, kwargs)
    torch.save(model.state_dict(), tmp_path / MODEL_STATE_FILENAME)
    loaded = load_model(tmp_path, trusted=trusted)
    assert type(loaded) is type(model)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


def test_a_trusted_directory_naming_a_module_split_in_two_still_loads(tmp_path: Path) -> None:
    from fuse.dl import DiceLoss

    _write_model_dir(tmp_path, "fuse.dl._losses_segmentation:DiceLoss", {"pred": "p", "target": "t"})
    torch.save({}, tmp_path / MODEL_STATE_FILENAME)
    assert type(load_model(tmp_path, trusted=True)) is DiceLoss  # now in losses/_dice.py, found through fuse.dl
    with pytest.raises(ValueError, match="not one of fuse's own builders"):  # a loss is no builder to trust
        load_model(tmp_path)


def test_published_names_pickle_and_torch_save_round_trip(tmp_path: Path) -> None:
    import pickle

    from fuse.core import defining_module

    assert Head3D.__module__ == "fuse.dl"
    assert defining_module(Head3D) == "fuse.dl.heads._heads"
    model = Head3D(**HEAD_KWARGS).eval()
    assert type(pickle.loads(pickle.dumps(model))) is Head3D
    torch.save(model, tmp_path / "whole.pt")  # a pickled module (not what save_model writes): it names fuse.dl
    assert type(torch.load(tmp_path / "whole.pt", weights_only=False)) is Head3D
