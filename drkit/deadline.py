"""Deadlines for calls to remote servers (S3, the Kubernetes API, etcd): bounded waits, early warnings.

A server that accepts a connection and never answers (or answers a byte a minute) defeats socket
timeouts and retries: each read waits its full timeout, each retry starts again. ``run`` bounds the
*whole* call instead: the call runs on a worker thread and the caller waits at most ``seconds``. When
the call has not finished after ``slow`` seconds the caller is told once (``on_slow``, a warning);
after ``seconds`` it gets ``on_timeout``'s error and the call is abandoned (its daemon thread ends
when its socket times out or the process exits: it holds no lock of the caller's).

The process-wide limits are a ``Timeouts`` (``current()``); the CLI sets them from ``--timeout``
(``configure``), and each client (``drkit.storage``, ``drkit.kube``, ``drkit.etcd``) reads them when
it is built.

``Deadline`` is the one way drkit waits for something to become true (a server ready, a Job finished,
a claim bound): a moment on the monotonic clock, what is left of it, and ``polls`` to loop until it.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_METADATA = 120.0
"""Seconds for one metadata request (a HEAD, a list page, an API call, an etcd status), retries included."""
DATA_FACTOR = 5.0
"""Object bodies (a GET or PUT of a pack) get this many times the metadata deadline."""
MIN_SECONDS = 0.1
MAX_SECONDS = 86400.0


@dataclass(frozen=True)
class Timeouts:
    """How long drkit waits for a server. ``metadata``: one request, every attempt included.

    ``data`` (object bodies) defaults to ``DATA_FACTOR`` times ``metadata``; ``slow`` (when a
    warning says a server is slow) to a quarter of ``metadata``, at most 15 s; ``attempt`` (one
    attempt's socket timeout, so that a retry can still happen in time) to a third of ``metadata``.
    """

    metadata: float = DEFAULT_METADATA
    data: float | None = None
    slow: float | None = None

    def __post_init__(self) -> None:
        for name in ("metadata", "data", "slow"):
            value = getattr(self, name)
            if value is not None and not MIN_SECONDS <= value <= MAX_SECONDS:
                raise ValueError(f"timeout {name}={value} is outside {MIN_SECONDS}..{MAX_SECONDS} seconds")

    @property
    def data_seconds(self) -> float:
        return self.data if self.data is not None else self.metadata * DATA_FACTOR

    @property
    def slow_seconds(self) -> float:
        return self.slow if self.slow is not None else min(15.0, self.metadata / 4)

    @property
    def attempt_seconds(self) -> float:
        return max(MIN_SECONDS, self.metadata / 3)


_current = Timeouts()


def current() -> Timeouts:
    """The process-wide limits (``Timeouts()`` unless the CLI configured others)."""
    return _current


def configure(timeouts: Timeouts) -> None:
    """Set the process-wide limits: clients built afterwards use them."""
    global _current  # noqa: PLW0603 - one setting per process, like logging's
    _current = timeouts


class Deadline:
    """``seconds`` from now on ``clock`` (monotonic): what is left, whether it passed, and the polls
    until then. One deadline may be shared by several waits (one budget for many claims)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (0 once it passed)."""
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def polls(self, interval: float, *, sleep: Callable[[float], None] = time.sleep) -> Iterator[int]:
        """Attempt numbers 1, 2, ...: the first at once, then one every ``interval`` seconds, the last
        one when the deadline comes (never a sleep past it). Leave the loop when done; a loop that ends
        by itself ran out of time::

            for _ in Deadline(30).polls(0.5):
                if ready():
                    break
            else:
                raise TimeoutError("not ready after 30s")
        """
        attempt = 1
        yield attempt
        while not self.expired():
            sleep(min(interval, self.remaining()))
            attempt += 1
            yield attempt


class DeadlineExceeded(Exception):
    """Raised by ``run`` when the call did not finish in time (callers turn it into their own error)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:.1f}s")
        self.seconds = seconds


def run(
    fn: Callable[[], T],
    seconds: float,
    *,
    slow: float | None = None,
    on_slow: Callable[[float], None] | None = None,
) -> T:
    """``fn()``, or ``DeadlineExceeded`` after ``seconds``. ``on_slow(elapsed)`` once after ``slow``."""
    future = _POOL.submit(fn)
    start = time.monotonic()
    try:
        if slow is not None and on_slow is not None and slow < seconds:
            try:
                return future.result(timeout=slow)
            except FutureTimeout:
                on_slow(time.monotonic() - start)
        remaining = seconds - (time.monotonic() - start)
        return future.result(timeout=max(0.0, remaining))
    except FutureTimeout:
        raise DeadlineExceeded(seconds) from None


class _Pool:
    """Daemon worker threads, started on demand and ended after a minute idle.

    Not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined at exit, so one call hung
    on a silent server would keep the process alive after the caller gave up on it.
    """

    IDLE = 60.0

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[object], Callable[[], object]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        ctx = contextvars.copy_context()
        self._tasks.put((future, lambda: ctx.run(fn)))  # type: ignore[arg-type]
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                return future
        threading.Thread(target=self._work, name="drkit-deadline", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn = self._tasks.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:
                    if self._tasks.empty():
                        self._idle -= 1
                        return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)
            del future, fn
            with self._lock:
                self._idle += 1


_POOL = _Pool()
