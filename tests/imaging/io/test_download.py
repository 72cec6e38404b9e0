"""download_file / extract_archive / mirror_url against a local HTTP server on 127.0.0.1 and hand-built archives."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fuse.imaging import (
    ChecksumMismatchError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    mirror_url,
)
from fuse.imaging.io._download import complete_marker, file_sha256, mirror_env_var


class _Server:
    """A threaded HTTP server on 127.0.0.1 (port 0) serving ``root``; records every requested path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    with _Server(root) as running:
        yield running


def _served(server: _Server, name: str, content: bytes) -> str:
    (server.root / name).write_bytes(content)
    return f"{server.url}/{name}"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------------------------- download_file


def test_download_good_file_with_checksum(server: _Server, tmp_path: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, not a multiple of the chunk size
    url = _served(server, "volume.nii.gz", content)
    dest = tmp_path / "out" / "case_00000" / "imaging.nii.gz"
    result = download_file(url, dest, sha256=hashlib.sha256(content).hexdigest().upper(), progress=False)
    assert result == dest
    assert dest.read_bytes() == content
    assert _leftovers(dest.parent) == ["imaging.nii.gz"]  # no temporary file left (a checksum needs no marker)
    assert server.requests == ["/volume.nii.gz"]


def test_download_with_progress_bar(server: _Server, tmp_path: Path) -> None:
    url = _served(server, "a.bin", b"x" * 1000)
    assert download_file(url, tmp_path / "a.bin", progress=True).read_bytes() == b"x" * 1000


def test_checksum_mismatch_leaves_no_file(server: _Server, tmp_path: Path) -> None:
    content = b"the real content"
    url = _served(server, "data.csv", content)
    wrong = hashlib.sha256(b"something else").hexdigest()
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(ChecksumMismatchError) as info:
        download_file(url, dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert url in message
    assert wrong in message
    assert hashlib.sha256(content).hexdigest() in message
    assert _leftovers(dest.parent) == []


def test_checksum_mismatch_keeps_existing_file(server: _Server, tmp_path: Path) -> None:
    url = _served(server, "data.csv", b"new content")
    dest = tmp_path / "data.csv"
    dest.write_bytes(b"old content")
    with pytest.raises(ChecksumMismatchError):
        download_file(url, dest, sha256=hashlib.sha256(b"expected").hexdigest(), progress=False)
    assert dest.read_bytes() == b"old content"
    assert _leftovers(tmp_path) == ["data.csv", "served"]


def test_skip_when_present_makes_no_request(server: _Server, tmp_path: Path) -> None:
    content = b"cached"
    url = _served(server, "f.bin", content)
    dest = tmp_path / "f.bin"
    dest.write_bytes(content)
    download_file(url, dest, sha256=hashlib.sha256(content).hexdigest(), progress=False)
    assert server.requests == []
    # without a checksum, presence is not enough: only a download known to be complete leaves the marker
    download_file(url, dest, progress=False)
    assert server.requests == ["/f.bin"]
    assert complete_marker(dest).read_text().split("\n")[:2] == [str(len(content)), hashlib.sha256(content).hexdigest()]
    download_file(url, dest, progress=False)  # complete: no request
    assert server.requests == ["/f.bin"]
    dest.write_bytes(b"cut")  # a file that no longer matches its marker is downloaded again
    download_file(url, dest, progress=False)
    assert dest.read_bytes() == content
    assert server.requests == ["/f.bin", "/f.bin"]


def test_present_with_wrong_checksum_is_downloaded_again(server: _Server, tmp_path: Path) -> None:
    content = b"correct"
    url = _served(server, "f.bin", content)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"truncated")
    download_file(url, dest, sha256=hashlib.sha256(content).hexdigest(), progress=False)
    assert dest.read_bytes() == content
    assert server.requests == ["/f.bin"]


def test_http_error_names_url_and_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    url = f"{server.url}/missing.zip"
    with pytest.raises(DownloadError, match=r"missing\.zip: HTTP 404"):
        download_file(url, tmp_path / "out" / "missing.zip", progress=False)
    assert _leftovers(tmp_path / "out") == []


def test_invalid_checksum_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal digits, got 'abc'"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc", progress=False)


