"""``BlobWriter.add_many`` (a sealing thread's batch of small files in one call) stores what ``add``
stores: the same ids, each new blob once, blobs that read back as they were written, whatever the
compression, and ``seal_blobs`` seals as ``seal_blob`` does."""

from __future__ import annotations

import os
import random

import pytest

from drkit.repo.format.blobs import BlobType, open_blob, seal_blob, seal_blobs
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.packsource import PackSource
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers
from tests.unit.repo.repohelpers import SafeStore, new_repo


def _blobs() -> list[bytes]:
    rng = random.Random(11)
    text = [b"a line of a log file, repeated %d\n" % (i % 7) * rng.randrange(2, 90) for i in range(120)]
    noise = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(60)]
    tiny = [b"", b"x", b"y" * 63, b"z" * 64]
    blobs = text + noise + tiny
    blobs += [blobs[3], blobs[130], blobs[3]]  # equal blobs in one batch
    rng.shuffle(blobs)
    return blobs


@pytest.mark.parametrize("compression", ["zstd-1", "zstd-3", "none"])
def test_add_many_stores_what_add_stores(compression: str) -> None:
    blobs = _blobs()
    repo = new_repo(SafeStore(), pack_size=16 * 1024, compression=compression)
    writer = repo.blob_writer()
    first = writer.add(BlobType.DATA, blobs[0])  # known before the batch: not stored twice
    ids = writer.add_many(BlobType.DATA, blobs[:100])
    ids += writer.add_many(BlobType.DATA, blobs[100:])
    assert writer.add_many(BlobType.DATA, []) == []
    writer.close()

    assert ids == [writer.key.content_id(b) for b in blobs]
    assert ids[0] == first
    assert len(writer.new_packs) > 3  # packs filled and handed over inside add_many
    assert writer.new_bytes == sum(len(b) for b in set(blobs))
    assert sum(len(p.entries) for p in writer.new_packs) == len(set(ids)) == len(set(blobs))
    again = repo.blob_writer()
    assert again.add_many(BlobType.DATA, blobs) == ids  # all known through the index
    again.close()
    assert again.new_bytes == 0
    assert again.new_packs == []
    packs = PackSource(repo._read_keys(), repo._load_index().index, repo._reader)
    for blob_id, raw in zip(ids, blobs, strict=True):
        assert packs.blob(BlobType.DATA, blob_id) == raw


@pytest.mark.parametrize("level", [0, 1, 3])
def test_seal_blobs_seals_as_seal_blob_does(level: int) -> None:
    master = MasterKey.generate()
    keys = MasterWriteKeys(master)
    openers = Openers(master, lambda _id, _check: b"")
    blobs = [*_blobs(), os.urandom(300 * 1024), b"compressible " * 30_000]
    pairs = [(keys.content_id(b), b) for b in blobs]
    many = seal_blobs(keys, BlobType.TREE, pairs, level=level)
    one = [seal_blob(keys, BlobType.TREE, i, b, level=level) for i, b in pairs]
    for (blob_id, raw), a, b in zip(pairs, many, one, strict=True):
        assert len(a) == len(b)  # the same choice of compression (the nonces differ)
        opened = open_blob(openers, MASTER_SEALER, BlobType.TREE, blob_id, bytes(a), where="test")
        assert opened == raw
        with pytest.raises(Exception, match="authenticate"):
            open_blob(openers, MASTER_SEALER, BlobType.DATA, blob_id, bytes(a), where="test")  # type is bound
