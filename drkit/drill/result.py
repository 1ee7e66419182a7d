"""What a drill found: its phases (for RTO), the snapshot's age (RPO), the restore and the checks.

RTO is the time from the start of the drill to a restored cluster that passed its checks: the sum
of the phases ``cluster-up``, ``restore``, ``ready`` and ``checks`` (teardown is not part of it).
RPO is the age of the restored snapshot when the drill started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drkit.drill.checks import CheckResult, Status

PHASE_CLUSTER_UP = "cluster-up"
PHASE_RESTORE = "restore"
PHASE_READY = "ready"
PHASE_CHECKS = "checks"
PHASE_TEARDOWN = "teardown"
RTO_PHASES = (PHASE_CLUSTER_UP, PHASE_RESTORE, PHASE_READY, PHASE_CHECKS)


@dataclass(frozen=True)
class Phase:
    """One timed step. ``start_s`` is its offset from the start of the drill."""

    name: str
    start_s: float
    duration_s: float
    ok: bool = True
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "startS": round(self.start_s, 3),
            "durationS": round(self.duration_s, 3),
            "ok": self.ok,
            "message": self.message,
        }


@dataclass(frozen=True)
class RestoreSummary:
    """The restore as the drill reports it (never object bodies)."""

    counts: dict[str, int] = field(default_factory=dict)
    applied: int = 0
    failures: tuple[str, ...] = ()
    waits: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "applied": self.applied,
            "waits": self.waits,
            "failures": list(self.failures),
        }


@dataclass(frozen=True)
class DrillResult:
    id: str
    plan: str
    plan_file: str
    provider: str
    snapshot_id: str
    snapshot_time: datetime
    started: datetime
    finished: datetime
    phases: tuple[Phase, ...]
    checks: tuple[CheckResult, ...]
    restore: RestoreSummary | None
    error: str | None = None  # why the drill stopped before its checks (cluster or restore failed)
    cluster: dict[str, Any] = field(default_factory=dict)
    kept: bool = False

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is Status.FAIL]

    @property
    def ok(self) -> bool:
        restored = self.restore is not None and self.restore.ok
        return self.error is None and restored and not self.failed_checks

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def rto_s(self) -> float:
        return sum(p.duration_s for p in self.phases if p.name in RTO_PHASES)

    @property
    def rpo_s(self) -> float:
        return (self.started - self.snapshot_time).total_seconds()

    def counts(self) -> dict[str, int]:
        out = {str(s): 0 for s in Status}
        for c in self.checks:
            out[str(c.status)] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """The small record kept in the repository's listing (no check messages)."""
        return {
            "id": self.id,
            "ok": self.ok,
            "plan": self.plan,
            "provider": self.provider,
            "snapshot": self.snapshot_id,
            "snapshotTime": self.snapshot_time.isoformat(),
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "rtoS": round(self.rto_s, 3),
            "rpoS": round(self.rpo_s, 3),
            "phases": {p.name: round(p.duration_s, 3) for p in self.phases},
            "checks": self.counts(),
            "failedChecks": [c.spec.name for c in self.failed_checks],
            "error": self.error,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            **self.summary(),
            "planFile": self.plan_file,
            "cluster": self.cluster,
            "kept": self.kept,
            "phases": [p.to_json() for p in self.phases],
            "restore": None if self.restore is None else self.restore.to_json(),
            "checks": [c.to_json() for c in self.checks],
        }
