"""Shared by the command lines (``fuse-eval`` and ``fuse-eval --mrmc``): the input-error exit, argument parsing that
returns an exit code instead of exiting, reading an input file, and the closing line of a written report.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fuse.core import read_dataframe

__all__ = ["EXIT_INPUT_ERROR", "CliError", "parse_arguments", "print_error", "print_report_written", "read_input_file"]

EXIT_INPUT_ERROR = 2


class CliError(Exception):
    """A problem with the command-line inputs: printed as ``fuse-eval: error: ...``, exit code 2."""


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code when argparse stops (``--help``: 0; a usage error, already printed: 2).

    >>> parse_arguments(argparse.ArgumentParser(prog="fuse-eval"), [])
    Namespace()
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_request:
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_INPUT_ERROR)


def read_input_file(path: str, what: str, task: str = "evaluate") -> pd.DataFrame:
    """``path`` read with :func:`fuse.core.read_dataframe`; a missing, empty or unreadable file raises
    :class:`CliError` naming ``what`` (``"targets"``, ``"readings"``) and the file.
    """
    if not os.path.isfile(path):
        raise CliError(f"{what} file not found: {path}")
    if os.path.getsize(path) == 0:
        raise CliError(f"{what} file {path} is empty (0 bytes): nothing to {task}")
    try:
        frame: pd.DataFrame = read_dataframe(path)
    except Exception as error:  # an unsupported suffix, or the readers' own errors (parser, encoding, zip...)
        raise CliError(f"cannot read {what} file {path}: {type(error).__name__}: {error}") from error
    return frame


def print_error(error: Exception | str) -> int:
    """Print ``fuse-eval: error: <error>`` on stderr; returns :data:`EXIT_INPUT_ERROR`."""
    print(f"fuse-eval: error: {error}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def print_report_written(out: Path) -> None:
    print(f"report: {out / 'report.html'} (also results.md, results.json)")
