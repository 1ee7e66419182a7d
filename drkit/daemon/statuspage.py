"""The status page: is each schedule's recovery point fresh, verified and proven by a drill, and what
is in each snapshot. One HTML page with inline SVG plots (no script, no external asset), built from a
repository (snapshots, drill results, audit records), optionally the schedules (RPO targets, next
runs) and a daemon's run records; served read-only by the daemon and written by ``drkit report html``.

    page = collect([("s3://b/prod", repo)], schedules, runs=records, now=now)
    html = render(page)

RPO state per schedule: the age of its last successful backup against its target (the interval of
its cron, or ``--rpo-target``): **green** within 1.1 x target + 1 minute, **amber** within 2 x target,
**red** beyond or when there is none. Always written as text beside the colour.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from drkit.capture.stored import object_records
from drkit.config.schedule import Schedule, cron_trigger
from drkit.daemon.metrics import parse_address
from drkit.daemon.runlines import human_bytes
from drkit.drill.store import drill_records
from drkit.errors import ConfigError
from drkit.repo.format.model import KIND_DRILL, Snapshot
from drkit.repo.repository import Repository
from drkit.secret import Secret

log = logging.getLogger("drkit.daemon.statuspage")

SCHEDULE_TAG = "schedule="
DEFAULT_TARGET = timedelta(hours=24)
DETAIL_LIMIT = 30  # newest cluster snapshots whose objects are counted by namespace
TEMPLATES = Path(__file__).parent / "templates"


# -- model -----------------------------------------------------------------------------------------


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


# -- plots -----------------------------------------------------------------------------------------

_W, _H, _L, _R, _T, _B = 560, 190, 64, 12, 12, 34


def svg_plot(
    plot_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[datetime, float]]]],
    fmt: Callable[[float], str],
) -> Markup:
    """A line plot over time as inline SVG with a title, a text description and a legend."""
    points = [p for _, values in series for p in values]
    desc_parts = []
    for name, values in series:
        if values:
            desc_parts.append(f"{name}: {len(values)} points, last {fmt(values[-1][1])}")
    desc = "; ".join(desc_parts) or "no data yet"
    head = (
        f'<figure class="plot"><svg id="{escape(plot_id)}" role="img" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}" aria-labelledby="{escape(plot_id)}-t {escape(plot_id)}-d" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{escape(plot_id)}-t">{escape(title)}</title>'
        f'<desc id="{escape(plot_id)}-d">{escape(desc)}</desc>'
    )
    body: list[str] = [
        f'<rect class="frame" x="{_L}" y="{_T}" width="{_W - _L - _R}" height="{_H - _T - _B}"/>'
    ]
    if not points:
        body.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no data yet</text>')
    else:
        t0 = min(p[0] for p in points).timestamp()
        t1 = max(p[0] for p in points).timestamp()
        top = max(p[1] for p in points) or 1.0
        span = (t1 - t0) or 1.0

        def x(t: datetime) -> float:
            return _L + (t.timestamp() - t0) / span * (_W - _L - _R) if t1 > t0 else (_L + _W - _R) / 2

        def y(v: float) -> float:
            return _H - _B - v / top * (_H - _T - _B)

        for frac in (0.0, 0.5, 1.0):
            yy = y(top * frac)
            body.append(f'<line class="grid" x1="{_L}" x2="{_W - _R}" y1="{yy:.1f}" y2="{yy:.1f}"/>')
            label = escape(fmt(top * frac))
            body.append(f'<text class="tick" x="{_L - 4}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        for anchor, moment in (("start", min(p[0] for p in points)), ("end", max(p[0] for p in points))):
            xx = _L if anchor == "start" else _W - _R
            stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            body.append(f'<text class="tick" x="{xx}" y="{_H - 14}" text-anchor="{anchor}">{stamp}</text>')
        for index, (name, values) in enumerate(series):
            if not values:
                continue
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in values)
            body.append(
                f'<polyline class="s{index}" points="{coords}"><title>{escape(name)}</title></polyline>'
            )
            for t, v in values:
                tip = f"{name} {t.astimezone(UTC):%Y-%m-%d %H:%M}: {fmt(v)}"
                body.append(
                    f'<circle class="s{index}" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3">'
                    f"<title>{escape(tip)}</title></circle>"
                )
    legend = "".join(
        f'<span class="key s{i}">{escape(name)}</span>' for i, (name, _values) in enumerate(series)
    )
    tail = f"</svg><figcaption>{escape(title)} {legend}</figcaption></figure>"
    return Markup(head + "".join(body) + tail)  # noqa: S704 - every piece of text in it is escaped above


def _bytes(v: float) -> str:
    return human_bytes(int(v))


def _seconds(v: float) -> str:
    return duration_text(v)


def _days(v: float) -> str:
    return f"{v:.0f} d" if v >= 10 else f"{v:.1f} d"


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


def _cluster_plots(slug: str, rows: list[SnapshotRow], drills: list[Any]) -> list[Markup]:
    b = [r for r in rows if r.kind != KIND_DRILL]
    return [
        svg_plot(
            f"{slug}-duration",
            "Backup duration per run",
            [("duration", [(r.time, r.duration_s) for r in b])],
            _seconds,
        ),
        svg_plot(
            f"{slug}-new",
            "New bytes per backup",
            [("new bytes", [(r.time, float(r.new)) for r in b])],
            _bytes,
        ),
        svg_plot(
            f"{slug}-drill",
            "Drill RTO and RPO",
            [
                ("RTO", [(r.finished, float(r.summary.get("rtoS") or 0)) for r in drills]),
                ("RPO", [(r.finished, float(r.summary.get("rpoS") or 0)) for r in drills]),
            ],
            _seconds,
        ),
    ]


def _repo_plots(snaps: list[Snapshot], now: datetime) -> list[Markup]:
    total = 0.0
    growth = []
    for s in snaps:
        total += s.stats.stored_bytes
        growth.append((s.time, total))
    horizon = [(s.time, (s.retain_until - now).total_seconds() / 86400) for s in snaps if s.retain_until]
    return [
        svg_plot(
            "repo-size",
            "Repository size over time (data stored by the snapshots kept)",
            [("stored", growth)],
            _bytes,
        ),
        svg_plot(
            "lock-horizon",
            "Lock horizon: days each snapshot stays undeletable from now",
            [("locked for", horizon)],
            _days,
        ),
    ]


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
                _cluster_plots(f"c{index}", mine, drills),
            )
        )
    notes = []
    if not statuses:
        notes.append(
            "no schedule: give --schedules, or back up with a schedule (its snapshots carry schedule=NAME)"
        )
    return StatusPage(now, [url for url, _ in repos], clusters, _repo_plots(data.snaps, now), notes)


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


# -- serving ---------------------------------------------------------------------------------------

# The page loads nothing: no script, no remote style, font or image (the browser enforces it).
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


class StatusServer:
    """The page on ``GET /`` (and ``/status.html``), read-only, at ``host:port`` in a background thread;
    with ``token``, only for ``Authorization: Bearer <token>``. Rendered at most every ``cache_s``."""

    def __init__(
        self, address: str, page: Callable[[], str], *, token: Secret | None = None, cache_s: float = 10.0
    ) -> None:
        host, port = parse_address(address)
        self._page = page
        self._token = token
        self._cache_s = cache_s
        self._cached: tuple[float, bytes] | None = None
        self._lock = threading.Lock()
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", field="status-addr") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="drkit-status", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def html(self) -> bytes:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._cache_s:
                try:
                    body = self._page().encode()
                except Exception as exc:  # noqa: BLE001 - shown as the page, and logged
                    log.warning("status page not rendered: %s", exc)
                    text = escape(f"{type(exc).__name__}: {exc}")
                    return f"<!DOCTYPE html><title>drkit status</title><p>not rendered: {text}</p>".encode()
                self._cached = (time.monotonic(), body)
            return self._cached[1]

    def authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token.reveal_bytes()
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, *, head: bool) -> None:
                if not server.authorized(self.headers.get("Authorization")):
                    self._send(401, b"a bearer token is needed\n", head, {"WWW-Authenticate": "Bearer"})
                elif self.path.split("?", 1)[0] in ("/", "/status.html"):
                    self._send(200, server.html(), head, {}, "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found\n", head, {})

            def _send(
                self,
                status: int,
                body: bytes,
                head: bool,
                headers: dict[str, str],
                content_type: str = "text/plain; charset=utf-8",
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", CSP)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Cache-Control", "no-store")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
                return

        return Handler
