"""Entries of packs already listed by a written index object leave memory for a temporary file
(``MasterIndex.spill``, drkit/repo/format/spilledindex.py) and are found exactly as before: every
lookup of an index with spilled packs answers as the same index without (C and Python lookups, ids
sharing their first 4 and 8 bytes, keys not indexed); a writer that spills still deduplicates, its
snapshot reads back and verifies (the spilled packs' entries read from the file)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from drkit.repo.format import index as index_module
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.index import BlobKey, MasterIndex, PackRecord
from drkit.repo.format.packentries import PackEntries, PackEntry
from drkit.repo.format.spilledindex import SpilledEntries
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import CRED, SafeStore, new_repo

MTIME = datetime(2026, 1, 1, tzinfo=UTC)  # trees the same whenever they are made


def _packs(rng: random.Random, packs: int) -> list[PackRecord]:
    """Packs of distinct ids (the writer never stores a blob twice) that often share their first 4 or
    8 bytes: the spilled prefixes and the table's start slots collide."""
    heads = [rng.randbytes(8) for _ in range(30)]
    used: set[bytes] = set()
    records = []
    for p in range(packs):
        entries = []
        for i in range(rng.randrange(1, 80)):
            r = rng.random()
            if r < 0.2:
                bid = rng.choice(heads) + rng.randbytes(24)
            elif r < 0.4:
                bid = rng.choice(heads)[:4] + rng.randbytes(28)
            else:
                bid = rng.randbytes(32)
            if bid in used:
                continue
            used.add(bid)
            entries.append(PackEntry(BlobType(rng.randrange(2)), bid, i * 100, 100 + i, 200 + i))
        records.append(PackRecord(f"pack-{p}", None, None, 1, PackEntries.of(entries)))
    return records


def _probes(rng: random.Random, records: list[PackRecord]) -> list[BlobKey]:
    known = [(e.type, e.id) for r in records for e in r.entries]
    probes: list[BlobKey] = list(known)
    probes += [(BlobType(1 - t), bid) for t, bid in rng.sample(known, 100)]
    probes += [(BlobType(t), bid[:31]) for t, bid in rng.sample(known, 20)]
    probes += [(BlobType.DATA, bid[:4] + rng.randbytes(28)) for _, bid in rng.sample(known, 100)]
    probes += [(BlobType.DATA, bid[:8] + rng.randbytes(24)) for _, bid in rng.sample(known, 100)]
    probes += [(BlobType(rng.randrange(2)), rng.randbytes(32)) for _ in range(100)]
    return probes


