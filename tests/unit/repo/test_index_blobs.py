"""An index object is written once its packs hold ``index_blobs`` blobs, not only every
``index_every`` packs: packs of many small blobs (a cluster capture's objects) then never make one
index object of several packs' entries, encoded and sealed at once, at commit."""

from __future__ import annotations

import random

from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.layout import DATA_PREFIX, INDEX_PREFIX
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import CRED, SafeStore, new_repo


def _write(index_blobs: int) -> tuple[int, int, Repository]:
    store = SafeStore()
    new_repo(store)
    repo = Repository.open(
        store, CRED, settings=WriterSettings(workers=2, index_every=100, index_blobs=index_blobs)
    )
    rng = random.Random(5)
    with repo.new_snapshot(host="c1") as snap:
        for i in range(400):
            snap.add_bytes(f"r/ns/o-{i:04d}.json", rng.randbytes(1024))
    packs = len(store.keys(DATA_PREFIX))
    indexes = len(store.keys(INDEX_PREFIX))
    return packs, indexes, repo


def test_an_index_object_is_written_once_its_packs_hold_index_blobs_blobs() -> None:
    packs, indexes, _r = _write(index_blobs=65_536)
    assert packs >= 5
    assert indexes == 1  # index_every=100: one index object of every pack, at commit
    packs, indexes, repo = _write(index_blobs=20)
    # every data pack but the last holds more than 20 blobs and gets an index object of its own; the
    # commit's packs (the trees, the last partial data pack) may hold fewer and share the last one
    assert packs - 1 <= indexes <= packs
    # every blob is found through those index objects
    snap = repo.snapshots()[-1]
    reader = Repository.open(repo.store, CRED).snapshot_reader(snap.id)
    assert len(list(reader.list("r/ns"))) == 400
    assert Repository.open(repo.store, CRED).verify(read_data_percent=100).ok
