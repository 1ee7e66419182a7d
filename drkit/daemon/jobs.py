"""The work of one run: a backup (then prune per the schedule's retention), a verify, or a drill.

Each function opens what it needs from the schedule (repository, etcd, Kubernetes), does the work,
closes what it opened, and returns an :class:`Outcome` or raises. Recording, metrics, retries and
leadership are the scheduler's business (:mod:`drkit.daemon.service`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from drkit.capture.cluster import ClusterBackupResult, backup_cluster
from drkit.capture.request import request_from_schedule
from drkit.config.schedule import RetentionSettings, Schedule
from drkit.daemon.records import Result, RunEnd
from drkit.errors import DrkitError
from drkit.repo.engine.retention import Policy, policy_from_options
from drkit.repo.format import audit
from drkit.repo.format.model import PruneResult, VerifyReport
from drkit.repo.opening import open_repository
from drkit.repo.repository import Repository

log = logging.getLogger("drkit.daemon.jobs")

Notify = Callable[[str], None]

DRILL_HOOK_MODULE = "drkit.drill.scheduled"
DRILL_HOOK_NAME = "run_scheduled_drill"
DRILL_NOT_AVAILABLE = "drill not available: this drkit has no drill runner yet (the drill issue provides it)"


@dataclass(frozen=True)
class Outcome:
    """What a run achieved. ``ok`` False with a snapshot: a partial backup (committed, lists missing)."""

    ok: bool
    snapshot_id: str | None = None
    skipped: str | None = None  # why the run did nothing (e.g. no drill runner)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def retention_policy(settings: RetentionSettings) -> Policy:
    return policy_from_options(
        keep_last=settings.keep_last,
        keep_hourly=settings.keep_hourly,
        keep_daily=settings.keep_daily,
        keep_weekly=settings.keep_weekly,
        keep_monthly=settings.keep_monthly,
        keep_yearly=settings.keep_yearly,
        keep_within=settings.keep_within,
        keep_tags=settings.keep_tags,
    )


def backup(schedule: Schedule, *, notify: Notify) -> tuple[ClusterBackupResult, Repository]:
    """One cluster backup as ``schedule`` describes it; also returns the open repository (for prune).
    The schedule's own settings (kubeconfig, certificates) are checked before the repository opens."""
    request = request_from_schedule(schedule)
    try:
        repo = open_repository(schedule.repository)
        return backup_cluster(repo, request, notify=notify), repo
    finally:
        if request.kube is not None:
            request.kube.close()


def backup_outcome(result: ClusterBackupResult) -> Outcome:
    snap = result.snapshot
    details: dict[str, Any] = {
        "bytes": snap.stats.bytes,
        "new_bytes": snap.stats.new_bytes,
        "duration_s": round(result.duration_s, 3),
    }
    if result.etcd is not None:
        details["etcd_revision"] = result.etcd.get("revision")
    if result.resources is not None:
        details["objects"] = result.resources.objects
        if result.resources.errors:
            details["resource_errors"] = [str(e) for e in result.resources.errors[:20]]
    if result.volumes is not None:
        details["volumes"] = len(result.volumes.outcomes)
        if result.volumes.errors:
            details["volume_errors"] = [f"{o.volume.key}: {o.error}" for o in result.volumes.errors[:20]]
    error = None
    if result.partial:
        missing = []
        if result.resources is not None and result.resources.errors:
            missing.append(f"{len(result.resources.errors)} resource lists")
        if result.volumes is not None and result.volumes.errors:
            missing.append(f"{len(result.volumes.errors)} volumes")
        error = f"{' and '.join(missing)} could not be captured"
    return Outcome(ok=not result.partial, snapshot_id=snap.id, error=error, details=details)


def prune(schedule: Schedule, repo: Repository) -> PruneResult | None:
    """Prune ``repo`` per the schedule's retention; None when the schedule has no rule (nothing is
    ever pruned then). Locked objects are never deleted (``Repository.prune`` reports them)."""
    if schedule.retention.empty:
        return None
    return repo.prune(policy=retention_policy(schedule.retention))


def prune_details(result: PruneResult) -> dict[str, Any]:
    details: dict[str, Any] = {
        "deleted_snapshots": len(result.deleted_snapshots),
        "deleted_packs": len(result.deleted_packs),
        "freed_bytes": result.freed_bytes,
        "locked_objects": len(result.locked),
    }
    if result.next_free is not None:
        details["next_free"] = result.next_free.isoformat()
    return details


def verify(schedule: Schedule) -> VerifyReport:
    assert schedule.verify is not None
    repo = open_repository(schedule.repository)
    return repo.verify(read_data_percent=schedule.verify.read_data_percent)


def verify_outcome(report: VerifyReport) -> Outcome:
    details: dict[str, Any] = {
        "snapshots": report.snapshots_checked,
        "packs": report.packs_checked,
        "packs_read": report.packs_read,
        "problems": len(report.problems),
    }
    if report.ok:
        return Outcome(ok=True, details=details)
    first = "; ".join(str(p) for p in report.problems[:5])
    return Outcome(ok=False, error=f"{len(report.problems)} problems: {first}", details=details)


# -- drills ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillOutcome:
    """What a drill runner returns: success, and the measured recovery time."""

    ok: bool
    rto_seconds: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class DrillRunner(Protocol):
    def __call__(self, schedule: Schedule, plan: Path, /) -> DrillOutcome: ...


def find_drill_runner() -> DrillRunner | None:
    """``drkit.drill.scheduled.run_scheduled_drill(schedule, plan) -> DrillOutcome``-like, once the drill
    issue provides it; None until then."""
    try:
        module = importlib.import_module(DRILL_HOOK_MODULE)
    except ImportError:
        return None
    runner: DrillRunner | None = getattr(module, DRILL_HOOK_NAME, None)
    return runner


def lock_details(repo: Repository) -> dict[str, Any]:
    """The lock the backup's objects got (a schedule's ``spec.lock``, else the repository's)."""
    mode, period = repo.lock_settings
    return {"mode": mode.value if mode is not None else None, "period_s": int(period.total_seconds())}


AUDIT_RESULTS = {
    Result.SUCCESS: "ok",
    Result.PARTIAL: "partial",
    Result.FAILED: "failed",
    Result.SKIPPED: "skipped",
}


def audit_run(schedule: Schedule, end: RunEnd) -> None:
    """Append the audit record of one daemon run (backup with its prune, verify, drill) to the
    schedule's repository. Best effort, like the CLI's: a record that cannot be stored (the repository
    cannot be opened, the credential may not write) is a logged warning, never a change of the run."""
    detail: dict[str, Any] = {"schedule": schedule.name, "run": end.run.run_id, "attempt": end.run.attempt}
    if end.snapshot_id:
        detail["snapshot"] = end.snapshot_id
    if end.error:
        detail["error"] = end.error
    for key in ("prune", "prune_error", "problems", "rto_seconds"):
        if key in end.details:
            detail[key] = end.details[key]
    record = audit.AuditRecord.now(
        end.run.job.value, f"daemon {end.run.job.value}", AUDIT_RESULTS[end.result], detail=detail
    )
    try:
        audit.append(open_repository(schedule.repository), record)
    except (DrkitError, OSError) as exc:
        log.warning("audit record of the %s run of %s not stored: %s", end.run.job.value, schedule.name, exc)
