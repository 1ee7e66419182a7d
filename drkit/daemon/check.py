"""``drkit daemon --check``: every schedule's jobs and their next run times, as the daemon would run them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from drkit.config.schedule import Schedule, load_schedule, load_schedules, next_fire_times
from drkit.errors import ConfigError


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def next_run_rows(schedules: list[Schedule], now: datetime, count: int = 3) -> list[dict[str, Any]]:
    """One row per job (backup, verify, drill) of each schedule: its cron, zone and next ``count``
    times (before jitter), in the schedule's zone."""
    rows: list[dict[str, Any]] = []
    for schedule in schedules:
        jobs: list[tuple[str, str]] = [("backup", schedule.cron)]
        if schedule.verify is not None:
            jobs.append(("verify", schedule.verify.cron))
        if schedule.drill is not None:
            jobs.append(("drill", schedule.drill.cron))
        for job, cron in jobs:
            times = next_fire_times(cron, schedule.timezone, count, now)
            rows.append(
                {
                    "schedule": schedule.name,
                    "job": job,
                    "cron": cron,
                    "timezone": schedule.timezone,
                    "jitter_s": int(schedule.jitter.total_seconds()),
                    "next": [_iso(t) for t in times],
                    "file": str(schedule.source),
                }
            )
    return rows


def check_directory(directory: Path) -> tuple[list[Schedule], list[ConfigError]]:
    """Every schedule file of ``directory`` checked on its own (so that one bad file does not hide
    the next), then the directory as the daemon loads it (unique names). The schedules are returned
    only when there is no error."""
    if not directory.is_dir():
        return [], [
            ConfigError(
                "no such directory" if not directory.exists() else "not a directory", file=str(directory)
            )
        ]
    errors: list[ConfigError] = []
    for path in sorted(directory.iterdir()):
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file():
            try:
                load_schedule(path)
            except ConfigError as exc:
                errors.append(exc)
    if errors:
        return [], errors
    try:
        return load_schedules(directory), []
    except ConfigError as exc:
        return [], [exc]
