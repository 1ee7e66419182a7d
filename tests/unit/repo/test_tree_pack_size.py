"""A pack of trees is finished at ``WriterSettings.tree_pack_size``, not only at the pack size: trees
are stored over a whole backup, and a pack's sealed blobs stay in memory until it is finished (the
split trees of a 400k-object capture, 12.6 MB, were held in one open pack until the commit)."""

from __future__ import annotations

import random

from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.pack import BLOBS_START
from drkit.repo.format.tree import NodeType
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import CRED, SafeStore, new_repo

LIMIT = 8 * 1024


def test_tree_packs_end_at_the_tree_pack_size_and_every_file_reads_back() -> None:
    store = SafeStore()
    new_repo(store)
    repo = Repository.open(store, CRED, settings=WriterSettings(workers=2, tree_pack_size=LIMIT))
    rng = random.Random(5)
    data = {f"r/ns-{i % 60:02d}/o-{i:04d}.json": rng.randbytes(300) for i in range(420)}
    with repo.new_snapshot(host="c1") as snap:
        for path, raw in data.items():
            snap.add_bytes(path, raw)
    assert snap.snapshot is not None
    again = Repository.open(store, CRED)
    packs = list(again._load_index().index.packs.values())
    tree_packs = [p for p in packs if p.entries.entry(0).type is BlobType.TREE]
    data_packs = [p for p in packs if p.entries.entry(0).type is BlobType.DATA]
    assert all({e.type for e in p.entries} == {BlobType.TREE} for p in tree_packs)
    assert len(tree_packs) >= 3  # ~62 trees of ~7 entries each: more than two packs' worth
    for p in tree_packs:
        last = max(p.entries, key=lambda e: e.offset)
        before_last = BLOBS_START + sum(e.length for e in p.entries) - last.length
        assert before_last < LIMIT  # finished once it reached the size, not later
    # the data's packs keep the pack size (the repository's 64 KiB here: 138 KB of blobs in 3 packs)
    assert len(data_packs) == 3
    assert all(p.size > LIMIT for p in data_packs[:2])
    reader = again.snapshot_reader(snap.snapshot.id)
    files = [e.path for e in reader.list("r") if e.type is not NodeType.DIR]
    assert {p: reader.read_bytes(p) for p in files} == data
    assert again.verify(read_data_percent=100).ok


def test_the_pack_size_bounds_tree_packs_when_it_is_smaller() -> None:
    settings = WriterSettings(workers=2, tree_pack_size=64 << 20)
    store = SafeStore()
    new_repo(store)
    repo = Repository.open(store, CRED, settings=settings)
    with repo.new_snapshot(host="c1") as snap:
        writer = snap._writer
        assert writer._pack_limit[BlobType.TREE] == writer.pack_size
        assert writer._pack_limit[BlobType.DATA] == writer.pack_size
        snap.add_bytes("a.json", b"{}")
