"""Retention extension of reused packs, forget and prune around Object Lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from drkit.repo.engine.retention import Policy
from drkit.repo.format.layout import DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX, pack_key, snapshot_key
from drkit.repo.format.retainuntil import granule, lock_until
from drkit.storage.base import LockMode
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import Clock, SafeStore, describe, make_tree, new_repo, open_repo

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _two_trees(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    make_tree(a)
    b.mkdir()
    (b / "only-b.txt").write_bytes(b"b" * 5000 + bytes(range(256)) * 40)
    (b / "shared-tiny.txt").write_bytes(b"hello\n")  # same content as a/tiny.txt
    return a, b


def test_lock_until_rounds_up_to_granule() -> None:
    r = timedelta(days=30)
    assert granule(r) == timedelta(days=1)
    t = lock_until(T0, r)
    assert t >= T0 + r
    assert t - (T0 + r) < timedelta(days=1)
    assert lock_until(T0 + timedelta(hours=1), r) == t  # same granule: no new extension needed
    assert granule(timedelta(seconds=50)) == timedelta(seconds=5)


def test_reused_packs_get_their_retention_extended(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    clock = Clock(T0)
    store = SafeStore(FakeStore(clock=clock))
    repo = new_repo(store, clock=clock, retention=timedelta(days=7))
    first = repo.backup_path(src, host="h")
    assert first.retain_until == lock_until(T0, timedelta(days=7))
    clock.now = T0 + timedelta(days=3)
    second = open_repo(store, clock=clock).backup_path(src, host="h")
    assert second.stats.new_packs == 0
    assert second.retain_until is not None
    assert first.retain_until is not None
    assert second.retain_until > first.retain_until
    assert set(second.packs) == set(first.packs)
    for pack_id, ref in second.packs.items():
        assert ref.retain_until == second.retain_until
        info = store.head(pack_key(pack_id), version_id=ref.version_id)
        assert info.retention is not None
        assert info.retention.until >= second.retain_until
    for index_id in second.indexes:
        info = store.head(f"{INDEX_PREFIX}{index_id}")
        assert info.retention is not None
        assert info.retention.until >= second.retain_until


def test_prune_deletes_nothing_locked_and_says_when_it_frees(tmp_path: Path) -> None:
    a, b = _two_trees(tmp_path)
    clock = Clock(T0)
    store = SafeStore(FakeStore(clock=clock))
    repo = new_repo(store, clock=clock, retention=timedelta(days=7))
    snap_a = repo.backup_path(a, host="h")
    clock.now = T0 + timedelta(hours=1)
    snap_b = repo.backup_path(b, host="h")
    keys_before = store.keys()

    result = open_repo(store, clock=clock).prune([snap_b.id])
    assert result.deleted_snapshots == ()
    assert result.deleted_packs == ()
    assert store.keys() == keys_before
    locked = {o.key for o in result.locked}
    assert snapshot_key(snap_a.id) in locked
    assert result.next_free is not None
    assert result.next_free >= T0 + timedelta(days=7)


def test_prune_after_locks_expire_removes_only_unreferenced(tmp_path: Path) -> None:
    a, b = _two_trees(tmp_path)
    clock = Clock(T0)
    store = SafeStore(FakeStore(clock=clock))
    repo = new_repo(store, clock=clock, retention=timedelta(days=7))
    snap_a = repo.backup_path(a, host="h")
    snap_b = repo.backup_path(b, host="h")
    only_a = set(snap_a.packs) - set(snap_b.packs)
    assert only_a

    clock.now = T0 + timedelta(days=30)
    dry = open_repo(store, clock=clock).prune([snap_b.id], dry_run=True)
    assert dry.deleted_snapshots == (snap_a.id,)
    assert store.exists(snapshot_key(snap_a.id))

    result = open_repo(store, clock=clock).prune([snap_b.id])
    assert result.deleted_snapshots == (snap_a.id,)
    assert set(result.deleted_packs) == only_a
    assert result.freed_bytes > 0
    assert not store.exists(snapshot_key(snap_a.id))
    assert {k.rsplit("/", 1)[1] for k in store.keys(DATA_PREFIX)} == set(snap_b.packs)
    after = open_repo(store, clock=clock)
    report = after.verify(read_data_percent=100)
    assert report.ok, report.problems
    after.restore_path(snap_b.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(b)
    # a new backup of a still works (the removed blobs are uploaded again, not assumed present)
    again = after.backup_path(a, host="h")
    assert again.stats.new_packs > 0
    after.restore_path(again.id, tmp_path / "dst-a")
    assert describe(tmp_path / "dst-a") == describe(a)


def test_prune_with_policy_and_without_lock(tmp_path: Path) -> None:
    a, b = _two_trees(tmp_path)
    store = SafeStore()
    repo = new_repo(store, lock_mode=None, retention=timedelta(0))
    repo.backup_path(a, host="h")
    (a / "changed.txt").write_text("a second backup of the same directory: the same series\n")
    snap_b = repo.backup_path(a, host="h")
    other = repo.backup_path(b, host="h")  # another directory: a series of its own, kept by last=1
    result = repo.prune(policy=Policy(last=1))
    assert set(result.kept_snapshots) == {snap_b.id, other.id}
    assert len(result.deleted_snapshots) == 1
    assert result.locked == ()
    assert [s.id for s in repo.snapshots()] == [snap_b.id, other.id]
    assert len(store.keys(SNAPSHOTS_PREFIX)) == 2
    assert repo.verify(read_data_percent=100).ok


def test_forget_reports_locked_snapshots(tmp_path: Path) -> None:
    a, _b = _two_trees(tmp_path)
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(a, host="h")
    result = repo.forget([snap.short_id])
    assert result.deleted == ()
    assert result.locked[0][0] == snapshot_key(snap.id)
    assert store.exists(snapshot_key(snap.id))


def test_prune_with_a_credential_that_may_not_delete_reports_denied(tmp_path: Path) -> None:
    a, _b = _two_trees(tmp_path)
    store = SafeStore(FakeStore(deny_delete=True))
    repo = new_repo(store, lock_mode=None, retention=timedelta(0))
    first = repo.backup_path(a, host="h")
    (a / "changed.txt").write_text("second\n")
    repo.backup_path(a, host="h")
    result = repo.prune(policy=Policy(last=1))
    assert result.deleted_snapshots == ()
    assert snapshot_key(first.id) in result.denied
    assert result.locked == (), "a refused delete is not a lock: it must not be reported as 'free later'"


def test_prune_never_sends_a_delete_for_a_locked_key(tmp_path: Path) -> None:
    """The lock pre-check, not the store, keeps locked objects: GOVERNANCE with bypass rights would
    let every delete through, so a delete call for a locked key would destroy it."""
    a, b = _two_trees(tmp_path)
    clock = Clock(T0)
    inner = FakeStore(clock=clock, bypass_governance=True)
    store = SafeStore(inner)
    repo = new_repo(store, clock=clock, lock_mode=LockMode.GOVERNANCE, retention=timedelta(days=7))
    snap_a = repo.backup_path(a, host="h")
    clock.now = T0 + timedelta(hours=2)
    snap_b = repo.backup_path(b, host="h")
    keys_before = store.keys()
    inner.calls.clear()

    result = open_repo(store, clock=clock).prune([snap_b.id])
    assert [c for c in inner.calls if c[0] == "delete"] == []
    assert store.keys() == keys_before
    assert result.deleted_snapshots == ()
    assert result.deleted_packs == ()
    assert result.deleted_indexes == ()
    assert snapshot_key(snap_a.id) in {o.key for o in result.locked}
    assert snap_a.id in result.kept_snapshots


def test_dry_run_prune_reports_locked_snapshots_as_locked_not_deleted(tmp_path: Path) -> None:
    a, b = _two_trees(tmp_path)
    clock = Clock(T0)
    store = SafeStore(FakeStore(clock=clock))
    repo = new_repo(store, clock=clock, retention=timedelta(days=7))
    snap_a = repo.backup_path(a, host="h")
    clock.now = T0 + timedelta(hours=2)
    snap_b = repo.backup_path(b, host="h")
    keys_before = store.keys()

    dry = open_repo(store, clock=clock).prune([snap_b.id], dry_run=True)
    assert dry.dry_run
    assert dry.deleted_snapshots == ()
    assert dry.deleted_packs == ()
    assert dry.deleted_indexes == ()
    assert dry.freed_bytes == 0
    assert snapshot_key(snap_a.id) in {o.key for o in dry.locked}
    assert store.keys() == keys_before

    forgot = open_repo(store, clock=clock).forget([snap_a.id], dry_run=True)
    assert forgot.deleted == ()
    assert forgot.locked[0][0] == snapshot_key(snap_a.id)
