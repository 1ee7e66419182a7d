"""SnapshotStream: the trailer and the result only after verification; the revision bracket's verdicts.

The body is a recorded or built gateway stream; ``after`` stands in for the client's Status/HashKV
calls (a fake of drkit's own callback, not of etcd).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator

import pytest

from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import SnapshotCorrupt, SnapshotRaced
from drkit.etcd.snapshot import HashKV, SnapshotStream
from drkit.etcd.status import Status
from tests.unit.etcd import streams

EP = EtcdEndpoint("http", "127.0.0.1", 2379)
BEFORE = Status(EP, 5, 7, "3.6.16", 114688, 114688, 5, 65, 65, 2, 62, False, (), "3.6.0")
HASH = HashKV(hash=123, compact_revision=-1, hash_revision=62, revision=62, member_id=5)


def pieces(data: bytes, size: int = 10_000) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def make(
    body: bytes, after_status: Status = BEFORE, *, compacted: bool = False
) -> tuple[SnapshotStream, list[int]]:
    calls: list[int] = []

    def after() -> tuple[Status, bool]:
        calls.append(1)
        return after_status, compacted

    return SnapshotStream(EP, BEFORE, HASH, pieces(body), after), calls


def test_chunks_are_the_file_etcdctl_would_write() -> None:
    stream_bytes = streams.recorded()
    blobs = streams.blobs(stream_bytes)
    stream, calls = make(stream_bytes)
    chunks = list(stream)
    assert b"".join(chunks) == b"".join(blobs)  # database + 32-byte trailer, as sent
    assert chunks[-1] == blobs[-1] == hashlib.sha256(b"".join(blobs[:-1])).digest()
    assert calls == [1]
    res = stream.result
    assert res.size == 114688
    assert res.stored_size == 114688 + 32
    assert res.sha256 == blobs[-1].hex()
    assert res.revision == 62
    assert res.revision_exact
    assert res.to_record()["hash_kv"] == {"revision": 62, "hash": 123, "compact_revision": -1}
    assert res.to_record()["member_id"] == "5"


def test_no_result_and_no_trailer_before_the_end() -> None:
    stream, calls = make(streams.recorded())
    seen = bytearray()
    while len(seen) < 114688:
        with pytest.raises(EtcdError, match="not been fully received"):
            _ = stream.result
        seen += next(stream)
    assert calls == []  # the bracket closes only after the last database byte
    assert len(next(stream)) == 32
    assert stream.result.size == 114688
    with pytest.raises(StopIteration):
        next(stream)


def test_a_corrupt_stream_raises_before_the_trailer_and_leaves_no_result() -> None:
    db = bytes(range(256)) * 300
    body = streams.build(db, checksum=hashlib.sha256(b"other").digest())
    stream, calls = make(body)
    got = bytearray()

    def consume() -> None:
        for chunk in stream:
            got.extend(chunk)

    with pytest.raises(SnapshotCorrupt, match="mismatch"):
        consume()
    assert db.startswith(bytes(got))  # database bytes at most: the trailer never came
    assert calls == []
    with pytest.raises(EtcdError):
        _ = stream.result


def test_writes_during_the_snapshot_leave_the_revision_open() -> None:
    moved = dataclasses.replace(BEFORE, revision=70)
    stream, _ = make(streams.recorded(), after_status=moved)
    list(stream)
    res = stream.result
    assert res.revision is None
    assert not res.revision_exact
    assert (res.revision_before, res.revision_after) == (62, 70)
    assert res.hash_kv.hash_revision == 62
    assert res.to_record()["revision"] is None


def test_a_compaction_during_the_snapshot_is_a_race() -> None:
    stream, _ = make(streams.recorded(), compacted=True)
    with pytest.raises(SnapshotRaced, match="compacted past revision -1") as info:
        list(stream)
    assert info.value.transient
    with pytest.raises(EtcdError):
        _ = stream.result


def test_another_member_answering_afterwards_is_refused() -> None:
    other = dataclasses.replace(BEFORE, member_id=6)
    stream, _ = make(streams.recorded(), after_status=other)
    with pytest.raises(EtcdError, match="member changed"):
        list(stream)


def test_close_abandons_the_body() -> None:
    closed: list[bool] = []

    def body() -> Iterator[bytes]:
        try:
            yield from pieces(streams.recorded())
        finally:
            closed.append(True)

    stream = SnapshotStream(EP, BEFORE, HASH, body(), lambda: (BEFORE, False))
    with stream:
        next(stream)
    assert closed == [True]
    with pytest.raises(StopIteration):
        next(stream)
