from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from drkit.daemon.records import INTERRUPTED, Job, Result, RunEnd, RunLog, RunStart, new_run_id
from drkit.daemon.retry import RetryPolicy, permanent
from drkit.errors import ConfigError, StorageError, WrongKey


def _run(schedule: str = "nightly", attempt: int = 1) -> RunStart:
    return RunStart(new_run_id(), schedule, Job.BACKUP, attempt, datetime.now(UTC))


def test_runs_are_appended_and_read_back(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "state")
    done = _run()
    log.started(done)
    log.finished(RunEnd(done, datetime.now(UTC), Result.SUCCESS, snapshot_id="abc", details={"bytes": 3}))
    going = _run(attempt=2)
    log.started(going)
    records = list(log.records())
    assert [r["event"] for r in records] == ["started", "finished", "started"]
    assert records[1]["snapshot_id"] == "abc"
    assert records[1]["details"] == {"bytes": 3}
    assert [r.run_id for r in log.unfinished()] == [going.run_id]
    assert log.unfinished()[0].attempt == 2
    assert len(log.finished_runs("nightly", Job.BACKUP)) == 1
    assert log.finished_runs("other") == []


def test_recover_records_interrupted_runs_as_failed_once(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    run = _run()
    log.started(run)
    ended = log.recover()
    assert [e.run.run_id for e in ended] == [run.run_id]
    assert ended[0].result is Result.FAILED
    assert ended[0].error == INTERRUPTED
    last = list(log.records())[-1]
    assert last["event"] == "finished"
    assert last["error"] == INTERRUPTED
    assert log.recover() == []  # already recorded: nothing the second time
    assert RunLog(tmp_path).unfinished() == []  # and the file says so to a new reader


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    run = _run()
    log.started(run)
    with log.path.open("a") as f:
        f.write('{"event":"finished","run_id":"' + run.run_id)  # a crash in the middle of a write
    assert [r.run_id for r in log.unfinished()] == [run.run_id]
    with log.path.open("a") as f:
        f.write("\n")
    log.finished(RunEnd(run, datetime.now(UTC), Result.FAILED, error="x"))
    assert log.unfinished() == []
    assert all(json.loads(line) for line in log.path.read_text().splitlines()[-1:])


def test_retry_backoff_is_exponential_capped_and_bounded() -> None:
    policy = RetryPolicy(retries=4, delay=10, max_delay=30)
    assert [policy.next_delay(a) for a in range(1, 6)] == [10, 20, 30, 30, None]
    assert RetryPolicy(retries=0).next_delay(1) is None
    assert permanent(ConfigError("bad"))
    assert permanent(WrongKey("no"))
    assert not permanent(StorageError("flaky"))
    assert not permanent(RuntimeError("bug"))
