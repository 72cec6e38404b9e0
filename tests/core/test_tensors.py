"""Tensor interop without importing torch (the torch side runs in tests/integration/test_core_with_torch.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from fuse.core import is_tensor, loaded_torch, to_numpy


def test_non_tensors_are_not_tensors_and_pass_through_unchanged() -> None:
    array = np.arange(3)
    for value in (array, [1, 2], 3.0, "text", None):
        assert not is_tensor(value)
        assert to_numpy(value) is value


def test_nothing_here_imports_torch() -> None:
    code = (
        "import sys, numpy as np; from fuse.core import is_tensor, loaded_torch, to_numpy; "
        "is_tensor(np.zeros(1)); to_numpy([1]); assert loaded_torch() is None; "
        "assert 'torch' not in sys.modules; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert loaded_torch() is None or loaded_torch().__name__ == "torch"
