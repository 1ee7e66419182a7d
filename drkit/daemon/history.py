"""The daemon's past runs, read back from ``<state-dir>/runs.jsonl`` (``drkit daemon runs``).

    runs = recent_runs(state_dir, last=20)     # newest last; each a RunSummary

A run is its ``started`` line joined with its ``finished`` line; a run without a ``finished`` line is
``running`` (or was cut off by a crash the next start will record). Reading never creates or
changes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drkit.daemon.records import RUNS_FILE
from drkit.errors import ConfigError

RUNNING = "running"


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    schedule: str
    job: str
    attempt: int
    start: datetime | None
    end: datetime | None
    result: str  # success, partial, failed, skipped, or running
    snapshot_id: str | None
    error: str | None

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "schedule": self.schedule,
            "job": self.job,
            "attempt": self.attempt,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "result": self.result,
            "snapshot_id": self.snapshot_id,
            "error": self.error,
        }


def recent_runs(
    state_dir: Path, *, last: int | None = None, schedule: str | None = None, job: str | None = None
) -> list[RunSummary]:
    """The runs recorded in ``state_dir``, oldest first (the newest ``last`` of them)."""
    path = state_dir / RUNS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not state_dir.is_dir():
            raise ConfigError(
                "no such directory: no daemon has kept run records here", file=str(state_dir)
            ) from None
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read the run records: {exc.strerror or exc}", file=str(path)) from None
    started: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a torn last line (a crash in the middle of a write)
        if not isinstance(record, dict) or "run_id" not in record:
            continue
        run_id = str(record["run_id"])
        if record.get("event") == "started":
            started.setdefault(run_id, record)
        elif record.get("event") == "finished":
            finished[run_id] = record
    runs = [
        _summary(run_id, started.get(run_id, {}), finished.get(run_id))
        for run_id in dict.fromkeys([*started, *finished])
    ]
    runs = [r for r in runs if (schedule is None or r.schedule == schedule) and (job is None or r.job == job)]
    runs.sort(key=lambda r: (r.start or r.end or datetime.min.astimezone(), r.run_id))
    return runs[-last:] if last else runs


def _summary(run_id: str, start: dict[str, Any], end: dict[str, Any] | None) -> RunSummary:
    first = start or end or {}
    return RunSummary(
        run_id=run_id,
        schedule=str(first.get("schedule", "")),
        job=str(first.get("job", "")),
        attempt=int(first.get("attempt", 1)),
        start=_time(first.get("start")),
        end=_time(end.get("end")) if end else None,
        result=str(end.get("result", "")) if end else RUNNING,
        snapshot_id=end.get("snapshot_id") if end else None,
        error=end.get("error") if end else None,
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
