"""The on-disk form of one cached sample: a small pickled header plus large arrays as raw buffers.

Layout of an encoded sample (all offsets from the start)::

    b"FUSESMP2"              8-byte magic (format version 2)
    <uint64 little endian>   length of the header
    <16 bytes>               checksum of the header (:func:`checksum`)
    <header>                 pickle: sample id, initial id, small values, and for every large array its key,
                             dtype, shape, memory order, codec, stored size, offset and checksum
    <padding>                to a multiple of 64 bytes
    <array buffers>          each starting at a multiple of 64 bytes

Large numpy arrays (at least :data:`RAW_MIN_BYTES`) keep their own dtype and are
loaded with one ``readinto`` into a buffer that the arrays then view: no unpickling copy, no decompression unless a
codec was asked for. Reading only some keys reads the header and those arrays' buffers.

Every byte that is read is checked against its checksum (:func:`checksum`): a flipped bit in a value file raises
:class:`CorruptCachedSampleError` instead of becoming a wrong pixel or label.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import numpy as np

from fuse.core import NDict, is_tensor

__all__ = [
    "RAW_MIN_BYTES",
    "ChunkReader",
    "CorruptCacheError",
    "CorruptCachedSampleError",
    "DecodedHeader",
    "checksum",
    "decode_header",
    "decode_sample",
    "encode_sample",
]

_MAGIC = b"FUSESMP2"
_PREFIX = struct.Struct("<8sQ16s")
_ALIGN = 64
RAW_MIN_BYTES = 4096
"""Arrays at least this large are stored as raw buffers; smaller values are pickled in the header."""
_CODECS = (None, "zlib")
_ROW_WORDS = 256  # checksum(): 64-bit words per row (2 KiB)


class CorruptCacheError(RuntimeError):
    """Part of a sample cache is damaged (its database, or a cached sample); the message names the file and the fix."""


class CorruptCachedSampleError(CorruptCacheError):
    """A cached sample is damaged: a missing or truncated value file, or bytes that fail their checksum."""


@dataclass(frozen=True)
class _ArrayEntry:
    key: str
    dtype: str
    shape: tuple[int, ...]
    order: str
    codec: str | None
    stored_size: int
    offset: int
    checksum: bytes


@dataclass(frozen=True)
class DecodedHeader:
    """What the header of an encoded sample says: ids, small values, and where each large array lies."""

    sample_id: Any
    initial_sample_id: Any
    small: dict[str, Any]
    arrays: tuple[_ArrayEntry, ...]
    total_size: int
    order: list[str]

    def keys(self) -> list[str]:
        """Every keypath of the sample, in the sample's order."""
        return list(self.order)


