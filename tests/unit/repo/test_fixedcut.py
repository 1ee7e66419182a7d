"""``cut_fixed`` and ``add_stream(fixed_size=...)``: a stream arriving in pieces is cut at fixed offsets
of the stream whatever the pieces and windows, restores byte for byte, and a second stream with one
page changed in place stores only the chunk holding that page (what the etcd snapshot relies on)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from drkit.capture import cluster
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.piececut import cut_fixed
from drkit.repo.repository import Repository
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import CRED, SCRYPT_N
from tests.unit.repo.test_piececut import KIB, _data, _pieces

MIB = 1024 * KIB


@pytest.mark.parametrize(
    ("seed", "size", "window", "largest"),
    [
        (1, 4 * KIB, 0, 40 * KIB),
        (2, 32 * KIB, 100 * KIB, 70 * KIB),
        (3, 256 * KIB, 0, 3 * MIB),
        (4, 3000, 7000, 5000),
    ],
)
def test_chunks_are_the_stream_at_fixed_offsets(seed: int, size: int, window: int, largest: int) -> None:
    data = _data(seed, 2 * MIB + 12345)
    chunks = [bytes(c) for c in cut_fixed(size, _pieces(data, seed, largest), window=window)]
    assert chunks == [data[i : i + size] for i in range(0, len(data), size)]


def test_a_stream_of_whole_windows_and_an_empty_one() -> None:
    data = _data(5, 32 * MIB)  # two default windows exactly
    chunks = list(cut_fixed(256 * KIB, [data[i : i + 32 * KIB] for i in range(0, len(data), 32 * KIB)]))
    assert [len(c) for c in chunks] == [256 * KIB] * 128
    assert b"".join(chunks) == data
    assert list(cut_fixed(256 * KIB, [])) == []


def test_a_chunk_ending_a_window_is_yielded_from_it_not_copied_into_the_next() -> None:
    data = _data(6, 32 * MIB)  # two default windows of 16 chunks of 1 MiB exactly
    chunks = list(cut_fixed(MIB, [data[i : i + 32 * KIB] for i in range(0, len(data), 32 * KIB)]))
    windows = [c.obj for c in chunks]
    assert all(w is windows[0] for w in windows[:16])  # the 16th too: a whole chunk, not carried
    assert all(w is not windows[0] for w in windows[16:])
    assert b"".join(chunks) == data


@pytest.mark.parametrize("size", [0, -1])
def test_a_size_that_is_not_positive_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="not positive"):
        list(cut_fixed(size, [b"x"]))


def _repo(root: Path) -> Repository:
    return Repository.init(
        LocalStore(root),
        CRED,
        lock_mode=None,
        retention=timedelta(0),
        chunker=ChunkerParams(min_size=64 * KIB, avg_size=256 * KIB, max_size=MIB, seed=7),
        pack_size=MIB,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
    )


def test_one_page_changed_in_place_stores_one_chunk_again(tmp_path: Path) -> None:
    size = cluster.ETCD_CHUNK_SIZE
    first = random.Random(9).randbytes(6 * size + 4096)
    page = 3 * size + 3 * 4096  # a page inside the fourth chunk
    second = first[:page] + b"\x01" * 4096 + first[page + 4096 :]
    repo = _repo(tmp_path / "repo")

    def pieces(data: bytes) -> list[bytes]:
        return [data[i : i + 32 * KIB] for i in range(0, len(data), 32 * KIB)]

    with repo.new_snapshot(kind="cluster") as snap:
        snap.add_stream(cluster.ETCD_PATH, pieces(first), fixed_size=size)
    with repo.new_snapshot(kind="cluster") as snap:
        snap.add_stream(cluster.ETCD_PATH, pieces(second), fixed_size=size)
        new = snap.new_bytes
    assert new == size  # the chunk holding the changed page, and nothing else
    reader = Repository.open(LocalStore(tmp_path / "repo"), CRED).snapshot_reader("latest")
    chunks = [bytes(c) for c in reader.stream(cluster.ETCD_PATH)]
    assert b"".join(chunks) == second
    assert [len(c) for c in chunks] == [size] * 6 + [4096]


def test_the_etcd_chunk_size_is_a_whole_number_of_bbolt_pages() -> None:
    assert cluster.ETCD_CHUNK_SIZE % (64 * KIB) == 0  # 4 KiB pages, and 64 KiB on some platforms
