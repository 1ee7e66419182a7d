"""Progress bars on a terminal (rich): imported by :func:`drkit.cli.progress.make_progress` only when
bars are drawn, so that a command run with ``--no-progress`` or into a pipe does not load rich."""

from __future__ import annotations

import threading

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

from drkit.cli.amounts import format_amount


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
