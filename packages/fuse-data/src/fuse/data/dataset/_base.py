"""``DatasetBase``: the methods every fuse-data dataset offers (FuseMedML's base class)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["DatasetBase"]


class DatasetBase(ABC):
    """The interface of a dataset: :meth:`create`, :meth:`summary`, :meth:`get_multi`, :meth:`subset`,
    ``__getitem__`` and ``__len__`` (the last two are what a torch ``DataLoader`` reads).
    :class:`~fuse.data.DatasetDefault` is one.

    The methods are abstract, as FuseMedML declared them, and enforced: a subclass that leaves one out cannot be
    constructed (``TypeError`` naming the missing methods) instead of failing at its first call. Unlike FuseMedML's,
    it is not a ``torch.utils.data.Dataset`` subclass, so that ``import fuse.data`` does not load torch; a
    ``DataLoader`` needs no such base class.

    >>> class Squares(DatasetBase):
    ...     def __getitem__(self, index: int) -> dict[str, int]:
    ...         return {"data.x": index * index}
    ...     def __len__(self) -> int:
    ...         return 3
    >>> Squares()
    Traceback (most recent call last):
    ...
    TypeError: Can't instantiate abstract class Squares ...
    """

    @abstractmethod
    def create(self, *args: Any, **kwargs: Any) -> None:
        """Make the dataset ready to read (e.g. cache its samples)."""

    @abstractmethod
    def summary(self, *args: Any, **kwargs: Any) -> str:
        """A short description of the dataset."""

    @abstractmethod
    def get_multi(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Several samples (``items=None``: all), optionally only some of their keys."""

    @abstractmethod
    def subset(self, *args: Any, **kwargs: Any) -> DatasetBase | None:
        """The samples at some indices (:class:`~fuse.data.DatasetDefault` returns a new dataset)."""

    @abstractmethod
    def __getitem__(self, item: Any) -> Any:
        """One sample."""

    @abstractmethod
    def __len__(self) -> int:
        """How many samples."""
