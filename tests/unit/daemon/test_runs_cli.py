"""`drkit daemon runs`: the runs of runs.jsonl, joined start and end, for people and scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.daemon.records import Job, Result, RunEnd, RunLog, RunStart
from drkit.errors import ExitCode
from tests.unit.cli.localrepo import drkit

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _log(state: Path) -> None:
    log = RunLog(state)
    backup = RunStart("20261126T020000Z-aaaa0001", "nightly", Job.BACKUP, 1, T0)
    log.started(backup)
    log.finished(RunEnd(backup, T0 + timedelta(seconds=72.5), Result.SUCCESS, snapshot_id="9f3c" * 16))
    verify = RunStart("20261126T043000Z-aaaa0002", "nightly", Job.VERIFY, 2, T0 + timedelta(hours=2))
    log.started(verify)
    log.finished(
        RunEnd(verify, T0 + timedelta(hours=2, minutes=3, seconds=5), Result.FAILED, error="1 problems")
    )
    drill = RunStart("20261126T060000Z-aaaa0003", "monthly", Job.DRILL, 1, T0 + timedelta(hours=4))
    log.started(drill)  # still running (or cut off by a crash)
    with log.path.open("a") as f:
        f.write('{"event":"finished","run_id":"torn')  # a torn last line is skipped


def test_runs_lists_outcome_duration_and_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    _log(state)
    run = drkit(capsys, "daemon", "runs", "--state-dir", str(state))
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split() == [
        "START",
        "SCHEDULE",
        "JOB",
        "ATTEMPT",
        "RESULT",
        "DURATION",
        "SNAPSHOT",
        "ERROR",
    ]
    assert lines[1].split() == [
        "2026-11-26",
        "02:00:00",
        "nightly",
        "backup",
        "1",
        "success",
        "1m12s",
        "9f3c9f3c",
    ]
    assert lines[2].split() == [
        "2026-11-26",
        "04:00:00",
        "nightly",
        "verify",
        "2",
        "failed",
        "3m05s",
        "1",
        "problems",
    ]
    assert lines[3].split() == ["2026-11-26", "06:00:00", "monthly", "drill", "1", "running"]
    assert lines[-1] == "3 runs"

    data = json.loads(drkit(capsys, "daemon", "runs", "--state-dir", str(state), "-o", "json").out)
    assert [(r["job"], r["result"], r["duration_s"]) for r in data] == [
        ("backup", "success", 72.5),
        ("verify", "failed", 185.0),
        ("drill", "running", None),
    ]
    assert data[0]["snapshot_id"] == "9f3c" * 16
    only = json.loads(
        drkit(capsys, "daemon", "runs", "--state-dir", str(state), "--job", "verify", "-o", "json").out
    )
    assert [r["run_id"] for r in only] == ["20261126T043000Z-aaaa0002"]
    newest = json.loads(
        drkit(capsys, "daemon", "runs", "--state-dir", str(state), "--last", "1", "-o", "json").out
    )
    assert [r["job"] for r in newest] == ["drill"]


def test_a_missing_state_dir_is_an_error_and_an_empty_one_lists_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = drkit(capsys, "daemon", "runs", "--state-dir", str(tmp_path / "nope"))
    assert missing.code == ExitCode.USAGE
    assert "no daemon has kept run records here" in missing.err
    assert not (tmp_path / "nope").exists()
    (tmp_path / "empty").mkdir()
    empty = drkit(capsys, "daemon", "runs", "--state-dir", str(tmp_path / "empty"))
    assert empty.code == 0
    assert empty.out.strip().endswith("0 runs")


def test_the_daemon_still_needs_its_schedules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRKIT_SCHEDULES", raising=False)
    run = drkit(capsys, "daemon", "--no-leader-election")
    assert run.code == ExitCode.USAGE
    assert "Missing option '--schedules'" in run.err
