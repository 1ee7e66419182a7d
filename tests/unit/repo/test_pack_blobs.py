"""A pack is finished once it holds ``pack_blobs`` blobs, not only at the pack size: until a pack is
uploaded and indexed each of its blobs is held in memory (~330 bytes besides its sealed bytes), and
16 MiB of small API objects is ~100k blobs."""

from __future__ import annotations

import random

from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.layout import DATA_PREFIX
from drkit.repo.format.tree import NodeType
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import CRED, SafeStore, new_repo


def test_packs_hold_at_most_pack_blobs_blobs_and_every_blob_reads_back() -> None:
    store = SafeStore()
    new_repo(store)
    repo = Repository.open(store, CRED, settings=WriterSettings(workers=2, pack_blobs=50))
    rng = random.Random(7)
    data = {f"r/ns/o-{i:04d}.json": rng.randbytes(300) for i in range(420)}
    with repo.new_snapshot(host="c1") as snap:
        for path, raw in data.items():
            snap.add_bytes(path, raw)
    assert snap.snapshot is not None
    again = Repository.open(store, CRED)
    packs = again._load_index().index.packs
    assert len(store.keys(DATA_PREFIX)) == len(packs)
    sizes = sorted(len(p.entries) for p in packs.values())
    assert max(sizes) == 50  # none larger; the 420 data blobs fill 8 packs, the ninth and trees less
    data_blobs = [p.entries.entry(i) for p in packs.values() for i in range(len(p.entries))]
    assert sum(1 for e in data_blobs if e.type is BlobType.DATA) == 420
    reader = again.snapshot_reader(snap.snapshot.id)
    files = [e.path for e in reader.list("r/ns") if e.type is not NodeType.DIR]
    assert {p: reader.read_bytes(p) for p in files} == data
    assert again.verify(read_data_percent=100).ok
