"""The status page: is each schedule's recovery point fresh, verified and proven by a drill, and what
is in each snapshot. One HTML page with inline SVG plots (no script, no external asset), built from a
repository (snapshots, drill results, audit records), optionally the schedules (RPO targets, next
runs) and a daemon's run records; served read-only by the daemon (:mod:`drkit.daemon.statusserver`)
and written by ``drkit report html``. The page's parts: :mod:`drkit.daemon.statusmodel`; its plots:
:mod:`drkit.daemon.statusplots`.

    page = collect([("s3://b/prod", repo)], schedules, runs=records, now=now)
    html = render(page)

RPO state per schedule: the age of its last successful backup against its target (the interval of
its cron, or ``--rpo-target``): **green** within 1.1 x target + 1 minute, **amber** within 2 x target,
**red** beyond or when there is none. Always written as text beside the colour.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from drkit.capture.stored import object_records
from drkit.config.schedule import Schedule, cron_trigger
from drkit.daemon.runlines import human_bytes
from drkit.daemon.statusmodel import (
    Check,
    ClusterSection,
    ScheduleStatus,
    SnapshotRow,
    StatusPage,
    duration_text,
)
from drkit.daemon.statusplots import cluster_plots, repo_plots
from drkit.drill.store import drill_records
from drkit.repo.format.model import KIND_DRILL, Snapshot
from drkit.repo.repository import Repository

log = logging.getLogger("drkit.daemon.statuspage")

SCHEDULE_TAG = "schedule="
DEFAULT_TARGET = timedelta(hours=24)
DETAIL_LIMIT = 30  # newest cluster snapshots whose objects are counted by namespace
TEMPLATES = Path(__file__).parent / "templates"


# -- RPO -------------------------------------------------------------------------------------------


def cron_interval(schedule: Schedule, now: datetime) -> timedelta:
    """The time between two runs of the schedule's backup cron (its RPO target)."""
    trigger = cron_trigger(schedule.cron, schedule.timezone, None)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    if first is None or second is None:
        return DEFAULT_TARGET
    interval: timedelta = second - first
    return interval


def rpo_state(last: datetime | None, target: timedelta, now: datetime) -> tuple[str, str]:
    """``(green|amber|red, text)`` for a last success at ``last`` against ``target``."""
    if last is None:
        return "red", "no successful backup"
    age = now - last
    text = f"{duration_text(age.total_seconds())} old, target {duration_text(target.total_seconds())}"
    if age <= target * 1.1 + timedelta(minutes=1):
        return "green", f"on target: {text}"
    if age <= target * 2:
        return "amber", f"late: {text}"
    return "red", f"missed: {text}"


# -- collecting ------------------------------------------------------------------------------------


def schedule_of(snap: Snapshot) -> str | None:
    for tag in snap.tags:
        if tag.startswith(SCHEDULE_TAG):
            return tag[len(SCHEDULE_TAG) :]
    return None


def cluster_of(snap: Snapshot) -> str:
    kube = snap.meta.get("kubernetes")
    if isinstance(kube, dict) and kube.get("server"):
        context = f" ({kube['context']})" if kube.get("context") else ""
        return f"{kube['server']}{context}"
    return f"host {snap.host}"


