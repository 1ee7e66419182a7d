"""The free memory of the objects phase is returned before ``capture/resources.json`` streams (the
stream's 16 MiB windows would land above the holes it left), and never inside a stream that keeps
freed memory on purpose (calls recorded through a fake C library and a fake snapshot writer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from drkit.capture import cluster
from drkit.capture.resources import CapturedObject
from drkit.capture.resourcesjson import RecordSpool
from drkit.repo.format import heapkeep
from drkit.repo.format.heapkeep import freed_memory_kept, map_large_blocks, release_freed
from tests.unit.repo.test_heapkeep import ENTER, FakeLibc


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(heapkeep, "_libc", fake)
    monkeypatch.setattr(heapkeep, "_looked", True)
    monkeypatch.setattr(heapkeep, "_depth", 0)
    return fake


def test_free_memory_is_returned_outside_a_stream_only(libc: FakeLibc) -> None:
    release_freed()
    assert libc.calls == [("malloc_trim", 0)]
    libc.calls.clear()
    with freed_memory_kept():
        release_freed()  # a stream keeps what it frees: no trim in the middle of it
        assert libc.calls == ENTER


class RecordingSnapshot:
    def __init__(self, libc: FakeLibc) -> None:
        self.libc = libc
        self.streams: list[tuple[str, bytes, list[Any]]] = []

    def add_stream(self, path: str, chunks: Iterable[bytes], **_kw: Any) -> int:
        before = list(self.libc.calls)  # what the C library was asked before the stream
        data = b"".join(chunks)
        self.streams.append((path, data, before))
        return len(data)


def test_the_records_stream_starts_after_the_free_memory_is_returned(libc: FakeLibc) -> None:
    spool = RecordSpool()
    spool.add(("r/a.json", "", "v1", "configmaps", "ConfigMap", "ns", "a", "1", "9"))
    snap = RecordingSnapshot(libc)
    cluster._store_records(snap, spool)  # type: ignore[arg-type]
    [(path, data, before)] = snap.streams
    assert path == cluster.OBJECTS_PATH
    assert data.startswith(b'[{"path":"r/a.json"')
    assert before == [("malloc_trim", 0)]


class StoringSnapshot:
    def __init__(self, libc: FakeLibc) -> None:
        self.libc = libc
        self.seen: list[list[Any]] = []

    def add_bytes(self, path: str, data: bytes, **_kw: Any) -> None:
        self.seen.append(list(self.libc.calls))  # what the C library was asked before this object

    def seal(self, path: str, *, final: bool = False) -> bool:
        return True


def test_the_objects_are_stored_with_large_blocks_mapped(libc: FakeLibc) -> None:
    objects = [
        CapturedObject("", "v1", "configmaps", "ConfigMap", "ns", f"o{i}", "1", b"{}", "9") for i in range(3)
    ]
    snap = StoringSnapshot(libc)
    cluster._store_objects(snap, objects, RecordSpool())  # type: ignore[arg-type]
    mapped = [("mallopt", heapkeep.M_MMAP_THRESHOLD, heapkeep.MMAP_DEFAULT)]
    assert snap.seen == [mapped] * 3


def test_large_blocks_are_mapped_outside_a_stream_only(libc: FakeLibc) -> None:
    with freed_memory_kept():
        map_large_blocks()  # a stream keeps its 32 MiB threshold
        assert libc.calls == ENTER
    libc.calls.clear()
    map_large_blocks()
    assert libc.calls == [("mallopt", heapkeep.M_MMAP_THRESHOLD, heapkeep.MMAP_DEFAULT)]
