"""The log lines of a run: one when it starts, one when it ends, with the same fields in text and JSON.

A line's message is for people (``backup of nightly: success in 12.3s, snapshot 9f3c1a2b, 45.0 MiB
new of 1.2 GiB, next run 2026-11-27T02:00:00Z``); its ``extra`` fields are for log pipelines
(``--log-format json``: ``outcome``, ``snapshot_id``, ``bytes_new``, ``bytes_total``, ``duration_s``,
``next_run``, ``error``, ``hint``). Used by the daemon and by ``drkit backup run`` (the CronJob form).
Errors arrive already described (URLs without credentials, ``Secret`` values masked).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drkit.errors import DrkitError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hint_of(error: BaseException | None) -> str | None:
    return error.hint if isinstance(error, DrkitError) else None


def _what(job: str, schedule: str | None) -> str:
    return f"{job} of {schedule}" if schedule else job


def start_line(job: str, schedule: str | None, run_id: str, attempt: int) -> tuple[str, dict[str, Any]]:
    """The message and fields of a run's first line (``schedule`` None: a run without one)."""
    extra: dict[str, Any] = {"run_id": run_id, "schedule": schedule, "job": job, "attempt": attempt}
    message = f"{_what(job, schedule)} started" + (f" (attempt {attempt})" if attempt > 1 else "")
    return message, extra


def finish_line(
    job: str,
    schedule: str | None,
    run_id: str,
    *,
    attempt: int,
    outcome: str,
    duration_s: float,
    snapshot_id: str | None = None,
    details: dict[str, Any] | None = None,
    error: str | None = None,
    hint: str | None = None,
    next_run: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The message and fields of a run's last line (one per run, whatever its outcome)."""
    details = details or {}
    extra: dict[str, Any] = {
        "run_id": run_id,
        "schedule": schedule,
        "job": job,
        "attempt": attempt,
        "outcome": outcome,
        "duration_s": round(duration_s, 3),
        "snapshot_id": snapshot_id,
        "next_run": iso(next_run),
    }
    parts = [f"{_what(job, schedule)}: {outcome} in {duration_s:.1f}s"]
    if snapshot_id:
        parts.append(f"snapshot {snapshot_id[:8]}")
    if isinstance(details.get("new_bytes"), int) and isinstance(details.get("bytes"), int):
        extra["bytes_new"] = details["new_bytes"]
        extra["bytes_total"] = details["bytes"]
        parts.append(f"{human_bytes(details['new_bytes'])} new of {human_bytes(details['bytes'])}")
    if "rto_seconds" in details:
        extra["rto_s"] = details["rto_seconds"]
        parts.append(f"RTO {float(details['rto_seconds']):.1f}s")
    if error:
        extra["error"] = error
        parts.append(f"error: {error}")
    if hint:
        extra["hint"] = hint
        parts.append(f"hint: {hint}")
    if next_run is not None:
        parts.append(f"next run {iso(next_run)}")
    return ", ".join(parts), extra
