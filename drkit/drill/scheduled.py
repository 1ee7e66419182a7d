"""Drills on a clock: the hook the daemon calls for a schedule's ``drill:`` (``drkit.daemon.jobs``
looks up ``drkit.drill.scheduled.run_scheduled_drill``).

    outcome = run_scheduled_drill(schedule, Path("restore-plans/shop.yaml"))
    outcome.ok, outcome.rto_seconds, outcome.error, outcome.details

The plan's repository is used when it names one, else the schedule's. The scratch cluster is
``DRKIT_DRILL_PROVIDER`` (``local`` by default; ``kubeconfig`` drills into the plan's target in
prefixed namespaces; ``kind``). The result is recorded in the repository as for ``drkit drill run``.
A drill that fails or cannot run is an outcome with ``ok`` false and the reason, never an exception
(an interruption still propagates, after teardown).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drkit.config.restoreplan import load_restore_plan
from drkit.config.schedule import Schedule
from drkit.drill.providers import make_provider
from drkit.drill.runner import run_drill
from drkit.drill.service import drill_request
from drkit.drill.store import store_result
from drkit.errors import DrkitError
from drkit.repo.opening import open_repository

PROVIDER_ENV = "DRKIT_DRILL_PROVIDER"


@dataclass(frozen=True)
class ScheduledDrillOutcome:
    """The shape ``drkit.daemon.jobs.DrillOutcome`` reads: ok, rto_seconds, error, details."""

    ok: bool
    rto_seconds: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def run_scheduled_drill(schedule: Schedule, plan: Path, /) -> ScheduledDrillOutcome:
    try:
        config = load_restore_plan(plan)
        repo = open_repository(config.repository or schedule.repository)
        name = os.environ.get(PROVIDER_ENV, "local")
        options: dict[str, Any] = {}
        if name == "kubeconfig":
            options = {"kubeconfig": config.target.kubeconfig, "context": config.target.context}
        provider = make_provider(name, **options)
        result = run_drill(drill_request(config, repo, provider))
        record = store_result(repo, result, host=f"drkit-daemon/{schedule.name}")
    except DrkitError as exc:
        return ScheduledDrillOutcome(ok=False, error=str(exc), details={"plan": str(plan)})
    details = {**result.summary(), "record": record.id, "plan": str(plan)}
    error = None
    if not result.ok:
        error = result.error or "failed checks: " + ", ".join(c.spec.name for c in result.failed_checks)
    return ScheduledDrillOutcome(ok=result.ok, rto_seconds=result.rto_s, error=error, details=details)
