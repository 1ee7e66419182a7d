"""``cut_pieces``: a stream arriving in pieces is cut exactly where ``Chunker.chunks`` cuts it (an
etcd snapshot keeps deduplicating against the one before), whatever the pieces' sizes and types."""

from __future__ import annotations

import io
import random

import pytest

from drkit.repo.format.chunker import Chunker, ChunkerParams
from drkit.repo.format.piececut import cut_pieces

KIB = 1024
PARAMS = ChunkerParams(min_size=2 * KIB, avg_size=8 * KIB, max_size=32 * KIB, seed=11)


def _data(seed: int, size: int) -> bytes:
    """Half random, half repetitive (long runs reach max_size: forced cuts, too)."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += (
            rng.randbytes(rng.randrange(1, 40 * KIB))
            if rng.random() < 0.5
            else b"a" * rng.randrange(1, 80 * KIB)
        )
    return bytes(out[:size])


def _pieces(data: bytes, seed: int, largest: int) -> list[bytes | memoryview]:
    rng = random.Random(seed)
    out: list[bytes | memoryview] = []
    pos = 0
    while pos < len(data):
        n = rng.randrange(0, largest + 1)  # empty pieces too
        piece = data[pos : pos + n]
        out.append(memoryview(b"xx" + piece)[2:] if rng.random() < 0.3 else piece)
        pos += n
    return out


def _reference(data: bytes) -> list[bytes]:
    return list(Chunker(PARAMS).chunks(io.BytesIO(data)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("largest", "window"), [(100, 64 * KIB), (32 * KIB, 64 * KIB), (300 * KIB, 100 * KIB)]
)
def test_the_cut_points_are_those_of_the_stream_chunker(seed: int, largest: int, window: int) -> None:
    data = _data(seed, random.Random(seed).randrange(0, 700 * KIB))
    chunks = list(cut_pieces(Chunker(PARAMS).cdc, _pieces(data, seed, largest), window=window))
    assert all(isinstance(c, memoryview) for c in chunks)
    assert [bytes(c) for c in chunks] == _reference(data)


def test_a_window_smaller_than_a_largest_and_an_average_chunk_is_raised_to_that() -> None:
    data = _data(9, 500 * KIB)
    chunks = list(cut_pieces(Chunker(PARAMS).cdc, _pieces(data, 9, 4 * KIB), window=1))
    assert [bytes(c) for c in chunks] == _reference(data)
    windows = {id(c.obj): len(c.obj) for c in chunks}  # the buffers the views are slices of
    assert set(windows.values()) == {PARAMS.max_size + PARAMS.avg_size}


@pytest.mark.parametrize("seed", range(8))
def test_the_default_window_cuts_where_the_stream_chunker_does_also_at_forced_cuts(seed: int) -> None:
    """Windows of max_size + avg_size (40 KiB here, not 2 x 32 KiB): long runs of one byte force cuts
    at max_size, so whole chunks of max_size are carried from one window to the next."""
    rng = random.Random(seed)
    data = _data(seed + 40, rng.randrange(200 * KIB, 900 * KIB))
    cut = list(cut_pieces(Chunker(PARAMS).cdc, _pieces(data, seed, rng.choice([100, 8 * KIB, 50 * KIB]))))
    reference = _reference(data)
    assert sum(1 for c in reference if len(c) == PARAMS.max_size) >= 2
    assert [bytes(c) for c in cut] == reference
    assert {len(c.obj) for c in cut} == {PARAMS.max_size + PARAMS.avg_size}


def test_a_stream_of_a_window_exactly_and_an_empty_one() -> None:
    data = _data(4, 128 * KIB)
    chunks = cut_pieces(Chunker(PARAMS).cdc, [data[: 64 * KIB], data[64 * KIB :]], window=64 * KIB)
    assert [bytes(c) for c in chunks] == _reference(data)
    assert list(cut_pieces(Chunker(PARAMS).cdc, [])) == []
    assert list(cut_pieces(Chunker(PARAMS).cdc, [b"", b""])) == []


def test_a_piece_that_is_not_bytes_is_refused() -> None:
    with pytest.raises(TypeError, match="a stream yielded str, not bytes"):
        list(cut_pieces(Chunker(PARAMS).cdc, [b"abc", "def"]))  # type: ignore[list-item]


@pytest.mark.parametrize("seed", range(4))
def test_chunks_let_go_of_at_once_come_out_right_as_windows_are_reused(seed: int) -> None:
    data = _data(seed + 20, 2000 * KIB)
    out = [bytes(c) for c in cut_pieces(Chunker(PARAMS).cdc, _pieces(data, seed, 9 * KIB), window=64 * KIB)]
    assert out == _reference(data)


def test_a_window_is_reused_only_when_no_chunk_of_it_is_referenced() -> None:
    data = _data(30, 3000 * KIB)
    held = []
    for i, chunk in enumerate(cut_pieces(Chunker(PARAMS).cdc, _pieces(data, 30, 5 * KIB), window=64 * KIB)):
        if i % 7 == 0:
            held.append((chunk, bytes(chunk)))  # some views kept: their windows stay as they were
    assert len(held) > 10
    assert all(bytes(view) == copy for view, copy in held)
