"""extract_archive: the tar data filter's rules for tar and zip, link chains, size caps, all-or-nothing, modes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fuse.core import DEFAULT_MAX_EXTRACT_BYTES, UnsafeArchiveError, _archives, extract_archive


def _tar(path: Path, entries: list[tuple[str, Any]]) -> Path:
    """``entries``: (name, bytes) for a file, (name, "->target") for a symlink, (name, "dir") for a directory."""
    with tarfile.open(path, "w:gz" if path.suffix == ".gz" else "w") as tf:
        for name, entry in entries:
            info = tarfile.TarInfo(name)
            content = entry
            if isinstance(entry, tuple):  # (bytes, mode)
                content, info.mode = entry
            if content == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tf.addfile(info)
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(params=["data filter", "explicit checks"])
def filter_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with tarfile's data filter and with the explicit checks used on Pythons that lack it."""
    if request.param == "explicit checks":
        monkeypatch.setattr(_archives, "_DATA_FILTER", None)
    return str(request.param)


@pytest.mark.parametrize(
    "entries",
    [
        [("a", "->b/../secret"), ("b", "->.")],  # a escapes only once b exists
        [("b", "->."), ("a", "->b/../secret")],
        [("sub", "dir"), ("sub/a", "->../b/../../secret"), ("b", "->sub")],
    ],
)
def test_two_step_link_chain_is_refused(tmp_path: Path, filter_kind: str, entries: list[tuple[str, Any]]) -> None:
    (tmp_path / "secret").write_text("private")
    archive = _tar(tmp_path / "chain.tar.gz", [("ok.txt", b"fine"), *entries])
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=r"chain\.tar\.gz.*points outside"):
        extract_archive(archive, out, progress=False)
    assert _left_in(tmp_path) == ["chain.tar.gz", "secret"]  # no destination, no temporary directory


def test_tar_modes_follow_the_data_filter(tmp_path: Path, filter_kind: str) -> None:
    modes = {"run.sh": 0o755, "setuid": 0o4755, "shared": 0o666, "private": 0o600, "odd": 0o077}
    archive = _tar(tmp_path / "m.tar", [(name, (b"x", mode)) for name, mode in modes.items()])
    out = tmp_path / "out"
    extract_archive(archive, out, progress=False)
    got = {name: stat.S_IMODE(os.stat(out / name).st_mode) for name in modes}
    # what tarfile.data_filter computes: no special bits, no group/other write, owner rw, x only if owner x
    assert got == {"run.sh": 0o755, "setuid": 0o755, "shared": 0o644, "private": 0o600, "odd": 0o644}
    for name, mode in modes.items():
        info = tarfile.TarInfo(name)
        info.mode = mode
        assert got[name] == tarfile.data_filter(info, str(out)).mode  # an independent implementation agrees


def test_zip_modes_follow_the_data_filter(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
        for name, mode in {"run.sh": 0o755, "setuid": 0o4777, "plain": 0o644}.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, b"x")
        no_mode = zipfile.ZipInfo("from_windows.txt")
        no_mode.create_system = 0
        zf.writestr(no_mode, b"x")
    out = tmp_path / "out"
    extract_archive(tmp_path / "m.zip", out, progress=False)
    umask = os.umask(0o022)
    os.umask(umask)
    got = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert got == {"run.sh": 0o755, "setuid": 0o755, "plain": 0o644, "from_windows.txt": 0o666 & ~umask}
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # the destination is not left 0700


