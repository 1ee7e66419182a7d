"""RetryingStore over a fake flaky store: what is retried, how long it waits, put/delete/list cases."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.deadline import Timeouts
from drkit.storage.base import LockMode, ObjectInfo, Retention
from drkit.storage.errors import (
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreTimeout,
    TransientStoreError,
)
from drkit.storage.local import LocalStore
from drkit.storage.retry import RetryingStore

UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


class Flaky(LocalStore):
    """A real LocalStore whose operations fail transiently ``fail`` times first (per operation name).

    With ``land=True`` a failing put or delete still does its work before failing, like a request
    whose reply was lost.
    """

    def __init__(self, root: Path, fail: dict[str, int], *, land: bool = False) -> None:
        super().__init__(root)
        self.fail = dict(fail)
        self.land = land
        self.calls: list[str] = []

    def _maybe_fail(self, op: str) -> None:
        self.calls.append(op)
        if self.fail.get(op, 0) > 0:
            self.fail[op] -= 1
            raise TransientStoreError(f"{op}: 503 SlowDown")

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        if self.land and self.fail.get("put", 0) > 0:
            super().put(key, data, retention=retention)
        self._maybe_fail("put")
        return super().put(key, data, retention=retention)

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        self._maybe_fail("get")
        return super().get(key, version_id=version_id)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        if self.land and self.fail.get("delete", 0) > 0:
            super().delete(key, version_id=version_id)
        self._maybe_fail("delete")
        super().delete(key, version_id=version_id)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for n, info in enumerate(super().list(prefix)):
            if n == 2:
                self._maybe_fail("list")
            yield info


def retrying(inner: LocalStore, sleeps: list[float], attempts: int = 5) -> RetryingStore:
    return RetryingStore(
        inner, attempts=attempts, base_delay=0.5, max_delay=3.0, sleep=sleeps.append, rng=random.Random(7)
    )


def test_transient_errors_are_retried_with_capped_full_jitter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = Flaky(tmp_path, {"get": 4})
    inner.put("k", b"x")
    sleeps: list[float] = []
    store = retrying(inner, sleeps)
    with caplog.at_level(logging.WARNING, logger="drkit.storage.retry"):
        assert store.get("k") == b"x"
    assert inner.calls.count("get") == 5
    assert len(sleeps) == 4
    caps = [0.5, 1.0, 2.0, 3.0]  # base * 2**n, capped at max_delay
    assert all(0.0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == 4  # jittered, not fixed
    retries = [r for r in caplog.records if r.name == "drkit.storage.retry"]
    assert len(retries) == 4
    assert "attempt 1 of 5" in retries[0].getMessage()


def test_the_last_transient_error_is_raised_after_all_attempts(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"get": 10})
    inner.put("k", b"x")
    sleeps: list[float] = []
    with pytest.raises(TransientStoreError):
        retrying(inner, sleeps, attempts=3).get("k")
    assert inner.calls.count("get") == 3
    assert len(sleeps) == 2


def test_final_errors_are_not_retried(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {})
    sleeps: list[float] = []
    store = retrying(inner, sleeps)
    with pytest.raises(ObjectNotFound):
        store.get("missing")
    inner.put("locked", b"x", retention=Retention(LockMode.COMPLIANCE, UNTIL))
    with pytest.raises(ObjectLocked):
        store.delete("locked")
    with pytest.raises(ObjectExists):
        store.put("locked", b"other")
    assert sleeps == []
    assert inner.calls.count("get") == 1


def test_a_put_that_landed_before_its_reply_was_lost_succeeds(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"put": 1}, land=True)
    sleeps: list[float] = []
    retention = Retention(LockMode.GOVERNANCE, UNTIL)
    assert retrying(inner, sleeps).put("k", b"mine", retention=retention) is None
    assert inner.get("k") == b"mine"
    assert inner.head("k").retention == retention
    assert len(sleeps) == 1


def test_a_retried_put_meeting_other_bytes_raises_exists(tmp_path: Path) -> None:
    LocalStore(tmp_path).put("k", b"theirs")
    inner = Flaky(tmp_path, {"put": 1})
    with pytest.raises(ObjectExists):
        retrying(inner, []).put("k", b"mine")
    assert inner.get("k") == b"theirs"


def test_a_first_put_meeting_the_same_bytes_still_raises_exists(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {})
    inner.put("k", b"same")
    with pytest.raises(ObjectExists):
        retrying(inner, []).put("k", b"same")


class FlakyParts(Flaky):
    """``Flaky`` for ``put_parts`` (what a pack's put goes through)."""

    def put_parts(
        self, key: str, parts: Sequence[bytes | bytearray | memoryview], *, retention: Retention | None = None
    ) -> str | None:
        if self.land and self.fail.get("put", 0) > 0:
            LocalStore.put_parts(self, key, parts, retention=retention)
        self._maybe_fail("put")
        return LocalStore.put_parts(self, key, parts, retention=retention)


PARTS = [b"sealed ", bytearray(b"blob "), memoryview(b"-after-blob")[1:]]


def test_a_put_of_parts_is_retried_and_recognised_when_it_had_landed(tmp_path: Path) -> None:
    inner = FlakyParts(tmp_path, {"put": 1}, land=True)
    sleeps: list[float] = []
    retention = Retention(LockMode.GOVERNANCE, UNTIL)
    assert retrying(inner, sleeps).put_parts("k", PARTS, retention=retention) is None
    assert inner.calls == ["put", "put", "get"]  # the retry met the landed object, compared part by part
    assert inner.get("k") == b"sealed blob after-blob"
    assert inner.head("k").retention == retention
    assert len(sleeps) == 1


@pytest.mark.parametrize("theirs", [b"sealed blob AFTER-blob", b"sealed blob after-blob!", b"sealed"])
def test_a_retried_put_of_parts_meeting_other_bytes_raises_exists(tmp_path: Path, theirs: bytes) -> None:
    """Other bytes of the same length, a longer object, a shorter one: never taken for ours."""
    LocalStore(tmp_path).put("k", theirs)
    inner = FlakyParts(tmp_path, {"put": 1})
    with pytest.raises(ObjectExists, match="other content"):
        retrying(inner, []).put_parts("k", PARTS)
    assert inner.get("k") == theirs


def test_a_put_of_parts_into_a_store_without_put_parts_joins_them(tmp_path: Path) -> None:
    class PutOnly:
        def __init__(self) -> None:
            self.puts: list[bytes] = []

        def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
            self.puts.append(data)
            return "v1"

    inner = PutOnly()
    store = RetryingStore(inner, attempts=1)  # type: ignore[arg-type]
    assert store.put_parts("k", PARTS) == "v1"
    assert inner.puts == [b"sealed blob after-blob"]


def test_a_delete_that_landed_is_not_repeated_on_another_version(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"delete": 1}, land=True)
    inner.put("k", b"x")
    sleeps: list[float] = []
    with pytest.raises(ObjectNotFound):
        # LocalStore has no version ids, so the retry cannot tell; a versioned store's can (below)
        retrying(inner, sleeps).delete("k")
    assert not inner.exists("k")


