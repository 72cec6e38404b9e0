"""``DatasetBase``: the methods every fuse-data dataset offers (FuseMedML's base class)."""

from __future__ import annotations

from typing import Any

__all__ = ["DatasetBase"]


class DatasetBase:
    """The interface of a dataset: :meth:`create`, :meth:`summary`, :meth:`get_multi` and :meth:`subset`, plus
    ``__getitem__`` / ``__len__`` (so a torch ``DataLoader`` reads it). :class:`~fuse.data.DatasetDefault` is one.

    A method a subclass does not override raises ``NotImplementedError`` naming the class, as FuseMedML's did when
    called (it did not refuse such a subclass at construction, and neither does this). Unlike FuseMedML's, it is not
    a ``torch.utils.data.Dataset`` subclass, so that ``import fuse.data`` does not load torch; a ``DataLoader`` needs
    no such base class.

    >>> class Squares(DatasetBase):
    ...     def __getitem__(self, index: int) -> dict[str, int]:
    ...         return {"data.x": index * index}
    ...     def __len__(self) -> int:
    ...         return 3
    >>> Squares()[2]
    {'data.x': 4}
    >>> Squares().summary()
    Traceback (most recent call last):
    ...
    NotImplementedError: Squares does not implement DatasetBase.summary()
    """

    def create(self, *args: Any, **kwargs: Any) -> None:
        """Make the dataset ready to read (e.g. cache its samples)."""
        raise NotImplementedError(self._missing("create"))

    def summary(self, *args: Any, **kwargs: Any) -> str:
        """A short description of the dataset."""
        raise NotImplementedError(self._missing("summary"))

    def get_multi(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Several samples (``items=None``: all), optionally only some of their keys."""
        raise NotImplementedError(self._missing("get_multi"))

    def subset(self, *args: Any, **kwargs: Any) -> DatasetBase | None:
        """The samples at some indices (:class:`~fuse.data.DatasetDefault` returns a new dataset)."""
        raise NotImplementedError(self._missing("subset"))

    def __getitem__(self, item: Any) -> Any:
        raise NotImplementedError(self._missing("__getitem__"))

    def _missing(self, method: str) -> str:
        return f"{type(self).__name__} does not implement DatasetBase.{method}()"
