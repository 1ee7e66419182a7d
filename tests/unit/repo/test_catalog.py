"""A deleted manifest is reported by verify (issue 19.4): the catalog written with each snapshot.

Before, a manifest deleted beneath the lock (by whoever controls the disks, a lifecycle rule, a
GOVERNANCE bypass, or in a repository without locks) left no trace: verify compared the repository
with itself and found nothing wrong.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from drkit.repo.engine.retention import Policy
from drkit.repo.format.catalog import CATALOG_PREFIX, READS, check, encode_entry, list_entries, read_entry
from drkit.repo.format.layout import SNAPSHOTS_PREFIX, snapshot_key
from drkit.repo.format.model import ProblemKind
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import SafeStore, corrupt, make_tree, new_repo, open_repo, vanish
from tests.unit.restore.test_cli_plan import drkit


def _three(tmp_path: Path, store: SafeStore, **kw: object) -> list[str]:
    repo = new_repo(store, **kw)  # type: ignore[arg-type]
    src = tmp_path / "src"
    make_tree(src)
    ids = []
    for i in range(3):
        (src / "changing.txt").write_text(f"backup {i}\n")
        ids.append(repo.backup_path(src, host="h").id)
    return ids


def test_each_snapshot_gets_a_locked_catalog_entry_chained_to_the_previous(tmp_path: Path) -> None:
    store = SafeStore()
    ids = _three(tmp_path, store)
    entries = list_entries(store)
    assert [e.snapshot for e in entries] == ids
    bodies = [read_entry(store, e.key) for e in entries]
    assert bodies[0] is not None
    assert bodies[0]["previous"] is None
    for prev, body in zip(entries, bodies[1:], strict=False):
        assert body is not None
        assert body["previous"]["snapshot"] == prev.snapshot
    manifest = store.head(snapshot_key(ids[0])).retention
    assert store.head(entries[0].key).retention == manifest  # locked like the manifest
    assert open_repo(store).verify().ok


def test_a_deleted_manifest_is_reported(tmp_path: Path) -> None:
    store = SafeStore()
    ids = _three(tmp_path, store)
    vanish(store, snapshot_key(ids[1]))  # beneath the lock
    report = open_repo(store).verify()
    assert not report.ok
    (problem,) = report.problems
    assert (problem.kind, problem.object, problem.snapshots) == (
        ProblemKind.MISSING,
        snapshot_key(ids[1]),
        (ids[1],),
    )
    assert "the manifest is gone" in problem.message
    assert CATALOG_PREFIX in problem.message


def test_a_manifest_deleted_with_its_catalog_entry_is_reported_by_the_next_entry(tmp_path: Path) -> None:
    store = SafeStore()
    ids = _three(tmp_path, store)
    vanish(store, snapshot_key(ids[1]))
    vanish(store, next(e.key for e in list_entries(store) if e.snapshot == ids[1]))
    report = open_repo(store).verify()
    (problem,) = report.problems
    assert (problem.kind, problem.object) == (ProblemKind.MISSING, snapshot_key(ids[1]))
    assert "deleted beneath the lock" in problem.message


def test_forget_and_prune_remove_the_entries_and_verify_stays_clean(tmp_path: Path) -> None:
    store = SafeStore()
    ids = _three(tmp_path, store, lock_mode=None, retention=timedelta(0))
    repo = open_repo(store)
    assert repo.forget([ids[1]]).deleted == (ids[1],)
    assert [e.snapshot for e in list_entries(store)] == [ids[0], ids[2]]
    assert repo.verify().ok  # ids[2]'s previous is gone, but it was not locked: a legitimate forget
    repo.refresh()
    result = repo.prune(policy=Policy(last=1))
    assert result.deleted_snapshots == (ids[0],)
    assert [e.snapshot for e in list_entries(store)] == [ids[2]]
    assert open_repo(store).verify().ok
    assert len(store.keys(SNAPSHOTS_PREFIX)) == 1


def test_verify_exits_13_naming_the_deleted_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo_dir))
    monkeypatch.setenv("DRKIT_PASSWORD", "a passphrase for the catalog test")
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    make_tree(tmp_path / "src")
    assert drkit(capsys, "repo", "init", "--retention", "1d").code == 0
    sid = drkit(capsys, "backup", "path", str(tmp_path / "src"), "-o", "json").json()["id"]
    assert drkit(capsys, "verify").code == 0
    (repo_dir / "snapshots" / sid).unlink()  # the local directory's "lock" is no obstacle to rm
    run = drkit(capsys, "verify")
    assert run.code == ExitCode.VERIFICATION_FAILED
    assert f"missing: snapshots/{sid}: the manifest is gone" in run.out
    assert LocalStore(repo_dir).exists(next(e.key for e in list_entries(LocalStore(repo_dir))))


class _FlipInTransit(SafeStore):
    """Flips the middle byte of the first ``flips`` reads of each catalog entry, as a store that sends
    no checksum header lets a byte flipped on the way back through (tests/infra/faultproxy.py
    ``flip-bare``). In the middle of a chained entry lies a digit of ``previous``'s snapshot id."""

    def __init__(self, flips: int = 1) -> None:
        super().__init__()
        self.flips = flips
        self.flipped: dict[str, int] = {}

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        if not key.startswith(CATALOG_PREFIX) or self.flipped.get(key, 0) >= self.flips:
            return data
        self.flipped[key] = self.flipped.get(key, 0) + 1
        damaged = bytearray(data)
        damaged[len(damaged) // 2] ^= 0x01
        return bytes(damaged)


def test_a_digit_flipped_in_transit_is_not_a_snapshot_deleted_beneath_the_lock(tmp_path: Path) -> None:
    # Seen in CI (stop 26): verify through the fault proxy read a chained entry whose previous
    # snapshot id had one digit flipped, and reported that snapshot deleted beneath its lock.
    store = _FlipInTransit(flips=0)
    ids = _three(tmp_path, store)
    store.flips = READS - 1
    report = open_repo(store).verify()
    assert report.ok, report.problems
    assert len(store.flipped) == len(ids)  # every entry was read damaged first, then read again
    assert all(n == READS - 1 for n in store.flipped.values())


def test_an_entry_damaged_in_the_store_is_reported_corrupt_by_name(tmp_path: Path) -> None:
    store = SafeStore()
    ids = _three(tmp_path, store)
    entry = next(e.key for e in list_entries(store) if e.snapshot == ids[1])
    corrupt(store, entry, at=250)  # inside previous's snapshot id
    assert read_entry(store, entry) is None
    (problem,) = open_repo(store).verify().problems
    assert (problem.kind, problem.object, problem.snapshots) == (ProblemKind.CORRUPT, entry, (ids[1],))
    assert "damaged" in problem.message


def _without_sum(store: SafeStore, key: str) -> None:
    """Rewrite an entry as drkit wrote them before entries carried a sum."""
    version = store.inner._objects[key][0]
    body = json.loads(version.data)
    del body["sum"]
    version.data = (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()


def test_entries_written_before_the_sum_are_read_again_before_a_deletion_is_reported(tmp_path: Path) -> None:
    store = _FlipInTransit(flips=0)
    ids = _three(tmp_path, store)
    for e in list_entries(store):
        _without_sum(store, e.key)
    assert all("sum" not in (read_entry(store, e.key) or {"sum": 1}) for e in list_entries(store))
    store.flips = 1
    assert open_repo(store).verify().ok  # the flipped previous was read again and was not confirmed
    # and a real deletion is still reported
    vanish(store, snapshot_key(ids[1]))
    vanish(store, next(e.key for e in list_entries(store) if e.snapshot == ids[1]))
    (problem,) = open_repo(store).verify().problems
    assert (problem.kind, problem.object) == (ProblemKind.MISSING, snapshot_key(ids[1]))


def test_an_entry_is_canonical_json_with_the_sum_of_its_other_fields(tmp_path: Path) -> None:
    store = SafeStore()
    _three(tmp_path, store)
    for e in list_entries(store):
        data = store.get(e.key)
        body = json.loads(data)
        rest = {k: v for k, v in body.items() if k != "sum"}
        canonical = json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()
        assert body["sum"] == hashlib.sha256(canonical).hexdigest()
        assert data == encode_entry(rest)


class _DigitInTransit(SafeStore):
    """Changes the last digit of ``retain_until`` in the next read of ``key`` (the body stays JSON,
    and an entry without a sum has nothing else to catch it)."""

    def __init__(self) -> None:
        super().__init__()
        self.key: str | None = None

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        if key != self.key:
            return data
        self.key = None
        at = data.rindex(b'"retain_until":"') + len(b'"retain_until":"YYYY-MM-D')  # the entry's own
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_an_entry_without_a_sum_is_read_twice_before_the_next_entry_copies_its_lock(tmp_path: Path) -> None:
    # The next entry keeps previous's retain_until for good: a digit changed in transit would later
    # turn a legitimate prune of that snapshot (after its real lock) into one "beneath the lock".
    store = _DigitInTransit()
    ids = _three(tmp_path, store)
    for e in list_entries(store):
        _without_sum(store, e.key)
    newest = list_entries(store)[-1]
    stored = json.loads(store.inner._objects[newest.key][0].data)["retain_until"]
    store.key = newest.key
    src = tmp_path / "src"
    (src / "changing.txt").write_text("backup 4\n")
    sid = open_repo(store).backup_path(src, host="h").id
    assert store.key is None  # the change did happen
    body = read_entry(store, list_entries(store)[-1].key)
    assert body is not None
    assert (body["snapshot"], body["previous"]["snapshot"]) == (sid, ids[-1])
    assert body["previous"]["retain_until"] == stored


def test_a_snapshot_committed_after_the_manifests_were_listed_is_not_reported_deleted(tmp_path: Path) -> None:
    # verify lists snapshots/ first, then catalog/: a backup committing in between (manifest, then
    # entry) left an entry whose manifest the listing had not seen.
    store = SafeStore()
    ids = _three(tmp_path, store)
    assert check(store, set(ids[:2]), now=datetime.now(UTC)) == []
    vanish(store, snapshot_key(ids[2]))
    (problem,) = check(store, set(ids[:2]), now=datetime.now(UTC))
    assert (problem.kind, problem.object) == (ProblemKind.MISSING, snapshot_key(ids[2]))
