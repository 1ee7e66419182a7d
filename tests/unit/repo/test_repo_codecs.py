"""Byte formats of the data path: blobs, packs, index objects, trees, manifests, config."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import zstandard

from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.format.blobs import BlobType, looks_incompressible, open_blob, seal_blob
from drkit.repo.format.chunker import Chunker, ChunkerParams
from drkit.repo.format.index import PackRecord, decode_index, encode_index
from drkit.repo.format.layout import object_name, pack_key
from drkit.repo.format.manifest import decode_manifest, encode_manifest, manifest_body
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.model import PackRef, RootMeta, Snapshot, SnapshotStats
from drkit.repo.format.pack import BLOBS_START, PackBuilder, read_header
from drkit.repo.format.repoconfig import RepoConfig, check_config, encode_config, parse_config
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers
from drkit.repo.format.tree import Node, NodeType, decode_tree, encode_tree
from drkit.storage.base import LockMode
from tests.unit.repo.treev1 import encode_tree_v1

MK = MasterKey.generate()
W = MasterWriteKeys(MK)


def _openers(mk: MasterKey = MK) -> Openers:
    def fetch(_sid: bytes, _check: object) -> bytes:
        raise VerificationFailed("no sessions here")

    return Openers(mk, fetch)


@pytest.mark.parametrize(
    "raw",
    [b"", b"x", b"abc" * 100_000, os.urandom(300_000), b"a" * 63],
    ids=["empty", "one", "text", "rand", "63"],
)
def test_blob_round_trip(raw: bytes) -> None:
    bid = MK.content_id(raw)
    sealed = seal_blob(W, BlobType.DATA, bid, raw)
    assert open_blob(_openers(), MASTER_SEALER, BlobType.DATA, bid, sealed, where="t") == raw
    if raw == b"abc" * 100_000:
        assert len(sealed) < len(raw) // 10


def test_blob_is_bound_to_type_id_and_bytes() -> None:
    raw = b"some chunk" * 10
    bid = MK.content_id(raw)
    sealed = seal_blob(W, BlobType.DATA, bid, raw)
    with pytest.raises(VerificationFailed):
        open_blob(_openers(), MASTER_SEALER, BlobType.TREE, bid, sealed, where="t")
    with pytest.raises(VerificationFailed):
        open_blob(_openers(), MASTER_SEALER, BlobType.DATA, MK.content_id(b"other"), sealed, where="t")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(VerificationFailed, match="does not authenticate"):
        open_blob(_openers(), MASTER_SEALER, BlobType.DATA, bid, bytes(flipped), where="t")
    with pytest.raises(VerificationFailed):
        open_blob(_openers(MasterKey.generate()), MASTER_SEALER, BlobType.DATA, bid, sealed, where="t")


def test_incompressible_probe() -> None:
    assert looks_incompressible(os.urandom(1 << 20))
    assert not looks_incompressible(b"hello world " * 100_000)
    assert not looks_incompressible(os.urandom(1000))  # too small to probe


def test_pack_header_round_trip_and_damage() -> None:
    builder = PackBuilder(MASTER_SEALER)
    blobs = [os.urandom(n) for n in (10, 1000, 5000)]
    for raw in blobs:
        bid = MK.content_id(raw)
        builder.add(BlobType.DATA, bid, seal_blob(W, BlobType.DATA, bid, raw), len(raw))
    data = builder.finish(W)
    sealer, entries = read_header(_openers(), data, where="p")
    assert sealer == MASTER_SEALER
    assert [e.raw_length for e in entries] == [10, 1000, 5000]
    assert entries[0].offset == BLOBS_START
    for e, raw in zip(entries, blobs, strict=True):
        sealed = data[e.offset : e.offset + e.length]
        assert open_blob(_openers(), sealer, e.type, e.id, sealed, where="p") == raw
    with pytest.raises(VerificationFailed, match="not a drkit pack"):
        read_header(_openers(), b"NOTAPACK" + data[8:], where="p")
    with pytest.raises(VerificationFailed):
        read_header(_openers(), data[:-1] + bytes([data[-1] ^ 0xFF]), where="p")
    broken = bytearray(data)
    broken[len(data) - 10] ^= 1
    with pytest.raises(VerificationFailed, match="does not authenticate"):
        read_header(_openers(), bytes(broken), where="p")


def test_index_round_trip() -> None:
    builder = PackBuilder(MASTER_SEALER)
    raw = b"chunk"
    bid = MK.content_id(raw)
    builder.add(BlobType.TREE, bid, seal_blob(W, BlobType.TREE, bid, raw), len(raw))
    data = builder.finish(W)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    record = PackRecord(object_name(data), "v7", until, len(data), tuple(builder.entries))
    blob = encode_index(W, [record])
    assert decode_index(MK, blob, where="i") == [record]
    with pytest.raises(VerificationFailed):
        decode_index(MasterKey.generate(), blob, where="i")


def _node(name: bytes, **kw: object) -> Node:
    base: dict[str, object] = {"type": NodeType.FILE, "mode": 0o644, "uid": 1, "gid": 2, "mtime_ns": 3}
    base.update(kw)
    return Node(name, **base)  # type: ignore[arg-type]


def test_tree_is_canonical_and_keeps_non_utf8_names() -> None:
    a = _node(b"b", size=3, content=(MK.content_id(b"abc"),))
    b = _node(b"a\xff\xfe", type=NodeType.SYMLINK, target=b"/t\xff")
    c = _node(b"dir", type=NodeType.DIR, mode=0o1777, subtree=MK.content_id(b"t"))
    one, two = encode_tree([a, b, c]), encode_tree([c, a, b])
    assert one == two
    assert decode_tree(one, where="t") == sorted([a, b, c], key=lambda n: n.name)
    assert one.startswith(b"DRT\x02")
    assert b"a\xff\xfe" in one
    assert b"/t\xff" in one
    assert b"name_hex" in encode_tree_v1([a, b, c])  # version 1 needed hex for them
    assert decode_tree(encode_tree_v1([a, b, c]), where="t") == decode_tree(one, where="t")
    with pytest.raises(ValueError, match="duplicate"):
        encode_tree([a, a])


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/abs", "nul\u0000"])
def test_tree_refuses_hostile_names(name: str) -> None:
    doc = {"version": 1, "entries": [{"name": name, "type": "symlink", "mode": 0, "uid": 0, "gid": 0,
                                      "mtime_ns": 0, "target": "x"}]}  # fmt: skip
    with pytest.raises(VerificationFailed, match="hostile"):
        decode_tree(json.dumps(doc).encode(), where="t")


def test_tree_refuses_duplicates_and_unknown_versions() -> None:
    entry = {"name": "a", "type": "symlink", "mode": 0, "uid": 0, "gid": 0, "mtime_ns": 0, "target": "x"}
    with pytest.raises(VerificationFailed, match="strictly sorted"):
        decode_tree(json.dumps({"version": 1, "entries": [entry, entry]}).encode(), where="t")
    with pytest.raises(VerificationFailed, match="version"):
        decode_tree(json.dumps({"version": 2, "entries": []}).encode(), where="t")
    with pytest.raises(VerificationFailed, match="malformed"):
        decode_tree(b"{not json", where="t")


def test_manifest_is_signed_and_sealed() -> None:
    snap = Snapshot(
        id="",
        time=datetime(2026, 5, 1, tzinfo=UTC),
        host="h",
        tags=("a", "b"),
        paths=("/x",),
        tree=MK.content_id(b"t"),
        root=RootMeta(0o755, 0, 0, 5),
        stats=SnapshotStats(
            files=3,
            dirs=4,
            symlinks=5,
            bytes=6,
            new_bytes=7,
            stored_bytes=8,
            new_packs=9,
            reused_files=10,
            duration_s=1.25,
            skipped=("fifo: special file",),
        ),
        parent="ef" * 32,
        retain_until=datetime(2026, 6, 1, tzinfo=UTC),
        packs={"ab" * 32: PackRef("v1", datetime(2026, 6, 1, tzinfo=UTC)), "ac" * 32: PackRef(None, None)},
        indexes={"cd" * 32: None, "ce" * 32: datetime(2026, 6, 2, tzinfo=UTC)},
        kind="cluster",
        meta={"cluster": "prod", "items": [1, 2]},
    )
    data = encode_manifest(W, snap)
    sid = object_name(data)
    back = decode_manifest(_openers(), MK.verify_key(), sid, data)
    assert back.id == sid
    assert back.stats == snap.stats
    assert back.packs == snap.packs
    assert back.indexes == snap.indexes
    assert (back.time, back.tags, back.tree, back.root) == (snap.time, snap.tags, snap.tree, snap.root)
    assert back == replace(snap, id=sid)  # every compared field: host, paths, parent, retain_until, kind
    assert back.meta == snap.meta
    with pytest.raises(VerificationFailed, match="signature"):
        decode_manifest(_openers(), MasterKey.generate().verify_key(), sid, data)


def test_config_signature_and_version() -> None:
    cfg = RepoConfig(
        id="00" * 16,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        chunker=ChunkerParams(seed=7),
        lock_mode=LockMode.COMPLIANCE,
        retention=timedelta(days=30),
        verify_key=MK.verify_key(),
    )
    data = encode_config(cfg, MK)
    parsed, body, sig = parse_config(data)
    assert parsed == cfg
    check_config(body, sig, parsed, MK)
    with pytest.raises(VerificationFailed, match="another key"):
        check_config(body, sig, parsed, MasterKey.generate())
    outer = json.loads(data)
    outer["body"] = outer["body"].replace('"retention_seconds":2592000', '"retention_seconds":1')
    forged, fbody, fsig = parse_config(json.dumps(outer).encode())
    with pytest.raises(VerificationFailed, match="signature"):
        check_config(fbody, fsig, forged, MK)
    outer["body"] = outer["body"].replace('"version":1', '"version":9')
    with pytest.raises(ConfigError, match="not supported"):
        parse_config(json.dumps(outer).encode())


def test_chunker_is_deterministic_and_bounded() -> None:
    params = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=3)
    data = os.urandom(200_000)
    chunks = list(Chunker(params).chunks_of(data))
    assert b"".join(chunks) == data
    assert chunks == list(Chunker(params).chunks_of(data))
    assert all(len(c) <= 16384 for c in chunks)
    assert all(len(c) >= 1024 for c in chunks[:-1])
    other = list(Chunker(ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=4)).chunks_of(data))
    assert other != chunks  # the seed changes the cut points
    with pytest.raises(ConfigError):
        ChunkerParams(min_size=10, avg_size=4, max_size=2).check()


def test_pack_key_layout() -> None:
    assert pack_key("ab" + "0" * 62) == "data/ab/ab" + "0" * 62


def _sealed_manifest(body: bytes) -> bytes:
    plain = struct.pack("<I", len(body)) + body + W.sign(body)
    return W.sealer_id + W.seal(zstandard.ZstdCompressor().compress(plain), b"drkit-snapshot")


@pytest.mark.parametrize(
    ("time", "message"),
    [("2026-05-01T00:00:00", "naive time in manifest"), (None, "no time")],
)
def test_manifest_without_an_aware_time_is_malformed(time: str | None, message: str) -> None:
    snap = Snapshot(
        id="",
        time=datetime(2026, 5, 1, tzinfo=UTC),
        host="h",
        tags=(),
        paths=("/x",),
        tree=MK.content_id(b"t"),
        root=RootMeta(0o755, 0, 0, 5),
        stats=SnapshotStats(),
    )
    doc = json.loads(manifest_body(snap))
    doc["time"] = time
    data = _sealed_manifest(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    assert (
        decode_manifest(_openers(), MK.verify_key(), "s1", _sealed_manifest(manifest_body(snap))).time
        == snap.time
    )
    with pytest.raises(VerificationFailed, match=f"^snapshot s1 is malformed: {message}$"):
        decode_manifest(_openers(), MK.verify_key(), "s1", data)


def test_manifest_written_before_reused_files_was_counted_reads_as_zero() -> None:
    snap = Snapshot(
        id="",
        time=datetime(2026, 5, 1, tzinfo=UTC),
        host="h",
        tags=(),
        paths=("/x",),
        tree=MK.content_id(b"t"),
        root=RootMeta(0o755, 0, 0, 5),
        stats=SnapshotStats(files=1, reused_files=4),
    )
    doc = json.loads(manifest_body(snap))
    assert doc["stats"]["reused_files"] == 4
    del doc["stats"]["reused_files"]
    data = _sealed_manifest(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    assert decode_manifest(_openers(), MK.verify_key(), "s1", data).stats == SnapshotStats(files=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"content": ["ab" * 31]}, "has a malformed chunk id"),
        ({"size": -1}, "has a negative size"),
        ({"user": 0}, "has a malformed user"),
        ({"group": ["g"]}, "has a malformed group"),
        ({"xattrs": {"": "00"}}, "has malformed xattrs"),
        ({"xattrs": ["user.a"]}, "has malformed xattrs"),
    ],
)
def test_tree_entry_errors_name_the_tree_and_the_entry(change: dict[str, object], message: str) -> None:
    entry = {"name": "f", "type": "file", "mode": 0o644, "uid": 0, "gid": 0, "mtime_ns": 0,
             "size": 3, "content": ["ab" * 32]}  # fmt: skip
    decode_tree(json.dumps({"version": 1, "entries": [entry]}).encode(), where="t1")  # the entry is valid
    entry.update(change)
    with pytest.raises(VerificationFailed, match=rf"^tree t1: b'f' {message}$"):
        decode_tree(json.dumps({"version": 1, "entries": [entry]}).encode(), where="t1")


def test_tree_errors_name_a_bad_subtree_id_and_the_unknown_version() -> None:
    entry = {"name": "d", "type": "dir", "mode": 0o755, "uid": 0, "gid": 0, "mtime_ns": 0, "subtree": "ab"}
    with pytest.raises(VerificationFailed, match=r"^tree t1: b'd' has a malformed subtree id$"):
        decode_tree(json.dumps({"version": 1, "entries": [entry]}).encode(), where="t1")
    with pytest.raises(VerificationFailed, match=r"^tree t1 has unknown version 2$"):
        decode_tree(json.dumps({"version": 2, "entries": []}).encode(), where="t1")
    with pytest.raises(VerificationFailed, match=r"^tree t1 has unknown version None$"):
        decode_tree(b"[]", where="t1")


def _manifest_doc() -> dict[str, object]:
    snap = Snapshot(
        id="",
        time=datetime(2026, 5, 1, tzinfo=UTC),
        host="h",
        tags=(),
        paths=("/x",),
        tree=MK.content_id(b"t"),
        root=RootMeta(0o755, 0, 0, 5),
        stats=SnapshotStats(),
    )
    doc: dict[str, object] = json.loads(manifest_body(snap))
    return doc


def _body(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_manifest_written_before_kind_and_meta_reads_as_a_path_snapshot() -> None:
    doc = _manifest_doc()
    del doc["kind"], doc["meta"]
    back = decode_manifest(_openers(), MK.verify_key(), "s1", _sealed_manifest(_body(doc)))
    assert (back.kind, back.meta, back.parent) == ("path", {}, None)


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        (lambda: b"\x01\x00", "is truncated"),
        (lambda: struct.pack("<I", 2) + b"{}" + b"\x00" * 10, "is truncated"),  # the signature short
        (lambda: _signed_plain(b"not json"), "is malformed: "),
        (lambda: _signed_plain(_body([1])), "has an unknown version"),
        (lambda: _signed_plain(_body({**_manifest_doc(), "version": 9})), "has an unknown version"),
        (
            lambda: _signed_plain(_body({**_manifest_doc(), "meta": [1]})),
            "is malformed: meta is not an object",
        ),
    ],
)
def test_a_bad_manifest_is_refused_with_a_message_naming_it(plain: object, message: str) -> None:
    data = W.sealer_id + W.seal(zstandard.ZstdCompressor().compress(plain()), b"drkit-snapshot")  # type: ignore[operator]
    with pytest.raises(VerificationFailed) as err:
        decode_manifest(_openers(), MK.verify_key(), "s1", data)
    assert err.value.message.startswith(f"snapshot s1 {message}")


def test_a_manifest_that_is_not_zstd_does_not_decompress() -> None:
    data = W.sealer_id + W.seal(b"not a zstd frame", b"drkit-snapshot")
    with pytest.raises(VerificationFailed) as err:
        decode_manifest(_openers(), MK.verify_key(), "s1", data)
    assert err.value.message.startswith("snapshot s1 does not decompress: ")


def _signed_plain(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body + W.sign(body)