def _answers(index: MasterIndex, probes: list[BlobKey]) -> list[object]:
    return [(k in index, index.get(k), index.span(k), index.pack_of(k)) for k in probes]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_an_index_with_spilled_packs_answers_as_one_without(
    seed: int, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if native:
        monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    else:
        monkeypatch.setenv("DRKIT_NO_NATIVE", "1")
    rng = random.Random(seed)
    records = _packs(rng, 60)
    whole, spilling = MasterIndex(), MasterIndex()
    assert (whole._native is not None) is native
    for r in records[:20]:
        whole.add_pack(r)
        spilling.add_pack(r)
    assert spilling.spill(r.id for r in records[:12]) == sum(len(r.entries) for r in records[:12])
    assert spilling.spill([records[0].id]) == 0  # spilled once
    for r in records[20:50]:  # added after a spill: the table is rebuilt aside, then grows again
        whole.add_pack(r)
        spilling.add_pack(r)
    spilling.spill(r.id for r in records[12:40])
    for r in records[50:]:
        whole.add_pack(r)
        spilling.add_pack(r)
    probes = _probes(rng, records)
    assert _answers(spilling, probes) == _answers(whole, probes)
    assert len(spilling) == len(whole)
    assert sorted(spilling.blobs()) == sorted(whole.blobs())
    known = [(e.type, e.id) for r in records for e in r.entries]
    assert spilling.pack_ids(known) == whole.pack_ids(known) == {r.id for r in records if len(r.entries)}
    missing = (BlobType.DATA, rng.randbytes(32))
    with pytest.raises(KeyError):
        spilling.pack_ids([*known[:5], missing])
    some = rng.sample(known, 150)  # spilled and live keys, some packs not named at all
    assert spilling.pack_ids(iter(some)) == whole.pack_ids(some)
    monkeypatch.setattr(index_module, "_SPILL_GROUP", 37)  # the spilled packs read back in groups
    assert spilling.pack_ids(iter(some)) == whole.pack_ids(some)
    assert spilling.pack_ids(known) == whole.pack_ids(known)
    assert len(whole.pack_ids(some)) < len(records)
    spilled_key = (records[3].entries[0].type, records[3].entries[0].id)
    for absent in (  # a spilled blob's id as the other type, or sharing its first 4 bytes
        (BlobType(1 - spilled_key[0]), spilled_key[1]),
        (spilled_key[0], spilled_key[1][:4] + rng.randbytes(28)),
        (spilled_key[0], spilled_key[1][:31]),
    ):
        with pytest.raises(KeyError) as raised:
            spilling.pack_ids([spilled_key, absent])
        assert raised.value.args[0] == absent
    spilled = [spilling.packs[r.id] for r in records[:40]]
    assert all(isinstance(p.entries, SpilledEntries) for p in spilled)
    assert [p.entries for p in spilled] == [r.entries for r in records[:40]]  # read back from the file
    assert spilling._spilled is not None
    assert spilling._spilled.blobs == sum(len(r.entries) for r in records[:40])


def _first_snapshot(store: SafeStore, data: dict[str, bytes], spill_blobs: int) -> Repository:
    new_repo(store)
    settings = WriterSettings(workers=2, pack_blobs=40, index_every=1, spill_blobs=spill_blobs)
    repo = Repository.open(store, CRED, settings=settings)
    with repo.new_snapshot(host="c1") as snap:
        for path, raw in data.items():
            snap.add_bytes(path, raw, mtime=MTIME)
    return repo


def test_a_writer_that_spills_deduplicates_and_its_snapshot_reads_back_and_verifies() -> None:
    rng = random.Random(5)
    contents = [rng.randbytes(300) for _ in range(500)]
    data = {f"r/ns/o-{i:04d}.json": contents[i % 500] for i in range(900)}  # 400 repeat earlier ones
    kept = _first_snapshot(SafeStore(), data, spill_blobs=0)
    assert kept._load_index().index._spilled is None
    store = SafeStore()
    repo = _first_snapshot(store, data, spill_blobs=100)
    index = repo._load_index().index
    assert index._spilled is not None
    assert index._spilled.blobs >= 400  # most of them left memory
    snap = repo.snapshots()[-1]
    assert snap.stats.new_bytes == kept.snapshots()[-1].stats.new_bytes  # each content once, as before
    stored = Repository.open(store, CRED)._load_index().index
    assert sum(1 for (t, _i), _loc in stored.blobs() if t is BlobType.DATA) == 500
    assert repo.verify(read_data_percent=100).ok  # this process's index: spilled entries read back
    with repo.new_snapshot(host="c1") as again:  # every blob known, spilled or not: nothing new
        for path, raw in data.items():
            again.add_bytes(path, raw, mtime=MTIME)
    assert again.snapshot is not None
    assert again.snapshot.stats.new_bytes == 0
    fresh = Repository.open(store, CRED)
    reader = fresh.snapshot_reader(snap.id)
    assert {p: reader.read_bytes(p) for p in data} == data
    assert fresh.verify(read_data_percent=100).ok


def test_the_c_lookup_sends_only_a_spilled_prefix_hit_to_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new blob (the usual question of a capture's writer) is answered "not indexed" by one C call that
    looks in the table and in the spilled prefixes; only an id whose first 4 bytes a segment holds is
    looked up in the spilled rows (-3), and is then found or not as before."""
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    rng = random.Random(3)
    records = _packs(rng, 30)
    index = MasterIndex()
    if index._native is None:
        pytest.skip("drkit/native/_index.c not built")
    for r in records:
        index.add_pack(r)
    index.spill(r.id for r in records[:20])
    assert index._spilled is not None
    table, recs = index._live
    segments = index._spilled.segments
    spilled_blob = records[2].entries[0]
    live_blob = records[25].entries[0]
    twin = (spilled_blob.type, spilled_blob.id[:4] + bytes(28))  # a spilled id's first 4 bytes
    assert index._native.find(table, recs, (spilled_blob.type, spilled_blob.id), segments) == -3
    assert index._native.find(table, recs, twin, segments) == -3
    assert index._native.find(table, recs, (BlobType.DATA, rng.randbytes(32)), segments) == -1
    assert index._native.find(table, recs, (live_blob.type, live_blob.id), segments) >= 0
    assert (spilled_blob.type, spilled_blob.id) in index
    assert twin not in index
    assert index.pack_of((spilled_blob.type, spilled_blob.id)) == records[2].id
    assert index.pack_of(twin) is None
