"""A local object's bytes written from its parts (drkit.storage.filewrite): exactly their concatenation
whatever their sizes and number, short writes finished, and the pages dropped once durable."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from drkit.storage import filewrite
from drkit.storage.filewrite import IOV_MAX, drop_cached, write_parts
from drkit.storage.local import LocalStore


def _split(data: bytes, seed: int, count: int = 12) -> list[bytes | bytearray | memoryview]:
    """``count`` parts of random sizes, empty ones included, of all three types."""
    rng = random.Random(seed)
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(count - 1))
    parts: list[bytes | bytearray | memoryview] = []
    for i, (start, stop) in enumerate(zip([0, *cuts], [*cuts, len(data)], strict=True)):
        piece = data[start:stop]
        parts.append(piece if i % 3 == 0 else bytearray(piece) if i % 3 == 1 else memoryview(piece))
    return parts


def _write(path: Path, parts: list[bytes | bytearray | memoryview]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_parts(fd, parts)
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 1 << 20, (3 << 20) + 7])
@pytest.mark.parametrize("seed", range(3))
def test_parts_are_written_one_after_the_other_exactly(tmp_path: Path, size: int, seed: int) -> None:
    data = random.Random(size * 10 + seed).randbytes(size)
    parts = _split(data, seed)
    assert b"".join(bytes(p) for p in parts) == data
    _write(tmp_path / "f", parts)
    assert (tmp_path / "f").read_bytes() == data


def test_more_parts_than_one_call_takes(tmp_path: Path) -> None:
    """A pack of many small blobs: more parts than IOV_MAX go in several calls, in order."""
    data = random.Random(7).randbytes(3 * IOV_MAX * 5 + 11)
    parts = _split(data, 7, count=3 * IOV_MAX + 5)
    _write(tmp_path / "f", parts)
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("seed", range(4))
def test_short_writes_are_finished_from_where_they_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The kernel may write fewer bytes than asked (a signal, a full quota freed meanwhile): the next
    call starts inside the part where the last one stopped."""
    real = os.pwritev
    rng = random.Random(seed)
    calls = [0]

    def short(fd: int, buffers: list[memoryview], offset: int) -> int:
        calls[0] += 1
        total = sum(len(b) for b in buffers)
        take = max(1, rng.randrange(total + 1) // 2)
        kept, left = [], take
        for b in buffers:
            if left <= 0:
                break
            kept.append(b[:left])
            left -= len(b)
        return real(fd, kept, offset)

    monkeypatch.setattr(os, "pwritev", short)
    data = random.Random(seed).randbytes(200_000 + seed)
    _write(tmp_path / "f", _split(data, seed, count=40))
    assert calls[0] > 2
    assert (tmp_path / "f").read_bytes() == data


def test_a_write_that_makes_no_progress_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "pwritev", lambda fd, buffers, offset: 0)
    with pytest.raises(OSError, match="wrote 0 bytes of 3 at offset 0"):
        _write(tmp_path / "f", [b"abc"])


def test_a_store_object_is_dropped_from_the_page_cache_once_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages are dropped after the fsync (dropping dirty pages would only start their writeback),
    and the object's bytes are what was put."""
    events: list[str] = []
    real_fsync, real_advise = os.fsync, os.posix_fadvise

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        events.append("dontneed" if advice == os.POSIX_FADV_DONTNEED else f"advice {advice}")
        real_advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "posix_fadvise", advise)
    store = LocalStore(tmp_path / "store")
    data = random.Random(9).randbytes((2 << 20) + 777)
    store.put_parts("data/cd/pack", _split(data, 9))
    assert events[:2] == ["fsync", "dontneed"]
    assert store.get("data/cd/pack") == data
    assert not [p for p in (tmp_path / "store" / "data" / "cd").iterdir() if p.name.startswith(".tmp-")]


def test_dropping_is_advice_a_refusal_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    store = LocalStore(tmp_path / "store")
    store.put("data/ef/pack", b"x" * 5000)
    assert store.get("data/ef/pack") == b"x" * 5000
    monkeypatch.delattr(os, "posix_fadvise")
    fd = os.open(tmp_path / "g", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        drop_cached(fd)  # no such call on this platform: nothing happens
    finally:
        os.close(fd)
    assert filewrite.IOV_MAX >= 16
