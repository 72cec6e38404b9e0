"""Pickles, text files and DataFrames on disk, every write atomic (see :class:`AtomicFileWriter`)."""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fuse.core._atomic import AtomicFileWriter, compressor_for

if TYPE_CHECKING:
    import pandas as pd  # imported where used: `import fuse.core` stays fast

__all__ = [
    "create_dir",
    "create_or_reset_dir",
    "delete_directory_tree",
    "load_pickle",
    "read_dataframe",
    "read_text_file",
    "save_dataframe",
    "save_pickle",
    "save_pickle_safe",
    "save_text_file",
    "save_text_file_safe",
]

PathLike = str | os.PathLike[str]


def save_pickle(obj: Any, output_filename: PathLike, compress: bool = False, verbose: int = 0) -> str:
    """Pickle ``obj`` atomically; gzip when ``compress`` (adding ``.gz``) or the name ends in ``.gz``/``.bz2``.

    :return: the path written.

    >>> import tempfile, os
    >>> path = save_pickle({"a": 1}, os.path.join(tempfile.mkdtemp(), "x.pkl"), compress=True)
    >>> path.endswith(".pkl.gz"), load_pickle(path)
    (True, {'a': 1})
    """
    return _save_pickle(obj, output_filename, compress, verbose, durable=False)


def save_pickle_safe(obj: Any, output_filename: PathLike, compress: bool = False, verbose: int = 0) -> str:
    """Like :func:`save_pickle`, and also fsynced, so the file survives a crash or power loss once this returns."""
    return _save_pickle(obj, output_filename, compress, verbose, durable=True)


def _save_pickle(obj: Any, output_filename: PathLike, compress: bool, verbose: int, durable: bool) -> str:
    path = os.fspath(output_filename)
    if compress and not path.endswith(".gz"):
        path += ".gz"
    with AtomicFileWriter(path, "wb", durable=durable) as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    if verbose > 0:
        print(f"saved pickle {path}")
    return path


def load_pickle(filename: PathLike) -> Any:
    """Unpickle a file, gunzipping ``.gz`` and decompressing ``.bz2`` / ``.pbz2``. Only load files you trust."""
    with compressor_for(filename)(os.fspath(filename), "rb") as f:
        return pickle.load(f)


def save_text_file(file_path: PathLike, content: str = "") -> None:
    """Write a text file (UTF-8) atomically."""
    with AtomicFileWriter(file_path, "w") as f:
        f.write(content)


def save_text_file_safe(filename: PathLike, str_content: str) -> None:
    """Write a text file atomically and durably (fsynced)."""
    with AtomicFileWriter(filename, "w", durable=True) as f:
        f.write(str_content)


def read_text_file(file_path: PathLike) -> str:
    """The whole content of a UTF-8 text file (``.gz`` / ``.bz2`` decompressed)."""
    with compressor_for(file_path)(os.fspath(file_path), "rt", encoding="utf-8") as f:
        content: str = f.read()
        return content


def _read_csv(path: str, **kwargs: Any) -> pd.DataFrame:
    import pandas as pd

    frame: pd.DataFrame = pd.read_csv(path, **kwargs)
    return frame


def _write_csv(df: pd.DataFrame, f: Any, path: str, **kwargs: Any) -> None:
    df.to_csv(f, **kwargs)


def _read_tsv(path: str, **kwargs: Any) -> pd.DataFrame:
    import pandas as pd

    frame: pd.DataFrame = pd.read_csv(path, sep="\t", **kwargs)
    return frame


def _write_tsv(df: pd.DataFrame, f: Any, path: str, **kwargs: Any) -> None:
    df.to_csv(f, sep="\t", **kwargs)


def _read_pickle(path: str, **kwargs: Any) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_pickle(path, compression=_pickle_compression(path), **kwargs)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{path!r} holds a pickled {type(frame).__name__}, not a DataFrame")
    return frame


def _write_pickle(df: pd.DataFrame, f: Any, path: str, **kwargs: Any) -> None:
    df.to_pickle(f, compression=None, **kwargs)  # AtomicFileWriter compresses by suffix


def _read_excel(path: str, **kwargs: Any) -> pd.DataFrame:
    _require_openpyxl(path)
    import pandas as pd

    frame: pd.DataFrame = pd.read_excel(path, engine="openpyxl", **kwargs)
    return frame


def _write_excel(df: pd.DataFrame, f: Any, path: str, **kwargs: Any) -> None:
    _require_openpyxl(path)
    df.to_excel(f, engine="openpyxl", **kwargs)


def _require_openpyxl(path: str) -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise ImportError(f"reading or writing Excel file {path!r} needs openpyxl: pip install openpyxl") from None


# format -> (reader, writer, binary); the writer receives the open file of an AtomicFileWriter
_FORMATS: dict[str, tuple[Callable[..., pd.DataFrame], Callable[..., None], bool]] = {
    "csv": (_read_csv, _write_csv, False),
    "tsv": (_read_tsv, _write_tsv, False),
    "pickle": (_read_pickle, _write_pickle, True),
    "xlsx": (_read_excel, _write_excel, True),
}
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".gz": "pickle",  # FuseMedML: a bare .gz is a gzipped pickle
    ".pbz2": "pickle",
    ".xlsx": "xlsx",
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2")


