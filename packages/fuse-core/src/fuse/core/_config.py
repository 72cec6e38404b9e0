"""Python-file configurations (FuseMedML's ``Config``)."""

from __future__ import annotations

import os
import runpy
from collections.abc import Callable
from typing import Any

__all__ = ["Config", "get_config_function"]

ConfigFunction = Callable[[dict[str, Any]], dict[str, Any]]


def get_config_function(script_path: str | os.PathLike[str]) -> ConfigFunction:
    """Run a Python config file and return its ``load_config(config: dict) -> dict`` (``.py`` is optional)."""
    path = os.fspath(script_path)
    if not os.path.exists(path) and os.path.exists(path + ".py"):
        path += ".py"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {os.fspath(script_path)!r} (also tried with .py)")
    namespace = runpy.run_path(path)
    func = namespace.get("load_config")
    if not callable(func):
        raise TypeError(f"config file {path!r} must define load_config(config: dict) -> dict")
    return func  # type: ignore[no-any-return]


class Config:
    """Build a configuration dict from dicts, config files and functions, applied in order.

    >>> Config().load({"lr": 0.1, "epochs": 2}, lambda c: {**c, "epochs": c["epochs"] * 10}, {"lr": 0.01})
    {'lr': 0.01, 'epochs': 20}
    """

    def load(self, *configs: dict[str, Any] | str | os.PathLike[str] | ConfigFunction) -> dict[str, Any]:
        """Apply each element to the accumulated dict: a dict updates it; a path names a Python file whose
        ``load_config(config)`` returns the new dict; a callable is called as ``f(config) -> config``.
        """
        config: dict[str, Any] = {}
        for index, element in enumerate(configs):
            if isinstance(element, dict):
                config.update(element)
                continue
            func = get_config_function(element) if isinstance(element, (str, os.PathLike)) else element
            if not callable(func):
                raise TypeError(
                    f"config element #{index} must be a dict, a config file path or a callable, got {type(element).__name__}"
                )
            result = func(config)
            if not isinstance(result, dict):
                raise TypeError(
                    f"config element #{index} ({element!r}) returned {type(result).__name__}, expected a dict"
                )
            config = result
        return config
