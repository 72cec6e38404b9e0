"""The encoded form of a cached sample: every byte that is read is checked, so that a damaged file raises instead of
serving a wrong value."""

from __future__ import annotations

import numpy as np
import pytest

from fuse.core import NDict
from fuse.data import CorruptCachedSampleError
from fuse.data.cache._codec import checksum, decode_sample, encode_sample


def sample() -> NDict:
    rng = np.random.default_rng(0)
    return NDict(
        {
            "data.sample_id": "case_7",
            "data.img": rng.random((16, 32, 32), dtype=np.float32),
            "data.seg": rng.integers(0, 5, size=(16, 32, 32), dtype=np.int16),
            "data.label": 1,
            "data.clinical": rng.random(8),
        }
    )


def same(a: NDict, b: NDict) -> bool:
    if list(a.keys()) != list(b.keys()):
        return False
    for key in a:
        if isinstance(a[key], np.ndarray):
            if a[key].dtype != b[key].dtype or not np.array_equal(a[key], b[key]):
                return False
        elif a[key] != b[key]:
            return False
    return True


def flipped(encoded: bytes, bit: int) -> bytes:
    damaged = bytearray(encoded)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


@pytest.mark.parametrize("codec", [None, "zlib"])
def test_a_flipped_bit_anywhere_raises_or_changes_nothing(codec: str | None) -> None:
    original = sample()
    encoded = b"".join(bytes(c) for c in encode_sample(original, "case_7", codec=codec)[1])
    rng = np.random.default_rng(1)
    bits = rng.choice(len(encoded) * 8, size=300, replace=False)
    raised = 0
    for bit in bits:
        try:
            decoded, _ = decode_sample(flipped(encoded, int(bit)), "example")
        except CorruptCachedSampleError:
            raised += 1
        else:  # only padding may absorb a flip: the values read back are then the original ones
            assert same(decoded, original), f"bit {bit}: a damaged file served a different sample"
    assert raised > 250  # almost every byte is a value byte


def test_checksum_errors_name_the_place_and_the_key(tmp_path: object) -> None:
    original = sample()
    encoded = b"".join(bytes(c) for c in encode_sample(original, "case_7")[1])
    _, header = decode_sample(encoded, "example")
    img = next(entry for entry in header.arrays if entry.key == "data.img")
    with pytest.raises(CorruptCachedSampleError, match=r"^cached sample 'case_7' in f\.val: array 'data\.img' fails"):
        decode_sample(flipped(encoded, img.offset * 8 + 100), "cached sample 'case_7' in f.val")
    label_byte = encoded.index(b"data.label")  # the small values live in the header
    with pytest.raises(CorruptCachedSampleError, match="header fails its checksum"):
        decode_sample(flipped(encoded, label_byte * 8 + 3), "example")


def test_reading_some_keys_checks_what_it_reads(tmp_path: object) -> None:
    from pathlib import Path

    original = sample()
    encoded = b"".join(bytes(c) for c in encode_sample(original, "case_7")[1])
    _, header = decode_sample(encoded, "example")
    seg = next(entry for entry in header.arrays if entry.key == "data.seg")
    path = Path(str(tmp_path)) / "value.val"
    path.write_bytes(flipped(encoded, seg.offset * 8 + 5))
    with open(path, "rb") as file:
        decoded, _ = decode_sample(file, "example", keys=["data.img", "data.label"])  # the damage is not read
    assert np.array_equal(decoded["data.img"], original["data.img"])
    with open(path, "rb") as file, pytest.raises(CorruptCachedSampleError, match=r"'data\.seg' fails its checksum"):
        decode_sample(file, "example", keys=["data.seg"])


def test_the_checksum_catches_every_pair_of_flipped_bits_and_swapped_words() -> None:
    data = bytearray(np.random.default_rng(2).random(70_001, dtype=np.float64).tobytes()[:560_005])  # rows + a tail
    reference = checksum(data)
    rng = np.random.default_rng(3)
    bits = len(data) * 8
    for first, second in rng.integers(0, bits, size=(500, 2)):
        if first == second:
            continue
        damaged = bytearray(data)
        for bit in (int(first), int(second)):
            damaged[bit // 8] ^= 1 << (bit % 8)
        assert checksum(damaged) != reference, (first, second)
    same_bit = bytearray(data)  # the same bit of two words of one column, flipped in opposite directions
    for word in (5, 5 + 256):
        same_bit[word * 8 + 7] ^= 0x80
    assert checksum(same_bit) != reference
    words = np.frombuffer(bytes(data[: 8 * 2048]), dtype="<u8").copy()
    words[[10, 900]] = words[[900, 10]]
    assert checksum(words.tobytes() + bytes(data[8 * 2048 :])) != reference
    assert checksum(bytes(data)) == reference == checksum(memoryview(bytes(data)))


def test_a_replaced_word_a_damaged_tail_and_a_changed_length_change_the_checksum() -> None:
    data = np.random.default_rng(4).integers(0, 256, 8 * 1000 + 5, dtype=np.uint8).tobytes()  # 3 rows + a tail
    reference = checksum(data)
    words = np.frombuffer(data[:8000], dtype="<u8")
    for index in (0, 255, 256, 511, 999):  # first and last of a row, and in the part that fills no row
        for replacement in (np.uint64(0), ~words[index], words[index] ^ np.uint64(1 << 63)):
            damaged = words.copy()
            damaged[index] = replacement
            assert checksum(damaged.tobytes() + data[8000:]) != reference, (index, replacement)
    tail = bytearray(data)
    tail[-1] ^= 0x01
    assert checksum(tail) != reference
    assert checksum(data[:-1]) != reference
    assert checksum(data + b"\0") != reference  # trailing zeros add nothing to a sum: the length counts


def test_a_zeroed_word_in_an_array_is_reported_naming_the_key() -> None:
    original = sample()
    encoded = bytearray(b"".join(bytes(c) for c in encode_sample(original, "case_7")[1]))
    _, header = decode_sample(bytes(encoded), "example")
    img = next(entry for entry in header.arrays if entry.key == "data.img")
    encoded[img.offset + 64 : img.offset + 72] = bytes(8)  # a word of the image lost, e.g. a zeroed page
    with pytest.raises(CorruptCachedSampleError, match=r"'data\.img' fails its checksum"):
        decode_sample(bytes(encoded), "example")


def test_the_stored_form_names_no_module_of_fuse() -> None:
    """Headers hold builtins and numpy values only: moving fuse's modules never makes a cache on disk unreadable."""
    import pickletools
    import struct

    encoded = b"".join(bytes(c) for c in encode_sample(sample(), "case_7")[1])
    _, length, _ = struct.unpack_from("<8sQ16s", encoded)
    header = encoded[struct.calcsize("<8sQ16s") : struct.calcsize("<8sQ16s") + length]
    strings = [str(arg) for _, arg, _ in pickletools.genops(header) if isinstance(arg, str)]
    assert "data.img" in strings  # the header was found
    assert not [text for text in strings if text.startswith("fuse")]
