"""A stream stored with a capped zstd level (``add_stream(max_level=...)``, what the etcd snapshot
uses): its chunks are level-N frames, the repository's level when that is lower (``none``: raw), and
they restore byte for byte whatever the level."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard

from drkit.capture import cluster
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.crypto import OVERHEAD
from drkit.repo.repository import Repository
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import CRED, SCRYPT_N

MIB = 1024 * 1024
WORDS = [f"{w}{i}".encode() for i, w in enumerate(["kind", "metadata", "labels", "value", "spec"] * 200)]


def _pieces(seed: int, size: int, piece: int = 32 * 1024) -> Iterator[bytes]:
    """Text of random words in 32 KiB pieces (an etcd message's size): zstd-1 and zstd-3 differ on it."""
    rng = random.Random(seed)
    data = b" ".join(rng.choice(WORDS) for _ in range(size // 5))[:size]
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


def _repo(root: Path, compression: str) -> Repository:
    return Repository.init(
        LocalStore(root),
        CRED,
        lock_mode=None,
        retention=timedelta(0),
        chunker=ChunkerParams(min_size=64 * 1024, avg_size=256 * 1024, max_size=MIB, seed=7),
        pack_size=MIB,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
        compression=compression,
    )


def _sealed_size(chunks: list[bytes], level: int) -> int:
    """What the chunks take sealed: flag byte, body (a zstd frame at ``level``, 0: raw), AEAD overhead."""
    if level == 0:
        return sum(OVERHEAD + 1 + len(c) for c in chunks)
    z = zstandard.ZstdCompressor(level=level)
    return sum(OVERHEAD + 1 + len(z.compress(c)) for c in chunks)


@pytest.mark.parametrize(
    ("compression", "max_level", "expected_level"),
    [("zstd-3", 1, 1), ("zstd-3", None, 3), ("zstd-1", 3, 1), ("none", 1, 0)],
)
def test_a_stream_is_compressed_at_the_capped_level_and_restores_exactly(
    tmp_path: Path, compression: str, max_level: int | None, expected_level: int
) -> None:
    size = 3 * MIB
    data = b"".join(_pieces(3, size))
    repo = _repo(tmp_path / "repo", compression)
    with repo.new_snapshot(kind="cluster") as snap:
        assert snap.add_stream("etcd/snapshot.db", _pieces(3, size), max_level=max_level) == len(data)
    reader = Repository.open(LocalStore(tmp_path / "repo"), CRED).snapshot_reader("latest")
    chunks = list(reader.stream("etcd/snapshot.db"))
    assert b"".join(chunks) == data
    assert len(chunks) > 3
    levels = {lvl: _sealed_size(chunks, lvl) for lvl in (0, 1, 3)}
    assert len(set(levels.values())) == 3, "the test data must tell the levels apart"
    index = Repository.open(LocalStore(tmp_path / "repo"), CRED)._load_index().index
    stored = sum(loc.length for (t, _id), loc in index.blobs() if t is BlobType.DATA)
    assert stored == levels[expected_level]


def test_the_etcd_snapshot_is_stored_at_zstd_level_1() -> None:
    assert cluster.ETCD_ZSTD_LEVEL == 1
