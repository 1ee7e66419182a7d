"""One drill: scratch cluster up, restore, wait, checks, teardown; every phase timed.

    result = run_drill(DrillRequest(plan="shop", plan_file="...", provider=make_provider("local"),
                                    snapshot=snap, restore=restorer, specs=specs, files=reader))
    result.ok, result.rto_s, result.rpo_s

The scratch cluster is always torn down (unless ``keep``), also when the cluster failed to start,
the restore failed, a check failed or the drill was interrupted (the interruption is re-raised
after teardown). A failure to start the cluster or to restore is recorded in ``result.error``; the
checks then do not run. A drill that cannot run at all (a missing binary such as ``kind``, a bad
kubeconfig, a provider not available yet) raises that error instead of producing a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from drkit.drill.checks import CheckContext, CheckResult, CheckSpec, SnapshotFiles, run_check
from drkit.drill.providers.base import ScratchCluster
from drkit.drill.result import (
    PHASE_CHECKS,
    PHASE_CLUSTER_UP,
    PHASE_READY,
    PHASE_RESTORE,
    PHASE_TEARDOWN,
    DrillResult,
    Phase,
    RestoreSummary,
)
from drkit.errors import ConfigError, DrkitError, MissingComponent
from drkit.kube.apply import Requester
from drkit.kube.resource import Resource
from drkit.repo.format.model import Snapshot
from drkit.restore.model import ApplyReport, Verb

WORKLOAD_WAITS = frozenset({"available", "complete"})


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore did: its summary and how much of its time went to waiting for workloads
    (reported as the ``ready`` phase; the rest is the ``restore`` phase)."""

    summary: RestoreSummary
    ready_s: float = 0.0


class Restorer(Protocol):
    """Restores the drill's snapshot into the scratch cluster (``namespace_map``: source -> target)."""

    def __call__(self, kube: Requester, namespace_map: Mapping[str, str]) -> RestoreOutcome: ...


class Target(Protocol):
    """A client of the scratch cluster: requests, and the resources it serves (for checks)."""

    @property
    def kube(self) -> Requester: ...

    def resolve(self, kind: str, api_version: str | None) -> Resource: ...

    def close(self) -> None: ...


TargetFactory = Callable[[Path, "str | None"], Target]


def outcome_of(report: ApplyReport, counts: Mapping[str, int] | None = None) -> RestoreOutcome:
    """A :class:`RestoreOutcome` from the applier's report. Workload waits run together at the end of
    ``apply_plan``, so the longest of them is the time spent waiting for readiness."""
    applied = sum(1 for r in report.results if r.ok and r.action.verb in (Verb.CREATE, Verb.UPDATE))
    failures = tuple(f"{r.action.ref.display()}: {r.message}" for r in report.failed)
    workload = [
        w.duration_s for w in report.waits if _wait_name(w.action.wait, w.action.ref.kind) in WORKLOAD_WAITS
    ]
    ready = min(max(workload, default=0.0), report.duration_s)
    summary = RestoreSummary(dict(counts or {}), applied, failures, len(report.waits))
    return RestoreOutcome(summary, ready)


def _wait_name(wait: str | None, kind: str) -> str | None:
    if wait is not None:
        return wait
    return "complete" if kind == "Job" else None


@dataclass
class DrillRequest:
    plan: str
    plan_file: str
    provider: ScratchCluster
    snapshot: Snapshot
    restore: Restorer
    target: TargetFactory
    specs: Sequence[CheckSpec] = ()
    files: SnapshotFiles | None = None
    namespaces: Sequence[str] = ()  # the snapshot's namespaces (for a provider that prefixes them)
    namespace_mapping: Mapping[str, str] = field(default_factory=dict)  # the plan's: snapshot -> target
    keep: bool = False
    id: str = ""
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    interval: float = 1.0
    on_phase: Callable[[str], None] | None = None


def namespace_mapping(
    provider: ScratchCluster, namespaces: Sequence[str], plan: Mapping[str, str]
) -> dict[str, str]:
    """Snapshot namespace -> namespace in the scratch cluster: the plan's mapping, then the provider's
    (a shared cluster prefixes every namespace a drill writes to)."""
    sources = sorted({*namespaces, *plan})
    planned = {ns: plan.get(ns, ns) for ns in sources}
    provided = provider.namespace_map(sorted(set(planned.values())))
    return {ns: provided.get(t, t) for ns, t in planned.items()}


