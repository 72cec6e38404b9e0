"""Recognising torch tensors and turning them into numpy arrays without importing torch.

fuse-core, fuse-data and fuse-eval must import without torch. A tensor can only exist once someone has imported
torch, so ``sys.modules`` tells whether a value may be one: nothing here ever triggers the import.

>>> import numpy as np
>>> is_tensor(np.zeros(2)), is_tensor([1, 2])
(False, False)
>>> to_numpy([1, 2])  # anything that is not a tensor comes back unchanged
[1, 2]
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["is_tensor", "loaded_torch", "to_numpy"]


def loaded_torch() -> ModuleType | None:
    """The ``torch`` module when some code has already imported it, else ``None`` (torch is never imported here).

    >>> module = loaded_torch()
    >>> module is None or module.__name__ == "torch"
    True
    """
    return sys.modules.get("torch")


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a ``torch.Tensor`` (subclasses such as ``nn.Parameter`` included).

    >>> is_tensor(3.0)
    False
    """
    torch = loaded_torch()
    return torch is not None and isinstance(value, torch.Tensor)


def to_numpy(value: Any) -> Any:
    """A tensor (any device, autograd detached) as a numpy array; any other value is returned as it is.

    A bfloat16 tensor becomes float32: numpy has no bfloat16. The array shares memory with a CPU tensor, so copy it
    before writing to it.

    >>> import numpy as np
    >>> array = np.arange(3)
    >>> to_numpy(array) is array
    True
    """
    if not is_tensor(value):
        return value
    tensor = value.detach().cpu()
    if tensor.dtype == sys.modules["torch"].bfloat16:
        tensor = tensor.float()
    array: np.ndarray = tensor.numpy()
    return array
