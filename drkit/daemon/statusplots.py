"""The status page's plots: line plots over time as inline SVG (no script), with a title, a text
description and a legend, for each cluster (backup duration, new bytes, drill RTO/RPO) and the
repository (stored size, lock horizon)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from drkit.daemon.runlines import human_bytes
from drkit.daemon.statusmodel import SnapshotRow, duration_text
from drkit.repo.format.model import KIND_DRILL, Snapshot

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


def cluster_plots(slug: str, rows: list[SnapshotRow], drills: list[Any]) -> list[Markup]:
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


def repo_plots(snaps: list[Snapshot], now: datetime) -> list[Markup]:
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