class _Timeline:
    def __init__(self, clock: Callable[[], float], notify: Callable[[str], None] | None) -> None:
        self.clock = clock
        self.origin = clock()
        self.phases: list[Phase] = []
        self.notify = notify or (lambda _name: None)

    def add(
        self, name: str, started: float, ok: bool = True, message: str = "", end: float | None = None
    ) -> None:
        stop = self.clock() if end is None else end
        self.phases.append(Phase(name, started - self.origin, stop - started, ok, message))


def run_drill(req: DrillRequest) -> DrillResult:
    started_at = req.now()
    line = _Timeline(req.clock, req.on_phase)
    error: str | None = None
    summary: RestoreSummary | None = None
    checks: list[CheckResult] = []
    cluster: dict[str, object] = {}
    provider = req.provider
    try:
        t0 = req.clock()
        line.notify(PHASE_CLUSTER_UP)
        try:
            kubeconfig = provider.up()
        except (ConfigError, MissingComponent):
            raise  # a drill that cannot be run is not a failed drill: the caller says what is missing
        except DrkitError as exc:
            line.add(PHASE_CLUSTER_UP, t0, False, str(exc))
            raise _Stop(f"the {provider.provider} scratch cluster did not start: {exc}") from exc
        line.add(PHASE_CLUSTER_UP, t0, True, str(provider.describe().get("server", "")))
        cluster = provider.describe()
        mapping = namespace_mapping(provider, req.namespaces, req.namespace_mapping)
        target = req.target(kubeconfig, provider.context)
        try:
            summary = _restore(req, line, target, mapping)
            if not summary.ok:
                raise _Stop(f"the restore failed for {len(summary.failures)} object(s)")
            t3 = req.clock()
            line.notify(PHASE_CHECKS)
            ctx = CheckContext(
                kube=target.kube,
                resolve=target.resolve,
                snapshot=req.files,
                namespace_map=mapping,
                kubeconfig=kubeconfig,
                volumes=provider.volumes,
                service_proxy=provider.service_proxy,
                service_proxy_reason=provider.service_proxy_reason,
                clock=req.clock,
                sleep=req.sleep,
                interval=req.interval,
            )
            checks = [run_check(spec, ctx) for spec in req.specs]
            failed = sum(1 for c in checks if not c.ok)
            line.add(PHASE_CHECKS, t3, failed == 0, f"{failed} of {len(checks)} failed" if failed else "")
        finally:
            target.close()
    except _Stop as stop:
        error = str(stop)
    finally:
        if not req.keep:
            t4 = req.clock()
            line.notify(PHASE_TEARDOWN)
            provider.down()
            line.add(PHASE_TEARDOWN, t4)
    return DrillResult(
        id=req.id or getattr(provider, "id", ""),
        plan=req.plan,
        plan_file=req.plan_file,
        provider=provider.provider,
        snapshot_id=req.snapshot.id,
        snapshot_time=req.snapshot.time,
        started=started_at,
        finished=req.now(),
        phases=tuple(line.phases),
        checks=tuple(checks),
        restore=summary,
        error=error,
        cluster=dict(cluster),
        kept=req.keep,
    )


class _Stop(Exception):
    """The drill cannot go on (recorded as the result's error, not raised to the caller)."""


def _restore(
    req: DrillRequest, line: _Timeline, target: Target, mapping: Mapping[str, str]
) -> RestoreSummary:
    t1 = req.clock()
    line.notify(PHASE_RESTORE)
    try:
        outcome = req.restore(target.kube, mapping)
    except DrkitError as exc:
        line.add(PHASE_RESTORE, t1, False, str(exc))
        raise _Stop(f"the restore failed: {exc}") from exc
    t2 = req.clock()
    ready = min(max(outcome.ready_s, 0.0), t2 - t1)
    s = outcome.summary
    text = f"{s.applied} objects applied" + (f", {len(s.failures)} failed" if s.failures else "")
    line.add(PHASE_RESTORE, t1, s.ok, text, end=t2 - ready)
    line.phases.append(Phase(PHASE_READY, t2 - ready - line.origin, ready, s.ok, f"{s.waits} waits"))
    return s
