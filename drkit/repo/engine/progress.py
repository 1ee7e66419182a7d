"""How long-running work (backup, restore, verify, prune) reports progress, without knowing who listens.

Core code takes a :class:`Progress` and calls it; the CLI decides what it looks like (bars on a
terminal, a log line per phase otherwise: see ``drkit.cli.progress``). The contract:

- Phases are sequential: ``start(phase, total, unit)`` opens one (``total`` may be ``None`` when
  unknown; ``unit`` is ``"B"`` for bytes, or a plural noun such as ``"files"``). ``start`` while a
  phase is open closes that phase first.
- ``advance(n)`` adds ``n >= 0`` units to the open phase. It may be called from any thread.
- ``done()`` closes the open phase; with no open phase it does nothing, so it is safe in ``finally``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


class Progress(Protocol):
    """A sink for progress. Implementations must be safe to ``advance`` from several threads."""

    def start(self, phase: str, total: int | None, unit: str = "B") -> None: ...

    def advance(self, n: int) -> None: ...

    def done(self) -> None: ...


class NullProgress:
    """Reports nothing: the default for core functions and for quiet runs."""

    def start(self, phase: str, total: int | None, unit: str = "B") -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def done(self) -> None:
        pass


@dataclass(frozen=True)
class PhaseRecord:
    """What :class:`CountingProgress` saw of one phase."""

    phase: str
    total: int | None
    unit: str
    count: int
    finished: bool


class CountingProgress:
    """Counts what it is told, thread-safely: for tests and for run statistics.

    With ``strict`` (the default) misuse raises ``RuntimeError``: ``advance`` with no open phase,
    which in a test means the code under test reports outside its phases. A negative ``n`` always
    raises ``ValueError``.
    """

    def __init__(self, *, strict: bool = True) -> None:
        self._strict = strict
        self._lock = threading.Lock()
        self._closed: list[PhaseRecord] = []
        self._open: tuple[str, int | None, str] | None = None
        self._count = 0

    def start(self, phase: str, total: int | None, unit: str = "B") -> None:
        with self._lock:
            self._close_locked()
            self._open = (phase, total, unit)
            self._count = 0

    def advance(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"progress cannot go backwards: advance({n})")
        with self._lock:
            if self._open is None:
                if self._strict:
                    raise RuntimeError(f"advance({n}) with no phase started")
                return
            self._count += n

    def done(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._open is not None:
            phase, total, unit = self._open
            self._closed.append(PhaseRecord(phase, total, unit, self._count, finished=True))
            self._open = None
            self._count = 0

    @property
    def phases(self) -> list[PhaseRecord]:
        """Every phase so far, in order; an open phase comes last with ``finished=False``."""
        with self._lock:
            records = list(self._closed)
            if self._open is not None:
                phase, total, unit = self._open
                records.append(PhaseRecord(phase, total, unit, self._count, finished=False))
            return records

    def count(self, phase: str) -> int:
        """Units advanced in every phase named ``phase`` (0 if there was none)."""
        return sum(r.count for r in self.phases if r.phase == phase)


@contextmanager
def phase(progress: Progress, name: str, total: int | None = None, unit: str = "B") -> Iterator[Progress]:
    """``with phase(progress, "upload", total): ...`` starts a phase and closes it even on error."""
    progress.start(name, total, unit)
    try:
        yield progress
    finally:
        progress.done()
