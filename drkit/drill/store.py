"""Drill results in the repository: each drill is a small, immutable snapshot of kind ``drill``.

Its manifest ``meta`` holds ``{"drill": <summary>}`` (so listings need no pack) and its tree one
file, ``drill/result.json`` (the full result, as in the JSON report). Like every snapshot it is
written once, locked with the repository's retention and signed; ``forget``/``prune`` treat it like
any other snapshot.

    snap = store_result(repo, result)
    records = drill_records(repo.snapshots())       # oldest first
    proven = newest_proven(records)                 # the newest backup a passing drill restored
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from drkit.drill.result import DrillResult
from drkit.repo.format.model import KIND_DRILL, Snapshot
from drkit.repo.repository import Repository

RESULT_PATH: Final = "drill/result.json"
TAG: Final = "drill"


def store_result(repo: Repository, result: DrillResult, *, host: str | None = None) -> Snapshot:
    tags = (TAG, f"plan={result.plan}", "passed" if result.ok else "failed")
    with repo.new_snapshot(kind=KIND_DRILL, tags=tags, host=host) as snap:
        snap.add_bytes(RESULT_PATH, json.dumps(result.to_json(), indent=2).encode(), mtime=result.finished)
        snap.set_meta({"drill": result.summary()})
    assert snap.snapshot is not None  # committed: the block left normally
    return snap.snapshot


@dataclass(frozen=True)
class DrillRecord:
    """A past drill as the repository lists it: ``snapshot`` is the drill's own snapshot."""

    snapshot: Snapshot
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.summary.get("ok"))

    @property
    def restored_snapshot(self) -> str:
        return str(self.summary.get("snapshot", ""))

    @property
    def restored_time(self) -> datetime | None:
        return _time(self.summary.get("snapshotTime"))

    @property
    def finished(self) -> datetime:
        return _time(self.summary.get("finished")) or self.snapshot.time

    def to_json(self) -> dict[str, Any]:
        return {"record": self.snapshot.id, "recorded": self.snapshot.time.isoformat(), **self.summary}


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def drill_records(snapshots: Iterable[Snapshot]) -> list[DrillRecord]:
    """Every drill snapshot with a readable summary, oldest first."""
    out = []
    for s in snapshots:
        summary = s.meta.get("drill") if s.kind == KIND_DRILL else None
        if isinstance(summary, dict):
            out.append(DrillRecord(s, summary))
    return sorted(out, key=lambda r: r.finished)


def newest_proven(records: Iterable[DrillRecord]) -> DrillRecord | None:
    """The passing drill that restored the newest backup (ties: the latest drill)."""
    passing = [r for r in records if r.ok and r.restored_time is not None]
    if not passing:
        return None
    return max(passing, key=lambda r: (r.restored_time or r.finished, r.finished))
