"""verify warns about objects locked far beyond the retention drkit set (issue 19.9): a writer
credential can extend COMPLIANCE retention to 2099, so that nothing can be pruned for decades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.repo.format.layout import pack_key, snapshot_key
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import Clock, SafeStore, make_tree, new_repo
from tests.unit.restore.test_cli_plan import drkit

FAR = datetime(2099, 1, 1, tzinfo=UTC)


def test_drkits_own_locks_and_extensions_give_no_warning(tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    store = SafeStore()
    repo = new_repo(store, clock=clock)
    make_tree(tmp_path / "src")
    repo.backup_path(tmp_path / "src", host="h")
    clock.now += timedelta(days=5)
    repo.backup_path(tmp_path / "src", host="h")  # reuses every pack: drkit extends their locks
    report = repo.verify()
    assert report.ok
    assert report.warnings == ()


def test_an_extension_to_2099_is_named(tmp_path: Path) -> None:
    store = SafeStore()
    repo = new_repo(store)
    make_tree(tmp_path / "src")
    snap = repo.backup_path(tmp_path / "src", host="h")
    pack = sorted(snap.packs)[0]
    store.extend_retention(pack_key(pack), FAR)  # what a stolen writer credential can do
    store.extend_retention(snapshot_key(snap.id), FAR)
    report = repo.verify()
    assert report.ok  # nothing is damaged: a warning, not a problem
    assert len(report.warnings) == 2
    assert "2 objects are locked far beyond the retention drkit set" in report.warnings[0]
    assert "until 2099-01-01" in report.warnings[0]
    assert "cost attack" in report.warnings[0]
    named = " ".join(report.warnings)
    assert pack_key(pack) in named
    assert snapshot_key(snap.id) in named


def test_verify_prints_the_warning_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo_dir))
    monkeypatch.setenv("DRKIT_PASSWORD", "a passphrase for the retention warning")
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    make_tree(tmp_path / "src")
    assert drkit(capsys, "repo", "init", "--retention", "1d").code == 0
    sid = drkit(capsys, "backup", "path", str(tmp_path / "src"), "-o", "json").json()["id"]
    LocalStore(repo_dir).extend_retention(snapshot_key(sid), FAR)
    run = drkit(capsys, "verify")
    assert run.code == 0, run.err
    assert "warning: 1 objects are locked far beyond the retention drkit set" in run.out
    assert drkit(capsys, "verify", "-o", "json").json()["warnings"]
