# ruff: noqa: PTH102, PTH108, PTH119
"""``FileCutter``: a file cut in place, in reused windows, exactly where ``Chunker.chunks`` cuts it
(the same data gives the same chunks, blob ids and tree ids as before), and a backup of large files
through it stores those chunks and restores the files equal."""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from drkit.repo.engine.backup import INLINE_BELOW, TreeBackup
from drkit.repo.engine.fsmeta import Xattrs
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.chunker import Chunker, ChunkerParams
from drkit.repo.format.filecut import _SPARE, FileCutter
from drkit.repo.format.tree import decode_tree

KIB = 1024
PARAMS = ChunkerParams(min_size=2 * KIB, avg_size=8 * KIB, max_size=32 * KIB, seed=11)
LARGE = ChunkerParams(min_size=256 * KIB, avg_size=512 * KIB, max_size=1024 * KIB, seed=7)


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


class ShortReads:
    """A file whose ``readinto`` returns at most ``most`` bytes a call (pipes, network filesystems)."""

    def __init__(self, data: bytes, seed: int, most: int) -> None:
        self.f = io.BytesIO(data)
        self.rng = random.Random(seed)
        self.most = most

    def readinto(self, b: bytearray | memoryview) -> int:
        n = self.rng.randrange(1, self.most + 1)
        return self.f.readinto(memoryview(b)[:n])

    def read(self, n: int = -1) -> bytes:
        return self.f.read(min(n, self.rng.randrange(1, self.most + 1)))


def _reference(data: bytes, params: ChunkerParams = PARAMS) -> list[bytes]:
    return list(Chunker(params).chunks(io.BytesIO(data)))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("window", [0, 100 * KIB])
