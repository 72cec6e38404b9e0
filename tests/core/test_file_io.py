"""Atomic writes, pickles, text files and DataFrames."""

from __future__ import annotations

import builtins
import gzip
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import (
    AtomicFileWriter,
    create_dir,
    delete_directory_tree,
    extract_zip_file,
    load_pickle,
    read_dataframe,
    read_text_file,
    save_dataframe,
    save_pickle,
    save_pickle_safe,
    save_text_file,
    save_text_file_safe,
)


# ---------------------------------------------------------------- AtomicFileWriter
def test_atomic_writer_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def write_then_fail() -> None:
        with AtomicFileWriter(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]  # the temporary file is gone
    with AtomicFileWriter(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("durable", [False, True])
def test_atomic_writer_text_and_compression(tmp_path: Path, durable: bool) -> None:
    with AtomicFileWriter(tmp_path / "t.txt.gz", "w", durable=durable) as f:
        f.write("héllo")
    with gzip.open(tmp_path / "t.txt.gz", "rt", encoding="utf-8") as f:
        assert f.read() == "héllo"
    assert read_text_file(tmp_path / "t.txt.gz") == "héllo"


def test_atomic_writer_gives_normal_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with AtomicFileWriter(tmp_path / "p.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "p.txt").st_mode) == 0o644  # not mkstemp's 0o600


def test_atomic_writer_names_the_missing_folder_not_its_temporary(tmp_path: Path) -> None:
    writer = AtomicFileWriter(tmp_path / "no_such_folder" / "results.gz", "wb")
    with pytest.raises(
        FileNotFoundError, match=r"cannot write .*results\.gz.*no_such_folder.* does not exist"
    ) as error:
        writer.__enter__()
    assert ".tmp" not in str(error.value)


def test_atomic_writer_rejects_bad_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        AtomicFileWriter(tmp_path / "x", "a")


def test_process_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.pkl"
    save_pickle({"version": 1}, target)
    script = textwrap.dedent(
        f"""
        import sys, time
        from fuse.core import AtomicFileWriter
        with AtomicFileWriter({str(target)!r}) as f:
            f.write(b"x" * 1_000_000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert load_pickle(target) == {"version": 1}
    leftovers = [name for name in os.listdir(tmp_path) if name != "data.pkl"]
    assert all(name.startswith(".data.pkl.") and name.endswith(".tmp") for name in leftovers), leftovers


# ---------------------------------------------------------------- pickles and text
@pytest.mark.parametrize("name", ["o.pkl", "o.pkl.gz", "o.gz", "o.pbz2", "o.bz2"])
def test_pickle_round_trip(tmp_path: Path, name: str) -> None:
    obj = {"a": np.arange(4), "b": "text"}
    path = save_pickle(obj, tmp_path / name)
    loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["a"], obj["a"])
    assert loaded["b"] == "text"
    if name.endswith(".gz"):
        with gzip.open(path) as f:
            assert f.read(2)  # really gzip
    else:
        with pytest.raises(gzip.BadGzipFile), gzip.open(path) as f:
            f.read(1)


def test_save_pickle_compress_adds_gz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_pickle([1, 2], tmp_path / "x.pkl", compress=True, verbose=1)
    assert path == str(tmp_path / "x.pkl.gz")
    assert load_pickle(path) == [1, 2]
    assert "x.pkl.gz" in capsys.readouterr().out
    safe = save_pickle_safe([3], tmp_path / "y.pkl", compress=True)
    assert load_pickle(safe) == [3]


def test_text_files(tmp_path: Path) -> None:
    save_text_file(tmp_path / "a.txt", "line\n")
    assert read_text_file(tmp_path / "a.txt") == "line\n"
    save_text_file(tmp_path / "empty.txt")
    assert read_text_file(tmp_path / "empty.txt") == ""
    save_text_file_safe(str(tmp_path / "b.txt"), "durable")
    assert (tmp_path / "b.txt").read_text() == "durable"


# ---------------------------------------------------------------- DataFrames
@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["case_1", "case_2"], "score": [0.25, 0.75], "label": [0, 1]})


@pytest.mark.parametrize(
    "name", ["f.csv", "f.tsv", "f.csv.gz", "f.tsv.gz", "f.csv.bz2", "f.pkl", "f.pickle", "f.gz", "f.pkl.gz", "f.pbz2"]
)
def test_dataframe_round_trip(tmp_path: Path, frame: pd.DataFrame, name: str) -> None:
    path = tmp_path / name
    text_format = ".csv" in name or ".tsv" in name
    save_dataframe(frame, path, **({"index": False} if text_format else {}))
    pd.testing.assert_frame_equal(read_dataframe(path), frame)


def test_tsv_is_tab_separated(tmp_path: Path, frame: pd.DataFrame) -> None:
    save_dataframe(frame, tmp_path / "f.tsv", index=False)  # FuseMedML raised TypeError here
    assert (tmp_path / "f.tsv").read_text().splitlines()[0] == "id\tscore\tlabel"


def test_csv_keeps_pandas_defaults_and_forwards_kwargs(tmp_path: Path, frame: pd.DataFrame) -> None:
    save_dataframe(frame, tmp_path / "f.csv")
    assert read_dataframe(tmp_path / "f.csv", index_col=0).equals(frame)


def test_xlsx_round_trip(tmp_path: Path, frame: pd.DataFrame) -> None:
    pytest.importorskip("openpyxl")
    save_dataframe(frame, tmp_path / "f.xlsx", index=False)
    pd.testing.assert_frame_equal(read_dataframe(tmp_path / "f.xlsx"), frame)


def test_xlsx_without_openpyxl_says_what_to_install(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "openpyxl":
            raise ImportError("no openpyxl")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install openpyxl"):
        save_dataframe(frame, tmp_path / "f.xlsx")
    assert not (tmp_path / "f.xlsx").exists()


def test_dataframe_errors(tmp_path: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"unsupported DataFrame file '.*f\.parquet'.*\.csv"):
        save_dataframe(frame, tmp_path / "f.parquet")
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        read_dataframe(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="needs a pandas DataFrame"):
        save_dataframe({"a": [1]}, tmp_path / "f.csv")  # type: ignore[arg-type]
    save_pickle([1, 2], tmp_path / "list.pkl")
    with pytest.raises(TypeError, match="pickled list, not a DataFrame"):
        read_dataframe(tmp_path / "list.pkl")


# ---------------------------------------------------------------- directories
def test_create_and_delete_directories(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    create_dir(nested)
    create_dir(nested)
    assert nested.is_dir()
    with pytest.raises(FileExistsError):
        create_dir(nested, error_if_exist=True)
    (nested / "f").write_text("x")
    assert delete_directory_tree(tmp_path / "a") is True
    assert not (tmp_path / "a").exists()
    assert delete_directory_tree(tmp_path / "a") is False


def test_pickle_protocol_is_highest(tmp_path: Path) -> None:
    path = save_pickle(1, tmp_path / "p.pkl")
    assert Path(path).read_bytes()[1] == pickle.HIGHEST_PROTOCOL


# ---------------------------------------------------------------- archives
def test_extract_zip_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("scans/", "")
        z.writestr("scans/case_1.txt", "one")
        z.writestr("labels.csv", "id,label\n1,0\n")
        z.writestr("scans/case_1.nii.gz", gzip.compress(b"volume bytes"))
    extracted = extract_zip_file(archive, tmp_path / "out")  # FuseMedML's progress bar raised here
    assert sorted(Path(p).relative_to(tmp_path / "out").as_posix() for p in extracted) == [
        "labels.csv",
        "scans/case_1.nii.gz",
        "scans/case_1.txt",
    ]
    assert (tmp_path / "out" / "scans" / "case_1.txt").read_text() == "one"
    # an already compressed member is copied as it is, not compressed a second time
    assert gzip.decompress((tmp_path / "out" / "scans" / "case_1.nii.gz").read_bytes()) == b"volume bytes"
    assert "extracting data.zip" in capsys.readouterr().err


@pytest.mark.parametrize("member", ["../evil.txt", "scans/../../evil.txt", "/tmp/evil.txt"])
def test_extract_zip_file_refuses_paths_outside_the_destination(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fine.txt", "ok")
        z.writestr(member, "evil")
    with pytest.raises(ValueError, match=r"'\.\.' component|absolute path"):
        extract_zip_file(archive, tmp_path / "out", show_progress_bar=False)
    assert not (tmp_path / "out" / "fine.txt").exists()  # checked before anything is written
    assert not (tmp_path / "evil.txt").exists()