class Versioned(Flaky):
    """Pretends to have versions: ``v1`` is the only one."""

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        info = super().head(key)
        return ObjectInfo(key=info.key, size=info.size, version_id="v1")

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        assert version_id == "v1"
        super().delete(key)


def test_a_versioned_delete_that_landed_counts_as_done(tmp_path: Path) -> None:
    inner = Versioned(tmp_path, {"delete": 1}, land=True)
    inner.put("k", b"x")
    sleeps: list[float] = []
    retrying(inner, sleeps).delete("k")
    assert not inner.exists("k")
    assert len(sleeps) == 1


def test_a_listing_broken_part_way_resumes_without_duplicates(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"list": 2})
    keys = [f"k{n}" for n in range(6)]
    for k in keys:
        inner.put(k, b"x")
    sleeps: list[float] = []
    listed = [i.key for i in retrying(inner, sleeps).list()]
    assert sorted(listed) == keys
    assert len(listed) == len(keys)
    assert len(sleeps) == 2


def test_properties_pass_through(tmp_path: Path) -> None:
    store = RetryingStore(LocalStore(tmp_path))
    assert store.url == tmp_path.as_uri()
    assert store.supports_object_lock
    store.put("a", b"x")
    store.extend_retention("a", datetime.now(UTC) + timedelta(days=1))
    assert [v.key for v in store.versions("a")] == ["a"]
    assert store.exists("a")
    assert store.head("a").size == 1


