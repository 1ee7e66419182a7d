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


def test_the_record_a_manifest_keeps() -> None:
    moved = dataclasses.replace(BEFORE, revision=70, cluster_id=0xABC)
    before = dataclasses.replace(BEFORE, cluster_id=0xABC)
    stream = SnapshotStream(EP, before, HASH, pieces(streams.recorded()), lambda: (moved, False))
    db = b"".join(streams.blobs(streams.recorded())[:-1])
    list(stream)
    assert stream.result.to_record() == {
        "endpoint": "http://127.0.0.1:2379",
        "member_id": "5",
        "cluster_id": "abc",
        "etcd_version": "3.6.16",
        "storage_version": "3.6.0",
        "size": 114688,
        "stored_size": 114688 + 32,
        "sha256": hashlib.sha256(db).hexdigest(),
        "revision": None,
        "revision_min": 62,
        "revision_max": 70,
        "hash_kv": {"revision": 62, "hash": 123, "compact_revision": -1},
    }


def test_the_storage_version_comes_from_the_stream_else_from_status() -> None:
    old = dataclasses.replace(BEFORE, storage_version="3.5.0")
    db = b"s" * 5000
    with_version = SnapshotStream(EP, old, HASH, pieces(streams.build(db)), lambda: (old, False))
    list(with_version)
    assert with_version.result.storage_version == "3.6.0"  # what the stream said
    msgs = streams.messages(streams.build(db))
    for m in msgs:
        del m["result"]["version"]
    without = SnapshotStream(EP, old, HASH, pieces(streams.encode(msgs)), lambda: (old, False))
    list(without)
    assert without.result.storage_version == "3.5.0"


def test_the_parser_names_the_endpoint_and_takes_the_message_bound() -> None:
    stream = SnapshotStream(EP, BEFORE, HASH, iter([b"nonsense\n"]), lambda: (BEFORE, False))
    with pytest.raises(
        SnapshotCorrupt, match=r"^etcd http://127\.0\.0\.1:2379 snapshot: snapshot stream message 1"
    ):
        next(stream)
    bounded = SnapshotStream(
        EP, BEFORE, HASH, pieces(streams.recorded()), lambda: (BEFORE, False), max_message=1000
    )
    with pytest.raises(SnapshotCorrupt, match="exceeds 1000 bytes"):
        list(bounded)


def test_a_revision_that_went_back_is_refused() -> None:
    back = dataclasses.replace(BEFORE, revision=61)
    stream, _ = make(streams.recorded(), after_status=back)
    with pytest.raises(EtcdError, match=r"^etcd http://127\.0\.0\.1:2379: revision went back from 62 to 61$"):
        list(stream)


def test_another_cluster_answering_afterwards_is_refused() -> None:
    other = dataclasses.replace(BEFORE, cluster_id=8)
    stream, _ = make(streams.recorded(), after_status=other)
    with pytest.raises(EtcdError, match="member changed"):
        list(stream)


def test_close_of_a_body_that_cannot_be_closed() -> None:
    stream = SnapshotStream(EP, BEFORE, HASH, iter([streams.recorded()]), lambda: (BEFORE, False))
    next(stream)
    stream.close()  # a plain iterator has no close(): nothing to release, no error
    with pytest.raises(StopIteration):
        next(stream)