def test_the_cut_points_are_those_of_the_stream_chunker(seed: int, window: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([0, 1, 2 * KIB, 64 * KIB, 64 * KIB + 1, rng.randrange(0, 900 * KIB)])
    data = _data(seed, size)
    cutter = FileCutter(Chunker(PARAMS).cdc, window=window)
    chunks = list(cutter.cut(io.BytesIO(data)))
    assert all(isinstance(c, memoryview) and c.readonly for c in chunks)
    assert [bytes(c) for c in chunks] == _reference(data)
    short = [bytes(c) for c in cutter.cut(ShortReads(data, seed, 5 * KIB))]
    assert short == _reference(data)
    # told its size (smaller than a window: read whole, then cut), or a size it no longer has
    for hint in (size, size // 2, size * 2, 0):
        got = [bytes(c) for c in cutter.cut(ShortReads(data, seed + hint, 5 * KIB), hint)]
        assert got == _reference(data), hint


def test_a_file_the_size_of_whole_windows_is_cut_as_the_stream_chunker_cuts_it() -> None:
    cutter = FileCutter(Chunker(PARAMS).cdc)  # windows of 2 * max_size = 64 KiB
    for size in (64 * KIB, 128 * KIB, 192 * KIB):
        data = _data(size, size)
        assert [bytes(c) for c in cutter.cut(io.BytesIO(data))] == _reference(data)
    data = b"a" * (128 * KIB)  # every chunk forced at max_size: one ends at each window's end
    assert [len(c) for c in cutter.cut(io.BytesIO(data))] == [32 * KIB] * 4


def test_chunks_still_referenced_keep_their_bytes_while_windows_are_reused() -> None:
    cutter = FileCutter(Chunker(PARAMS).cdc)
    datas = [_data(100 + i, 300 * KIB) for i in range(4)]
    kept: list[tuple[memoryview, bytes]] = []
    for i, data in enumerate(datas):
        for j, chunk in enumerate(cutter.cut(io.BytesIO(data))):
            if j % 3 == i % 3:
                kept.append((chunk, bytes(chunk)))  # held while later windows are filled
    assert kept
    for view, copy in kept:
        assert bytes(view) == copy
    del kept, view, chunk
    # every window is free again: the next file reuses them, no new one is made
    windows = {id(w) for w in cutter._spare}
    assert len(windows) == _SPARE
    assert sum(len(c) for c in cutter.cut(io.BytesIO(datas[0]))) == len(datas[0])
    assert {id(w) for w in cutter._spare} == windows


def test_a_read_error_propagates_and_the_window_goes_back() -> None:
    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            raise AssertionError("read in windows: no size given")

        def readinto(self, b: bytearray | memoryview) -> int:
            self.calls += 1
            if self.calls > 2:
                raise OSError(5, "Input/output error")
            n = min(len(b), 40 * KIB)
            memoryview(b)[:n] = b"x" * n
            return n

    cutter = FileCutter(Chunker(PARAMS).cdc)
    with pytest.raises(OSError, match="Input/output"):
        list(cutter.cut(Failing()))
    windows = {id(w) for w in cutter._spare}
    assert len(windows) == 2  # the one cut, and the one being filled when the read failed
    data = _data(5, 200 * KIB)
    assert [bytes(c) for c in cutter.cut(io.BytesIO(data))] == _reference(data)
    assert windows <= {id(w) for w in cutter._spare}


# -- the backup walk cuts its large files with it ---------------------------------------------------


class Writer:
    """TreeBackup's blob sink: blobs in a dict (copied: a chunk may be a view of a reused window)."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}
        self.views = 0
        self._lock = threading.Lock()

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes | memoryview) -> bytes:
        bid = hashlib.sha256(raw).digest()
        with self._lock:
            self.views += isinstance(raw, memoryview)
            self.blobs[(blob_type, bid)] = bytes(raw)
        return bid


def test_a_backup_stores_the_chunks_of_the_stream_chunker_and_the_same_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = {
        f"f{i}.bin": _data(200 + i, size) for i, size in enumerate((3 * 1024 * KIB, 700 * KIB, 5000 * KIB))
    }
    files["g.bin"] = files["f0.bin"]  # the same content twice: the same blobs
    for name, data in files.items():
        (src / name).write_bytes(data)
        os.utime(src / name, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    trees = []
    for _ in range(2):
        w = Writer()
        result = TreeBackup(w, LARGE, workers=2).run(src)  # type: ignore[arg-type]
        nodes = {n.name: n for n in decode_tree(w.blobs[(BlobType.TREE, result.tree)], where="top")}
        for name, data in files.items():
            want = [hashlib.sha256(c).digest() for c in _reference(data, LARGE)]
            assert list(nodes[name.encode()].content) == want, name
            assert b"".join(w.blobs[(BlobType.DATA, i)] for i in want) == data
        assert w.views > 0  # the large chunks went to the sealing threads as views
        trees.append(result.tree)
    assert trees[0] == trees[1]
    assert LARGE.min_size >= INLINE_BELOW


def test_a_file_smaller_than_a_window_is_read_whole_and_takes_no_window() -> None:
    cutter = FileCutter(Chunker(PARAMS).cdc)  # windows of 64 KiB
    data = _data(77, 60 * KIB)
    chunks = list(cutter.cut(io.BytesIO(data), len(data)))
    assert [bytes(c) for c in chunks] == _reference(data)
    assert type(chunks[0].obj) is bytes
    assert all(c.obj is chunks[0].obj for c in chunks)
    assert cutter._spare == []
    grown = _data(78, 200 * KIB)  # grew past a window since its lstat: on in windows
    assert [bytes(c) for c in cutter.cut(io.BytesIO(grown), 60 * KIB)] == _reference(grown)
    assert len(cutter._spare) >= 1


# -- files of a window or more are cut on the reading thread -------------------------------------

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=12345)  # windows of 32 KiB


class Meddling(TreeBackup):
    """Runs ``meddle[name]`` between an entry's ``lstat`` and the read of its content."""

    meddle: dict[bytes, Callable[[bytes], None]]

    def _xattrs(self, full: bytes, rel: bytes, bare: bool = False) -> Xattrs:
        xattrs = super()._xattrs(full, rel, bare)
        action = self.meddle.get(os.path.basename(full))
        if action is not None:
            action(full)
        return xattrs


def _becomes_dir(full: bytes) -> None:
    os.unlink(full)
    os.mkdir(full)


def test_a_large_file_is_cut_on_the_reading_thread_and_its_read_error_reported_in_walk_order(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = _data(300, 200 * KIB)
    (src / "a-big").write_bytes(big)
    (src / "b-dir").write_bytes(b"b" * (40 * KIB))  # a window or more: read on the reading thread
    (src / "c-dir").write_bytes(b"c" * 100)  # small: read on a sealing thread
    (src / "d-gone").write_bytes(b"d" * 100)
    (src / "e").write_bytes(b"e" * 100)
    w = Writer()
    reads: list[bytes] = []
    # the walk's own reading thread (a file changed under the look-ahead: test_backup_lookahead.py)
    walker = Meddling(w, SMALL, workers=2, on_read=reads.append, look_ahead=False)  # type: ignore[arg-type]
    walker.meddle = {b"b-dir": _becomes_dir, b"c-dir": _becomes_dir, b"d-gone": os.unlink}
    threads: list[str] = []
    real_cut = walker._cut_far

    def cut_far(fd: int, size: int) -> object:
        threads.append(threading.current_thread().name)
        return real_cut(fd, size)

    walker._cut_far = cut_far  # type: ignore[assignment,method-assign]
    result = walker.run(src)
    assert result.skipped == [
        "b-dir: read error: Is a directory",
        "c-dir: read error: Is a directory",
        "d-gone: cannot open: No such file or directory",
    ]
    assert threads
    assert all(t.startswith("drkit-read") for t in threads)
    nodes = {n.name: n for n in decode_tree(w.blobs[(BlobType.TREE, result.tree)], where="top")}
    assert sorted(nodes) == [b"a-big", b"e"]
    assert nodes[b"a-big"].size == len(big)
    assert list(nodes[b"a-big"].content) == [hashlib.sha256(c).digest() for c in _reference(big, SMALL)]
    assert result.bytes == len(big) + 100
    assert result.read_files == 4  # opened: a-big, b-dir, c-dir, e


def test_a_failure_sealing_a_large_file_stops_the_backup_and_the_reading_thread(tmp_path: Path) -> None:
    class Failing(Writer):
        def add(self, blob_type: BlobType, raw: bytes | memoryview) -> bytes:
            if blob_type is BlobType.DATA and len(raw) > 1024:
                raise OSError(28, "No space left on device")
            return super().add(blob_type, raw)

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"big{i}").write_bytes(_data(400 + i, 300 * KIB))
    with pytest.raises(OSError, match="No space left"):
        TreeBackup(Failing(), SMALL, workers=2).run(src)  # type: ignore[arg-type]
    assert not [t for t in threading.enumerate() if t.name.startswith(("drkit-read", "drkit-seal"))]
