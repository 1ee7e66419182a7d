"""Progress for people: bars on a terminal, one log line per phase everywhere else.

Only the CLI draws (the core takes a :class:`drkit.repo.engine.progress.Progress` and never imports rich).
Bars go to stderr and are used only when stderr is a terminal, so that piped or logged output never
holds cursor movements or carriage returns; elsewhere each phase ends with one INFO log line such as
``upload: 1.5 GiB in 12.0s (128.0 MiB/s)``, which the default log level (warning) keeps quiet.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO, runtime_checkable

import click

from drkit.cli.amounts import format_amount
from drkit.repo.engine.progress import Progress

log = logging.getLogger("drkit.progress")

__all__ = ["LogProgress", "format_amount", "make_progress", "phase_printer"]


class LogProgress:
    """One INFO line per phase when it ends: amount, time and rate. Writes no control characters."""

    def __init__(self, logger: logging.Logger = log, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: tuple[str, int | None, str, float] | None = None
        self._count = 0

    def start(self, phase: str, total: int | None, unit: str = "B") -> None:
        with self._lock:
            self._close_locked()
            self._phase = (phase, total, unit, self._clock())
            self._count = 0
        if total is not None:
            self._log.debug("%s: started, %s to do", phase, format_amount(total, unit))
        else:
            self._log.debug("%s: started", phase)

    def advance(self, n: int) -> None:
        with self._lock:
            self._count += n

    def done(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._phase is None:
            return
        phase, total, unit, started = self._phase
        elapsed = max(self._clock() - started, 0.0)
        amount = format_amount(self._count, unit)
        if total is not None and total != self._count:
            amount = f"{amount} of {format_amount(total, unit)}"
        rate = f", {format_amount(self._count / elapsed, unit)}/s" if elapsed > 0 else ""
        self._log.info("%s: %s in %.1fs%s", phase, amount, elapsed, rate)
        self._phase = None
        self._count = 0


@runtime_checkable
class _Says(Protocol):
    def say(self, message: str) -> None: ...


def make_progress(enabled: bool | None, *, stream: TextIO | None = None) -> Progress:
    """The progress a command should use.

    ``enabled`` comes from ``--progress/--no-progress`` (``None`` when neither was given):
    ``False`` never draws bars and only logs a line per phase; ``None`` and ``True`` draw bars when
    ``stream`` (stderr by default) is a terminal and fall back to the log lines when it is not:
    bars cannot be drawn into a pipe or a file. Use ``NullProgress`` for no reporting at all.
    """
    target = stream if stream is not None else sys.stderr
    if enabled is not False and _is_terminal(target):
        from rich.console import Console  # rich only when bars are drawn (~0.06 s of imports)

        from drkit.cli.richprogress import RichProgress

        return RichProgress(Console(file=target))
    return LogProgress()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def phase_printer(
    progress: Progress, enabled: bool | None, logger: logging.Logger = log
) -> Callable[[str], None]:
    """Where a long command's phase messages (``etcd: streaming a snapshot from ...``) go: above the
    bars on a terminal; as plain lines on stderr otherwise, unless the log shows them already
    (``--log-level info``) or ``--no-progress`` asked for the log only."""

    def say(message: str) -> None:
        if isinstance(progress, _Says):  # bars (drkit.cli.richprogress): the line goes above them
            progress.say(message)
        elif enabled is not False and not logger.isEnabledFor(logging.INFO):
            click.echo(f"drkit: {message}", err=True)
        else:
            logger.info("%s", message)

    return say
