"""Saving and loading models without pickled modules.

:func:`save_model` writes the model's state dict (``model_state.pt``) and, when given a builder (an importable
class or function that constructs the model), ``model_builder.json``: ``{"builder": "package.module:QualName",
"kwargs": {...}}``. :func:`load_model` calls the builder with those keyword arguments and loads the state with
``torch.load(..., weights_only=True)``, so loading never unpickles code.

A model directory is data, and data from elsewhere must not run code: unless the caller passes ``trusted=True``,
:func:`load_model` only calls builders from an allow-list (fuse-dl's own models, backbones and heads, and
``torch.nn``'s layers), matched by their exact ``"module:QualName"`` before anything is imported, and it refuses a
``trusted`` key in the saved keyword arguments (trust comes from the caller, never from the directory).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from fuse.core import AtomicFileWriter, defining_module

__all__ = ["MODEL_BUILDER_FILENAME", "MODEL_STATE_FILENAME", "load_model", "save_model"]

MODEL_STATE_FILENAME = "model_state.pt"
"""The state dict file that :func:`save_model` writes in the model directory."""
MODEL_BUILDER_FILENAME = "model_builder.json"
"""The builder file that :func:`save_model` writes in the model directory when given a builder."""


# fuse-dl's public builders that take JSON arguments: the allow-list of load_model(trusted=False)
_FUSE_BUILDERS = (
    "BackboneInceptionResnetV2",
    "BackboneMultilayerPerceptron",
    "BackboneResnet",
    "BackboneResnet3D",
    "ClassifierFCN",
    "ClassifierFCN3D",
    "ClassifierMLP",
    "Head1D",
    "Head3D",
    "HeadDenseSegmentation",
    "HeadGlobalPoolingClassifier",
    "ModelEnsemble",
    "ProjectPatchesTokenizer",
    "Transformer",
    "UNet",
    "ViT",
    "vit_base",
    "vit_small",
    "vit_tiny",
)


# Where fuse-dl's modules were before they moved into concern folders: model_builder.json files written then name
# builders by these module paths ("fuse.dl._heads:Head3D"), and they must keep loading, trusted or not. A public name
# resolves through fuse.dl (a split module has several successors); any other name through the module it moved to.
_MOVED_MODULES = {
    "fuse.dl._backbone_inception_resnet_v2": "fuse.dl.backbones._inception_resnet_v2",
    "fuse.dl._backbone_mlp": "fuse.dl.backbones._mlp",
    "fuse.dl._backbone_resnet": "fuse.dl.backbones._resnet",
    "fuse.dl._backbone_resnet3d": "fuse.dl.backbones._resnet3d",
    "fuse.dl._backbone_unet": "fuse.dl.backbones._unet",
    "fuse.dl._backbone_vit": "fuse.dl.backbones._vit",
    "fuse.dl._heads": "fuse.dl.heads._heads",
    "fuse.dl._heads_classifiers": "fuse.dl.heads._classifiers",
    "fuse.dl._loss_contrastive": "fuse.dl.losses._contrastive",
    "fuse.dl._losses": "fuse.dl.losses._base",
    "fuse.dl._losses_segmentation": "fuse.dl.losses._segmentation",
    "fuse.dl._model_ensemble": "fuse.dl.models._ensemble",
    "fuse.dl._model_multihead": "fuse.dl.models._multihead",
    "fuse.dl._model_wrappers": "fuse.dl.models._wrappers",
    "fuse.dl._pl_ddp": "fuse.dl.training._ddp",
    "fuse.dl._pl_epoch_summary": "fuse.dl.training._epoch_summary",
    "fuse.dl._pl_funcs": "fuse.dl.training._steps",  # split in four; the public names go through fuse.dl
    "fuse.dl._pl_module": "fuse.dl.training._module",
    "fuse.dl._sampler_state": "fuse.dl.training._sampler_state",
}


def _current_path(path: str) -> str:
    """A builder path as recorded, with a module that has moved replaced by where its name is now.

    >>> _current_path("fuse.dl._heads:Head3D"), _current_path("torch.nn:Linear")
    ('fuse.dl:Head3D', 'torch.nn:Linear')
    """
    module_name, colon, qualname = path.partition(":")
    moved_to = _MOVED_MODULES.get(module_name)
    if moved_to is None:
        return path
    import fuse.dl  # imported by now: this module is part of it

    public = qualname.split(".")[0] in fuse.dl.__all__
    return f"{'fuse.dl' if public else moved_to}{colon}{qualname}"


@functools.cache
def _allowed_builders() -> dict[str, Callable[..., Any]]:
    """``{"module:QualName": builder}`` for the builders an untrusted model directory may name.

    Built from objects already imported (fuse.dl and torch.nn), so checking a name imports nothing. A fuse builder
    is listed under its public module (``fuse.dl:Head3D``, what :func:`save_model` records) and under the private
    module that defines it (what was recorded before the public name was set, after :func:`_current_path`).
    """
    import fuse.dl  # the package is imported by now (this module is part of it); no other import happens

    builders: list[Any] = [getattr(fuse.dl, name) for name in _FUSE_BUILDERS]
    builders += [getattr(nn.modules, name) for name in nn.modules.__all__]
    allowed: dict[str, Callable[..., Any]] = {}
    for builder in builders:
        if isinstance(builder, type) and not issubclass(builder, nn.Module):
            continue
        for module_name in {builder.__module__, defining_module(builder)}:
            allowed[f"{module_name}:{builder.__qualname__}"] = builder
    for name in _FUSE_BUILDERS:  # the public spelling, whatever __module__ says
        allowed[f"fuse.dl:{name}"] = getattr(fuse.dl, name)
    return allowed


def _find_trusted_key(value: Any, where: str = "kwargs") -> str | None:
    """The place of a ``trusted`` key in saved builder arguments, at any depth, or ``None``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "trusted":
                return f"{where}[{key!r}]"
            found = _find_trusted_key(item, f"{where}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_trusted_key(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def _resolve_builder(path: str, source: str) -> Callable[..., Any]:
    """Import ``"module:qual.name"``; errors say where the path came from and what to pass instead."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"{source}: builder {path!r} is not of the form 'package.module:QualName'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"{source}: cannot import module {module_name!r} of builder {path!r} ({error}); install it, or pass "
            f"builder= (the class or function that builds the model) to load_model"
        ) from error
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ImportError(
                f"{source}: module {module_name!r} has no {qualname!r} (builder {path!r}); it was renamed or "
                f"moved: pass builder= to load_model"
            ) from None
    if not callable(target):
        raise TypeError(f"{source}: builder {path!r} is a {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def _builder_path(builder: Callable[..., Any]) -> str:
    """``"module:qualname"`` of ``builder``, checked to import back to the same callable."""
    if not callable(builder):
        raise TypeError(f"save_model: builder must be a class or function that builds the model, got {builder!r}")
    module_name = getattr(builder, "__module__", None)
    qualname = getattr(builder, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        raise TypeError(
            f"save_model: builder {builder!r} has no importable name (a functools.partial or a callable "
            f"instance?); pass a module-level class or function and put fixed arguments in builder_kwargs"
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ValueError(
            f"save_model: builder {module_name}.{qualname} is a lambda or is defined inside a function, so "
            f"load_model could not import it; define the builder at module level"
        )
    path = f"{module_name}:{qualname}"
    resolved = _resolve_builder(path, "save_model")
    if resolved is not builder and resolved != builder:
        raise ValueError(
            f"save_model: {path!r} imports to {resolved!r}, not to the builder given ({builder!r}); pass the "
            f"object that module {module_name!r} defines under that name"
        )
    if module_name == "__main__":
        warnings.warn(
            f"save_model: builder {path!r} is defined in the __main__ script, so load_model finds it only when that "
            f"script is __main__; elsewhere pass builder= to load_model, or move the builder into a module",
            stacklevel=3,
        )
    return path


def _json_kwargs(builder_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    if builder_kwargs is None:
        return {}
    if not isinstance(builder_kwargs, Mapping):
        raise TypeError(f"save_model: builder_kwargs must be a mapping of keyword arguments, got {builder_kwargs!r}")
    kwargs = dict(builder_kwargs)
    for name, value in kwargs.items():
        if not isinstance(name, str):
            raise TypeError(f"save_model: builder_kwargs keys must be argument names (str), got {name!r}")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"save_model: builder_kwargs[{name!r}] = {value!r:.200} is not JSON-serialisable ({error}); builder "
                f"arguments must be JSON values (str, numbers, bools, None, lists, dicts with str keys): build "
                f"objects such as modules inside the builder from plain arguments"
            ) from None
    return kwargs


def save_model(
    model_dir: str | os.PathLike[str],
    model: nn.Module,
    builder: Callable[..., nn.Module] | None = None,
    builder_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Save ``model`` to ``model_dir`` as a state dict, plus how to rebuild it when ``builder`` is given.

    Writes ``model_dir/model_state.pt`` (``torch.save(model.state_dict())``) and, with a ``builder``,
    ``model_dir/model_builder.json`` holding the builder's import path (``"package.module:QualName"``) and
    ``builder_kwargs``, so that ``load_model(model_dir)`` can run ``builder(**builder_kwargs)``. Without a builder a
    ``model_builder.json`` left by an earlier save is removed (it would describe another model). Files are written
    atomically; ``model_dir`` is created if needed.

    :param model_dir: the directory to write to.
    :param model: the model to save.
    :param builder: a class or function defined at module level (lambdas and local functions are refused,
        since they cannot be imported back) that returns the model when called with ``builder_kwargs``.
    :param builder_kwargs: keyword arguments for ``builder``; JSON values only (tuples come back as lists).

    >>> import tempfile, torch
    >>> model_dir = tempfile.mkdtemp()
    >>> model = torch.nn.Linear(4, 2)
    >>> save_model(model_dir, model, builder=torch.nn.Linear, builder_kwargs={"in_features": 4, "out_features": 2})
    >>> sorted(os.listdir(model_dir))
    ['model_builder.json', 'model_state.pt']
    >>> torch.equal(load_model(model_dir).weight, model.weight)
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_model: model must be a torch.nn.Module, got {type(model).__name__}")
    builder_json = None
    if builder is not None:
        builder_json = json.dumps({"builder": _builder_path(builder), "kwargs": _json_kwargs(builder_kwargs)}, indent=2)
    elif builder_kwargs:
        raise ValueError("save_model: builder_kwargs were given without a builder; pass builder= as well")
    os.makedirs(model_dir, exist_ok=True)
    with AtomicFileWriter(os.path.join(model_dir, MODEL_STATE_FILENAME), "wb") as file:
        torch.save(model.state_dict(), file)
    builder_file = os.path.join(model_dir, MODEL_BUILDER_FILENAME)
    if builder_json is not None:
        with AtomicFileWriter(builder_file, "w") as file:
            file.write(builder_json + "\n")
    elif os.path.exists(builder_file):
        os.remove(builder_file)


def _read_builder_file(path: str) -> tuple[str, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as file:
            spec = json.load(file)
        builder, kwargs = spec["builder"], spec["kwargs"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"load_model: {path} is not a model builder file ({{'builder': 'module:QualName', 'kwargs': {{...}}}}): "
            f"{error!r}"
        ) from None
    well_formed = isinstance(builder, str) and isinstance(kwargs, dict)
    if not well_formed:
        raise ValueError(f"load_model: {path} must hold a 'builder' string and a 'kwargs' object")
    return builder, kwargs


def load_model(
    model_dir: str | os.PathLike[str],
    builder: Callable[..., nn.Module] | None = None,
    *,
    trusted: bool = False,
    **builder_kwargs: Any,
) -> nn.Module:
    """Rebuild the model saved by :func:`save_model` in ``model_dir`` and load its weights (on the CPU).

    The model is ``builder(**kwargs)``: ``builder`` is the one given here, else the one named in
    ``model_builder.json``; ``kwargs`` are the saved ``builder_kwargs`` updated with the ``builder_kwargs`` given
    here. The state is read with ``torch.load(..., map_location="cpu", weights_only=True)`` and loaded strictly.
    The model is returned as the builder made it (in training mode): call ``.eval()`` for inference.

    :param model_dir: the directory written by :func:`save_model`.
    :param builder: the class or function that builds the model; required when the model was saved without one.
    :param trusted: the directory is yours: the builder named in its ``model_builder.json`` is imported and called,
        whatever it is. Without it (the default) the builder must be one of fuse-dl's own models, backbones and
        heads or a ``torch.nn`` layer, matched by its exact ``"module:QualName"`` *before* anything is imported, and
        the saved keyword arguments must not hold a ``trusted`` key; so a model directory from elsewhere can
        neither run a module's import-time code nor call a function (``subprocess:run``) with arguments of its
        choosing, directly or through a :class:`~fuse.dl.ModelEnsemble` naming other directories.
    :param builder_kwargs: keyword arguments for the builder (they override the saved ones).

    >>> import tempfile, torch
    >>> model_dir = tempfile.mkdtemp()
    >>> save_model(model_dir, torch.nn.Linear(3, 1))  # no builder: pass one when loading
    >>> load_model(model_dir, builder=torch.nn.Linear, in_features=3, out_features=1)
    Linear(in_features=3, out_features=1, bias=True)
    """
    state_file = os.path.join(model_dir, MODEL_STATE_FILENAME)
    if not os.path.isfile(state_file):
        raise FileNotFoundError(
            f"load_model: {state_file} not found; model_dir must be a directory written by save_model(model_dir, "
            f"model, builder=...)"
        )
    builder_file = os.path.join(model_dir, MODEL_BUILDER_FILENAME)
    saved_kwargs: dict[str, Any] = {}
    if os.path.isfile(builder_file):
        recorded_path, saved_kwargs = _read_builder_file(builder_file)
        builder_path = _current_path(recorded_path)
        trusted_key = _find_trusted_key(saved_kwargs)
        if trusted_key is not None and not trusted:
            raise ValueError(
                f"load_model: {builder_file} sets {trusted_key}; trust is not taken from a model directory: "
                "remove the key, or pass trusted=True to load_model if this directory and every one it names are yours"
            )
        if builder is None:
            if trusted:
                builder = _resolve_builder(builder_path, f"load_model ({builder_file})")
            else:
                allowed = _allowed_builders().get(builder_path)
                if allowed is None:
                    raise ValueError(
                        f"load_model: {builder_file} names the builder {recorded_path!r}, which is not one of fuse's "
                        "own builders (fuse.dl models, backbones and heads, torch.nn layers); importing or calling it "
                        "could run anything, so it was neither imported nor called: pass trusted=True if this model "
                        "directory is yours, or builder= (the class or function that builds the model) yourself"
                    )
                builder = allowed
    elif builder is None:
        raise ValueError(
            f"load_model: {os.fspath(model_dir)!r} has no {MODEL_BUILDER_FILENAME} (the model was saved without a "
            f"builder), so fuse cannot rebuild it: pass builder= (the class or function that builds the model) and "
            f"its keyword arguments, e.g. load_model(model_dir, builder=MyModel, num_classes=2)"
        )
    kwargs = {**saved_kwargs, **builder_kwargs}
    model = builder(**kwargs)
    name = getattr(builder, "__qualname__", repr(builder))
    if not isinstance(model, nn.Module):
        raise TypeError(f"load_model: builder {name} returned a {type(model).__name__}, not a torch.nn.Module")
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise RuntimeError(
            f"load_model: the weights in {state_file} do not fit the model built by {name}(**{kwargs!r:.300}): {error}"
        ) from None
    return model