def test_attempts_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryingStore(LocalStore(tmp_path), attempts=0)


class Hung(LocalStore):
    """A real LocalStore whose ``get`` and ``list`` never answer (until ``release``)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()
        self.calls = 0

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        self.calls += 1
        self.release.wait(30)
        return super().get(key, version_id=version_id)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.release.wait(30)
        yield from super().list(prefix)


def test_an_operation_that_never_answers_fails_at_its_deadline_naming_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = Hung(tmp_path)
    store = RetryingStore(inner, timeouts=Timeouts(metadata=0.2, data=0.4, slow=0.1))
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="drkit.storage.retry"), pytest.raises(StoreTimeout) as err:
        store.get("data/k")
    took = time.monotonic() - start
    inner.release.set()
    assert 0.4 <= took < 2.0
    assert not err.value.transient  # the deadline covered the retries: nothing above retries again
    assert err.value.exit_code == 15
    assert str(err.value).startswith(f"{inner.url}: get data/k: no answer within 0.4s")
    slow = [r.getMessage() for r in caplog.records if "is slow" in r.getMessage()]
    assert len(slow) == 1
    assert inner.url in slow[0]


def test_only_the_first_slow_attempt_of_a_store_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = Hung(tmp_path)
    store = RetryingStore(inner, timeouts=Timeouts(metadata=0.25, slow=0.1))
    with caplog.at_level(logging.DEBUG, logger="drkit.storage.retry"):
        for _ in range(2):
            with pytest.raises(StoreTimeout):
                list(store.list("data/"))
    inner.release.set()
    levels = [r.levelno for r in caplog.records if "is slow" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG]


def test_no_pause_outlives_the_deadline(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"get": 10})
    inner.put("k", b"x")
    sleeps: list[float] = []
    store = RetryingStore(
        inner,
        attempts=10,
        base_delay=5.0,
        max_delay=5.0,
        sleep=sleeps.append,
        rng=random.Random(1),
        timeouts=Timeouts(metadata=0.1, data=0.1),
    )
    with pytest.raises(
        StoreTimeout, match=r"no success within 0\.1s \(\d+ attempts?\); last error: get: 503"
    ):
        store.get("k")
    assert all(s < 0.1 for s in sleeps)


def test_a_transient_error_that_outlasts_every_attempt_names_the_store(tmp_path: Path) -> None:
    inner = Flaky(tmp_path, {"get": 10})
    inner.put("k", b"x")
    with pytest.raises(TransientStoreError, match=r"gave up after 3 attempts") as err:
        retrying(inner, [], attempts=3).get("k")
    assert str(err.value).startswith(inner.url)


def test_a_landed_put_is_recognised_even_when_the_comparing_read_is_flipped_once(tmp_path: Path) -> None:
    class FlipOnce(Flaky):
        flipped = False

        def get(self, key: str, *, version_id: str | None = None) -> bytes:
            data = super().get(key, version_id=version_id)
            if not self.flipped:
                self.flipped = True
                return bytes([data[0] ^ 1]) + data[1:]
            return data

    inner = FlipOnce(tmp_path, {"put": 1}, land=True)
    assert retrying(inner, []).put("k", b"mine") is None
    assert inner.flipped


def test_a_landed_put_is_recognised_though_the_reads_that_check_it_fail_in_transit(tmp_path: Path) -> None:
    # Seen in a fault-proxy sweep (seed 22): repo init's config put lost its reply; each later
    # attempt met "exists" and then a fault in one of the checking requests (head, get, retention),
    # which used up the put's attempts: exit 15 for a config that had landed.
    inner = Flaky(tmp_path, {"put": 1, "get": 2}, land=True)
    retention = Retention(LockMode.GOVERNANCE, UNTIL)
    assert retrying(inner, [], attempts=3).put("k", b"mine", retention=retention) is None
    assert inner.calls.count("put") == 2  # the lost reply, then "exists": the put is not sent again
    assert inner.calls.count("get") == 3  # the comparing read, retried on its own
    assert inner.head("k").retention == retention
