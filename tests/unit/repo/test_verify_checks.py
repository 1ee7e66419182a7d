"""Verify's checks beyond the tree walk, rule by rule: a newer version of a pack is tampering only
when its bytes fail the pack's hash, and the lock warning compares with the latest retention any
snapshot set. Found as gaps by mutation testing (docs/testing.md, fourth round)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.repo.engine import verify as verify_module
from drkit.repo.engine.verify import RETENTION_SLACK, Verifier
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import MasterIndex
from drkit.repo.format.layout import index_key, pack_key, snapshot_key
from drkit.repo.format.model import ProblemKind, Snapshot
from drkit.repo.format.sealing import SESSIONS_PREFIX
from tests.unit.repo.repohelpers import Clock, SafeStore, corrupt, make_tree, new_repo, open_repo, vanish
from tests.unit.repo.test_repo_writeonly import _with_writer_slot, _writer

FAR = datetime(2099, 1, 1, tzinfo=UTC)


def test_a_newer_version_with_the_packs_own_bytes_is_not_tampering(tmp_path: Path) -> None:
    """A retried upload on a versioned bucket leaves a second version with the same bytes: it passes
    the pack's hash, so verify reports nothing; different bytes are reported."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    same, other = sorted(snap.packs)[:2]
    store.inner.overwrite(pack_key(same), store.get(pack_key(same)))
    report = open_repo(store).verify()
    assert report.ok, report.problems
    store.inner.overwrite(pack_key(other), b"attacker's bytes")
    report = open_repo(store).verify()
    assert [(p.kind, p.object) for p in report.problems] == [(ProblemKind.TAMPERED, pack_key(other))]


