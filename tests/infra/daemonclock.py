"""Compressed time for daemon tests: every cron of every schedule fires every N seconds.

Cron has no seconds field and the schedule format keeps five, so the tests give the daemon another
trigger factory (``Daemon(..., triggers=every_seconds(N))``) instead of a special cron syntax.

In-process: ``Daemon(schedules, settings, triggers=every_seconds(1))``. As a subprocess, the
real CLI with the same factory:

    python -m tests.infra.daemonclock 2 --log-format json daemon --schedules DIR ...

(everything after the period is drkit's command line, as for ``python -m drkit``).
"""

from __future__ import annotations

import sys
from datetime import UTC
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from drkit.config.schedule import Schedule
from drkit.daemon import service
from drkit.daemon.service import Triggers


def every_seconds(seconds: int) -> Triggers:
    """A trigger factory that ignores the cron expressions: every job fires every ``seconds`` (UTC,
    no jitter)."""

    def triggers(_cron: str, _schedule: Schedule, _jitter: bool) -> BaseTrigger:
        return CronTrigger(second=f"*/{seconds}", timezone=UTC)

    return triggers


def main(argv: list[str]) -> None:
    seconds = int(argv[0])
    real = service.Daemon

    class CompressedDaemon(real):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, triggers=every_seconds(seconds), **kwargs)

    # drkit.cli.daemon imports Daemon from drkit.daemon.service when it serves: it gets this one
    service.Daemon = CompressedDaemon  # type: ignore[misc]
    from drkit.cli.main import main as drkit_main

    drkit_main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
