"""prune_repository and forget_snapshots rule by rule, on objects placed by hand in the fake store:
the grace period of young packs, index objects kept while a pack they describe survives, the bytes
freed, every version deleted by its id, and the lock read per version (as S3 lists versions without
their retention), including the boundaries. Found as gaps by mutation testing (docs/testing.md)."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta

from drkit.repo.engine.prune import forget_snapshots, prune_repository
from drkit.repo.format.layout import index_key, pack_key, snapshot_key
from drkit.repo.format.model import LockedObject, PackRef, RootMeta, Snapshot, SnapshotStats
from drkit.storage.base import LockMode, ObjectInfo, Retention
from drkit.storage.errors import ObjectLocked, ObjectNotFound
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import Clock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
GRACE = timedelta(hours=1)


def hexid(n: int) -> str:
    return f"{n:064x}"


P_OLD, P_KEPT, P_YOUNG, P_EDGE = hexid(0xA1), hexid(0xA2), hexid(0xA3), hexid(0xA4)
I_OLD, I_KEPT, I_YOUNG, I_UNKNOWN, I_NAMED = hexid(0xB1), hexid(0xB2), hexid(0xB3), hexid(0xB4), hexid(0xB5)
S_GONE, S_KEPT = hexid(0xC1), hexid(0xC2)


def snap(sid: str, packs: builtins.list[str] = [], indexes: builtins.list[str] = []) -> Snapshot:  # noqa: B006
    return Snapshot(
        id=sid,
        time=T0,
        host="h",
        tags=(),
        paths=("/src",),
        tree=b"\x00" * 32,
        root=RootMeta(0o755, 0, 0, 0),
        stats=SnapshotStats(),
        packs={p: PackRef(None, None) for p in packs},
        indexes=dict.fromkeys(indexes),
    )


def _repository(clock: Clock, store: FakeStore) -> tuple[dict[str, set[str]], builtins.list[Snapshot]]:
    """Objects written at T0 (old) except P_YOUNG and I_YOUNG (written just now); P_EDGE exactly
    ``GRACE`` old. S_KEPT needs P_KEPT and names I_NAMED; nothing else is needed."""
    clock.now = T0
    for key, size in [
        (pack_key(P_OLD), 1000),
        (pack_key(P_KEPT), 2000),
        (index_key(I_KEPT), 40),
        (index_key(I_UNKNOWN), 50),
        (index_key(I_NAMED), 60),
        (index_key(I_OLD), 30),  # listed after indexes that are skipped: a skip must not end the loop
        (snapshot_key(S_GONE), 7),
        (snapshot_key(S_KEPT), 8),
    ]:
        store.put(key, b"x" * size)
    clock.now = NOW - GRACE
    store.put(pack_key(P_EDGE), b"e" * 400)
    clock.now = NOW - GRACE + timedelta(seconds=1)
    store.put(pack_key(P_YOUNG), b"y" * 300)
    store.put(index_key(I_YOUNG), b"y" * 20)
    clock.now = NOW
    index_packs = {
        I_OLD: {P_OLD, P_EDGE},  # describes only packs that go: goes
        I_KEPT: {P_OLD, P_KEPT},  # describes a pack that stays: stays although no snapshot names it
        I_YOUNG: {P_YOUNG},  # its pack is young, so it survives, so the index stays
        I_NAMED: set(),  # named by a remaining snapshot: stays
        # I_UNKNOWN: not in the map (unreadable, or written after the index was loaded): stays
    }
    snapshots = [snap(S_GONE, [P_OLD], [I_OLD]), snap(S_KEPT, [P_KEPT], [I_NAMED])]
    return index_packs, snapshots


def test_prune_deletes_what_is_unreferenced_and_old_and_counts_the_bytes() -> None:
    clock = Clock(T0)
    store = FakeStore(clock=clock)
    index_packs, snapshots = _repository(clock, store)
    result = prune_repository(store, index_packs, snapshots, [S_KEPT], now=NOW, grace=GRACE)

    assert result.dry_run is False
    assert result.deleted_snapshots == (S_GONE,)
    assert result.kept_snapshots == (S_KEPT,)
    assert result.deleted_packs == tuple(sorted([P_OLD, P_EDGE]))  # exactly GRACE old is not young
    assert result.deleted_indexes == (I_OLD,)
    assert result.freed_bytes == 1000 + 400 + 30
    assert result.locked == ()
    assert store.all_keys() == sorted(
        [
            pack_key(P_KEPT),
            pack_key(P_YOUNG),
            index_key(I_KEPT),
            index_key(I_UNKNOWN),
            index_key(I_NAMED),
            index_key(I_YOUNG),
            snapshot_key(S_KEPT),
        ]
    )


def test_dry_run_prune_deletes_nothing_and_reports_the_same() -> None:
    clock = Clock(T0)
    store = FakeStore(clock=clock)
    index_packs, snapshots = _repository(clock, store)
    before = store.all_keys()
    dry = prune_repository(store, index_packs, snapshots, [S_KEPT], now=NOW, grace=GRACE, dry_run=True)
    assert store.all_keys() == before
    assert [c for c in store.calls if c[0] == "delete"] == []
    assert dry.dry_run is True
    assert dry.deleted_snapshots == (S_GONE,)
    assert dry.deleted_packs == tuple(sorted([P_OLD, P_EDGE]))
    assert dry.deleted_indexes == (I_OLD,)
    assert dry.freed_bytes == 1000 + 400 + 30


def test_a_snapshot_whose_manifest_is_already_gone_is_not_reported_deleted() -> None:
    store = FakeStore(clock=lambda: NOW)
    result = prune_repository(store, {}, [snap(S_GONE)], [], now=NOW)
    assert result.deleted_snapshots == ()
    assert result.kept_snapshots == (S_GONE,)


def test_forget_dry_run_deletes_nothing() -> None:
    store = FakeStore(clock=lambda: T0)
    store.put(snapshot_key(S_GONE), b"m")
    deleted, locked, denied = forget_snapshots(store, [S_GONE], now=NOW, dry_run=True)
    assert denied == []
    assert deleted == [S_GONE]
    assert locked == []
    assert store.exists(snapshot_key(S_GONE))
    deleted, _, _ = forget_snapshots(store, [S_GONE], now=NOW, dry_run=False)
    assert deleted == [S_GONE]
    assert not store.exists(snapshot_key(S_GONE))


class S3LikeStore(FakeStore):
    """Lists versions without their retention (as S3's ListObjectVersions does), so the lock of each
    version must be read with a head of that version; records the version id of every delete; can lose
    a version between the listing and its head; can refuse deletes for a reason prune cannot see."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.deleted_versions: builtins.list[tuple[str, str | None]] = []
        self.vanish_on_head: set[str] = set()
        self.refuse_deletes = False

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        return [
            ObjectInfo(i.key, i.size, i.version_id, None, i.is_latest, i.last_modified)
            for i in super().versions(key)
        ]

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        if version_id in self.vanish_on_head:
            raise ObjectNotFound(f"version {version_id} of {key} is gone", key=key)
        return super().head(key, version_id=version_id)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        if self.refuse_deletes:
            raise ObjectLocked(f"{key}: a legal hold", key=key)
        super().delete(key, version_id=version_id)
        self.deleted_versions.append((key, version_id))


def test_every_version_is_deleted_by_its_own_id() -> None:
    clock = Clock(T0)
    store = S3LikeStore(clock=clock)
    first = store.put(snapshot_key(S_GONE), b"original")
    second = store.overwrite(snapshot_key(S_GONE), b"a newer version")
    deleted, _, _ = forget_snapshots(store, [S_GONE], now=NOW, dry_run=False)
    assert deleted == [S_GONE]
    assert sorted(store.deleted_versions) == sorted(
        [(snapshot_key(S_GONE), first), (snapshot_key(S_GONE), second)]
    )


def test_the_lock_of_an_older_version_holds_though_the_newest_is_unlocked() -> None:
    """An attacker's unlocked newer version over a locked original: the lock is read per version
    (head of that version), and a store that would allow the delete (GOVERNANCE with bypass
    rights) never gets one."""
    clock = Clock(T0)
    store = S3LikeStore(clock=clock, bypass_governance=True)
    until = NOW + timedelta(days=3)
    store.put(snapshot_key(S_GONE), b"original", retention=Retention(LockMode.GOVERNANCE, until))
    store.overwrite(snapshot_key(S_GONE), b"attacker's version")
    deleted, locked, denied = forget_snapshots(store, [S_GONE], now=NOW, dry_run=False)
    assert denied == []
    assert deleted == []
    assert locked == [LockedObject(snapshot_key(S_GONE), until)]
    assert store.deleted_versions == []


def test_the_latest_lock_of_all_versions_is_reported() -> None:
    clock = Clock(T0)
    store = S3LikeStore(clock=clock)
    soon, later = NOW + timedelta(days=1), NOW + timedelta(days=9)
    pid = P_OLD
    store.put(pack_key(pid), b"v1", retention=Retention(LockMode.COMPLIANCE, later))
    store.overwrite(pack_key(pid), b"v2")
    store.extend_retention(pack_key(pid), soon)  # the newest version: locked, but less long
    result = prune_repository(store, {}, [], [], now=NOW)
    assert result.locked == (LockedObject(pack_key(pid), later),)
    assert result.next_free == later


def test_a_version_that_vanishes_before_its_head_does_not_hide_the_lock_of_the_next() -> None:
    clock = Clock(T0)
    store = S3LikeStore(clock=clock, bypass_governance=True)
    until = NOW + timedelta(days=3)
    store.put(snapshot_key(S_GONE), b"original", retention=Retention(LockMode.GOVERNANCE, until))
    newest = store.overwrite(snapshot_key(S_GONE), b"newer")
    store.vanish_on_head.add(newest)  # listed newest first, gone by the time it is read
    deleted, locked, denied = forget_snapshots(store, [S_GONE], now=NOW, dry_run=False)
    assert denied == []
    assert deleted == []
    assert locked == [LockedObject(snapshot_key(S_GONE), until)]
    assert store.exists(snapshot_key(S_GONE))


def test_a_retention_that_ends_exactly_now_is_over() -> None:
    clock = Clock(T0)
    store = FakeStore(clock=clock)
    store.put(snapshot_key(S_GONE), b"m", retention=Retention(LockMode.COMPLIANCE, NOW))
    clock.now = NOW
    deleted, locked, denied = forget_snapshots(store, [S_GONE], now=NOW, dry_run=False)
    assert denied == []
    assert (deleted, locked) == ([S_GONE], [])


def test_a_delete_refused_for_a_lock_prune_could_not_see_is_reported_locked_and_kept() -> None:
    clock = Clock(T0)
    store = S3LikeStore(clock=clock)
    store.put(snapshot_key(S_GONE), b"m")
    store.put(pack_key(P_OLD), b"p" * 10)  # still needed: the snapshot stays
    store.put(pack_key(P_KEPT), b"q" * 10)  # unreferenced: its delete is refused too
    store.refuse_deletes = True
    result = prune_repository(store, {}, [snap(S_GONE, [P_OLD])], [], now=NOW)
    assert result.deleted_snapshots == ()
    assert result.kept_snapshots == (S_GONE,)
    assert result.deleted_packs == ()
    assert result.freed_bytes == 0
    assert set(result.locked) == {
        LockedObject(snapshot_key(S_GONE), None),
        LockedObject(pack_key(P_KEPT), None),
    }
    assert store.exists(pack_key(P_OLD))
    assert store.exists(pack_key(P_KEPT))
