"""``PackSource.blob``: one blob at a time from many packs, the last pack's sealer kept between calls.

An incremental backup reads every parent tree through it, one after the other; the pack and the
sealer of the previous read are reused while the blobs come from the same pack. Reads that jump
between packs, blobs of the wrong type and a tampered blob in the pack held must all still be right
or refused with the blob and the pack named.
"""

from __future__ import annotations

import random

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.format.packsource import PackSource
from drkit.repo.repository import Repository
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import SafeStore, new_repo


def _blobs(repo: Repository, count: int) -> dict[bytes, bytes]:
    """``count`` tree blobs of ~2 KiB (so a 64 KiB pack holds a few dozen), by id."""
    writer = repo.blob_writer()
    stored: dict[bytes, bytes] = {}
    for i in range(count):
        plain = b"tree %d " % i + random.Random(i).randbytes(2048)  # incompressible
        stored[writer.add(BlobType.TREE, plain)] = plain
    writer.close()
    return stored


def _source(repo: Repository) -> PackSource:
    return PackSource(repo.read_keys(), repo._load_index().index, repo._reader, cache_packs=2)


def test_blobs_read_back_across_packs_in_any_order() -> None:
    repo = new_repo(SafeStore(FakeStore()), pack_size=16 * 1024)
    stored = _blobs(repo, 120)
    source = _source(repo)
    packs = {source.index.span((BlobType.TREE, i))[0] for i in stored}  # type: ignore[index]
    assert len(packs) >= 4  # the reads below move between packs
    ids = list(stored)
    order = ids + ids[::-1] + ids[::7] + ids[::2] + ids[1::2]
    for blob_id in order:
        assert source.blob(BlobType.TREE, blob_id) == stored[blob_id]


def test_a_blob_of_another_type_is_in_no_index() -> None:
    repo = new_repo(SafeStore(FakeStore()))
    blob_id = next(iter(_blobs(repo, 1)))
    source = _source(repo)
    source.blob(BlobType.TREE, blob_id)
    with pytest.raises(VerificationFailed, match=f"data blob {blob_id.hex()} is in no index"):
        source.blob(BlobType.DATA, blob_id)


def test_a_tampered_blob_in_the_pack_held_is_refused_by_name() -> None:
    store = SafeStore(FakeStore())
    repo = new_repo(store)
    stored = _blobs(repo, 3)
    first, second, _ = stored
    source = _source(repo)
    assert source.blob(BlobType.TREE, first) == stored[first]  # the pack is now held
    span = source.index.span((BlobType.TREE, second))
    assert span is not None
    pack_id, offset, _length = span
    data = bytearray(source.fetch(pack_id, cache=True))
    data[offset + 20] ^= 1
    source._cache[pack_id] = bytes(data)  # as if the pack had been read so (its hash checked)
    source._last = None
    with pytest.raises(VerificationFailed) as err:
        source.blob(BlobType.TREE, second)
    assert f"blob {second.hex()} in {pack_key(pack_id)} does not authenticate" in str(err.value)
    assert source.blob(BlobType.TREE, first) != stored[second]
