"""A deleted manifest is reported by verify (issue 19.4): the catalog written with each snapshot.

Before, a manifest deleted beneath the lock (by whoever controls the disks, a lifecycle rule, a
GOVERNANCE bypass, or in a repository without locks) left no trace: verify compared the repository
with itself and found nothing wrong.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from drkit.repo.engine.retention import Policy
from drkit.repo.format.catalog import CATALOG_PREFIX, list_entries, read_entry
from drkit.repo.format.layout import SNAPSHOTS_PREFIX, snapshot_key
from drkit.repo.format.model import ProblemKind
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import SafeStore, make_tree, new_repo, open_repo, vanish
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
