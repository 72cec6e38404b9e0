"""Small path helpers (FuseMedML's ``fuse.utils.file_io.path``)."""

from __future__ import annotations

import os
import re

__all__ = ["add_base_prefix", "change_extension", "get_extension", "get_valid_filename", "remove_extension"]


def add_base_prefix(filepath: str, prefix: str) -> str:
    """Prefix the file name, keeping the directory.

    >>> add_base_prefix("/a/b/banana.phone", "hohoho@")
    '/a/b/hohoho@banana.phone'
    """
    directory, name = os.path.split(filepath)
    return os.path.join(directory, prefix + name)


def change_extension(filepath: str, new_extension: str) -> str:
    """Replace the last extension (a leading dot in ``new_extension`` is optional).

    >>> change_extension("/a/b/123.456.txt", "7zip")
    '/a/b/123.456.7zip'
    """
    return remove_extension(filepath) + "." + new_extension.lstrip(".")


def get_extension(filepath: str) -> str:
    """The last extension with its dot, or ``""``.

    >>> get_extension("/a/b.c/123.456.7zip"), get_extension("/a/b.c/README")
    ('.7zip', '')
    """
    name = os.path.basename(filepath)
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def remove_extension(filepath: str) -> str:
    """The path without its last extension.

    >>> remove_extension("/a/b.c/123.456.7zip")
    '/a/b.c/123.456'
    """
    extension = get_extension(filepath)
    return filepath[: -len(extension)] if extension else filepath


_INVALID_FILENAME_CHARS = re.compile(r'[\\/:"*?<>|\x00]')


def get_valid_filename(s: str) -> str:
    """Make ``s`` usable as one file name: spaces become ``_``, path separators and ``\\:"*?<>|`` become ``@``.

    >>> get_valid_filename(" test 1 2 3 he^^llo/x ")
    'test_1_2_3_he^^llo@x'
    """
    return _INVALID_FILENAME_CHARS.sub("@", str(s).strip().replace(" ", "_"))
