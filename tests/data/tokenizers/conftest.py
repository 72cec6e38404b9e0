"""Fixtures of the modular tokenizer tests: the sub-tokenizers of ``fuse_tokenizer_sources``, merged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fuse_tokenizer_sources import write_sources


@pytest.fixture
def sources(tmp_path: Path) -> list[dict[str, Any]]:
    return write_sources(tmp_path / "sources")


@pytest.fixture
def make_tokenizer(sources: list[dict[str, Any]]) -> Callable[..., Any]:
    """A ModularTokenizer of the three sources (``<EOS>``, ``<MASK>`` added as shared special tokens)."""
    from fuse.data import ModularTokenizer

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("special_tokens_list", ["<EOS>", "<MASK>"])
        return ModularTokenizer(sources, **kwargs)

    return make
