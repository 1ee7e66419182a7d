"""Freed memory kept in the process while a stream goes through ``add_stream``: glibc's thresholds
raised on entry, the trim threshold set back and the free memory returned when the last stream ends,
also when the stream fails (calls recorded through a fake C library; one call to the real one)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.repo.format import heapkeep
from drkit.repo.format.heapkeep import freed_memory_kept
from tests.unit.repo.test_stream_level import MIB, _pieces, _repo


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int] | tuple[str, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


ENTER = [
    ("mallopt", heapkeep.M_MMAP_THRESHOLD, heapkeep.MMAP_FROM),
    ("mallopt", heapkeep.M_TRIM_THRESHOLD, heapkeep.TRIM_KEPT),
]
LEAVE = [
    ("mallopt", heapkeep.M_MMAP_THRESHOLD, heapkeep.MMAP_DEFAULT),
    ("mallopt", heapkeep.M_TRIM_THRESHOLD, heapkeep.TRIM_DEFAULT),
    ("malloc_trim", 0),
]


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(heapkeep, "_libc", fake)
    monkeypatch.setattr(heapkeep, "_looked", True)
    monkeypatch.setattr(heapkeep, "_depth", 0)
    return fake


def test_thresholds_raised_inside_and_set_back_after_also_on_error(libc: FakeLibc) -> None:
    with freed_memory_kept():
        assert libc.calls == ENTER
    assert libc.calls == ENTER + LEAVE
    libc.calls.clear()
    with pytest.raises(RuntimeError), freed_memory_kept():
        raise RuntimeError
    assert libc.calls == ENTER + LEAVE


def test_nested_streams_set_back_when_the_last_ends(libc: FakeLibc) -> None:
    with freed_memory_kept():
        with freed_memory_kept():
            pass
        assert libc.calls == ENTER  # the outer stream still runs
    assert libc.calls == ENTER + LEAVE


def test_without_mallopt_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heapkeep, "_libc", None)
    monkeypatch.setattr(heapkeep, "_looked", True)
    with freed_memory_kept():
        assert heapkeep._depth == 0


def test_the_real_c_library_takes_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heapkeep, "_libc", None)
    monkeypatch.setattr(heapkeep, "_looked", False)
    with freed_memory_kept():
        libc = heapkeep._libc
        if libc is None:
            pytest.fail("no mallopt/malloc_trim found in this process (drkit's images use glibc)")
        assert libc.mallopt(heapkeep.M_TRIM_THRESHOLD, heapkeep.TRIM_KEPT) == 1  # glibc: 1 = accepted
    assert heapkeep._depth == 0


MAPPED = """
import ctypes
from drkit.repo.format.heapkeep import freed_memory_kept

class MallInfo2(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mapped(size):
    # a block of this size gets its own mapping (counted in hblks) rather than a place in a heap
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    after = libc.mallinfo2().hblks
    libc.free(block)
    return after > before

with freed_memory_kept():
    inside = mapped(1 << 20)
print(inside, mapped(1 << 20), mapped(64 << 10))
"""


def test_after_a_stream_large_blocks_are_mapped_again_in_the_real_c_library() -> None:
    """Inside a stream a 1 MiB block comes from a heap (kept when freed); after it, glibc's initial
    128 KiB threshold holds again: a 1 MiB block is its own mapping (returned when freed), not kept in
    a heap for the rest of the process as with the stream's 32 MiB (a fresh process: the settings are
    process-wide)."""
    out = subprocess.run([sys.executable, "-c", MAPPED], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True", "False"]


def test_add_stream_reads_its_stream_inside_and_sets_back_after_a_failure(
    tmp_path: Path, libc: FakeLibc
) -> None:
    seen: list[int] = []

    def source(fail: bool) -> Iterator[bytes]:
        for piece in _pieces(5, 2 * MIB):
            seen.append(heapkeep._depth)
            yield piece
        if fail:
            raise OSError("stream broke")

    repo = _repo(tmp_path / "repo", "zstd-1")
    with repo.new_snapshot(kind="cluster") as snap:
        assert snap.add_stream("etcd/snapshot.db", source(False)) == 2 * MIB
    assert seen
    assert set(seen) == {1}
    assert libc.calls == ENTER + LEAVE
    libc.calls.clear()
    with pytest.raises(OSError, match="stream broke"), repo.new_snapshot(kind="cluster") as snap:
        snap.add_stream("etcd/snapshot.db", source(True))
    assert libc.calls == ENTER + LEAVE
    assert heapkeep._depth == 0
