"""LocalStore: the rules of drkit.storage.base on a directory, and what only a directory has."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.storage.base import LockMode, Retention, Store
from drkit.storage.errors import (
    InvalidKey,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
)
from drkit.storage.local import LocalStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """A settable clock: retention expiry without waiting."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LocalStore:
    return LocalStore(tmp_path / "repo", clock=clock)


def locked(days: float, mode: LockMode = LockMode.COMPLIANCE) -> Retention:
    return Retention(mode, T0 + timedelta(days=days))


def test_is_a_store(store: LocalStore) -> None:
    assert isinstance(store, Store)
    assert store.supports_object_lock
    assert store.url == store.root.as_uri()
    assert store.url.startswith("file:///")


def test_put_get_head_exists(store: LocalStore) -> None:
    assert not store.exists("data/ab/abcd")
    assert store.put("data/ab/abcd", b"hello") is None
    assert store.get("data/ab/abcd") == b"hello"
    info = store.head("data/ab/abcd")
    assert (info.key, info.size, info.version_id, info.retention) == ("data/ab/abcd", 5, None, None)
    assert store.exists("data/ab/abcd")
    assert not store.exists("data/ab")  # a directory is not an object


def test_objects_are_read_only_files_and_no_temp_is_left(store: LocalStore) -> None:
    store.put("a/b", b"x", retention=locked(1))
    mode = stat.S_IMODE((store.root / "a" / "b").stat().st_mode)
    assert mode == 0o444
    sidecar = store.root / ".retention" / "a" / "b.json"
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o444
    leftovers = [p.name for p in store.root.rglob(".tmp-*")]
    assert leftovers == []


def test_second_put_raises_and_keeps_the_original(store: LocalStore) -> None:
    store.put("k", b"first", retention=locked(2))
    with pytest.raises(ObjectExists) as err:
        store.put("k", b"second", retention=locked(1))
    assert err.value.key == "k"
    assert store.get("k") == b"first"
    assert store.head("k").retention == locked(2)  # the loser's retention was not recorded


def test_empty_object(store: LocalStore) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.head("empty").size == 0


def test_retention_is_recorded_and_enforced(store: LocalStore, clock: Clock) -> None:
    store.put("k", b"x", retention=locked(1))
    assert store.head("k").retention == locked(1)
    with pytest.raises(ObjectLocked):
        store.delete("k")
    assert store.get("k") == b"x"
    clock.now = T0 + timedelta(days=1, seconds=1)
    store.delete("k")
    assert not store.exists("k")
    assert not (store.root / ".retention" / "k.json").exists()
    with pytest.raises(ObjectNotFound):
        store.delete("k")


def test_governance_is_bypassed_only_when_asked(tmp_path: Path, clock: Clock) -> None:
    plain = LocalStore(tmp_path, clock=clock)
    admin = LocalStore(tmp_path, bypass_governance=True, clock=clock)
    plain.put("gov", b"x", retention=locked(1, LockMode.GOVERNANCE))
    plain.put("comp", b"x", retention=locked(1, LockMode.COMPLIANCE))
    with pytest.raises(ObjectLocked):
        plain.delete("gov")
    with pytest.raises(ObjectLocked):
        admin.delete("comp")
    admin.delete("gov")
    assert not plain.exists("gov")
    assert plain.exists("comp")


def test_extend_retention_extends_and_never_shortens(store: LocalStore) -> None:
    store.put("k", b"x", retention=locked(5, LockMode.GOVERNANCE))
    store.extend_retention("k", T0 + timedelta(days=10))
    assert store.head("k").retention == locked(10, LockMode.GOVERNANCE)
    store.extend_retention("k", T0 + timedelta(days=3))
    assert store.head("k").retention == locked(10, LockMode.GOVERNANCE)


def test_extend_retention_of_an_unlocked_object_uses_the_default_mode(tmp_path: Path, clock: Clock) -> None:
    store = LocalStore(tmp_path, clock=clock, default_mode=LockMode.COMPLIANCE)
    store.put("k", b"x")
    store.extend_retention("k", T0 + timedelta(days=1))
    assert store.head("k").retention == locked(1, LockMode.COMPLIANCE)
    with pytest.raises(ObjectLocked):
        store.delete("k")


def test_extend_retention_of_a_missing_object(store: LocalStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.extend_retention("nope", T0 + timedelta(days=1))


def test_a_retention_in_the_past_is_refused(store: LocalStore) -> None:
    with pytest.raises(StoreError, match="not in the future"):
        store.put("k", b"x", retention=locked(-1))
    assert not store.exists("k")


def test_a_sidecar_left_by_a_crashed_put_does_not_lock_the_next_object(store: LocalStore) -> None:
    orphan = store.root / ".retention" / "k.json"
    orphan.parent.mkdir(parents=True)
    orphan.write_text(json.dumps({"mode": "compliance", "until": (T0 + timedelta(days=9)).isoformat()}))
    store.put("k", b"x")
    assert store.head("k").retention is None
    store.delete("k")


def test_no_versions(store: LocalStore) -> None:
    store.put("k", b"x")
    [only] = store.versions("k")
    assert (only.key, only.version_id, only.is_latest) == ("k", None, True)
    with pytest.raises(ObjectNotFound, match="no versions"):
        store.get("k", version_id="v1")
    with pytest.raises(ObjectNotFound):
        store.delete("k", version_id="v1")
    with pytest.raises(ObjectNotFound):
        store.versions("missing")


def test_list_by_string_prefix_skips_the_stores_own_files(store: LocalStore) -> None:
    assert list(store.list()) == []  # the root does not exist yet
    for key in ("data/ab/1", "data/ab2", "data/c", "index/0", "config"):
        store.put(key, key.encode(), retention=locked(1))
    assert sorted(i.key for i in store.list()) == ["config", "data/ab/1", "data/ab2", "data/c", "index/0"]
    assert sorted(i.key for i in store.list("data/ab")) == ["data/ab/1", "data/ab2"]
    assert sorted(i.key for i in store.list("data/")) == ["data/ab/1", "data/ab2", "data/c"]
    assert sorted(i.key for i in store.list("con")) == ["config"]
    assert list(store.list("nothing/here")) == []
    sizes = {i.key: i.size for i in store.list()}
    assert sizes["config"] == len(b"config")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "a//b",
        "a/",
        "../x",
        "a/../b",
        "./a",
        "a/./b",
        ".retention/x",
        "a/.tmp-1",
        "a\\b",
        "a\x00b",
    ],
)
def test_bad_keys_are_refused_before_any_io(store: LocalStore, key: str) -> None:
    with pytest.raises(InvalidKey) as err:
        store.put(key, b"x")
    assert isinstance(err.value, ValueError)
    with pytest.raises(InvalidKey):
        store.get(key)
    assert not store.root.exists()


def test_a_key_cannot_be_both_object_and_directory(store: LocalStore) -> None:
    store.put("a", b"x")
    with pytest.raises(StoreError, match="cannot hold both"):
        store.put("a/b", b"y")
    assert store.get("a") == b"x"


def test_missing_objects(store: LocalStore) -> None:
    with pytest.raises(ObjectNotFound) as err:
        store.get("no/such")
    assert err.value.key == "no/such"
    with pytest.raises(ObjectNotFound):
        store.head("no/such")
    store.put("no/x", b"x")
    with pytest.raises(ObjectNotFound):
        store.get("no")  # a directory