def checksum(data: Any) -> bytes:
    """A 16-byte checksum of the bytes of ``data`` (bytes, a memoryview or a contiguous uint8 array).

    The 64-bit words of ``data`` are laid out in rows of 256; the checksum is BLAKE2b over the size, the sum
    (modulo 2**64) of every row and of every column, and the bytes that fill no row. Any change within one word or
    within two words changes a row or a column sum (two words in one row lie in two columns), so every flipped bit,
    every pair of flipped bits and every swap of two words is detected. What it cannot see is damage whose word
    changes cancel in every row and every column sum (e.g. +d and -d at the four corners of a rectangle of words),
    which bit rot, a zeroed page, garbage or a shifted block match only by chance. Two numpy reductions and a hash of
    1/128 of the data: less than half the time of ``zlib.crc32`` on the same bytes (time both with ``timeit`` on
    a 512 KiB array), so that verifying every read costs little next to reading it. Not a defence against
    deliberate tampering (nothing here is).

    >>> checksum(b"abc") == checksum(bytearray(b"abc")), checksum(b"abc") == checksum(b"abd")
    (True, False)
    """
    view = memoryview(data).cast("B")
    words = np.frombuffer(view, dtype="<u8", count=len(view) // 8)
    full = len(words) // _ROW_WORDS * _ROW_WORDS
    grid = words[:full].reshape(-1, _ROW_WORDS)
    digest = hashlib.blake2b(len(view).to_bytes(8, "little"), digest_size=16)
    digest.update(grid.sum(axis=1, dtype="<u8").tobytes())
    digest.update(grid.sum(axis=0, dtype="<u8").tobytes())
    digest.update(view[full * 8 :])
    return digest.digest()


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _refuse_tensors(key: str, value: Any, sample_id: Any) -> None:
    if is_tensor(value) or (isinstance(value, (list, tuple)) and any(is_tensor(v) for v in value)):
        raise TypeError(
            f"sample {sample_id!r}: key {key!r} holds a torch tensor; a static pipeline's output is cached, so keep "
            "it numpy (numpy arrays load without copies) and convert to tensors in the dynamic pipeline, e.g. with "
            "OpToTensor"
        )


def _as_raw_array(key: str, value: Any, sample_id: Any) -> np.ndarray | None:
    """``value`` when it should be stored as a raw buffer (a large numpy array of plain dtype), else ``None``."""
    _refuse_tensors(key, value, sample_id)
    if type(value) is not np.ndarray or value.dtype.hasobject or value.dtype.fields is not None:
        return None
    return value if value.nbytes >= RAW_MIN_BYTES else None


def encode_sample(
    sample: NDict, initial_sample_id: Any, *, codec: str | None = None, level: int = 1
) -> tuple[int, list[memoryview | bytes]]:
    """Encode ``sample`` as a list of byte chunks (the large arrays are not copied) and their total size.

    ``codec="zlib"`` compresses each large array at ``level`` (smaller files, slower loads).

    >>> size, chunks = encode_sample(NDict({"data.sample_id": "a", "data.x": 1}), "a")
    >>> size == sum(len(c) for c in chunks)
    True
    """
    if codec not in _CODECS:
        raise ValueError(f"unknown codec {codec!r}; use one of {list(_CODECS)}")
    sample_id = sample.get("data.sample_id")
    small: dict[str, Any] = {}
    raw: list[tuple[str, np.ndarray]] = []
    for key, value in sample.items():
        array = _as_raw_array(key, value, sample_id)
        if array is None:
            small[key] = value
        else:
            raw.append((key, array))
    buffers: list[memoryview | bytes] = []
    described: list[tuple[str, str, tuple[int, ...], str, str | None, int, bytes]] = []  # ..., size, checksum
    for key, array in raw:
        order: Literal["C", "F"] = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        flat = array.ravel(order=order)  # a view when the array is contiguous in that order
        data: memoryview | bytes = flat.view(np.uint8).data if flat.size else b""
        if codec == "zlib":
            data = zlib.compress(data, level)
        buffers.append(data)
        described.append((key, array.dtype.str, tuple(array.shape), order, codec, len(data), checksum(data)))
    # the header holds the offsets, so its size is needed first: encode with placeholder offsets of a fixed width
    header_fields = {
        "sample_id": sample_id,
        "initial_sample_id": initial_sample_id,
        "small": small,
        "order": list(sample.keys()),
    }
    try:
        probe = pickle.dumps(
            {**header_fields, "arrays": [(*d[:-1], 2**62, d[-1]) for d in described], "total": 2**62}, 5
        )
    except Exception as error:
        raise TypeError(f"sample {sample_id!r} cannot be cached: a value cannot be pickled ({error})") from error
    data_start = _aligned(_PREFIX.size + len(probe))
    offsets, position = [], data_start
    for entry in described:
        offsets.append(position)
        position = _aligned(position + entry[-2])
    total = position
    arrays = [(*d[:-1], off, d[-1]) for d, off in zip(described, offsets, strict=True)]
    header = pickle.dumps({**header_fields, "arrays": arrays, "total": total}, 5)
    if len(header) > len(probe):  # pragma: no cover  (offsets below 2**62 never pickle longer than the probe)
        raise AssertionError("the sample header grew while being encoded")
    header = header.ljust(len(probe), b"\x00")  # pickle stops at its STOP opcode: the padding is never read
    chunks: list[memoryview | bytes] = [_PREFIX.pack(_MAGIC, len(header), checksum(header)), header]
    written = _PREFIX.size + len(header)
    for buffer, offset in zip(buffers, offsets, strict=True):
        chunks.append(b"\x00" * (offset - written))
        chunks.append(buffer)
        written = offset + len(buffer)
    chunks.append(b"\x00" * (total - written))
    return total, chunks


def _header_from(prefix_and_header: bytes | memoryview, where: str) -> DecodedHeader:
    if len(prefix_and_header) < _PREFIX.size:
        raise CorruptCachedSampleError(f"{where}: truncated (only {len(prefix_and_header)} bytes)")
    magic, header_size, header_checksum = _PREFIX.unpack_from(prefix_and_header)
    if magic != _MAGIC:
        raise CorruptCachedSampleError(f"{where}: not a fuse cached sample (magic {magic!r})")
    end = _PREFIX.size + header_size
    if len(prefix_and_header) < end:
        raise CorruptCachedSampleError(f"{where}: truncated header")
    if checksum(prefix_and_header[_PREFIX.size : end]) != header_checksum:
        raise CorruptCachedSampleError(f"{where}: the header fails its checksum (the file was damaged after caching)")
    try:
        fields = pickle.loads(prefix_and_header[_PREFIX.size : end])
    except Exception as error:
        raise CorruptCachedSampleError(f"{where}: unreadable header ({error})") from error
    arrays = tuple(_ArrayEntry(*entry) for entry in fields["arrays"])
    return DecodedHeader(
        fields["sample_id"], fields["initial_sample_id"], fields["small"], arrays, fields["total"], fields["order"]
    )


def decode_header(source: BinaryIO | bytes, where: str) -> DecodedHeader:
    """Read and decode the header of an encoded sample from a file (left positioned anywhere) or bytes."""
    if isinstance(source, bytes):
        return _header_from(source, where)
    source.seek(0)
    prefix = source.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise CorruptCachedSampleError(f"{where}: truncated (only {len(prefix)} bytes)")
    _, header_size, _ = _PREFIX.unpack(prefix)
    return _header_from(prefix + source.read(header_size), where)


def _wanted(key: str, keys: Sequence[str] | None) -> bool:
    return keys is None or any(key == k or key.startswith(k + ".") for k in keys)


def _array_from(entry: _ArrayEntry, data: Any, where: str) -> Any:
    if checksum(data) != entry.checksum:
        raise CorruptCachedSampleError(
            f"{where}: array {entry.key!r} fails its checksum (the file was damaged after caching)"
        )
    if entry.codec == "zlib":
        data = bytearray(zlib.decompress(data))
    try:
        array = np.frombuffer(data, dtype=np.dtype(entry.dtype)).reshape(entry.shape, order=entry.order)  # type: ignore[call-overload]
    except ValueError as error:
        raise CorruptCachedSampleError(f"{where}: array {entry.key!r} does not match its header ({error})") from error
    return array


def decode_sample(
    source: BinaryIO | bytes, where: str, keys: Sequence[str] | None = None
) -> tuple[NDict, DecodedHeader]:
    """The sample encoded in ``source`` (an open file or bytes) and its header; ``keys`` (keypaths or prefixes)
    limits what is read: with a file, only those arrays' bytes are read.

    >>> _, chunks = encode_sample(NDict({"data.sample_id": "a", "data.img": np.ones((32, 32))}), "a")
    >>> sample, header = decode_sample(b"".join(chunks), "example")
    >>> sample["data.img"].shape, sample["data.img"].flags.writeable, header.initial_sample_id
    ((32, 32), True, 'a')
    """
    if isinstance(source, bytes) or keys is None:
        return _decode_buffer(_whole(source, where), where, keys)
    header = decode_header(source, where)
    flat: dict[str, Any] = {k: v for k, v in header.small.items() if _wanted(k, keys)}
    entries = [entry for entry in header.arrays if _wanted(entry.key, keys)]
    flat.update(_read_arrays(source, entries, header.total_size, where))
    return _in_order(flat, header), header


def _whole(source: BinaryIO | bytes, where: str) -> np.ndarray:
    """The encoded sample as one writable byte buffer (a file: one ``readinto``), for the arrays to view."""
    if isinstance(source, bytes):
        return np.frombuffer(bytearray(source), dtype=np.uint8)
    size = os.fstat(source.fileno()).st_size
    buffer = np.empty(size, dtype=np.uint8)
    source.seek(0)
    if source.readinto(buffer.data) != size:  # type: ignore[attr-defined]
        raise CorruptCachedSampleError(f"{where}: the file changed while being read")
    return buffer


def _decode_buffer(buffer: np.ndarray, where: str, keys: Sequence[str] | None) -> tuple[NDict, DecodedHeader]:
    header = _header_from(buffer.data, where)
    if len(buffer) < header.total_size:
        raise CorruptCachedSampleError(f"{where}: truncated ({len(buffer)} of {header.total_size} bytes)")
    flat: dict[str, Any] = {k: v for k, v in header.small.items() if _wanted(k, keys)}
    for entry in header.arrays:
        if _wanted(entry.key, keys):
            flat[entry.key] = _array_from(entry, buffer[entry.offset : entry.offset + entry.stored_size], where)
    return _in_order(flat, header), header


def _in_order(flat: dict[str, Any], header: DecodedHeader) -> NDict:
    """``flat`` in the sample's original key order."""
    return NDict({key: flat[key] for key in header.order if key in flat}, already_flat=True)


def _read_arrays(file: BinaryIO, entries: list[_ArrayEntry], total: int, where: str) -> Iterator[tuple[str, Any]]:
    """The arrays of ``entries`` read from ``file``: contiguous entries in one ``readinto``."""
    for group in _contiguous_groups(entries):
        start, end = group[0].offset, group[-1].offset + group[-1].stored_size
        region = np.empty(end - start, dtype=np.uint8)
        file.seek(start)
        got = file.readinto(region.data)  # type: ignore[attr-defined]
        if got != end - start:
            raise CorruptCachedSampleError(f"{where}: truncated (expected {total} bytes, the file ends earlier)")
        for entry in group:
            yield (
                entry.key,
                _array_from(entry, region[entry.offset - start : entry.offset - start + entry.stored_size], where),
            )


def _contiguous_groups(entries: Iterable[_ArrayEntry]) -> list[list[_ArrayEntry]]:
    groups: list[list[_ArrayEntry]] = []
    for entry in entries:
        if groups and _aligned(groups[-1][-1].offset + groups[-1][-1].stored_size) == entry.offset:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


class ChunkReader:
    """A ``read()``-able stream over a list of byte chunks that hands out the chunks themselves (no copy): what
    ``diskcache`` needs to stream a value into its file (it calls ``read(size)`` until it gets ``b""``).

    >>> reader = ChunkReader([b"ab", memoryview(b"cd")])
    >>> b"".join(bytes(reader.read(2**22)) for _ in range(3))
    b'abcd'
    """

    def __init__(self, chunks: Sequence[memoryview | bytes]) -> None:
        self._chunks = [chunk for chunk in chunks if len(chunk)]
        self._index = 0

    def read(self, size: int = -1) -> memoryview | bytes:
        """The next chunk (whatever ``size``), or ``b""`` at the end."""
        if self._index == len(self._chunks):
            return b""
        self._index += 1
        return self._chunks[self._index - 1]
