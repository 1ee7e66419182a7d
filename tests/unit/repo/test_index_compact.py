"""The master index holds blobs compactly (no Python object per blob) and answers exactly as a dict
would: every blob found with its location, the first pack of a blob keeps it, ids that share their
first 8 bytes (the table's hash) or differ only in type are told apart, and the table grows while
lookups go on. A snapshot's referenced blobs are kept as the packs that hold them."""

from __future__ import annotations

import gc
import random
import sys
import threading

import pytest

from drkit.repo.engine.references import ReferencedBlobs
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import BlobKey, BlobLocation, MasterIndex, PackRecord
from drkit.repo.format.packentries import PackEntries, PackEntriesBuilder, PackEntry


def _pack(name: str, entries: list[PackEntry]) -> PackRecord:
    return PackRecord(name, None, None, 1, PackEntries.of(entries))


def _random_packs(rng: random.Random, packs: int, per_pack: int) -> list[PackRecord]:
    return [
        _pack(
            f"p{p}",
            [
                PackEntry(BlobType(rng.randrange(2)), rng.randbytes(32), 24 + i * 100, 100, 300 + i)
                for i in range(per_pack)
            ],
        )
        for p in range(packs)
    ]


def test_pack_entries_keep_every_field_and_behave_as_a_sequence() -> None:
    entries = [
        PackEntry(BlobType.DATA, bytes([1]) * 32, 24, 70, 1000),
        PackEntry(BlobType.TREE, bytes([2]) * 32, 2**40, 2**32 - 1, 0),
    ]
    compact = PackEntries.of(entries)
    assert list(compact) == entries
    assert len(compact) == 2
    assert compact[1] == entries[1]
    assert compact[-1] == entries[1]
    assert type(compact[0].type) is BlobType
    assert compact == entries
    assert compact == tuple(entries)
    assert compact[1:] == PackEntries.of(entries[1:])
    assert list(compact[:0]) == []
    assert PackEntries.of(compact) is compact
    with pytest.raises(IndexError):
        compact[2]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((BlobType.DATA, bytes(31), 0, 0, 0), "a blob id of 31 bytes"),
        ((2, bytes(32), 0, 0, 0), "unknown blob type 2"),
        ((BlobType.DATA, bytes(32), -1, 0, 0), "out of range"),
        ((BlobType.DATA, bytes(32), 0, 2**32, 0), "out of range"),
    ],
)
def test_pack_entries_refuse_what_the_pack_header_cannot_hold(
    row: tuple[int, bytes, int, int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PackEntriesBuilder().append(*row)


def test_every_blob_of_many_packs_is_found_with_its_location() -> None:
    rng = random.Random(15)
    records = _random_packs(rng, 40, 500)  # 20,000 blobs: the table grows several times
    index = MasterIndex()
    for r in records:
        index.add_pack(r, "i1")
    assert len(index) == 20_000
    for r in records:
        for e in r.entries:
            assert index.get((e.type, e.id)) == BlobLocation(r.id, e.offset, e.length, e.raw_length)
            assert index.pack_of((e.type, e.id)) == r.id
            other = BlobType.TREE if e.type is BlobType.DATA else BlobType.DATA
            assert (other, e.id) not in index
    assert all((BlobType.DATA, rng.randbytes(32)) not in index for _ in range(2000))
    assert (BlobType.DATA, b"short") not in index
    assert len(dict(index.blobs())) == 20_000


def test_ids_that_share_their_first_8_bytes_or_differ_only_in_type_are_told_apart() -> None:
    head = bytes(range(8))
    ids = [head + bytes([i]) * 24 for i in range(50)]  # one slot for all: a chain of 50 probes
    index = MasterIndex()
    index.add_pack(_pack("p1", [PackEntry(BlobType.DATA, i, 24 + n, 1, 2) for n, i in enumerate(ids)]))
    index.add_pack(_pack("p2", [PackEntry(BlobType.TREE, ids[7], 99, 3, 4)]))
    index.add_pack(_pack("p3", [PackEntry(BlobType.DATA, ids[7], 5, 6, 7)]))  # already in p1: p1 keeps it
    assert len(index) == 51
    for n, i in enumerate(ids):
        assert index.get((BlobType.DATA, i)) == BlobLocation("p1", 24 + n, 1, 2)
    assert index.get((BlobType.TREE, ids[7])) == BlobLocation("p2", 99, 3, 4)
    assert (BlobType.TREE, ids[8]) not in index
    assert (BlobType.DATA, head + bytes([99]) * 24) not in index


def test_lookups_during_growth_never_lose_a_blob_already_indexed() -> None:
    rng = random.Random(3)
    records = _random_packs(rng, 30, 400)
    index = MasterIndex()
    index.add_pack(records[0])
    first: list[BlobKey] = [(e.type, e.id) for e in records[0].entries]
    missed: list[BlobKey] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            missed.extend(k for k in first if k not in index)

    reader = threading.Thread(target=look)
    reader.start()
    try:
        for r in records[1:]:
            index.add_pack(r)
    finally:
        done.set()
        reader.join()
    assert missed == []
    assert len(index) == 30 * 400


def test_an_index_of_100k_blobs_holds_under_40_bytes_per_blob_beyond_its_entries() -> None:
    """A dict of (type, id) -> (pack, PackEntry) held ~300 bytes per blob beyond the entries, and the
    entries were objects (~200 bytes a blob) where they are now 49 bytes in buffers."""
    rng = random.Random(1)
    records = [
        PackRecord(
            f"p{p}",
            None,
            None,
            1,
            PackEntries(
                bytes(b & 1 for b in rng.randbytes(1000)), rng.randbytes(32 * 1000), rng.randbytes(16 * 1000)
            ),
        )
        for p in range(100)
    ]
    gc.collect()
    objects = len(gc.get_objects())
    index = MasterIndex()
    for r in records:
        index.add_pack(r)
    gc.collect()
    assert len(index) == 100_000
    assert len(gc.get_objects()) - objects < 1000  # no tuple, entry or location object per blob
    slots, _mask = index._table
    held = sys.getsizeof(slots) + sys.getsizeof(index._records) + sum(map(sys.getsizeof, index._records))
    assert held < 40 * 100_000, f"{held / 100_000:.0f} bytes per blob beyond the entries"
    entries = sum(len(r.entries.ids) + len(r.entries.nums) + len(r.entries.types) for r in records)
    assert entries == 49 * 100_000


def test_referenced_blobs_become_their_packs_also_when_indexed_later() -> None:
    a, b, c = (bytes([n]) * 32 for n in (1, 2, 3))
    index = MasterIndex()
    index.add_pack(_pack("p1", [PackEntry(BlobType.DATA, a, 24, 1, 1)]))
    refs = ReferencedBlobs(index, resolve_every=2)
    refs.add((BlobType.DATA, a))
    refs |= {(BlobType.TREE, b)}  # not indexed yet: it waits
    assert refs.waiting == 1
    refs.update([(BlobType.DATA, c), (BlobType.DATA, a)])  # the second waiting: a lookup pass
    assert refs.waiting == 2
    index.add_pack(_pack("p2", [PackEntry(BlobType.TREE, b, 24, 1, 1)]))
    index.add_pack(_pack("p3", [PackEntry(BlobType.DATA, c, 24, 1, 1)]))
    assert refs.pack_ids() == {"p1", "p2", "p3"}
    assert refs.waiting == 0


def test_a_referenced_blob_never_indexed_is_named() -> None:
    index = MasterIndex()
    refs = ReferencedBlobs(index)
    refs.add((BlobType.TREE, bytes([9]) * 32))
    with pytest.raises(KeyError) as caught:
        refs.pack_ids()
    assert caught.value.args[0] == (BlobType.TREE, bytes([9]) * 32)
