"""What the status page shows (:mod:`drkit.daemon.statuspage` collects it, :mod:`drkit.daemon.statusplots`
draws its plots, the template ``templates/status.html.j2`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from markupsafe import Markup


@dataclass
class Check:
    """A verify or drill as the page shows it."""

    time: datetime
    ok: bool
    text: str
    rto_s: float | None = None
    rpo_s: float | None = None
    failed_checks: list[str] = field(default_factory=list)


@dataclass
class ScheduleStatus:
    name: str
    target: timedelta
    target_source: str
    last_success: datetime | None
    next_run: datetime | None
    state: str  # green, amber, red
    state_text: str
    last_verify: Check | None = None
    last_drill: Check | None = None


@dataclass
class SnapshotRow:
    id: str
    time: datetime
    kind: str
    cluster: str
    host: str
    schedule: str | None
    size: int
    new: int
    duration_s: float
    lock_until: datetime | None
    verified: bool
    drill: str | None  # passed, failed or None
    types: list[tuple[str, int]] = field(default_factory=list)
    namespaces: list[tuple[str, int]] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    detail_note: str = ""


@dataclass
class ClusterSection:
    name: str
    schedules: list[ScheduleStatus]
    snapshots: list[SnapshotRow]
    plots: list[Markup]


@dataclass
class StatusPage:
    generated: datetime
    repositories: list[str]
    clusters: list[ClusterSection]
    plots: list[Markup]
    notes: list[str]


def duration_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2g}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
