"""The repository data path end to end on the in-memory fake store."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import ConfigError, RepositoryNotFound, WrongKey
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.layout import DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX
from drkit.repo.repository import Repository
from drkit.secret import Secret
from tests.unit.repo.repohelpers import CRED, Clock, SafeStore, describe, make_tree, new_repo, open_repo


def test_round_trip_restores_tree_byte_identically(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, tags=["t1"], host="h")
    assert snap.stats.files == 10
    assert snap.stats.symlinks == 2
    assert snap.stats.dirs == 3
    assert snap.stats.skipped == ()
    assert snap.stats.new_packs >= 2

    again = open_repo(store)
    stats = again.restore_path(snap.short_id, dst)
    assert stats.files == 10
    assert describe(dst) == describe(src)


def test_second_backup_of_same_tree_writes_no_pack(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    packs_before = store.keys(DATA_PREFIX)
    second = open_repo(store).backup_path(src, host="h")
    assert store.keys(DATA_PREFIX) == packs_before
    assert second.stats.new_packs == 0
    assert second.stats.new_bytes == 0
    assert second.tree == first.tree
    assert second.parent == first.id
    assert len(store.keys(SNAPSHOTS_PREFIX)) == 2


def test_changed_file_uploads_only_new_chunks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    (src / "sub" / "new.txt").write_bytes(b"a new file")
    second = repo.backup_path(src, host="h")
    assert second.tree != first.tree
    assert 0 < second.stats.new_bytes < first.stats.new_bytes // 10  # the new file and changed trees
    dst = tmp_path / "dst"
    repo.restore_path("latest", dst)
    assert describe(dst) == describe(src)


def test_init_twice_is_refused_and_open_without_config_is_not_found() -> None:
    store = SafeStore()
    with pytest.raises(RepositoryNotFound):
        Repository.open(store, CRED)
    new_repo(store)
    with pytest.raises(ConfigError, match="already exists"):
        new_repo(store)


def test_wrong_passphrase_is_wrong_key_and_writes_nothing() -> None:
    store = SafeStore()
    new_repo(store)
    before = store.puts
    with pytest.raises(WrongKey):
        Repository.open(store, Credential(passphrase=Secret("not the passphrase")))
    assert store.puts == before


def test_objects_are_locked_with_the_repository_retention(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    assert snap.retain_until is not None
    for prefix in (DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX):
        for key in store.keys(prefix):
            info = store.head(key)
            assert info.retention is not None, key
            assert info.retention.until >= snap.retain_until, key


def test_find_snapshot_by_prefix_latest_and_errors(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    with pytest.raises(ConfigError, match="no snapshots"):
        repo.find_snapshot("latest")
    snap = repo.backup_path(src, host="h")
    assert repo.find_snapshot("latest").id == snap.id
    assert repo.find_snapshot(snap.id[:6]).id == snap.id
    with pytest.raises(ConfigError, match="no snapshot"):
        repo.find_snapshot("ffffffff" if not snap.id.startswith("ffff") else "00000000")
    with pytest.raises(ConfigError, match="too short"):
        repo.find_snapshot("ab")
    assert [s.id for s in repo.snapshots()] == [snap.id]
    info = repo.info()
    assert info.snapshot_count == 1
    assert info.pack_count == len(store.keys(DATA_PREFIX)) > 0
    assert len(info.key_slots) == 1


def test_unchanged_files_are_not_read_again_after_a_parent(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    later = Clock(datetime.now(UTC) + timedelta(hours=1))  # the parent "started" after every file's ctime
    first = new_repo(store, clock=later).backup_path(src, host="h")
    assert first.stats.reused_files == 0
    later.now += timedelta(hours=1)
    second = open_repo(store, clock=later).backup_path(src, host="h")
    assert second.parent == first.id
    assert second.stats.reused_files == first.stats.files
    assert second.tree == first.tree
    open_repo(store).restore_path(second.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)


def test_same_size_same_mtime_change_after_parent_is_read_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    target = src / "sub" / "deeper" / "data.bin"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only ctime moved
    second = open_repo(store).backup_path(src, host="h")
    assert second.parent == first.id
    assert second.tree != first.tree
    open_repo(store).restore_path(second.id, tmp_path / "dst")
    assert (tmp_path / "dst" / "sub" / "deeper" / "data.bin").read_bytes() == bytes(data)


def test_compression_level_is_a_repository_setting(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    with pytest.raises(ConfigError, match="compression"):
        new_repo(store, compression="lz4")
    assert store.puts == 0
    repo = new_repo(store, compression="zstd-1")
    snap = repo.backup_path(src, host="h")
    assert snap.stats.stored_bytes < snap.stats.new_bytes
    assert open_repo(store).config.compression == "zstd-1"
    open_repo(store).restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)


@pytest.mark.parametrize(
    ("url", "workers", "expected"),
    [
        ("file:///backups/repo", 2, (2, 2)),  # a local repository: one writer per CPU, each its own fetcher
        ("file:///backups/repo", 8, (8, 8)),
        ("file:///backups/repo", 0, (1, 1)),
        ("s3://bucket/prefix", 2, (8, 2)),  # S3: 8 packs in flight, one writer per CPU
        ("s3://bucket/prefix?endpoint=http://127.0.0.1:9000", 16, (16, 16)),
    ],
)
def test_restore_threads_write_one_per_cpu_and_fetch_eight_packs_at_once_from_s3(
    url: str, workers: int, expected: tuple[int, int]
) -> None:
    from drkit.repo.repository import restore_workers

    assert restore_workers(url, workers) == expected
