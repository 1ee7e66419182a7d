"""`drkit forget SNAPSHOT... [--dry-run]`: removes chosen snapshots, never a locked one, and is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from drkit.repo.format import audit
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.base import LockMode
from drkit.storage.local import LocalStore
from tests.unit.cli.localrepo import PASSWORD, drkit, make_repo


def test_dry_run_changes_nothing_then_forget_removes_and_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    before = sorted(p.name for p in (local.path / "snapshots").iterdir())
    dry = drkit(capsys, "forget", local.cluster.short_id, local.volume.id, "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would forget {local.cluster.short_id}" in dry.out
    assert "would forget 2 snapshots" in dry.out
    assert sorted(p.name for p in (local.path / "snapshots").iterdir()) == before
    assert audit.list_records(local.repo).records == []  # a dry run is not recorded

    run = drkit(capsys, "forget", local.cluster.short_id, local.volume.id, "-o", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["forgotten"] == [local.cluster.id, local.volume.id]
    left = json.loads(drkit(capsys, "snapshots", "-o", "json").out)
    assert [s["id"] for s in left] == [local.path_snap.id, local.drill.id]
    (record,) = audit.list_records(local.repo).records
    assert (record.action, record.command, record.result) == ("forget", "forget", "ok")
    assert record.detail["forgotten"] == [local.cluster.short_id, local.volume.short_id]


def test_a_locked_snapshot_is_not_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("DRKIT_REPO", str(tmp_path / "repo"))
    repo = Repository.init(
        LocalStore(tmp_path / "repo"), Credential(passphrase=Secret(PASSWORD)),
        lock_mode=LockMode.COMPLIANCE, retention=timedelta(days=1), scrypt_n=1024,
    )  # fmt: skip
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    snap = repo.backup_path(tmp_path / "src")
    run = drkit(capsys, "forget", snap.short_id)
    assert run.code == ExitCode.PARTIAL
    assert f"locked {snap.short_id}: under Object Lock until " in run.out
    assert "forgot 0 snapshots" in run.out
    assert "1 snapshot not forgotten" in run.err
    assert "once its retention has passed" in run.err
    assert [s.id for s in repo.snapshots()] == [snap.id]
    (record,) = audit.list_records(repo).records
    assert (record.action, record.result) == ("forget", "partial")


def test_an_unknown_snapshot_is_a_usage_error_and_nothing_is_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    run = drkit(capsys, "forget", local.cluster.id, "deadbeef")
    assert run.code == ExitCode.USAGE
    assert "no snapshot 'deadbeef'" in run.err
    assert len(local.repo.snapshots()) == 4
