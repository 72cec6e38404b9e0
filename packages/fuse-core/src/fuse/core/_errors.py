"""Context for exceptions on their way up."""

from __future__ import annotations

__all__ = ["add_note"]


def add_note(error: BaseException, note: str) -> None:
    """Add ``note`` to ``error`` (``BaseException.add_note``: the traceback prints it under the message), e.g. which
    sample, metric or loss was being processed. On Python 3.10, which prints no notes, the note is kept in
    ``error.__notes__`` as 3.11 does.

    >>> try:
    ...     try:
    ...         raise ValueError("bad value")
    ...     except ValueError as error:
    ...         add_note(error, "while computing loss 'dice'")
    ...         raise
    ... except ValueError as error:
    ...     print(error.__notes__)
    ["while computing loss 'dice'"]
    """
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(note)
    else:
        notes = getattr(error, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            error.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(note)