def _parse_time(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _verify_checks(repo: Repository | None, runs: Iterable[dict[str, Any]]) -> list[Check]:
    """Verify runs, from the daemon's records and the repository's audit log (oldest first)."""
    checks = []
    for r in runs:
        if r.get("job") != "verify" or r.get("result") not in ("success", "failed"):
            continue
        when = _parse_time(r.get("end"))
        if when is None:
            continue
        d = r.get("details") or {}
        read = ""
        if d.get("packs"):
            read = f", {100 * int(d.get('packs_read', 0)) / int(d['packs']):.0f}% of data read"
        text = f"{d.get('snapshots', '?')} snapshots, {d.get('problems', 0)} problems{read}"
        if r.get("error"):
            text = str(r["error"])
        checks.append(Check(when, r["result"] == "success", text))
    try:
        from drkit.repo.format.audit import list_records

        for rec in list_records(repo).records if repo is not None else []:
            if rec.action == "verify":
                checks.append(Check(rec.time, rec.result == "ok", str(dict(rec.detail) or rec.command)))
    except Exception as exc:  # noqa: BLE001 - no audit log (write-only key, none yet): verify from runs only
        log.debug("no audit records: %s", exc)
    return sorted(checks, key=lambda c: c.time)


def _drill_check(summary: dict[str, Any], when: datetime) -> Check:
    failed = [str(c) for c in summary.get("failedChecks") or []]
    ok = bool(summary.get("ok"))
    text = (
        "passed" if ok else "failed: " + (", ".join(failed) or str(summary.get("error") or "see the report"))
    )
    return Check(when, ok, text, summary.get("rtoS"), summary.get("rpoS"), failed)


def _contents(repo: Repository, snap: Snapshot, row: SnapshotRow, detailed: bool) -> None:
    res = snap.meta.get("resources")
    if isinstance(res, dict) and isinstance(res.get("counts"), dict):
        row.types = sorted(
            ((str(k), int(v)) for k, v in res["counts"].items()), key=lambda kv: (-kv[1], kv[0])
        )
    vols = snap.meta.get("volumes")
    if isinstance(vols, dict):
        for v in vols.get("volumes") or []:
            if isinstance(v, dict):
                size = f", {human_bytes(int(v['bytes']))}" if isinstance(v.get("bytes"), int) else ""
                row.volumes.append(f"{v.get('namespace')}/{v.get('pvc')}: {v.get('status')}{size}")
    if not detailed:
        row.detail_note = "namespaces counted for the newest snapshots only"
        return
    try:
        records = object_records(repo.snapshot_reader(snap.id))
    except Exception as exc:  # noqa: BLE001 - shown on the page, not fatal
        row.detail_note = f"objects not read: {exc}"
        return
    counts = Counter(str(r.get("namespace") or "(cluster-scoped)") for r in records)
    row.namespaces = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class _Data:
    snaps: list[Snapshot]
    owner: dict[str, Repository]
    verifies: list[Check]
    by_id: dict[str, Snapshot] = field(default_factory=dict)

    def cluster(self, snap: Snapshot) -> str:
        """A drill belongs to the cluster of the snapshot it restored."""
        if snap.kind == KIND_DRILL:
            restored = self.by_id.get(str((snap.meta.get("drill") or {}).get("snapshot")))
            return cluster_of(restored) if restored is not None else f"host {snap.host}"
        return cluster_of(snap)


def _load(repos: Sequence[tuple[str, Repository]], runs: Sequence[dict[str, Any]]) -> _Data:
    data = _Data([], {}, _verify_checks(None, runs))
    for _url, repo in repos:
        for snap in repo.snapshots():
            data.snaps.append(snap)
            data.owner[snap.id] = repo
        data.verifies += _verify_checks(repo, ())
    data.snaps.sort(key=lambda s: s.time)
    data.verifies.sort(key=lambda c: c.time)
    data.by_id = {s.id: s for s in data.snaps}
    return data


def _drills(data: _Data, runs: Sequence[dict[str, Any]]) -> tuple[dict[str, str], dict[str, Check]]:
    """Per restored snapshot: passed/failed; per schedule: its newest drill (stored or a daemon run)."""
    drilled: dict[str, str] = {}
    last: dict[str, Check] = {}
    for rec in drill_records(data.snaps):
        restored = data.by_id.get(str(rec.summary.get("snapshot") or ""))
        if restored is not None:
            drilled[restored.id] = "passed" if rec.ok else "failed"
            name = schedule_of(restored)
            if name:
                last[name] = _drill_check(rec.summary, rec.finished)
    for r in runs:  # the daemon's drill runs: also those that failed before storing a result
        when = _parse_time(r.get("end"))
        if r.get("job") != "drill" or r.get("result") not in ("success", "failed") or when is None:
            continue
        previous = last.get(str(r.get("schedule")))
        if previous is None or when > previous.time:
            d = r.get("details") or {}
            ok = r["result"] == "success"
            text = "passed" if ok else f"failed: {r.get('error') or 'see the drill report'}"
            last[str(r["schedule"])] = Check(when, ok, text, d.get("rto_seconds"), d.get("rpo_seconds"))
    return drilled, last


def _rows(data: _Data, drilled: dict[str, str]) -> list[SnapshotRow]:
    last_ok_verify = max((c.time for c in data.verifies if c.ok), default=None)
    clusters = [s for s in data.snaps if s.kind == "cluster"]
    detailed = {s.id for s in clusters[-DETAIL_LIMIT:]}
    rows = []
    for s in data.snaps:
        row = SnapshotRow(
            id=s.id,
            time=s.time,
            kind=s.kind,
            cluster=data.cluster(s),
            host=s.host,
            schedule=schedule_of(s),
            size=s.stats.bytes,
            new=s.stats.new_bytes,
            duration_s=s.stats.duration_s,
            lock_until=s.retain_until,
            verified=last_ok_verify is not None and last_ok_verify >= s.time,
            drill=drilled.get(s.id),
        )
        if s.kind == "cluster":
            _contents(data.owner[s.id], s, row, s.id in detailed)
        elif s.kind == KIND_DRILL:
            summary = s.meta.get("drill") or {}
            verdict = "passed" if summary.get("ok") else "failed"
            row.detail_note = (
                f"drill of plan {summary.get('plan')}: {verdict}, restored {str(summary.get('snapshot'))[:8]}"
            )
        rows.append(row)
    return rows


def _statuses(
    data: _Data,
    schedules: Sequence[Schedule],
    *,
    runs: Sequence[dict[str, Any]],
    drills: dict[str, Check],
    now: datetime,
    rpo_target: timedelta | None,
    next_run: Callable[[str], datetime | None] | None,
) -> list[tuple[str, ScheduleStatus]]:
    """``(cluster, status)`` of every schedule: those given and those the snapshots name."""
    by_name = {s.name: s for s in schedules}
    backups = [s for s in data.snaps if s.kind != KIND_DRILL]
    names = sorted(set(by_name) | {n for n in (schedule_of(s) for s in backups) if n})
    out = []
    for name in names:
        mine = [s for s in backups if schedule_of(s) == name]
        ok_runs = [
            t
            for r in runs
            if r.get("job") == "backup" and r.get("schedule") == name and r.get("result") == "success"
            for t in [_parse_time(r.get("start"))]
            if t is not None
        ]
        last = max([s.time for s in mine] + ok_runs, default=None)
        sched = by_name.get(name)
        if sched is not None:
            target, source = cron_interval(sched, now), f"cron {sched.cron}"
        else:
            target = rpo_target or DEFAULT_TARGET
            source = "--rpo-target" if rpo_target else "default (no schedule file)"
        when = next_run(name) if next_run else None
        if when is None and sched is not None:
            when = cron_trigger(sched.cron, sched.timezone, None).get_next_fire_time(None, now)
        state, text = rpo_state(last, target, now)
        status = ScheduleStatus(name, target, source, last, when, state, text)
        status.last_verify = data.verifies[-1] if data.verifies else None
        status.last_drill = drills.get(name)
        out.append((cluster_of(mine[-1]) if mine else "(no snapshot yet)", status))
    return out


def collect(
    repos: Sequence[tuple[str, Repository]],
    schedules: Sequence[Schedule] = (),
    *,
    runs: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    rpo_target: timedelta | None = None,
    next_run: Callable[[str], datetime | None] | None = None,
) -> StatusPage:
    """Everything the page shows, read from ``repos`` (url, open repository), the schedules, and a
    daemon's finished run records. ``next_run(schedule)``: the daemon's own next time; else the
    schedule's cron after ``now``."""
    now = now or datetime.now(UTC)
    data = _load(repos, runs)
    drilled, last_drill = _drills(data, runs)
    rows = _rows(data, drilled)
    statuses = _statuses(
        data, schedules, runs=runs, drills=last_drill, now=now, rpo_target=rpo_target, next_run=next_run
    )
    records = drill_records(data.snaps)
    clusters = []
    for index, name in enumerate(sorted({r.cluster for r in rows} | {c for c, _ in statuses})):
        mine = [r for r in rows if r.cluster == name]
        drills = [r for r in records if data.cluster(r.snapshot) == name]
        clusters.append(
            ClusterSection(
                name,
                [s for c, s in statuses if c == name],
                list(reversed(mine)),
                cluster_plots(f"c{index}", mine, drills),
            )
        )
    notes = []
    if not statuses:
        notes.append(
            "no schedule: give --schedules, or back up with a schedule (its snapshots carry schedule=NAME)"
        )
    return StatusPage(now, [url for url, _ in repos], clusters, repo_plots(data.snaps, now), notes)


# -- rendering -------------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def render(page: StatusPage) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["bytes"] = human_bytes
    env.filters["dur"] = duration_text
    env.filters["tojson_compact"] = lambda v: json.dumps(v, separators=(",", ":"))
    return env.get_template("status.html.j2").render(page=page)
