"""The daemon's Prometheus metrics and its HTTP endpoints: ``/metrics``, ``/healthz``, ``/readyz``.

Every metric lives in the daemon's own registry (two daemons in one process, as in tests, do not
share counters). ``/healthz`` answers 200 while the process serves HTTP; ``/readyz`` answers 200 once
the schedules are loaded and leader election runs (a leader and a standby are both ready), else 503.
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from drkit.daemon.httpserve import BackgroundServer

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, float("inf"))


class Metrics:
    """The daemon's metrics (names and labels in docs/daemon.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backup_total = Counter(
            "drkit_backup", "Backup runs by schedule and result.", ["schedule", "result"], registry=r
        )
        self.backup_duration = Histogram(
            "drkit_backup_duration_seconds",
            "Duration of backup runs (every attempt).",
            ["schedule"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.backup_last_success = Gauge(
            "drkit_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup.",
            ["schedule"],
            registry=r,
        )
        self.backup_bytes = Gauge(
            "drkit_backup_bytes",
            "Bytes of the last backup: new (not in the repository before) and total (its size).",
            ["schedule", "kind"],
            registry=r,
        )
        self.backup_retries = Counter(
            "drkit_backup_retries", "Retries scheduled after a failed run.", ["schedule", "job"], registry=r
        )
        self.skipped = Counter(
            "drkit_runs_skipped",
            "Runs not started: the previous run of the job was still going, or the run missed its time.",
            ["schedule", "job", "reason"],
            registry=r,
        )
        self.verify_total = Counter(
            "drkit_verify", "Verify runs by schedule and result.", ["schedule", "result"], registry=r
        )
        self.verify_last_success = Gauge(
            "drkit_verify_last_success_timestamp_seconds",
            "Unix time of the last verify that found no problem.",
            ["schedule"],
            registry=r,
        )
        self.prune_total = Counter(
            "drkit_prune",
            "Prune runs after backups by schedule and result.",
            ["schedule", "result"],
            registry=r,
        )
        self.prune_locked = Gauge(
            "drkit_prune_locked_objects",
            "Unreferenced objects the last prune could not delete yet (still locked).",
            ["schedule"],
            registry=r,
        )
        self.drill_total = Counter(
            "drkit_drill", "Drill runs by schedule and result.", ["schedule", "result"], registry=r
        )
        self.drill_last_success = Gauge(
            "drkit_drill_last_success_timestamp_seconds",
            "Unix time of the last successful drill.",
            ["schedule"],
            registry=r,
        )
        self.drill_rto = Gauge(
            "drkit_drill_rto_seconds", "Recovery time measured by the last drill.", ["schedule"], registry=r
        )
        self.leader = Gauge(
            "drkit_leader",
            "1 while this daemon holds the lease (runs schedules), else 0.",
            ["identity"],
            registry=r,
        )
        self.schedules = Gauge("drkit_schedules", "Schedules loaded.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer(BackgroundServer):
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` in a background thread."""

    def __init__(self, address: str, metrics: Metrics, ready: Callable[[], bool]) -> None:
        super().__init__(address, _handler(metrics, ready), option="metrics-addr", name="drkit-metrics")


def _handler(metrics: Metrics, ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                if ready():
                    self._send(200, b"ready\n")
                else:
                    self._send(503, b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
            return  # scrapes every few seconds would flood the log

    return Handler
