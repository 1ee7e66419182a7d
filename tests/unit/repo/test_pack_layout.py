"""A pack is its documented bytes (pack.py's docstring): magic, sealer id, the sealed blobs back to
back at the offsets its entries name, the sealed header, its length; ``size`` counts them as added."""

from __future__ import annotations

import struct
import sys

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.pack import BLOBS_START, PACK_MAGIC, SMALL_BLOB, PackBuilder, PackEntry, read_header
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers

MK = MasterKey.generate()
W = MasterWriteKeys(MK)


def _openers() -> Openers:
    def fetch(_sid: bytes, _check: object) -> bytes:
        raise VerificationFailed("no sessions here")

    return Openers(MK, fetch)


def test_the_pack_bytes_are_the_blobs_in_order_then_the_header() -> None:
    blobs = [(BlobType.DATA, bytes([1]) * 32, b"a" * 70), (BlobType.TREE, bytes([2]) * 32, b"bb" * 9)]
    builder = PackBuilder(MASTER_SEALER)
    assert builder.size == BLOBS_START
    for t, bid, sealed in blobs:
        builder.add(t, bid, sealed, 1000)
    assert builder.size == BLOBS_START + 70 + 18
    assert builder.entries == [
        PackEntry(BlobType.DATA, bytes([1]) * 32, BLOBS_START, 70, 1000),
        PackEntry(BlobType.TREE, bytes([2]) * 32, BLOBS_START + 70, 18, 1000),
    ]

    data = builder.finish(W)

    assert isinstance(data, bytes)
    assert data[:BLOBS_START] == PACK_MAGIC + MASTER_SEALER
    assert data[BLOBS_START : BLOBS_START + 88] == b"a" * 70 + b"bb" * 9
    (header_len,) = struct.unpack("<I", data[-4:])
    assert len(data) == BLOBS_START + 88 + header_len + 4
    assert read_header(_openers(), data, where="p") == (MASTER_SEALER, builder.entries)


def test_a_finished_builder_no_longer_holds_the_sealed_blobs() -> None:
    """The pack's bytes are a copy of its blobs: the builder lets go of them (a whole pack_size held
    beside the pack while it waited for the upload queue)."""
    sealed = bytes(SMALL_BLOB)  # kept by reference until then (a small one is copied: below)
    builder = PackBuilder(MASTER_SEALER)
    builder.add(BlobType.DATA, bytes([1]) * 32, sealed, 1000)
    held = sys.getrefcount(sealed)
    builder.finish(W)
    assert sys.getrefcount(sealed) == held - 1
    assert list(builder.entries) == [PackEntry(BlobType.DATA, bytes([1]) * 32, BLOBS_START, SMALL_BLOB, 1000)]


def test_small_blobs_are_copied_into_runs_not_held_one_object_each() -> None:
    """A pack of 100k small blobs held 100k objects until uploaded; now ~1 MiB runs (same bytes)."""
    small = [bytes([i % 251]) * (100 + i % 50) for i in range(30_000)]
    big = bytes(range(256)) * 40
    builder = PackBuilder(MASTER_SEALER)
    counts = [sys.getrefcount(b) for b in small[:3]]
    for i, b in enumerate(small):
        builder.add(BlobType.DATA, i.to_bytes(32, "little"), b, len(b))
        if i == 15_000:
            builder.add(BlobType.DATA, b"\xff" * 32, big, len(big))
    assert [sys.getrefcount(b) for b in small[:3]] == counts  # not held
    parts = builder.finish_parts(W)
    assert len(parts) < 12  # magic, runs of at most SMALL_RUN bytes, the big blob, the header
    assert b"".join(parts[1:-2]) == b"".join([*small[:15_001], big, *small[15_001:]])
    assert any(p is big for p in parts)  # a large blob still by reference
