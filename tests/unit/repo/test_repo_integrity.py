"""Corruption, tampering, crashes and hostile trees: detected, named, survived."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest

from drkit.errors import StorageError, VerificationFailed
from drkit.repo.engine.verify import VERSION_READS
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import BlobWriter
from drkit.repo.format.layout import (
    CONFIG_KEY,
    DATA_PREFIX,
    SNAPSHOTS_PREFIX,
    object_name,
    pack_key,
    snapshot_key,
)
from drkit.repo.format.manifest import encode_manifest
from drkit.repo.format.model import ProblemKind, RootMeta, Snapshot, SnapshotStats
from drkit.repo.format.sealing import WriteKeys
from tests.unit.repo.repohelpers import SafeStore, corrupt, describe, make_tree, new_repo, open_repo, vanish


def _data_pack_of(repo_store: SafeStore, snap: Snapshot, *, tree: bool = False) -> str:
    """A pack of ``snap`` holding data blobs (or tree blobs)."""
    repo = open_repo(repo_store)
    index = repo._load_index().index
    wanted = BlobType.TREE if tree else BlobType.DATA
    for pack_id in snap.packs:
        if any(e.type is wanted for e in index.packs[pack_id].entries):
            return pack_id
    raise AssertionError("no such pack")


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[SafeStore, Snapshot, Path]:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    snap = new_repo(store).backup_path(src, host="h")
    return store, snap, src


def test_clean_repository_verifies_with_all_data_read(backed_up: tuple[SafeStore, Snapshot, Path]) -> None:
    store, snap, _src = backed_up
    report = open_repo(store).verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.snapshots_checked == 1
    assert report.packs_read == len(snap.packs) == len(store.keys(DATA_PREFIX))
    assert report.blobs_checked > 10


def test_corrupt_data_pack_is_named_with_its_snapshot(
    backed_up: tuple[SafeStore, Snapshot, Path], tmp_path: Path
) -> None:
    store, snap, _src = backed_up
    pack_id = _data_pack_of(store, snap)
    corrupt(store, pack_key(pack_id))
    repo = open_repo(store)
    structure_only = repo.verify()
    assert structure_only.ok  # structure does not read data packs
    report = repo.verify(read_data_percent=100)
    assert [(p.kind, p.object, p.snapshots) for p in report.problems] == [
        (ProblemKind.CORRUPT, pack_key(pack_id), (snap.id,))
    ]
    with pytest.raises(VerificationFailed, match=pack_id) as err:
        repo.restore_path(snap.id, tmp_path / "dst")
    assert snap.id in str(err.value)


def test_corrupt_tree_pack_is_found_by_structure_check(backed_up: tuple[SafeStore, Snapshot, Path]) -> None:
    store, snap, _src = backed_up
    pack_id = _data_pack_of(store, snap, tree=True)
    corrupt(store, pack_key(pack_id), at=-10)
    report = open_repo(store).verify()
    assert not report.ok
    assert any(p.kind is ProblemKind.CORRUPT and snap.id in p.snapshots for p in report.problems)
    assert any(pack_key(pack_id) in str(p) for p in report.problems)


def test_missing_pack_is_named_with_its_snapshot(backed_up: tuple[SafeStore, Snapshot, Path]) -> None:
    store, snap, _src = backed_up
    pack_id = _data_pack_of(store, snap)
    vanish(store, pack_key(pack_id))
    report = open_repo(store).verify()
    missing = [p for p in report.problems if p.object == pack_key(pack_id)]
    assert missing
    assert missing[0].kind is ProblemKind.MISSING
    assert missing[0].snapshots == (snap.id,)


def test_tampered_newer_version_falls_back_to_recorded_version(
    backed_up: tuple[SafeStore, Snapshot, Path], tmp_path: Path
) -> None:
    store, snap, src = backed_up
    pack_id = _data_pack_of(store, snap)
    store.inner.overwrite(pack_key(pack_id), b"attacker's bytes")
    repo = open_repo(store)
    repo.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)
    report = repo.verify()
    tampered = [p for p in report.problems if p.kind is ProblemKind.TAMPERED]
    assert [p.object for p in tampered] == [pack_key(pack_id)]
    assert tampered[0].snapshots == (snap.id,)
    assert "recorded version" in tampered[0].message


def test_tampered_manifest_and_config_versions_are_survived_and_reported(
    backed_up: tuple[SafeStore, Snapshot, Path],
) -> None:
    store, snap, _src = backed_up
    store.inner.overwrite(snapshot_key(snap.id), b"forged manifest")
    store.inner.overwrite(CONFIG_KEY, b'{"body": "{}", "signature": ""}')
    repo = open_repo(store)
    assert [s.id for s in repo.snapshots()] == [snap.id]
    report = repo.verify()
    assert {p.object for p in report.problems if p.kind is ProblemKind.TAMPERED} == {
        snapshot_key(snap.id),
        CONFIG_KEY,
    }


def test_crash_after_some_puts_then_retry_reuses_uploaded_packs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    reference = SafeStore()
    full = new_repo(reference).backup_path(src, host="h")

    store = SafeStore()
    new_repo(store)
    store.fail_after_puts = store.puts + 4
    with pytest.raises(StorageError, match="simulated crash"):
        open_repo(store).backup_path(src, host="h")
    assert store.keys(SNAPSHOTS_PREFIX) == []
    uploaded = set(store.keys(DATA_PREFIX))
    assert uploaded
    assert open_repo(store).verify(read_data_percent=100).ok

    store.fail_after_puts = None
    snap = open_repo(store).backup_path(src, host="h")
    assert snap.stats.new_packs < full.stats.new_packs
    assert {pack_key(p) for p in snap.packs} & uploaded
    report = open_repo(store).verify(read_data_percent=100)
    assert report.ok, report.problems
    open_repo(store).restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)


def _hostile_snapshot(store: SafeStore, name: str) -> str:
    repo = open_repo(store)
    state = repo._load_index()
    writer = BlobWriter(
        store, repo._write_keys, state.index, pack_size=1 << 20, lock=repo._lock(), settings=repo.settings
    )
    content = writer.add(BlobType.DATA, b"pwned\n")
    entry = {"name": name, "type": "file", "mode": 0o644, "uid": 0, "gid": 0, "mtime_ns": 0, "size": 6}
    entry["content"] = [content.hex()]
    tree = json.dumps({"version": 1, "entries": [entry]}, sort_keys=True, separators=(",", ":")).encode()
    tree_id = writer.add(BlobType.TREE, tree)
    writer.close()
    snap = Snapshot(
        id="",
        time=repo._clock(),
        host="evil",
        tags=(),
        paths=("/",),
        tree=tree_id,
        root=RootMeta(0o755, 0, 0, 0),
        stats=SnapshotStats(),
    )
    data = encode_manifest(repo._write_keys, snap)
    store.put(snapshot_key(object_name(data)), data)
    return object_name(data)


@pytest.mark.parametrize("name", ["..", "../escape", "/etc/evil", "a/b", "."])
def test_restore_refuses_hostile_tree_entry(tmp_path: Path, name: str) -> None:
    store = SafeStore()
    new_repo(store)
    sid = _hostile_snapshot(store, name)
    target = tmp_path / "inner" / "target"
    with pytest.raises(VerificationFailed, match="hostile"):
        open_repo(store).restore_path(sid, target)
    assert not (tmp_path / "inner" / "escape").exists()
    assert not list(tmp_path.rglob("evil"))
    assert not (target / "a").exists()


class _LyingContentIds:
    """The repository's write keys, except that one chunk gets the id of other bytes: a writer bug
    (or a malicious writer) whose pack is well formed, named by its hash, and whose blob opens."""

    def __init__(self, keys: WriteKeys, victim: bytes) -> None:
        self._keys = keys
        self._victim = victim
        self.sealer_id = keys.sealer_id

    def __getattr__(self, name: str) -> object:
        return getattr(self._keys, name)

    def content_id(self, data: bytes) -> bytes:
        if data == self._victim:
            return self._keys.content_id(b"not the bytes that were stored")
        return self._keys.content_id(data)

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        return [self.content_id(d) for d in datas]


def test_blob_that_does_not_match_its_id_is_found_by_read_data_and_refused_by_restore(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    victim = b"a chunk stored under the id of other bytes\n" * 3
    (src / "victim.txt").write_bytes(victim)
    (src / "honest.txt").write_bytes(b"an honest chunk\n")
    store = SafeStore()
    repo = new_repo(store)
    repo._write_keys = cast(WriteKeys, _LyingContentIds(repo._write_keys, victim))
    snap = repo.backup_path(src, host="h")

    reader = open_repo(store)
    for pack_id in snap.packs:  # every pack is named by the hash of its bytes
        assert object_name(store.get(pack_key(pack_id))) == pack_id
    assert reader.verify().ok  # structure alone does not open data blobs
    report = reader.verify(read_data_percent=100)
    bad = [p for p in report.problems if p.kind is ProblemKind.CORRUPT]
    assert len(bad) == 1, report.problems
    assert bad[0].snapshots == (snap.id,)
    assert bad[0].object == pack_key(_data_pack_of(store, snap))
    assert bad[0].message.startswith("blob ")
    assert bad[0].message.endswith(f" in {bad[0].object} does not match its id")  # names the pack

    with pytest.raises(VerificationFailed, match="does not match its id") as err:
        reader.restore_path(snap.id, tmp_path / "dst")
    assert snap.id in str(err.value)
    assert bad[0].object in str(err.value)


def test_a_newer_identical_pack_version_read_damaged_in_transit_is_not_an_overwrite(
    backed_up: tuple[SafeStore, Snapshot, Path],
) -> None:
    # A put retried after its reply was lost stores the same bytes twice; a byte flipped on the way
    # back (a store sending no checksum) is read again before "overwritten by someone" is said.
    store, snap, _src = backed_up
    pack_id = _data_pack_of(store, snap)
    newer = store.inner.overwrite(pack_key(pack_id), store.get(pack_key(pack_id)))
    flips = {"left": VERSION_READS - 1}
    inner_get = store.get

    def flipping_get(key: str, *, version_id: str | None = None) -> bytes:
        data = inner_get(key, version_id=version_id)
        if version_id == newer and flips["left"] > 0:
            flips["left"] -= 1
            return data[:10] + bytes([data[10] ^ 1]) + data[11:]
        return data

    store.get = flipping_get  # type: ignore[method-assign]
    assert open_repo(store).verify().ok
    assert flips["left"] == 0  # the damaged reads happened