def test_size_cap_from_headers(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"\0" * 3_000_000)
        zf.writestr("b.bin", b"\0" * 3_000_000)
    assert (tmp_path / "bomb.zip").stat().st_size < 30_000
    with pytest.raises(
        UnsafeArchiveError, match=r"'.*bomb\.zip'.*expands to 6000000 bytes, more than max_bytes=5000000"
    ):
        extract_archive(tmp_path / "bomb.zip", tmp_path / "out", max_bytes=5_000_000, progress=False)
    assert _left_in(tmp_path) == ["bomb.zip"]
    archive = _tar(tmp_path / "bomb.tar.gz", [("a.bin", b"\0" * 3_000_000), ("b.bin", b"\0" * 3_000_000)])
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.tar\.gz.*more than max_bytes=5000000"):
        extract_archive(archive, tmp_path / "out", max_bytes=5_000_000, progress=False)
    assert _left_in(tmp_path) == ["bomb.tar.gz", "bomb.zip"]
    # the selected members only are counted; the default cap is documented and large
    assert extract_archive(archive, tmp_path / "out", members=["a.bin"], max_bytes=5_000_000, progress=False)
    assert DEFAULT_MAX_EXTRACT_BYTES >= 2**30
    with pytest.raises(ValueError, match="max_bytes must be a non-negative int"):
        extract_archive(archive, tmp_path / "o2", max_bytes=-1, progress=False)


def test_size_cap_while_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # headers that under-state the size: simulated by skipping the header check
    monkeypatch.setattr(_archives, "_check_size", lambda *args: None)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("a.bin", b"\0" * 2_000_000)
    with pytest.raises(UnsafeArchiveError, match=r"a\.zip.*'a\.bin' takes the extracted size beyond max_bytes=1000"):
        extract_archive(tmp_path / "a.zip", tmp_path / "out", max_bytes=1000, progress=False)
    archive = _tar(tmp_path / "a.tar", [("a.bin", b"\0" * 2_000_000)])
    with pytest.raises(UnsafeArchiveError, match=r"a\.tar.*'a\.bin' takes the extracted size beyond max_bytes=1000"):
        extract_archive(archive, tmp_path / "out", max_bytes=1000, progress=False)
    assert _left_in(tmp_path) == ["a.tar", "a.zip"]


def test_refused_when_the_disk_is_too_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _tar(tmp_path / "a.tar", [("a.bin", b"\0" * 10_000)])
    monkeypatch.setattr("shutil.disk_usage", lambda path: _Usage(5_000))
    with pytest.raises(UnsafeArchiveError, match=r"a\.tar.*10000 bytes but only 5000 are free"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert _left_in(tmp_path) == ["a.tar"]


class _Usage:
    def __init__(self, free: int) -> None:
        self.free = free


def test_failure_midway_leaves_nothing_and_merges_on_success(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [("d/one.txt", b"1" * 5000), ("d/two.txt", b"2" * 5000)])
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(archive.read_bytes()[:7000])  # cut inside d/two.txt's data
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        extract_archive(truncated, out, progress=False)
    assert _left_in(out) == ["keep.txt"]
    assert _left_in(tmp_path) == ["a.tar", "cut.tar", "out"]  # no temporary directory left
    files = extract_archive(archive, out, progress=False)
    assert files == [out / "d" / "one.txt", out / "d" / "two.txt"]
    assert _left_in(out) == ["d", "keep.txt"]
    assert (out / "d" / "two.txt").read_bytes() == b"2" * 5000
    # extracting again replaces the files and keeps the others
    (out / "d" / "three.txt").write_text("3")
    extract_archive(archive, out, progress=False)
    assert _left_in(out / "d") == ["one.txt", "three.txt", "two.txt"]


def test_merge_conflicts_are_refused_before_anything_moves(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [("new.txt", b"n"), ("d", b"a file named like a directory")])
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "mine.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match=r"a\.tar.*member 'd' is not a directory"):
        extract_archive(archive, out, progress=False)
    assert _left_in(out) == ["d"]  # new.txt was not moved in either
    assert _left_in(tmp_path) == ["a.tar", "out"]
    # a directory of the archive replaces a file or a link of the same name
    (out / "x").write_text("old file")
    (out / "y").symlink_to("d")
    archive = _tar(tmp_path / "b.tar", [("x", "dir"), ("x/in.txt", b"1"), ("y", "dir"), ("y/in.txt", b"2")])
    extract_archive(archive, out, progress=False)
    assert (out / "x" / "in.txt").read_bytes() == b"1"
    assert not (out / "y").is_symlink()
    assert _left_in(out / "d") == ["mine.txt"]
    (tmp_path / "file").write_text("f")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        extract_archive(archive, tmp_path / "file", progress=False)
