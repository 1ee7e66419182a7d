"""Run records: what the daemon started and how each run ended, as JSON lines in ``<state-dir>/runs.jsonl``.

Two events per run, each one line appended with a single ``write`` on an ``O_APPEND`` descriptor and
``fsync``-ed before the run goes on: ``started`` (run id, schedule, job, attempt, start) and ``finished``
(the same plus end, result, error, snapshot id and details). A crash between the two leaves a started
run without its end: :meth:`RunLog.recover` finds those on the next start and records each as failed
("interrupted by a crash/restart"), so that no run is lost in silence. A torn last line (a crash in the
middle of a write) is skipped when reading.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from drkit.errors import ConfigError

RUNS_FILE = "runs.jsonl"
INTERRUPTED = "interrupted by a crash/restart"


class Result(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"  # a snapshot was committed, but some resource lists are missing from it
    FAILED = "failed"
    SKIPPED = "skipped"


class Job(StrEnum):
    BACKUP = "backup"
    VERIFY = "verify"
    DRILL = "drill"


def new_run_id() -> str:
    """Sortable by time, unique: ``20261126T064200Z-1a2b3c4d``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RunStart:
    run_id: str
    schedule: str
    job: Job
    attempt: int
    start: datetime

    def to_record(self) -> dict[str, Any]:
        return {
            "event": "started",
            "run_id": self.run_id,
            "schedule": self.schedule,
            "job": self.job.value,
            "attempt": self.attempt,
            "start": _iso(self.start),
        }


@dataclass(frozen=True)
class RunEnd:
    run: RunStart
    end: datetime
    result: Result
    error: str | None = None
    snapshot_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = self.run.to_record()
        record.update(
            event="finished",
            end=_iso(self.end),
            result=self.result.value,
            error=self.error,
            snapshot_id=self.snapshot_id,
        )
        if self.details:
            record["details"] = self.details
        return record


def _parse_start(record: dict[str, Any]) -> RunStart:
    return RunStart(
        run_id=str(record["run_id"]),
        schedule=str(record["schedule"]),
        job=Job(record["job"]),
        attempt=int(record.get("attempt", 1)),
        start=datetime.fromisoformat(str(record["start"])),
    )


class RunLog:
    """The append-only log of runs in ``state_dir`` (created if missing). Thread-safe."""

    def __init__(self, state_dir: Path) -> None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the state directory: {exc}", file=str(state_dir)) from exc
        self.path = state_dir / RUNS_FILE
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def started(self, run: RunStart) -> None:
        self._append(run.to_record())

    def finished(self, end: RunEnd) -> None:
        self._append(end.to_record())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record, oldest first (a torn or foreign line is skipped)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for raw in data.splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") in ("started", "finished"):
                yield record

    def unfinished(self) -> list[RunStart]:
        """Runs that were started and never recorded as finished, oldest first."""
        open_runs: dict[str, dict[str, Any]] = {}
        for record in self.records():
            if record["event"] == "started":
                open_runs[str(record["run_id"])] = record
            else:
                open_runs.pop(str(record["run_id"]), None)
        runs: list[RunStart] = []
        for record in open_runs.values():
            try:
                runs.append(_parse_start(record))
            except (KeyError, ValueError):
                continue
        return runs

    def recover(self, now: datetime | None = None) -> list[RunEnd]:
        """Record every unfinished run as failed ("interrupted by a crash/restart"); return them."""
        ended = [
            RunEnd(run, now or datetime.now(UTC), Result.FAILED, error=INTERRUPTED)
            for run in self.unfinished()
        ]
        for end in ended:
            self.finished(end)
        return ended

    def finished_runs(self, schedule: str | None = None, job: Job | None = None) -> list[dict[str, Any]]:
        """The ``finished`` records, oldest first, optionally of one schedule and job."""
        return [
            r
            for r in self.records()
            if r["event"] == "finished"
            and (schedule is None or r.get("schedule") == schedule)
            and (job is None or r.get("job") == job.value)
        ]