def test_md5_verified(server: _Server, tmp_path: Path) -> None:
    content = b"mnist bytes"
    url = _served(server, "m.gz", content)
    with pytest.raises(ChecksumMismatchError, match=r"MD5 " + hashlib.md5(content).hexdigest()):
        download_file(url, tmp_path / "m.gz", md5="0" * 32, progress=False)
    assert _leftovers(tmp_path) == ["served"]
    download_file(url, tmp_path / "m.gz", md5=hashlib.md5(content).hexdigest(), progress=False)
    assert (tmp_path / "m.gz").read_bytes() == content
    download_file(url, tmp_path / "m.gz", md5=hashlib.md5(content).hexdigest(), progress=False)  # present: skipped
    assert server.requests == ["/m.gz", "/m.gz"]


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    content = os.urandom(2_500_000)
    (tmp_path / "x").write_bytes(content)
    assert file_sha256(tmp_path / "x") == hashlib.sha256(content).hexdigest()


# ---------------------------------------------------------------------------------------------- mirrors


def test_mirror_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mirror_env_var("kits21") == "FUSE_KITS21_MIRROR"
    monkeypatch.delenv("FUSE_KITS21_MIRROR", raising=False)
    assert mirror_url("kits21", "https://official.org/data/") == "https://official.org/data"
    monkeypatch.setenv("FUSE_KITS21_MIRROR", "http://127.0.0.1:1/m")
    assert mirror_url("kits21", "https://official.org/data") == "http://127.0.0.1:1/m"
    assert mirror_url("kits21", "https://official.org/data", mirror="http://other/") == "http://other"
    monkeypatch.setenv("FUSE_KITS21_MIRROR", "")
    assert mirror_url("kits21", "https://official.org/data") == "https://official.org/data"


# ---------------------------------------------------------------------------------------------- extract_archive


def _tar(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as tf:
        for info in entries:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def test_extract_zip_and_tar_content(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("ISIC/ISIC_0000000.jpg", b"jpeg bytes")
        zf.writestr("ISIC/sub/x.nii.gz", b"already gzipped bytes")  # must not be compressed again
        zf.writestr("ISIC/empty/", b"")
    out = tmp_path / "zip_out"
    files = extract_archive(tmp_path / "a.zip", out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in files) == ["ISIC/ISIC_0000000.jpg", "ISIC/sub/x.nii.gz"]
    assert (out / "ISIC/sub/x.nii.gz").read_bytes() == b"already gzipped bytes"
    assert (out / "ISIC/empty").is_dir()

    archive = _tar(
        tmp_path / "b.tar.gz",
        [_file("d/one.txt"), _file("d/two.txt"), _link("d/alias", "one.txt")],
        {"d/one.txt": b"1", "d/two.txt": b"22"},
    )
    out = tmp_path / "tar_out"
    files = extract_archive(archive, out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in files) == ["d/alias", "d/one.txt", "d/two.txt"]
    assert (out / "d/alias").read_bytes() == b"1"
    assert (out / "d/alias").is_symlink()


def test_extract_selected_members(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        for i in range(3):
            zf.writestr(f"imgs/{i}.jpg", bytes([i]))
    files = extract_archive(tmp_path / "a.zip", tmp_path / "out", members=["imgs/1.jpg"], progress=False)
    assert files == [tmp_path / "out" / "imgs" / "1.jpg"]
    assert _leftovers(tmp_path / "out" / "imgs") == ["1.jpg"]
    with pytest.raises(KeyError, match=r"imgs/9\.jpg"):
        extract_archive(tmp_path / "a.zip", tmp_path / "out", members=["imgs/9.jpg"], progress=False)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([_file("/etc/evil")], "absolute path"),
        ([_file("ok/../../evil")], "'..' component"),
        ([_link("innocent", "/etc/passwd")], "symbolic link to the absolute path '/etc/passwd'"),
        ([_link("innocent", "../../outside")], "points outside"),
        ([_link("innocent", "../../outside", hard=True)], "hard link to '../../outside'"),
    ],
)
def test_tar_traversal_refused(tmp_path: Path, entries: list[tarfile.TarInfo], reason: str) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", [_file("good.txt"), *entries], {"good.txt": b"g"})
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        extract_archive(archive, out, progress=False)
    assert repr(entries[0].name) in str(info.value)
    assert not out.exists()  # refused before anything was written
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "a" / "outside").exists()


