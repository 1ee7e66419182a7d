"""RetryingStore: retries a store's transient errors with exponential backoff and full jitter.

Only errors whose ``transient`` attribute is true are retried (``TransientStoreError``); every other
error passes through at once. Each retry is logged at WARNING on ``drkit.storage.retry``.

Two cases need more than "call again":

* ``put``: the first attempt may have reached the store before the connection failed. If a retry
  then meets ``ObjectExists`` and the stored bytes are the bytes being written, the put succeeded:
  its version id is returned (and the retention extended to the one asked for, which is a no-op
  when the first attempt set it).
* ``delete``: the newest version is pinned (``head``) before deleting, so that retries cannot
  delete two versions; ``ObjectNotFound`` on a retry means an earlier attempt deleted it.
* ``list``: a listing that fails part way is started again; keys already yielded are skipped.
"""

from __future__ import annotations

import builtins
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

from drkit.storage.base import ObjectInfo, Retention, Store
from drkit.storage.errors import ObjectExists, ObjectNotFound

log = logging.getLogger(__name__)

T = TypeVar("T")


class RetryingStore:
    """Wraps ``inner``; ``attempts`` counts the first try. Delays: uniform(0, min(max, base * 2**n))."""

    def __init__(
        self,
        inner: Store,
        *,
        attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r}, attempts={self.attempts})"

    @property
    def supports_object_lock(self) -> bool:
        return self._call("supports_object_lock", "", lambda: self.inner.supports_object_lock)

    @property
    def url(self) -> str:
        return self.inner.url

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first retry): full jitter."""
        cap = min(self.max_delay, self.base_delay * (2**retry))
        return self._rng.uniform(0.0, cap)

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not getattr(exc, "transient", False) or attempt >= self.attempts:
                    raise
                self._pause(op, key, attempt, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, op: str, key: str, attempt: int, exc: BaseException) -> None:
        pause = self.delay(attempt - 1)
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

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        tried = False

        def attempt() -> str | None:
            nonlocal tried
            first = not tried
            tried = True
            try:
                return self.inner.put(key, data, retention=retention)
            except ObjectExists:
                if first:
                    raise
                return self._put_landed(key, data, retention)

        return self._call("put", key, attempt)

    def _put_landed(self, key: str, data: bytes, retention: Retention | None) -> str | None:
        """After a failed attempt, ``ObjectExists``: return the version if it holds our bytes."""
        info = self.inner.head(key)
        if info.size != len(data) or self.inner.get(key, version_id=info.version_id) != data:
            raise ObjectExists(f"{key}: already exists with other content", key=key)
        if retention is not None:
            self.inner.extend_retention(key, retention.until, version_id=info.version_id)
        log.info("store put %s: an earlier attempt had landed; keeping it", key)
        return info.version_id

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

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        seen: set[str] = set()
        for attempt in range(1, self.attempts + 1):
            try:
                for info in self.inner.list(prefix):
                    if info.key not in seen:
                        seen.add(info.key)
                        yield info
            except Exception as exc:
                if not getattr(exc, "transient", False) or attempt >= self.attempts:
                    raise
                self._pause("list", prefix, attempt, exc)
            else:
                return
