"""The snapshot stream parser on a stream recorded from etcd 3.6.16 and on damaged copies of it."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from drkit.errors import EtcdError
from drkit.etcd.errors import EtcdRequestFailed, SnapshotCorrupt
from drkit.etcd.snapshotstream import SnapshotStreamParser, StreamDigest
from tests.unit.etcd import streams


def parse(
    stream: bytes, piece: int | None = None, *, max_message: int = 4 << 20
) -> tuple[bytes, StreamDigest]:
    parser = SnapshotStreamParser("test", max_message=max_message)
    out = bytearray()
    step = piece or max(len(stream), 1)
    for i in range(0, len(stream), step):
        for chunk in parser.feed(stream[i : i + step]):
            out += chunk
    digest = parser.finish()
    return bytes(out), digest


def test_recorded_stream_gives_the_database_and_its_checksum() -> None:
    stream = streams.recorded()
    blobs = streams.blobs(stream)
    db, digest = parse(stream)
    assert len(blobs) == 5  # four 32 KiB-or-less pieces and the checksum
    assert db == b"".join(blobs[:-1])
    assert digest.size == len(db) == 114688
    assert digest.sha256 == hashlib.sha256(db).digest() == blobs[-1]
    assert digest.trailer == blobs[-1]
    assert digest.storage_version == "3.6.0"
    assert digest.messages == 5
    assert int.from_bytes(db[16:20], "little") == 0xED0CDAED  # bbolt's magic, first meta page


@pytest.mark.parametrize("piece", [1, 7, 4096, 43_693, 100_000])
def test_any_split_of_the_stream_gives_the_same_bytes(piece: int) -> None:
    stream = streams.recorded()
    whole, digest = parse(stream)
    db, d2 = parse(stream, piece)
    assert db == whole
    assert d2 == digest


def test_parser_never_holds_more_than_one_message() -> None:
    stream = streams.recorded()
    parser = SnapshotStreamParser("test", max_message=64 << 10)
    produced = 0
    for i in range(0, len(stream), 10_000):
        produced += sum(len(c) for c in parser.feed(stream[i : i + 10_000]))
        assert len(parser._buf) <= 64 << 10
    assert parser.finish().size == produced


def test_a_flipped_byte_in_the_database_is_a_checksum_mismatch() -> None:
    msgs = streams.messages(streams.recorded())
    blob = bytearray(base64.b64decode(msgs[1]["result"]["blob"]))
    blob[1000] ^= 0x01
    msgs[1]["result"]["blob"] = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(SnapshotCorrupt, match="SHA-256 mismatch"):
        parse(streams.encode(msgs))


def test_a_flipped_byte_in_the_checksum_is_a_mismatch() -> None:
    msgs = streams.messages(streams.recorded())
    sha = bytearray(base64.b64decode(msgs[-1]["result"]["blob"]))
    sha[31] ^= 0x80
    msgs[-1]["result"]["blob"] = base64.b64encode(bytes(sha)).decode()
    with pytest.raises(SnapshotCorrupt, match="SHA-256 mismatch"):
        parse(streams.encode(msgs))


@pytest.mark.parametrize("offset", [0, 1, 5000, 43_700, 120_000])
def test_a_flipped_byte_anywhere_in_the_raw_stream_is_detected(offset: int) -> None:
    stream = bytearray(streams.recorded())
    # a base64 letter changed for another letter keeps the JSON valid: only the hash can tell
    original = stream[offset]
    stream[offset] = ord("B") if original != ord("B") else ord("C")
    with pytest.raises(SnapshotCorrupt):
        parse(bytes(stream), 4096)


@pytest.mark.parametrize("cut", [0, 1, 43_000, 43_693, 131_076, 153_200, 153_249])
def test_a_truncated_stream_is_detected(cut: int) -> None:
    stream = streams.recorded()
    assert cut < len(stream)
    with pytest.raises(SnapshotCorrupt):
        parse(stream[:cut], 4096)


def test_a_stream_without_the_checksum_message_is_short() -> None:
    msgs = streams.messages(streams.recorded())
    with pytest.raises(SnapshotCorrupt, match=r"no (SHA-256 )?checksum"):
        parse(streams.encode(msgs[:-1]))


def test_a_missing_data_message_is_detected() -> None:
    msgs = streams.messages(streams.recorded())
    del msgs[2]
    with pytest.raises(SnapshotCorrupt, match="inconsistent"):
        parse(streams.encode(msgs))


def test_a_message_after_the_checksum_is_refused() -> None:
    msgs = streams.messages(streams.recorded())
    with pytest.raises(SnapshotCorrupt, match="after the SHA-256"):
        parse(streams.encode([*msgs, msgs[-1]]))


def test_an_error_object_mid_stream_raises_etcds_message() -> None:
    msgs = streams.messages(streams.recorded())
    error = {"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: server stopped"}}
    with pytest.raises(EtcdRequestFailed, match="server stopped") as info:
        parse(streams.encode([*msgs[:2], error]))  # type: ignore[list-item]
    assert info.value.code == 14
    assert isinstance(info.value, EtcdError)


def test_a_message_that_never_ends_exceeds_the_bound() -> None:
    parser = SnapshotStreamParser("test", max_message=1000)
    with pytest.raises(SnapshotCorrupt, match="exceeds 1000 bytes"):
        parser.feed(b'{"result":{"blob":"' + b"A" * 2000)
    with pytest.raises(SnapshotCorrupt):
        parser.finish()


def test_the_last_message_may_lack_its_newline() -> None:
    stream = streams.recorded().rstrip(b"\n")
    db, digest = parse(stream)
    assert digest.size == len(db) == 114688


@pytest.mark.parametrize(
    "garbage", [b"not json\n", b"[1, 2]\n", b'{"result": {"blob": "!!!"}}\n', b'{"result": {}}\n']
)
def test_garbage_is_corrupt(garbage: bytes) -> None:
    with pytest.raises(SnapshotCorrupt):
        parse(garbage)


def test_an_empty_stream_is_short() -> None:
    with pytest.raises(SnapshotCorrupt, match="ended early"):
        parse(b"")


@pytest.mark.parametrize("size", [1, 32 * 1024, 32 * 1024 * 3, 100_001])
def test_built_streams_of_any_size_verify(size: int) -> None:
    db = bytes(range(256)) * (size // 256) + bytes(size % 256)
    out, digest = parse(streams.build(db), 999)
    assert out == db
    assert digest.sha256 == hashlib.sha256(db).digest()


def test_a_checksum_of_the_wrong_length_is_refused() -> None:
    db = b"x" * 4096
    with pytest.raises(SnapshotCorrupt, match="32-byte SHA-256"):
        parse(streams.build(db, checksum=hashlib.sha256(db).digest()[:16]))


def test_the_parser_refuses_to_continue_after_a_failure() -> None:
    parser = SnapshotStreamParser("test")
    with pytest.raises(SnapshotCorrupt):
        parser.feed(b"nonsense\n")
    with pytest.raises(SnapshotCorrupt, match="after a failure"):
        parser.feed(streams.build(b"y" * 10))


def test_messages_are_json_lines() -> None:
    # what the recorded stream looks like, so that a change of the gateway's framing is noticed here
    first = streams.recorded().split(b"\n", 1)[0]
    doc = json.loads(first)
    assert set(doc) == {"result"}
    assert set(doc["result"]) == {"blob", "remaining_bytes", "version"}


# -- what each refusal says, and the edges of the format (each pins a behaviour a mutant changed) --


def _lines(stream: bytes) -> list[bytes]:
    return [line for line in stream.split(b"\n") if line]


def test_the_default_source_is_etcd() -> None:
    parser = SnapshotStreamParser()
    with pytest.raises(SnapshotCorrupt, match=r"^etcd: snapshot stream message 1 is not JSON \("):
        parser.feed(b"nonsense\n")


def test_blank_lines_are_skipped_wherever_the_pieces_split() -> None:
    db = bytes(range(256)) * 40
    lines = _lines(streams.build(db, piece=4096))
    spaced = b"\n" + b"\n\n".join(lines) + b"\n\n"
    for piece in (1, 2, 3, 4097):
        out, digest = parse(spaced, piece)
        assert out == db
        assert digest.messages == len(lines)


def test_a_message_exactly_as_long_as_the_bound_is_accepted() -> None:
    stream = streams.build(b"z" * 3000)
    longest = max(len(line) for line in _lines(stream))
    parser = SnapshotStreamParser("test", max_message=longest)
    out = bytearray()
    for line in _lines(stream):
        for chunk in parser.feed(line) + parser.feed(b"\n"):  # the whole line waits for its newline
            out += chunk
    assert bytes(out) == b"z" * 3000
    assert parser.finish().size == 3000
    with pytest.raises(
        SnapshotCorrupt,
        match=r"^test: a snapshot stream message exceeds 10 bytes without ending \(not etcd's gateway\?\)$",
    ):
        SnapshotStreamParser("test", max_message=10).feed(b"x" * 11)


def test_finish_after_a_failure_says_so() -> None:
    parser = SnapshotStreamParser("test")
    with pytest.raises(SnapshotCorrupt):
        parser.feed(b"nonsense\n")
    with pytest.raises(SnapshotCorrupt, match=r"^test: snapshot stream already failed$"):
        parser.finish()


def test_an_error_as_the_unterminated_last_message_fails_the_parser_for_good() -> None:
    msgs = streams.messages(streams.recorded())
    parser = SnapshotStreamParser("test")
    parser.feed(streams.encode(msgs[:2]))
    parser.feed(b'{"error": {"code": 14, "message": "etcdserver: server stopped"}}')
    with pytest.raises(EtcdRequestFailed, match="server stopped"):
        parser.finish()
    with pytest.raises(SnapshotCorrupt, match="already failed"):
        parser.finish()


def test_a_data_message_at_the_end_without_newline_or_checksum() -> None:
    db = b"d" * 4096
    last_data = _lines(streams.build(db))[0]  # one data message; the checksum left out, no newline
    with pytest.raises(
        SnapshotCorrupt, match=r"^test: snapshot stream ended after 4096 database bytes, no checksum$"
    ):
        parse(last_data)


def test_ended_early_names_what_was_received_and_what_was_announced() -> None:
    msgs = streams.messages(streams.recorded())
    with pytest.raises(
        SnapshotCorrupt,
        match=r"^test: snapshot stream ended early: 32768 of 114688 database bytes and no SHA-256 checksum$",
    ):
        parse(streams.encode(msgs[:1]))
    with pytest.raises(SnapshotCorrupt, match=r"ended early: 0 of \? database bytes and no SHA-256"):
        parse(b"\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"nonsense", r"^test: snapshot stream message 1 is not JSON \(.+\)$"),
        (b"[1, 2]", r"^test: snapshot stream message 1 is not an object$"),
        (b'{"result": "text"}', r"^test: snapshot stream message 1 has no result.blob$"),
        (b'{"result": {"blob": 5}}', r"^test: snapshot stream message 1 has no result.blob$"),
        (b'{"nothing": 1}', r"^test: snapshot stream message 1 has no result.blob$"),
        (
            b'{"result": {"blob": "QUJD", "remaining_bytes": "x"}}',
            r"^test: snapshot stream message 1 is malformed \(.+\)$",
        ),
    ],
)
def test_each_malformed_message_is_named(line: bytes, message: str) -> None:
    with pytest.raises(SnapshotCorrupt, match=message):
        parse(line + b"\n")


def test_a_blob_with_a_character_outside_base64_is_malformed() -> None:
    msgs = streams.messages(streams.build(b"q" * 3000))
    blob = msgs[0]["result"]["blob"]
    msgs[0]["result"]["blob"] = blob[:8] + "*" + blob[8:]  # a lenient decoder would skip it and verify
    with pytest.raises(SnapshotCorrupt, match=r"^test: snapshot stream message 1 is malformed \("):
        parse(streams.encode(msgs))


def test_a_message_without_a_blob_is_an_empty_piece() -> None:
    # the gateway leaves out empty fields: a message with no blob carries no database bytes
    db = b"e" * 5000
    msgs = streams.messages(streams.build(db, piece=4000))
    empty = {"result": {"remaining_bytes": msgs[0]["result"]["remaining_bytes"]}}
    out, digest = parse(streams.encode([msgs[0], empty, *msgs[1:]]))
    assert out == db
    assert digest.messages == len(msgs) + 1


def test_the_storage_version_is_taken_only_from_text() -> None:
    msgs = streams.messages(streams.build(b"v" * 100))
    for m in msgs:
        del m["result"]["version"]
    assert parse(streams.encode(msgs))[1].storage_version is None
    msgs[0]["result"]["version"] = 360  # type: ignore[assignment]
    assert parse(streams.encode(msgs))[1].storage_version is None
    msgs[1]["result"]["version"] = "3.6.0"
    assert parse(streams.encode(msgs))[1].storage_version == "3.6.0"


@pytest.mark.parametrize(
    ("error", "text", "code"),
    [
        ({"code": 14, "message": "etcdserver: server stopped"}, "etcdserver: server stopped (code 14)", 14),
        ({"grpc_code": 8}, "unknown error (code 8)", 8),
        ({"code": "UNAVAILABLE", "message": "gone"}, "gone (code UNAVAILABLE)", None),
        ("a bare text", "a bare text (code None)", None),
    ],
)
def test_an_error_object_is_reported_with_its_message_and_code(
    error: object, text: str, code: int | None
) -> None:
    msgs = streams.messages(streams.recorded())
    with pytest.raises(EtcdRequestFailed) as info:
        parse(streams.encode([msgs[0], {"error": error}]))  # type: ignore[list-item]
    assert str(info.value) == f"test: snapshot failed after 32768 bytes: {text}"
    assert info.value.code == code
