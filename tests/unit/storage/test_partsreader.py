"""``PartsReader``: the concatenation of an object's parts read as a file (an S3 upload's body), the
same bytes and positions as ``io.BytesIO`` over the joined parts, whatever the reads and seeks."""

from __future__ import annotations

import io
import os
import random

import pytest

from drkit.storage.partsreader import PartsReader


def _parts(rng: random.Random) -> list[bytes | bytearray | memoryview]:
    parts: list[bytes | bytearray | memoryview] = []
    for i in range(rng.randrange(0, 12)):
        data = rng.randbytes(rng.choice([0, 1, 7, 4096, rng.randrange(20_000)]))
        parts.append(data if i % 3 == 0 else bytearray(data) if i % 3 == 1 else memoryview(b"#" + data)[1:])
    return parts


@pytest.mark.parametrize("seed", range(12))
def test_reads_and_seeks_match_a_file_of_the_joined_parts(seed: int) -> None:
    rng = random.Random(seed)
    parts = _parts(rng)
    joined = b"".join(bytes(p) for p in parts)
    got, want = PartsReader(parts), io.BytesIO(joined)
    assert len(got) == len(joined)
    for _ in range(60):
        op = rng.choice(["read", "readinto", "seek", "seek_end", "seek_cur", "read_all"])
        if op == "read":
            n = rng.choice([0, 1, 100, 8192, 16_384, len(joined) + 5])
            assert got.read(n) == want.read(n)
        elif op == "readinto":
            buf_a, buf_b = bytearray(rng.randrange(1, 9000)), bytearray(0)
            buf_b = bytearray(len(buf_a))
            assert got.readinto(buf_a) == want.readinto(buf_b)
            assert buf_a == buf_b
        elif op == "seek":
            pos = rng.randrange(len(joined) + 10)
            assert got.seek(pos) == want.seek(pos)
        elif op == "seek_end":
            assert got.seek(-min(len(joined), 5), os.SEEK_END) == want.seek(-min(len(joined), 5), os.SEEK_END)
        elif op == "seek_cur":
            back = -min(want.tell(), 300)
            assert got.seek(back, os.SEEK_CUR) == want.seek(back, os.SEEK_CUR)
        else:
            assert got.read() == want.read()
        assert got.tell() == want.tell()
    got.seek(0)
    assert got.read() == joined
    assert (got.seekable(), got.readable(), got.writable()) == (True, True, False)


def test_bad_seeks_and_a_closed_reader_are_refused() -> None:
    reader = PartsReader([b"abc"])
    with pytest.raises(ValueError, match="negative seek position"):
        reader.seek(-1)
    with pytest.raises(ValueError, match="invalid whence"):
        reader.seek(0, 7)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
    with pytest.raises(ValueError, match="closed"):
        reader.seek(0)


def test_no_parts_is_an_empty_file() -> None:
    reader = PartsReader([])
    assert (len(reader), reader.read(), reader.readinto(bytearray(4)), reader.tell()) == (0, b"", 0, 0)
