"""Index objects decode into exactly what was written, refuse rows that are not the documented JSON
integers, and the master index answers as before with its compact in-memory form (a pack id and the
pack's own entry per blob; a location is built when asked for)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.engine.references import lock_references
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import (
    INDEX_AAD,
    BlobLocation,
    MasterIndex,
    PackRecord,
    decode_index,
    encode_index,
)
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.model import PackRef
from drkit.repo.format.pack import PackEntry
from drkit.repo.format.sealing import MasterWriteKeys
from drkit.storage.local import LocalStore

MK = MasterKey.generate()
W = MasterWriteKeys(MK)
ID_A, ID_B, ID_C = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))


def _sealed(rows: list[Any]) -> bytes:
    doc = {
        "version": 1,
        "packs": [
            {
                "id": "ab" * 32,
                "version_id": None,
                "retain_until": None,
                "size": 999,
                "sealer": "00" * 16,
                "blobs": rows,
            }
        ],
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return W.seal_index(zstandard.ZstdCompressor(level=3).compress(body), INDEX_AAD)


def test_rows_decode_into_the_entries_and_types_written() -> None:
    entries = (PackEntry(BlobType.DATA, ID_A, 24, 100, 300), PackEntry(BlobType.TREE, ID_B, 124, 50, 80))
    record = PackRecord("cd" * 32, None, None, 999, entries)
    (decoded,) = decode_index(MK, encode_index(W, [record]), where="index/x")
    assert decoded == record
    assert [type(e.type) for e in decoded.entries] == [BlobType, BlobType]  # the enum, not a bare int


@pytest.mark.parametrize(
    "row",
    [
        [0, ID_A.hex(), "24", 100, 300],  # a number as a string
        [0, ID_A.hex(), 24.0, 100, 300],  # a float
        [0, ID_A.hex(), 24, True, 300],  # a boolean
        [0, ID_A.hex(), 24, 100, None],  # null
        [0.0, ID_A.hex(), 24, 100, 300],  # a float type (it would hash like 0)
        [True, ID_A.hex(), 24, 100, 300],  # a boolean type (it would hash like 1)
        [2, ID_A.hex(), 24, 100, 300],  # an unknown type
        [0, 1234, 24, 100, 300],  # an id that is not hex text
        [0, ID_A.hex(), 24, 100],  # a short row
        [0, ID_A.hex()[:-2], 24, 100, 300],  # an id of 31 bytes
        [0, ID_A.hex()[:-2] + "zz", 24, 100, 300],  # an id that is not hex
        [0, " " + ID_A.hex()[:-1], 24, 100, 300],  # 64 characters, not 64 hex digits
        [0, ID_A.hex(), 2**64, 100, 300],  # an offset beyond u64
        [0, ID_A.hex(), 24, -1, 300],  # a negative length
    ],
)
def test_a_row_that_is_not_the_documented_integers_is_malformed(row: list[Any]) -> None:
    good = [1, ID_B.hex(), 24, 10, 10]
    with pytest.raises(VerificationFailed, match=r"index/x is malformed"):
        decode_index(MK, _sealed([good, row]), where="index/x")


def test_the_master_index_keeps_the_first_pack_of_a_blob_and_builds_locations_on_request() -> None:
    index = MasterIndex()
    first = PackRecord(
        "p1",
        None,
        None,
        1,
        (PackEntry(BlobType.DATA, ID_A, 24, 10, 20), PackEntry(BlobType.TREE, ID_B, 34, 5, 9)),
    )
    second = PackRecord("p2", None, None, 1, (PackEntry(BlobType.DATA, ID_A, 50, 11, 21),))
    index.add_pack(first, "i1", "v1")
    index.add_pack(second, "i2", None)

    assert len(index) == 2
    assert (BlobType.DATA, ID_A) in index
    assert (0, ID_A) in index  # an IntEnum hashes and compares as its integer
    assert (BlobType.DATA, ID_B) not in index
    assert index.get((BlobType.DATA, ID_A)) == BlobLocation("p1", 24, 10, 20)
    assert index.get((BlobType.TREE, ID_B)) == BlobLocation("p1", 34, 5, 9)
    assert index.get((BlobType.TREE, ID_C)) is None
    assert dict(index.blobs()) == {
        (BlobType.DATA, ID_A): BlobLocation("p1", 24, 10, 20),
        (BlobType.TREE, ID_B): BlobLocation("p1", 34, 5, 9),
    }
    assert index.pack_index == {"p1": "i1", "p2": "i2"}
    assert index.index_versions == {"i1": "v1", "i2": None}


def test_a_snapshot_s_packs_come_from_its_keys_and_an_unindexed_key_is_named(tmp_path: Path) -> None:
    index = MasterIndex()
    index.add_pack(
        PackRecord("p1", "v1", None, 1, (PackEntry(BlobType.DATA, ID_A, 24, 10, 20),)), "i1", "iv1"
    )
    index.add_pack(
        PackRecord("p2", "v2", None, 1, (PackEntry(BlobType.TREE, ID_B, 24, 10, 20),)), "i1", "iv1"
    )
    assert index.pack_ids([(BlobType.DATA, ID_A), (BlobType.TREE, ID_B), (BlobType.DATA, ID_A)]) == {
        "p1",
        "p2",
    }
    assert index.pack_ids([]) == set()

    store = LocalStore(tmp_path)
    packs, indexes = lock_references(
        store, index, [], {(BlobType.DATA, ID_A), (BlobType.TREE, ID_B)}, new_indexes={}, needed=None
    )
    assert packs == {"p1": PackRef("v1", None), "p2": PackRef("v2", None)}
    assert indexes == {"i1": None}
    with pytest.raises(VerificationFailed, match=f"tree blob {ID_C.hex()} was not stored"):
        lock_references(
            store, index, [], {(BlobType.DATA, ID_A), (BlobType.TREE, ID_C)}, new_indexes={}, needed=None
        )
