"""The gRPC snapshot path's decoding: SnapshotResponse messages, as etcd's rpc.proto lays them out,
through the same checks as the gateway's stream (sizes, the SHA-256 trailer)."""

from __future__ import annotations

import hashlib

import pytest

from drkit.etcd.errors import SnapshotCorrupt
from drkit.etcd.grpcsnapshot import GrpcSnapshotParser, decode_snapshot_response


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def response(blob: bytes, remaining: int, version: str = "3.6.0") -> bytes:
    """A serialized SnapshotResponse: header (1, skipped), remaining_bytes (2), blob (3), version (4);
    zero fields left out, as protobuf encoders do."""
    header = _field(1, _varint(1 << 3) + _varint(123) + _varint(2 << 3) + _varint(456))
    rem = _varint(2 << 3) + _varint(remaining) if remaining else b""
    return header + rem + _field(3, blob) + (_field(4, version.encode()) if version else b"")


def messages(db: bytes, piece: int = 1000, checksum: bytes | None = None) -> list[bytes]:
    out = []
    for start in range(0, len(db), piece):
        blob = db[start : start + piece]
        out.append(response(blob, len(db) - start - len(blob)))
    out.append(response(checksum or hashlib.sha256(db).digest(), 0, ""))
    return out


def test_decodes_every_field_and_skips_the_header() -> None:
    assert decode_snapshot_response(response(b"\x00db bytes", 70_000)) == (b"\x00db bytes", 70_000, "3.6.0")
    assert decode_snapshot_response(b"") == (b"", 0, None)
    # fixed-width fields of a newer etcd are skipped too
    assert decode_snapshot_response(b"\x29" + bytes(8) + b"\x35" + bytes(4) + _field(3, b"x")) == (
        b"x",
        0,
        None,
    )


def test_the_blob_is_a_read_only_view_of_the_message_not_a_copy() -> None:
    message = response(b"\x00db bytes" * 4000, 5)
    blob, remaining, version = decode_snapshot_response(message)
    assert isinstance(blob, memoryview)
    assert blob.readonly
    assert blob.obj is message
    assert (bytes(blob), remaining, version) == (b"\x00db bytes" * 4000, 5, "3.6.0")


def test_keys_and_lengths_of_several_bytes_decode_like_one_byte_ones() -> None:
    # a field number >= 16 has a two-byte key; a length >= 128 a multi-byte one
    unknown = _field(17, b"newer etcd" * 30)
    message = unknown + _varint(2 << 3) + _varint(1 << 40) + _field(3, b"y" * 300) + _field(4, b"3.7.0")
    assert decode_snapshot_response(message) == (b"y" * 300, 1 << 40, "3.7.0")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_field(3, b"abc")[:-1], "field 3 runs past the end"),
        (b"\x10\xff", "truncated varint"),
        (b"\x1a", "truncated varint"),  # a length that never comes
        (b"\x1a\x80", "truncated varint"),
        (b"\x88", "truncated varint"),  # a key of two bytes, cut after the first
        (b"\x1b", "field 3 has wire type 3"),  # groups: not in SnapshotResponse
        (b"\x29" + bytes(3), "truncated message"),  # fixed64 cut short
    ],
)
def test_malformed_messages_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_snapshot_response(data)


def test_a_whole_stream_yields_the_database_and_proves_its_checksum() -> None:
    db = bytes(range(256)) * 17
    parser = GrpcSnapshotParser("etcd test snapshot")
    got = b"".join(b"".join(parser.feed(m)) for m in messages(db))
    digest = parser.finish()
    assert got == db
    assert digest.size == len(db)
    assert digest.sha256 == hashlib.sha256(db).digest()
    assert digest.storage_version == "3.6.0"
    assert digest.messages == len(db) // 1000 + 2


def test_a_wrong_checksum_is_refused() -> None:
    db = b"etcd" * 1000
    parser = GrpcSnapshotParser("etcd test snapshot")
    *data, last = messages(db, checksum=bytes(32))
    for m in data:
        parser.feed(m)
    with pytest.raises(SnapshotCorrupt, match="SHA-256 mismatch"):
        parser.feed(last)


def test_a_stream_without_its_checksum_is_refused() -> None:
    db = b"etcd" * 1000
    parser = GrpcSnapshotParser("etcd test snapshot")
    for m in messages(db)[:-1]:
        parser.feed(m)
    with pytest.raises(SnapshotCorrupt, match="no SHA-256 checksum"):
        parser.finish()


def test_a_message_that_is_not_protobuf_fails_the_parser_for_good() -> None:
    parser = GrpcSnapshotParser("etcd test snapshot")
    with pytest.raises(SnapshotCorrupt, match="message 1 is not a SnapshotResponse"):
        parser.feed(b"\x1b")
    with pytest.raises(SnapshotCorrupt, match="after a failure"):
        parser.feed(response(b"x", 0))
