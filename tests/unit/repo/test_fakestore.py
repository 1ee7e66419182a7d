"""The fake store keeps the Store protocol's rules, so tests built on it mean something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drkit.storage.base import LockMode, Retention, Store
from drkit.storage.errors import (
    AccessDenied,
    InvalidKey,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
)
from tests.unit.repo.fakestore import FakeStore

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_is_a_store() -> None:
    assert isinstance(FakeStore(), Store)


def test_put_once_get_list() -> None:
    store = FakeStore()
    version = store.put("data/ab12", b"one")
    assert version is not None
    with pytest.raises(ObjectExists):
        store.put("data/ab12", b"two")
    assert store.get("data/ab12") == b"one"
    assert store.get("data/ab12", version_id=version) == b"one"
    info = store.head("data/ab12")
    assert (info.size, info.version_id, info.is_latest) == (3, version, True)
    assert info.last_modified is not None
    store.put("data/cd34", b"x")
    store.put("index/1", b"y")
    assert sorted(o.key for o in store.list("data/ab")) == ["data/ab12"]
    assert sorted(o.key for o in store.list("data/")) == ["data/ab12", "data/cd34"]
    assert store.exists("index/1")
    assert not store.exists("index/2")
    with pytest.raises(ObjectNotFound):
        store.get("index/2")
    with pytest.raises(ObjectNotFound):
        store.get("data/ab12", version_id="nope")


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a/.hidden", "a\\b"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(InvalidKey):
        FakeStore().put(key, b"")


def test_retention_must_end_in_the_future() -> None:
    store = FakeStore(clock=lambda: NOW)
    with pytest.raises(StoreError, match="not in the future"):
        store.put("k", b"x", retention=Retention(LockMode.COMPLIANCE, NOW))
    assert not store.exists("k")


def test_overwrite_keeps_versions_newest_first() -> None:
    store = FakeStore()
    original = store.put("snapshots/1", b"original")
    store.overwrite("snapshots/1", b"forged")
    assert store.get("snapshots/1") == b"forged"
    versions = store.versions("snapshots/1")
    assert [v.version_id for v in versions][-1] == original
    assert versions[0].is_latest
    assert not versions[1].is_latest
    assert store.get("snapshots/1", version_id=original) == b"original"


def test_retention_locks_and_expires() -> None:
    clock = Clock()
    store = FakeStore(clock=clock)
    store.put("p/1", b"x", retention=Retention(LockMode.COMPLIANCE, NOW + timedelta(days=1)))
    with pytest.raises(ObjectLocked):
        store.delete("p/1")
    store.extend_retention("p/1", NOW - timedelta(days=5))  # earlier: ignored
    info = store.head("p/1")
    assert info.retention is not None
    assert info.retention.until == NOW + timedelta(days=1)
    store.extend_retention("p/1", NOW + timedelta(days=2))
    clock.now = NOW + timedelta(days=1, hours=1)
    with pytest.raises(ObjectLocked):
        store.delete("p/1")
    clock.now = NOW + timedelta(days=3)
    store.delete("p/1")
    assert not store.exists("p/1")


def test_governance_bypass_only_when_constructed_so() -> None:
    retention = Retention(LockMode.GOVERNANCE, NOW + timedelta(days=1))
    locked = FakeStore(clock=lambda: NOW)
    locked.put("k", b"x", retention=retention)
    with pytest.raises(ObjectLocked):
        locked.delete("k")
    bypass = FakeStore(clock=lambda: NOW, bypass_governance=True)
    bypass.put("k", b"x", retention=retention)
    bypass.delete("k")
    compliance = FakeStore(clock=lambda: NOW, bypass_governance=True)
    compliance.put("k", b"x", retention=Retention(LockMode.COMPLIANCE, NOW + timedelta(days=1)))
    with pytest.raises(ObjectLocked):
        compliance.delete("k")


def test_extend_retention_on_unlocked_object_uses_default_mode() -> None:
    store = FakeStore(clock=lambda: NOW)
    store.put("k", b"x")
    store.extend_retention("k", NOW + timedelta(days=1))
    assert store.head("k").retention == Retention(LockMode.GOVERNANCE, NOW + timedelta(days=1))


def test_delete_newest_version_uncovers_the_previous_one() -> None:
    store = FakeStore()
    store.put("k", b"one")
    store.overwrite("k", b"two")
    store.delete("k")
    assert store.get("k") == b"one"
    store.delete("k")
    assert not store.exists("k")
    with pytest.raises(ObjectNotFound):
        store.versions("k")


def test_writer_credentials_cannot_delete() -> None:
    store = FakeStore(deny_delete=True)
    store.put("k", b"x")
    with pytest.raises(AccessDenied):
        store.delete("k")
    assert store.get("k") == b"x"
