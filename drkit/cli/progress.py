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
from typing import TextIO

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBars
from rich.text import Text

from drkit.repo.engine.progress import Progress

log = logging.getLogger("drkit.progress")

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_amount(n: float, unit: str) -> str:
    """``1536, "B"`` -> ``1.5 KiB``; ``12, "files"`` -> ``12 files``."""
    if unit != "B":
        return f"{n:,.0f} {unit}" if float(n).is_integer() else f"{n:,.1f} {unit}"
    value = float(n)
    for suffix in _BINARY_UNITS:
        if abs(value) < 1024 or suffix == _BINARY_UNITS[-1]:
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class _RateColumn(ProgressColumn):
    """Speed in the phase's unit: ``128.0 MiB/s`` (binary, like the amounts) or ``12.5 files/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("?", style="progress.data.speed")
        return Text(f"{format_amount(speed, self._unit)}/s", style="progress.data.speed")


class RichProgress:
    """One bar per phase on ``console`` (stderr by default), with rate and ETA; bars stay on screen."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console if console is not None else Console(stderr=True)
        self._lock = threading.Lock()
        self._bars: RichBars | None = None
        self._task: TaskID | None = None

    def _columns(self, unit: str) -> list[ProgressColumn]:
        columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn()]
        if unit == "B":
            columns += [DownloadColumn(binary_units=True)]
        else:
            columns += [MofNCompleteColumn(), TextColumn(unit)]
        columns += [_RateColumn(unit), TimeRemainingColumn(elapsed_when_finished=True)]
        return columns

    def start(self, phase: str, total: int | None, unit: str = "B") -> None:
        with self._lock:
            self._close_locked()
            bars = RichBars(*self._columns(unit), console=self._console, transient=False)
            bars.start()
            self._bars = bars
            self._task = bars.add_task(phase, total=total)

    def advance(self, n: int) -> None:
        with self._lock:
            if self._bars is not None and self._task is not None:
                self._bars.advance(self._task, n)

    def say(self, message: str) -> None:
        """A line above the bars (a phase message); the bars keep drawing below it."""
        with self._lock:
            self._console.print(message, markup=False, highlight=False)

    def done(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._bars is not None and self._task is not None:
            task = self._bars.tasks[0]
            if task.total is None:  # unknown total: show the bar complete at what was done
                self._bars.update(self._task, total=task.completed)
            self._bars.stop()
        self._bars = None
        self._task = None


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


def make_progress(enabled: bool | None, *, stream: TextIO | None = None) -> Progress:
    """The progress a command should use.

    ``enabled`` comes from ``--progress/--no-progress`` (``None`` when neither was given):
    ``False`` never draws bars and only logs a line per phase; ``None`` and ``True`` draw bars when
    ``stream`` (stderr by default) is a terminal and fall back to the log lines when it is not:
    bars cannot be drawn into a pipe or a file. Use ``NullProgress`` for no reporting at all.
    """
    target = stream if stream is not None else sys.stderr
    if enabled is not False and _is_terminal(target):
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
        if isinstance(progress, RichProgress):
            progress.say(message)
        elif enabled is not False and not logger.isEnabledFor(logging.INFO):
            click.echo(f"drkit: {message}", err=True)
        else:
            logger.info("%s", message)

    return say
