"""The blob writer forgets its list of blobs in flight once their pack is uploaded and indexed: the
index knows them from then on (a capture of 100k objects kept ~100 bytes per blob twice)."""

from __future__ import annotations

import random

from drkit.repo.format.blobs import BlobType
from tests.unit.repo.repohelpers import SafeStore, new_repo


def test_uploaded_blobs_leave_the_pending_set_and_stay_known() -> None:
    repo = new_repo(SafeStore(), pack_size=16 * 1024)
    writer = repo.blob_writer()
    rng = random.Random(7)
    blobs = [rng.randbytes(1024) for _ in range(300)]
    ids = [writer.add(BlobType.DATA, b) for b in blobs]
    writer.close()
    assert len(writer.new_packs) > 10
    assert writer._pending == {BlobType.DATA: set(), BlobType.TREE: set()}  # all uploaded: none pending
    assert all(writer.known(BlobType.DATA, i) for i in ids)
    again = repo.blob_writer()
    before = again.new_bytes
    assert [again.add(BlobType.DATA, b) for b in blobs] == ids  # deduplicated through the index
    again.close()
    assert again.new_bytes == before
    assert again.new_packs == []
