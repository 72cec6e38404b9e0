"""Module-level worker functions for multiprocessing tests (importable by spawned children via sys.path)."""

from __future__ import annotations

import os
import time
from typing import Any

from fuse.core import get_from_global_storage


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is not allowed (got {x})")
    return x


def read_global(key: str) -> Any:
    return get_from_global_storage(key)


def process_id(_: object) -> int:
    return os.getpid()


def sleep_inverse(x: int) -> int:
    time.sleep(0.1 * (3 - x))
    return x


def raise_unpicklable() -> None:
    class Local(Exception):
        pass

    raise Local("local exception class")
