"""Index objects in version 2 (docs/format.md, "Index objects"): the documented bytes, a round trip,
every truncation or trailing byte refused naming the object, and a repository written with version 1
index objects (JSON, before issue 15) still opens, deduplicates, restores and verifies."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.format import blobwriter
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import (
    INDEX_AAD,
    PackRecord,
    decode_index,
    encode_index,
    encode_index_body,
)
from drkit.repo.format.layout import INDEX_PREFIX
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.pack import PackEntry
from drkit.repo.format.sealing import MasterWriteKeys
from drkit.repo.repository import Repository
from tests.unit.repo.indexv1 import encode_index_v1
from tests.unit.repo.repohelpers import SafeStore, describe, make_tree, new_repo, open_repo

MK = MasterKey.generate()
W = MasterWriteKeys(MK)
ID_A, ID_B = bytes(range(32)), bytes(range(1, 33))
SEALER = bytes(range(16))
RECORDS = [
    PackRecord(
        "ab" * 32,
        "v1",
        datetime(2026, 12, 3, 7, 0, 1, 5, tzinfo=UTC),
        999,
        (PackEntry(BlobType.DATA, ID_A, 24, 100, 300), PackEntry(BlobType.TREE, ID_B, 124, 2**32 - 1, 7)),
        SEALER,
    ),
    PackRecord("cd" * 32, None, None, 2**40, (), bytes(16)),
]


def _sealed(body: bytes) -> bytes:
    return W.seal_index(zstandard.ZstdCompressor(level=3).compress(body), INDEX_AAD)


def test_the_layout_is_the_one_docs_format_md_specifies() -> None:
    retain = b"2026-12-03T07:00:01.000005+00:00"
    expected = b"".join(
        [
            b"DRKIDX\x00\x02",
            struct.pack("<I", 2),
            struct.pack("<IQ", 2, 999) + SEALER,
            struct.pack("<H", 64) + b"ab" * 32,
            struct.pack("<H", 2) + b"v1",
            struct.pack("<H", len(retain)) + retain,
            b"\x00\x01",
            ID_A + ID_B,
            struct.pack("<QII", 24, 100, 300) + struct.pack("<QII", 124, 2**32 - 1, 7),
            struct.pack("<IQ", 0, 2**40) + bytes(16),
            struct.pack("<H", 64) + b"cd" * 32,
            b"\xff\xff",
            b"\xff\xff",
        ]
    )
    assert encode_index_body(RECORDS) == expected


def test_a_round_trip_keeps_every_field() -> None:
    records = [
        *RECORDS,
        PackRecord("p", None, datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=2))), 1, ()),
    ]
    decoded = decode_index(MK, encode_index(W, records), where="index/x")
    assert decoded == records
    assert [r.retain_until.utcoffset() if r.retain_until else None for r in decoded] == [
        timedelta(0),
        None,
        timedelta(hours=2),
    ]
    assert [type(e.type) for e in decoded[0].entries] == [BlobType, BlobType]


def test_every_truncation_and_trailing_byte_is_refused_naming_the_object() -> None:
    body = encode_index_body(RECORDS)
    for cut in range(len(b"DRKIDX\x00\x02"), len(body)):
        with pytest.raises(VerificationFailed, match=r"^index/x is malformed"):
            decode_index(MK, _sealed(body[:cut]), where="index/x")
    with pytest.raises(VerificationFailed, match=r"^index/x is malformed: 1 bytes after the last pack"):
        decode_index(MK, _sealed(body + b"\x00"), where="index/x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"DRKIDX\x00\x03" + bytes(4), "index/x has unknown version 3"),
        (b'{"version":2,"packs":[]}', "index/x has unknown version 2"),
        (encode_index_body(RECORDS).replace(b"\x00\x01" + ID_A, b"\x00\x02" + ID_A), "index/x is malformed"),
        (encode_index_body(RECORDS).replace(b"\x02\x00v1", b"\x02\x00\xff\xfe"), "index/x is malformed"),
        (encode_index_body(RECORDS).replace(b"+00:00", b"\x00\x00\x00\x00\x00\x00"), "index/x is malformed"),
        (
            b"DRKIDX\x00\x02" + struct.pack("<I", 1) + struct.pack("<IQ", 0, 1) + bytes(16) + b"\xff\xff" * 3,
            "index/x is malformed: a pack without an id",
        ),
    ],
)
def test_a_bad_body_is_refused_naming_the_object(body: bytes, message: str) -> None:
    with pytest.raises(VerificationFailed, match=f"^{message}"):
        decode_index(MK, _sealed(body), where="index/x")


def _index_bodies(store: SafeStore, repo: Repository) -> list[bytes]:
    keys = repo.write_keys()
    return [
        zstandard.ZstdDecompressor().decompress(keys.open_index(store.get(k), INDEX_AAD))
        for k in store.keys(INDEX_PREFIX)
    ]


def test_a_repository_with_version_1_index_objects_opens_dedups_restores_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    with monkeypatch.context() as m:  # the repository as drkit wrote it before version 2
        m.setattr(blobwriter, "encode_index", encode_index_v1)
        writer = new_repo(store)
        first = writer.backup_path(src, host="h")
    old = _index_bodies(store, writer)
    assert old
    assert all(b.startswith(b'{"packs":') for b in old)

    repo = open_repo(store)
    repo.restore_path(first.id, tmp_path / "one")
    assert describe(tmp_path / "one") == describe(src)
    assert repo.verify(read_data_percent=100).problems == ()

    (src / "new.txt").write_bytes(b"a file the first backup did not have\n")
    second = repo.backup_path(src, host="h")
    assert second.stats.new_packs >= 1
    # the unchanged files' data deduplicated through version 1's entries: new are the file and trees
    assert second.stats.new_bytes < second.stats.bytes // 100
    bodies = _index_bodies(store, repo)
    assert sum(b.startswith(b"DRKIDX\x00\x02") for b in bodies) == len(bodies) - len(old) >= 1

    again = open_repo(store)  # both versions at once
    again.restore_path(second.id, tmp_path / "two")
    assert describe(tmp_path / "two") == describe(src)
    assert again.verify(read_data_percent=100).problems == ()