def test_tar_link_chain_refused(tmp_path: Path) -> None:
    # "up" -> "." looks harmless, and so does "up/sub/esc" -> "../../outside" read lexically (root/up/sub/../..);
    # once "up" exists, up/sub is root/sub and the second link would point above the root
    entries = [_link("up", "."), tarfile.TarInfo("sub"), _link("up/sub/esc", "../../outside"), _file("up/sub/esc/x")]
    entries[1].type = tarfile.DIRTYPE
    archive = _tar(tmp_path / "chain.tar.gz", entries, {"up/sub/esc/x": b"evil"})
    out = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=r"'up/sub/esc'.*points outside"):
        extract_archive(archive, out, progress=False)
    assert not (tmp_path / "deep" / "outside").exists()
    assert not (out / "sub" / "esc").exists()


def test_tar_device_refused(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(UnsafeArchiveError, match=r"'pipe'.*not a file, directory or link"):
        extract_archive(_tar(tmp_path / "f.tar.gz", [fifo]), tmp_path / "out", progress=False)


@pytest.mark.parametrize(("name", "reason"), [("/abs.txt", "absolute path"), ("../up.txt", "'..' component")])
def test_zip_traversal_refused(tmp_path: Path, name: str, reason: str) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("fine.txt", b"f")
        zf.writestr(zipfile.ZipInfo(name), b"evil")  # ZipInfo keeps the name as given
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_archive(tmp_path / "evil.zip", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "up.txt").exists()


def test_zip_symlink_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16) | 0
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match=r"'link'.*symbolic link"):
        extract_archive(tmp_path / "l.zip", tmp_path / "out", progress=False)


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(tmp_path / "x.zip", tmp_path / "out", progress=False)


def test_tar_two_step_link_chain_refused(tmp_path: Path) -> None:
    # "a" -> "b/../secret" looks inside while "b" does not exist; once "b" -> "." exists it resolves above the root
    (tmp_path / "secret").write_text("private")
    archive = _tar(tmp_path / "chain.tar.gz", [_link("a", "b/../secret"), _link("b", ".")])
    with pytest.raises(UnsafeArchiveError, match=r"'a'.*points outside"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.tar.gz", "secret"]  # nothing partial left


class _RawServer:
    """A server on 127.0.0.1 that answers every connection with ``response`` bytes and closes it."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.count = 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/file.bin"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self.response)
                self.count += 1

    def close(self) -> None:
        self.socket.close()


def test_chunked_body_cut_mid_chunk_is_a_download_error(tmp_path: Path) -> None:
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + b"x" * 50  # 256 announced, 50 sent
    server = _RawServer(cut)
    try:
        with pytest.raises(DownloadError, match=r"file\.bin: the connection ended early"):
            download_file(server.url, tmp_path / "out" / "file.bin", progress=False, timeout=5)
    finally:
        server.close()
    assert _leftovers(tmp_path / "out") == []


def test_whole_chunked_body_is_complete(tmp_path: Path) -> None:
    whole = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    server = _RawServer(whole)
    try:
        dest = download_file(server.url, tmp_path / "file.bin", progress=False, timeout=5)
    finally:
        server.close()
    assert dest.read_bytes() == b"hello"
    assert complete_marker(dest).is_file()


def test_body_of_unannounced_length_is_not_marked_complete(tmp_path: Path) -> None:
    # HTTP/1.0 without Content-Length: the body ends when the connection closes, so a cut body looks whole
    server = _RawServer(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + b"y" * 40)
    dest = tmp_path / "file.bin"
    try:
        with pytest.warns(UserWarning, match=r"file\.bin \(40 bytes\).*announced no length.*downloaded again"):
            download_file(server.url, dest, progress=False, timeout=5)
        assert dest.read_bytes() == b"y" * 40
        assert not complete_marker(dest).exists()
        with pytest.warns(UserWarning, match="announced no length"):
            download_file(server.url, dest, progress=False, timeout=5)  # not known complete: fetched again
        assert server.count == 2
    finally:
        server.close()
    download_file(
        server.url, dest, sha256=hashlib.sha256(b"y" * 40).hexdigest(), progress=False
    )  # a checksum accepts it


def test_downloaded_files_get_the_umask_mode(server: _Server, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    dest = download_file(_served(server, "a.bin", b"a"), tmp_path / "a.bin", progress=False)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(complete_marker(dest).stat().st_mode) == 0o666 & ~umask