def test_a_pack_in_no_index_with_a_newer_version_is_reported_as_missing_chunks(tmp_path: Path) -> None:
    """The index record of a pack is lost (its index object unreadable) and the pack has a newer
    version: no version to compare with, so no tampering claim and no crash; its chunks are missing."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    repo = open_repo(store)
    loaded = repo._load_index()
    old, index = loaded.index, MasterIndex()
    pack_id = next(
        p for p in sorted(snap.packs) if all(e.type is BlobType.DATA for e in old.packs[p].entries)
    )
    for pid, record in old.packs.items():  # the index built again without that pack's record
        if pid != pack_id:
            index.add_pack(record, old.pack_index.get(pid))
    loaded.index = index
    store.inner.overwrite(pack_key(pack_id), b"attacker's bytes")
    report = repo.verify()
    assert report.problems
    assert {p.kind for p in report.problems} == {ProblemKind.MISSING}
    assert all(p.object.startswith("data blob ") for p in report.problems)


def test_a_lock_an_earlier_snapshot_set_for_longer_gives_no_warning(tmp_path: Path) -> None:
    """A backup locked for 60 days (a schedule's longer lock), then one locked for 7 that reuses its
    packs: the packs' locks are what the first set, so nothing is locked beyond what drkit set."""
    make_tree(tmp_path / "src")
    clock = Clock(datetime.now(UTC))
    store = SafeStore()
    new_repo(store, clock=clock, retention=timedelta(days=7))
    longer = open_repo(store, clock=clock)
    longer.use_lock(period=timedelta(days=60))
    first = longer.backup_path(tmp_path / "src", host="h")
    clock.now += timedelta(days=1)
    second = open_repo(store, clock=clock).backup_path(tmp_path / "src", host="h")
    assert second.packs.keys() == first.packs.keys()
    report = open_repo(store, clock=clock).verify()
    assert report.ok, report.problems
    assert report.warnings == ()


def _far_warning(key: str) -> str:
    return f"1 objects are locked far beyond the retention drkit set (first: {key} until 2099-01-01"


def test_an_index_object_locked_far_beyond_is_named(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    index = sorted(snap.indexes)[0]
    store.extend_retention(index_key(index), FAR)
    report = open_repo(store).verify()
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(_far_warning(index_key(index)))


def test_the_lock_warning_goes_on_past_an_object_that_is_gone(tmp_path: Path) -> None:
    """An index object that vanished (listed before the manifest by name) does not end the check."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    repo = open_repo(store)
    repo._load_index()
    vanish(store, index_key(sorted(snap.indexes)[0]))
    store.extend_retention(snapshot_key(snap.id), FAR)
    report = repo.verify()
    assert snap.retain_until is not None
    assert [w for w in report.warnings if "locked far beyond" in w] == [
        _far_warning(snapshot_key(snap.id))
        + ", drkit set "
        + snap.retain_until.date().isoformat()
        + "): a writer credential may have extended them (a cost attack: they cannot be pruned before "
        "then; docs/security.md)"
    ]


def test_a_snapshot_checked_though_not_among_all_snapshots_gets_the_lock_warning(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    store.extend_retention(snapshot_key(snap.id), FAR)
    report = Verifier(open_repo(store), all_snapshots=[]).run([snap])
    assert report.packs_read == 0  # no data read unless asked for
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(_far_warning(snapshot_key(snap.id)))


def test_a_missing_session_key_is_named_with_the_snapshots_whose_packs_it_seals(tmp_path: Path) -> None:
    """Two write-only sessions; the first one's session key is lost. Its snapshot does not open, and
    the second snapshot, which reuses the first session's packs, is named by the session check."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    _with_writer_slot(store)
    _writer(store).backup_path(tmp_path / "src", host="h")
    first_session = store.keys(SESSIONS_PREFIX)
    second = _writer(store).backup_path(tmp_path / "src", host="h")
    (lost,) = first_session
    vanish(store, lost)
    report = open_repo(store).verify()
    missing = [(p.kind, p.object, p.snapshots) for p in report.problems if p.object == lost]
    assert missing == [(ProblemKind.MISSING, lost, (second.id,))]
    (problem,) = [p for p in report.problems if p.object == lost]
    assert problem.message.startswith(f"{lost} is missing from the store")


def test_a_lock_exactly_the_slack_beyond_gives_no_warning_and_one_second_more_does(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    assert snap.retain_until is not None
    store.extend_retention(snapshot_key(snap.id), snap.retain_until + RETENTION_SLACK)
    assert open_repo(store).verify().warnings == ()
    store.extend_retention(snapshot_key(snap.id), snap.retain_until + RETENTION_SLACK + timedelta(seconds=1))
    assert len(open_repo(store).verify().warnings) == 1


def test_each_object_locked_far_is_listed_with_what_drkit_set(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    pack = sorted(snap.packs)[0]
    until = snap.packs[pack].retain_until
    assert until is not None
    store.extend_retention(pack_key(pack), FAR)
    store.extend_retention(snapshot_key(snap.id), FAR)
    report = open_repo(store).verify()
    assert snap.retain_until is not None
    assert report.warnings[1:] == (
        f"{snapshot_key(snap.id)} locked until {FAR.isoformat()}, drkit set {snap.retain_until.isoformat()}",
    )
    assert report.warnings[0].startswith(
        f"2 objects are locked far beyond the retention drkit set (first: {pack_key(pack)} until 2099-01-01, "
        f"drkit set {until.date().isoformat()})"
    )


def test_a_lock_on_a_repository_without_locks_is_named_as_no_lock_set(tmp_path: Path) -> None:
    """A repository created without Object Lock on a bucket that has it: someone locked objects."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store, lock_mode=None, retention=timedelta(0)).backup_path(tmp_path / "src", host="h")
    assert snap.retain_until is None
    pack = sorted(snap.packs)[0]
    store.extend_retention(pack_key(pack), FAR)
    store.extend_retention(snapshot_key(snap.id), FAR)
    report = open_repo(store).verify()
    assert report.warnings[0].startswith(
        f"2 objects are locked far beyond the retention drkit set (first: {pack_key(pack)} until 2099-01-01, "
        "drkit set no lock)"
    )
    assert report.warnings[1:] == (
        f"{snapshot_key(snap.id)} locked until {FAR.isoformat()}, drkit set no lock",
    )


def test_a_damaged_recorded_version_read_from_an_intact_copy_is_reported_as_tampering(tmp_path: Path) -> None:
    """The version of a pack the index recorded rots; a second version with the pack's own bytes (a
    retried upload) is read instead, and verify names the bad version and the snapshot."""
    make_tree(tmp_path / "src")
    store = SafeStore()
    snap = new_repo(store).backup_path(tmp_path / "src", host="h")
    pack = sorted(snap.packs)[0]
    store.inner.overwrite(pack_key(pack), store.get(pack_key(pack)))
    corrupt(store, pack_key(pack))
    report = open_repo(store).verify(read_data_percent=100)
    (problem,) = report.problems
    recorded = snap.packs[pack].version_id
    assert (problem.kind, problem.object, problem.snapshots) == (
        ProblemKind.TAMPERED,
        pack_key(pack),
        (snap.id,),
    )
    assert problem.message.startswith(f"version {recorded} fails its check (overwritten?); ")


def _lock_far(store: SafeStore, snaps: list[Snapshot]) -> list[str]:
    keys = sorted(snapshot_key(s.id) for s in snaps)
    for key in keys:
        store.extend_retention(key, FAR)
    return keys


@pytest.mark.parametrize(("count", "listed"), [(3, 3), (4, 3)])
def test_objects_locked_far_are_listed_up_to_a_limit_and_the_rest_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, listed: int
) -> None:
    """Up to FAR_LISTED objects are named (the first in the summary), any beyond are counted in one
    last line: nothing is dropped without saying so."""
    monkeypatch.setattr(verify_module, "FAR_LISTED", listed)
    make_tree(tmp_path / "src")
    store = SafeStore()
    repo = new_repo(store)
    snaps = [repo.backup_path(tmp_path / "src", host="h", tags=[str(i)]) for i in range(count)]
    keys = _lock_far(store, snaps)
    warnings = [w for w in open_repo(store).verify().warnings if "locked" in w]
    summary = f"{count} objects are locked far beyond the retention drkit set (first: {keys[0]} "
    assert warnings[0].startswith(summary)
    assert [w.split(" ")[0] for w in warnings[1:listed]] == keys[1:listed]
    if count > listed:
        assert warnings[listed:] == [
            f"... and {count - listed} more objects locked far beyond the retention drkit set, not listed "
            f"(the first {listed} are, in key order)"
        ]
    else:
        assert len(warnings) == listed
