"""Seeding every random generator fuse uses: Python's ``random``, numpy's global one and torch's.

fuse-core never imports torch at module level; it seeds torch only where torch is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
from typing import Any

import numpy as np

__all__ = ["Seed", "seed_worker_init", "set_seed"]


def _torch_if_installed() -> Any | None:
    torch = sys.modules.get("torch")
    if torch is None and importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")
    return torch


class Seed:
    """Seeding helpers (FuseMedML's ``fuse.utils.Seed``)."""

    @staticmethod
    def set_seed(seed: int, deterministic_mode: bool = True) -> Any | None:
        """Seed ``random``, numpy's global generator and, when torch is installed, torch (CPU and CUDA).

        With ``deterministic_mode`` and torch installed, also ask torch for deterministic algorithms
        (``torch.use_deterministic_algorithms``; ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` for cuBLAS) and turn off
        cuDNN autotuning.

        :return: a ``torch.Generator`` seeded with ``seed`` to pass to a ``DataLoader``, or ``None`` when torch
            is not installed.

        >>> import random
        >>> _ = Seed.set_seed(1234)
        >>> a = random.random()
        >>> _ = Seed.set_seed(1234)
        >>> a == random.random()
        True
        """
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        seed = int(seed)
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        random.seed(seed)
        np.random.seed(seed)
        torch = _torch_if_installed()
        if torch is None:
            return None
        if deterministic_mode:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.manual_seed(seed)  # also seeds every CUDA device
        torch.use_deterministic_algorithms(deterministic_mode)
        torch.backends.cudnn.benchmark = not deterministic_mode and torch.backends.cudnn.benchmark
        generator = torch.Generator()
        generator.manual_seed(seed)
        return generator

    @staticmethod
    def seed_worker_init(worker_id: int) -> None:
        """``worker_init_fn`` for a torch ``DataLoader``: seed ``random`` and numpy from the worker's torch seed.

        torch gives each worker its own seed (base seed + worker id); without this, numpy and ``random``
        would draw the same numbers in every worker.
        """
        torch = sys.modules.get("torch")
        if torch is None:
            raise RuntimeError(
                "seed_worker_init is a worker_init_fn for torch DataLoaders, but torch is not imported in this process"
            )
        worker_seed = torch.initial_seed() % 2**32
        random.seed(worker_seed)
        np.random.seed(worker_seed)


set_seed = Seed.set_seed
seed_worker_init = Seed.seed_worker_init