def _pickle_compression(path: str) -> Literal["gzip", "bz2"] | None:
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith((".bz2", ".pbz2")):
        return "bz2"
    return None


def _dataframe_format(path: str) -> str:
    lower = os.path.basename(path).lower()
    for compression in _COMPRESSION_SUFFIXES:
        inner = lower[: -len(compression)]
        if lower.endswith(compression) and os.path.splitext(inner)[1] in (".csv", ".tsv", ".pkl", ".pickle"):
            return _SUFFIXES[os.path.splitext(inner)[1]]
    fmt = _SUFFIXES.get(os.path.splitext(lower)[1])
    if fmt is None:
        supported = ", ".join([*_SUFFIXES, ".csv.gz", ".tsv.gz", ".pkl.gz", ".csv.bz2"])
        raise ValueError(f"unsupported DataFrame file {path!r}: the suffix must be one of {supported}")
    return fmt


def read_dataframe(filename: PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a DataFrame; the format comes from the suffix: ``.csv``, ``.tsv`` (optionally ``.gz``/``.bz2``),
    ``.pkl``/``.pickle`` (optionally compressed), a bare ``.gz`` or ``.pbz2`` (a compressed pickle), ``.xlsx``.

    Extra keyword arguments go to the pandas reader.
    """
    path = os.fspath(filename)
    reader, _, _ = _FORMATS[_dataframe_format(path)]
    if not os.path.exists(path):
        raise FileNotFoundError(f"DataFrame file not found: {path!r}")
    return reader(path, **kwargs)


def save_dataframe(df: pd.DataFrame, filename: PathLike, **kwargs: Any) -> None:
    """Write a DataFrame atomically, in the format given by the suffix (see :func:`read_dataframe`).

    Extra keyword arguments go to the pandas writer (e.g. ``index=False``).
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"save_dataframe needs a pandas DataFrame, got {type(df).__name__}")
    path = os.fspath(filename)
    _, writer, binary = _FORMATS[_dataframe_format(path)]
    with AtomicFileWriter(path, "wb" if binary else "w") as f:
        writer(df, f, path, **kwargs)


def create_dir(dir_path: PathLike, error_if_exist: bool = False) -> None:
    """Create a directory and its parents; with ``error_if_exist`` an existing one raises ``FileExistsError``."""
    os.makedirs(dir_path, exist_ok=not error_if_exist)


def delete_directory_tree(del_dir: PathLike) -> bool:
    """Delete a directory tree. ``False`` when it did not exist; an error is raised when it could not be deleted.

    The filesystem root, your home directory, the current directory and any directory holding one of them are
    refused (``ValueError`` naming the path).
    """
    if not os.path.isdir(del_dir):
        return False
    _refuse_protected_dir(del_dir, "delete_directory_tree")
    shutil.rmtree(del_dir)
    return True


def create_or_reset_dir(dir_path: PathLike, ignore_files: Iterable[str] = (), force_reset: bool = False) -> None:
    """Create ``dir_path``, or empty it when it exists, keeping the top-level entries named in ``ignore_files``.

    A directory that holds other entries is emptied only with ``force_reset=True``; otherwise ``FileExistsError``
    names it (FuseMedML asked on the terminal, which blocks a batch job). The filesystem root, your home directory,
    the current directory and any directory holding one of them are refused (``ValueError``). Symbolic links are
    removed, never followed. Entries that cannot be removed raise ``OSError`` listing them.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "run")
    >>> create_or_reset_dir(out)
    >>> save_text_file(os.path.join(out, "old.txt"), "x")
    >>> save_text_file(os.path.join(out, "keep.txt"), "x")
    >>> create_or_reset_dir(out, ignore_files=["keep.txt"], force_reset=True)
    >>> os.listdir(out)
    ['keep.txt']
    """
    _refuse_protected_dir(dir_path, "create_or_reset_dir")
    keep = {ignore_files} if isinstance(ignore_files, str) else set(ignore_files)  # one str is one name
    create_dir(dir_path)
    doomed = sorted(name for name in os.listdir(dir_path) if name not in keep)
    if not doomed:
        return
    if not force_reset:
        shown = ", ".join(doomed[:5]) + (", ..." if len(doomed) > 5 else "")
        raise FileExistsError(
            f"create_or_reset_dir: {os.fspath(dir_path)!r} already holds {len(doomed)} entries ({shown}); pass "
            "force_reset=True to delete them, or choose another directory"
        )
    failed: list[str] = []
    for name in doomed:
        entry = os.path.join(dir_path, name)
        try:
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry)
            else:
                os.unlink(entry)
        except OSError as error:
            failed.append(f"{entry} ({error.strerror or error})")
    if failed:
        raise OSError(f"create_or_reset_dir could not remove {len(failed)} entries: {'; '.join(failed[:10])}")


def _refuse_protected_dir(path: PathLike, who: str) -> None:
    """Raise ``ValueError`` when deleting ``path`` would delete the filesystem root, home or current directory."""
    target = Path(os.path.realpath(path))
    protected = {"the filesystem root": Path(target.anchor), "your home directory": Path.home().resolve()}
    protected["the current directory"] = Path.cwd().resolve()
    for what, place in protected.items():
        if place == target or target in place.parents:
            holds = "is" if place == target else "holds"
            raise ValueError(
                f"{who} refuses {os.fspath(path)!r}: it {holds} {what} ({place}); give a dedicated directory"
            )
