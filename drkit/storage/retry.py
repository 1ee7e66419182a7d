"""RetryingStore: the one layer that retries a store's transient errors and bounds how long each takes.

It owns the attempt count: the S3 client under it makes one attempt per call (botocore's own retries
are off), so ``attempts`` is the number of requests sent, and a lost reply is seen here, where a put
can be checked against what landed. Only errors whose ``transient`` attribute is true are retried
(``TransientStoreError``); every other error passes through at once. Pauses are exponential with full
jitter. Each retry is logged at WARNING on ``drkit.storage.retry``.

Every operation has a deadline, all attempts and pauses included (``drkit.deadline.Timeouts``:
``metadata`` for head/list/versions/retention/delete, ``data`` for get and put). An attempt still
running after ``slow`` seconds is reported once per store at WARNING ("slow"); one still running at
the deadline is abandoned and ``StoreTimeout`` (exit 15) names the store's endpoint, the operation,
the key and how many attempts were made. A transient error that survives every attempt is raised
again naming the endpoint too.

Two cases need more than "call again":

* ``put``: the first attempt may have reached the store before the connection failed. If a retry
  then meets ``ObjectExists`` and the stored bytes are the bytes being written (read up to three
  times: a byte flipped on the way back is not someone else's object), the put succeeded:
  its version id is returned (and the retention extended to the one asked for, which is a no-op
  when the first attempt set it). The requests of that check (head, get, retention) are retried
  each on its own, after the put's attempts: a fault in one of them does not fail the put.
* ``delete``: the newest version is pinned (``head``) before deleting, so that retries cannot
  delete two versions; ``ObjectNotFound`` on a retry means an earlier attempt deleted it.
* ``list``: a listing that fails part way is started again; keys already yielded are skipped.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from drkit import deadline
from drkit.deadline import DeadlineExceeded, Timeouts
from drkit.storage.base import Housekeeping, Leftover, ObjectInfo, Retention, Store
from drkit.storage.errors import ObjectExists, ObjectNotFound, StoreTimeout, TransientStoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ATTEMPTS = 6
COMPARE_READS = 3  # reads of a stored object before "other content" is believed
LIST_BATCH = 1000  # keys fetched per deadline-bounded step of a listing (one S3 page)
_DATA_OPS = frozenset({"get", "put"})
SLOW_HINT = "is the endpoint up and reachable? A slow one may need a longer --timeout (DRKIT_TIMEOUT)"


class RetryingStore:
    """Wraps ``inner``; ``attempts`` counts the first try. Delays: uniform(0, min(max, base * 2**n)).

    ``timeouts``: the deadlines (default: ``drkit.deadline.current()`` when the store is built).
    """

    def __init__(
        self,
        inner: Store,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = 0.2,
        max_delay: float = 10.0,
        timeouts: Timeouts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeouts = timeouts or deadline.current()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._warned_slow = False

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r}, attempts={self.attempts})"

    @property
    def supports_object_lock(self) -> bool:
        return self._call("supports_object_lock", "", lambda: self.inner.supports_object_lock)

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def where(self) -> str:
        """The store for messages: its endpoint first when it has one (S3), then its URL."""
        endpoint = getattr(self.inner, "endpoint", None)
        return f"{endpoint} ({self.url})" if endpoint else self.url

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first retry): full jitter."""
        cap = min(self.max_delay, self.base_delay * (2**retry))
        return self._rng.uniform(0.0, cap)

    def _seconds(self, op: str) -> float:
        return self.timeouts.data_seconds if op in _DATA_OPS else self.timeouts.metadata

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        seconds = self._seconds(op)
        start = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            remaining = seconds - (time.monotonic() - start)
            try:
                return self._attempt(op, key, fn, attempt, remaining)
            except DeadlineExceeded:
                raise self._timeout(op, key, seconds, attempt, None) from None
            except Exception as exc:
                if not getattr(exc, "transient", False):
                    raise
                if attempt >= self.attempts:
                    raise self._gave_up(op, key, attempt, start, exc) from exc
                if not self._pause(op, key, attempt, exc, seconds - (time.monotonic() - start)):
                    raise self._timeout(op, key, seconds, attempt, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, op: str, key: str, fn: Callable[[], T], attempt: int, remaining: float) -> T:
        """One attempt, abandoned after ``remaining`` seconds; reported once per store when slow."""
        if remaining <= 0:
            raise DeadlineExceeded(0.0)

        def slow(elapsed: float) -> None:
            level = logging.DEBUG if self._warned_slow else logging.WARNING
            self._warned_slow = True
            log.log(
                level,
                "store %s is slow: %s %s has had no answer for %.1fs (attempt %d); waiting up to %.1fs more",
                self.where,
                op,
                key or "-",
                elapsed,
                attempt,
                max(0.0, remaining - elapsed),
                extra={"store": self.url, "op": op, "key": key, "attempt": attempt},
            )

        return deadline.run(fn, remaining, slow=self.timeouts.slow_seconds, on_slow=slow)

    def _timeout(
        self, op: str, key: str, seconds: float, attempts: int, last: BaseException | None
    ) -> StoreTimeout:
        detail = f"; last error: {last}" if last is not None else ""
        what = "no answer" if last is None else "no success"
        return StoreTimeout(
            f"{self.where}: {op} {key or '-'}: {what} within {seconds:g}s "
            f"({attempts} attempt{'s' if attempts > 1 else ''}){detail}",
            key=key or None,
            hint=SLOW_HINT,
        )

    def _gave_up(
        self, op: str, key: str, attempts: int, start: float, exc: BaseException
    ) -> TransientStoreError:
        return TransientStoreError(
            f"{self.where}: {exc} (gave up after {attempts} attempts in {time.monotonic() - start:.1f}s)",
            key=getattr(exc, "key", None) or key or None,
            hint=getattr(exc, "hint", None) or SLOW_HINT,
        )

    def _pause(self, op: str, key: str, attempt: int, exc: BaseException, remaining: float) -> bool:
        """Sleep before the next attempt; ``False`` (no sleep) when the deadline would pass first."""
        pause = self.delay(attempt - 1)
        if pause >= remaining:
            return False
        log.warning(
            "store %s %s failed (attempt %d of %d), retrying in %.2fs: %s",
            op,
            key or "-",
            attempt,
            self.attempts,
            pause,
            exc,
            extra={"store": self.inner.url, "op": op, "key": key, "attempt": attempt},
        )
        self._sleep(pause)
        return True

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        tried = False
        exists = False

        def attempt() -> str | None:
            nonlocal tried, exists
            first = not tried
            tried = True
            try:
                return self.inner.put(key, data, retention=retention)
            except ObjectExists:
                if first:
                    raise
                exists = True
                return None

        vid = self._call("put", key, attempt)
        if exists:
            # checked outside the put's attempts: each request of the check is retried on its own,
            # so a fault in one of them does not use up the put's attempts (nor send the put again)
            return self._put_landed(key, data, retention)
        return vid

    def put_parts(
        self, key: str, parts: Sequence[bytes | bytearray | memoryview], *, retention: Retention | None = None
    ) -> str | None:
        """:meth:`put` of the concatenation of ``parts``, through the inner store's ``put_parts`` when it
        has one (never joined in memory: ``S3Store``), else joined."""
        inner_parts = getattr(self.inner, "put_parts", None)
        if inner_parts is None:
            return self.put(key, b"".join(parts), retention=retention)
        tried = False
        exists = False

        def attempt() -> str | None:
            nonlocal tried, exists
            first = not tried
            tried = True
            try:
                return inner_parts(key, parts, retention=retention)  # type: ignore[no-any-return]
            except ObjectExists:
                if first:
                    raise
                exists = True
                return None

        vid = self._call("put", key, attempt)
        if exists:
            return self._put_landed(key, parts, retention)
        return vid

    def _put_landed(
        self, key: str, data: bytes | Sequence[bytes | bytearray | memoryview], retention: Retention | None
    ) -> str | None:
        """After a failed attempt, ``ObjectExists``: return the version if it holds our bytes (``data``:
        the object, or its parts)."""
        info = self.head(key)
        size = len(data) if isinstance(data, bytes) else sum(len(p) for p in data)
        if info.size != size or not self._holds(key, info.version_id, data):
            raise ObjectExists(f"{key}: already exists with other content", key=key)
        if retention is not None:
            self.extend_retention(key, retention.until, version_id=info.version_id)
        log.info("store put %s: an earlier attempt had landed; keeping it", key)
        return info.version_id

    def _holds(
        self, key: str, version_id: str | None, data: bytes | Sequence[bytes | bytearray | memoryview]
    ) -> bool:
        """Whether the stored version is ``data`` (or its parts, one after the other); a mismatch is
        read again (``COMPARE_READS`` in all), so that a byte flipped on the way back is not taken for
        someone else's object."""
        return any(_same(self.get(key, version_id=version_id), data) for _ in range(COMPARE_READS))

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        return self._call("get", key, lambda: self.inner.get(key, version_id=version_id))

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        return self._call("head", key, lambda: self.inner.head(key, version_id=version_id))

    def exists(self, key: str) -> bool:
        return self._call("exists", key, lambda: self.inner.exists(key))

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        return self._call("versions", key, lambda: self.inner.versions(key))

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None:
        self._call(
            "extend_retention", key, lambda: self.inner.extend_retention(key, until, version_id=version_id)
        )

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        if version_id is None:
            # Pin the version first: retrying "delete the newest" could delete two versions.
            version_id = self.head(key).version_id
        tried = False

        def attempt() -> None:
            nonlocal tried
            first = not tried
            tried = True
            try:
                self.inner.delete(key, version_id=version_id)
            except ObjectNotFound:
                if first or version_id is None:
                    raise
                # an earlier attempt deleted this very version before its reply was lost

        self._call("delete", key, attempt)

    def leftovers(self) -> builtins.list[Leftover]:
        """The inner store's leftovers (none when it cannot have any)."""
        inner = self.inner
        if not isinstance(inner, Housekeeping):
            return []
        return self._call("leftovers", "", inner.leftovers)

    def discard(self, leftover: Leftover) -> None:
        inner = self.inner
        if isinstance(inner, Housekeeping):
            self._call("discard", leftover.name, lambda: inner.discard(leftover))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every key once. Each step (up to ``LIST_BATCH`` keys) has the metadata deadline; a listing
        broken by a transient error starts again and skips the keys already yielded."""
        seen: set[str] = set()
        seconds = self.timeouts.metadata
        start = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            try:
                pages = self.inner.list(prefix)
                step = functools.partial(_take, pages)
                while True:
                    step_start = time.monotonic()
                    batch = self._attempt(
                        "list",
                        prefix,
                        step,
                        attempt,
                        seconds,
                    )
                    for info in batch:
                        if info.key not in seen:
                            seen.add(info.key)
                            yield info
                    if len(batch) < LIST_BATCH:
                        return
                    start = step_start  # a step that answered resets the clock for the next one
            except DeadlineExceeded:
                raise self._timeout("list", prefix, seconds, attempt, None) from None
            except Exception as exc:
                if not getattr(exc, "transient", False):
                    raise
                if attempt >= self.attempts:
                    raise self._gave_up("list", prefix, attempt, start, exc) from exc
                if not self._pause("list", prefix, attempt, exc, seconds - (time.monotonic() - start)):
                    raise self._timeout("list", prefix, seconds, attempt, exc) from exc


def _take(items: Iterator[ObjectInfo]) -> builtins.list[ObjectInfo]:
    return builtins.list(itertools.islice(items, LIST_BATCH))


def _same(got: bytes, data: bytes | Sequence[bytes | bytearray | memoryview]) -> bool:
    """Whether ``got`` is ``data``, or the concatenation of its parts (compared part by part)."""
    if isinstance(data, bytes):
        return got == data
    view = memoryview(got)
    at = 0
    for part in data:
        n = len(part)
        if view[at : at + n] != memoryview(part).cast("B"):
            return False
        at += n
    return at == len(got)
