"""One conformance suite for every Store backend: the rules written in drkit/storage/base.py.

``Conformance`` holds the tests; each backend class provides the ``backend`` fixture:

* ``TestLocal``: a ``LocalStore`` in a tmp dir, opened by URL (``open_store``).
* ``TestS3``: an ``S3Store`` on a fresh Object Lock bucket of each real server (MinIO, SeaweedFS,
  the ``s3`` fixture of ``tests/infra/s3.py``), opened by URL and so wrapped in ``RetryingStore``,
  with the admin credential (deleting an expired version needs it; the writer is restricted and
  tested in ``test_s3store.py``).

Expiry is tested with a retention of a few seconds and polling, never by sleeping and asserting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.sandbox.s3server import S3Server
from drkit.storage.base import LockMode, Retention, Store
from drkit.storage.errors import InvalidKey, ObjectExists, ObjectLocked, ObjectNotFound, StoreError
from drkit.storage.options import S3Options
from drkit.storage.url import open_store
from tests.infra.s3 import boto3_client

SHORT = 4  # seconds of retention for the expiry tests
EXPIRY_DEADLINE = 60.0  # how long the expiry tests poll before giving up
PREFIX = "repo/one"  # the S3 store's prefix inside its bucket


@dataclass
class Backend:
    store: Store
    versioned: bool  # S3 keeps versions; a local directory does not


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def later(minutes: int) -> datetime:
    return now() + timedelta(minutes=minutes)


def poll(what: str, attempt: Callable[[], bool], deadline: float = EXPIRY_DEADLINE) -> None:
    """Call ``attempt`` until it returns True; fail with ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not attempt():
        if time.monotonic() > end:
            pytest.fail(f"{what}: still not done after {deadline:.0f}s")
        time.sleep(0.5)


class Conformance:
    """The rules of base.py; every backend class below runs all of them."""

    def test_put_get_head_exists(self, backend: Backend) -> None:
        store = backend.store
        assert not store.exists("packs/ab/01")
        version = store.put("packs/ab/01", b"pack one")
        assert (version is not None) == backend.versioned
        assert store.get("packs/ab/01") == b"pack one"
        assert store.exists("packs/ab/01")
        info = store.head("packs/ab/01")
        assert (info.key, info.size, info.version_id, info.retention) == ("packs/ab/01", 8, version, None)
        assert info.last_modified is not None
        assert abs(info.last_modified - now()) < timedelta(minutes=5)
        assert store.url

    def test_empty_and_binary_objects(self, backend: Backend) -> None:
        store = backend.store
        blob = bytes(range(256)) * 1024
        store.put("bin", blob)
        store.put("empty", b"")
        assert store.get("bin") == blob
        assert store.get("empty") == b""
        assert store.head("empty").size == 0

    def test_a_second_put_raises_exists_and_keeps_the_original(self, backend: Backend) -> None:
        store = backend.store
        first = store.put("config", b"original", retention=Retention(LockMode.GOVERNANCE, later(60)))
        with pytest.raises(ObjectExists) as err:
            store.put("config", b"replacement")
        assert err.value.key == "config"
        assert store.get("config") == b"original"
        assert [v.version_id for v in store.versions("config")] == [first]

    def test_put_parts_stores_their_concatenation(self, backend: Backend) -> None:
        """A pack is put from its sealed blobs, never joined (S3: streamed from the parts)."""
        store = backend.store
        put_parts = getattr(store, "put_parts", None)
        assert put_parts is not None, f"{store!r} has no put_parts: packs would be joined before a put"
        parts = [
            b"head",
            b"",
            bytearray(b"x" * 70_000),
            memoryview(bytes(range(256)) * 300)[5:],
            bytes(range(256)) * 4096,  # 1 MiB: a body read in several blocks
        ]
        joined = b"".join(bytes(p) for p in parts)
        until = later(60)
        version = put_parts("packs/cd/02", parts, retention=Retention(LockMode.GOVERNANCE, until))
        assert (version is not None) == backend.versioned
        assert store.get("packs/cd/02") == joined
        info = store.head("packs/cd/02")
        assert (info.size, info.retention) == (len(joined), Retention(LockMode.GOVERNANCE, until))
        with pytest.raises(ObjectExists):
            put_parts("packs/cd/02", [b"other ", b"bytes"])
        assert store.get("packs/cd/02") == joined
        assert put_parts("packs/cd/03", []) == store.head("packs/cd/03").version_id
        assert store.get("packs/cd/03") == b""

    def test_put_records_the_retention(self, backend: Backend) -> None:
        store = backend.store
        assert store.supports_object_lock
        until = later(60)
        store.put("locked/c", b"c", retention=Retention(LockMode.COMPLIANCE, until))
        store.put("locked/g", b"g", retention=Retention(LockMode.GOVERNANCE, until))
        assert store.head("locked/c").retention == Retention(LockMode.COMPLIANCE, until)
        assert store.head("locked/g").retention == Retention(LockMode.GOVERNANCE, until)
        # Kept to the second, rounded up: never shorter than asked.
        store.put(
            "locked/us", b"u", retention=Retention(LockMode.GOVERNANCE, until + timedelta(microseconds=1))
        )
        assert store.head("locked/us").retention == Retention(
            LockMode.GOVERNANCE, until + timedelta(seconds=1)
        )

    def test_a_retention_in_the_past_is_refused(self, backend: Backend) -> None:
        with pytest.raises(StoreError):
            backend.store.put(
                "past", b"x", retention=Retention(LockMode.COMPLIANCE, now() - timedelta(hours=1))
            )
        assert not backend.store.exists("past")

    def test_list_yields_every_key_under_a_string_prefix(self, backend: Backend) -> None:
        store = backend.store
        keys = ["config", "data/ab/1", "data/ab2", "data/c", "index/0", "snapshots/2026"]
        for key in keys:
            store.put(key, key.encode(), retention=Retention(LockMode.GOVERNANCE, later(60)))
        assert sorted(i.key for i in store.list()) == keys
        assert sorted(i.key for i in store.list("data/")) == ["data/ab/1", "data/ab2", "data/c"]
        assert sorted(i.key for i in store.list("data/ab")) == ["data/ab/1", "data/ab2"]
        assert sorted(i.key for i in store.list("snap")) == ["snapshots/2026"]
        assert list(store.list("nothing/")) == []
        sizes = {i.key: i.size for i in store.list("index/")}
        assert sizes == {"index/0": len(b"index/0")}

    def test_list_pages_through_many_keys(self, backend: Backend) -> None:
        store = backend.store
        keys = sorted(f"many/{n:04d}" for n in range(1100))  # more than one S3 page of 1000
        for key in keys:
            store.put(key, b"")
        assert sorted(i.key for i in store.list("many/")) == keys

    def test_versions_of_an_untouched_key(self, backend: Backend) -> None:
        store = backend.store
        version = store.put("manifest", b"m")
        store.put("manifest2", b"another key sharing the prefix")
        if backend.versioned:  # S3 only: a directory cannot also be a file (docs/storage.md)
            store.put("manifest/below", b"a key below it")
        [only] = store.versions("manifest")
        assert (only.key, only.version_id, only.is_latest, only.size) == ("manifest", version, True, 1)

    def test_extend_retention_extends_and_never_shortens(self, backend: Backend) -> None:
        store = backend.store
        start = later(60)
        store.put("packs/x", b"x", retention=Retention(LockMode.COMPLIANCE, start))
        store.extend_retention("packs/x", start + timedelta(days=1))
        assert store.head("packs/x").retention == Retention(LockMode.COMPLIANCE, start + timedelta(days=1))
        store.extend_retention("packs/x", start)  # earlier: ignored
        assert store.head("packs/x").retention == Retention(LockMode.COMPLIANCE, start + timedelta(days=1))

    def test_extend_retention_locks_an_unlocked_object(self, backend: Backend) -> None:
        store = backend.store
        store.put("free", b"x")
        until = later(60)
        store.extend_retention("free", until)
        assert store.head("free").retention == Retention(LockMode.GOVERNANCE, until)
        with pytest.raises(ObjectLocked):
            store.delete("free")

    def test_delete_of_a_locked_object_raises_locked(self, backend: Backend) -> None:
        store = backend.store
        for mode in LockMode:
            key = f"locked/{mode.value}"
            store.put(key, b"keep me", retention=Retention(mode, later(60)))
            with pytest.raises(ObjectLocked) as err:
                store.delete(key)
            assert err.value.key == key
            assert store.get(key) == b"keep me"

    def test_delete_of_an_unlocked_object(self, backend: Backend) -> None:
        store = backend.store
        store.put("scratch", b"x")
        store.delete("scratch")
        assert not store.exists("scratch")
        with pytest.raises(ObjectNotFound):
            store.get("scratch")
        assert sorted(i.key for i in store.list()) == []

    def test_delete_after_the_retention_expires(self, backend: Backend) -> None:
        store = backend.store
        store.put("soon", b"x", retention=Retention(LockMode.COMPLIANCE, now() + timedelta(seconds=SHORT)))
        with pytest.raises(ObjectLocked):
            store.delete("soon")

        def try_delete() -> bool:
            try:
                store.delete("soon")
            except ObjectLocked:
                return False
            return True

        poll("delete after expiry", try_delete)
        assert not store.exists("soon")

    def test_missing_objects_raise_not_found(self, backend: Backend) -> None:
        store = backend.store
        store.put("present", b"x")
        for call in (
            lambda: store.get("absent"),
            lambda: store.head("absent"),
            lambda: store.versions("absent"),
            lambda: store.delete("absent"),
            lambda: store.extend_retention("absent", later(60)),
        ):
            with pytest.raises(ObjectNotFound) as err:
                call()
            assert err.value.key == "absent"
        assert not store.exists("absent")
        assert not store.exists("pres")  # a prefix of a key is not a key

    def test_bad_keys_are_refused(self, backend: Backend) -> None:
        for key in ("", "/abs", "a//b", "../up", "a/./b", ".hidden", "trailing/"):
            with pytest.raises(InvalidKey):
                backend.store.put(key, b"x")
            with pytest.raises(InvalidKey):
                backend.store.get(key)

    def test_get_by_version_id(self, backend: Backend) -> None:
        store = backend.store
        version = store.put("snap", b"v1", retention=Retention(LockMode.COMPLIANCE, later(60)))
        assert store.get("snap", version_id=version) == b"v1"
        assert store.head("snap", version_id=version).size == 2
        for bogus in ("no-such-version", "8f3a2b1c-0000-4000-8000-000000000000"):
            with pytest.raises(ObjectNotFound):
                store.get("snap", version_id=bogus)
            with pytest.raises(ObjectNotFound):
                store.head("snap", version_id=bogus)


# -- backends --------------------------------------------------------------------------------------


class TestLocal(Conformance):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return Backend(store=open_store(str(tmp_path / "repo")), versioned=False)

    # Without versions an attacker with write access to the directory replaces or deletes files;
    # LocalStore is only as immutable as the filesystem's permissions (docs/storage.md).


class TestS3(Conformance):
    @pytest.fixture
    def backend(self, s3: S3Server) -> Backend:
        options = S3Options(
            access_key=s3.admin.access_key,
            secret_key=s3.admin.secret_key,
            session_token=s3.admin.session_token,
        )
        url = f"s3://{s3.bucket}/{PREFIX}?endpoint={s3.endpoint}&region={s3.region}&path_style=true"
        return Backend(store=open_store(url, options), versioned=True)

    def test_an_overwrite_behind_our_back_leaves_the_locked_original_readable(
        self, backend: Backend, s3: S3Server
    ) -> None:
        store = backend.store
        until = later(60)
        original = store.put("manifest", b"original", retention=Retention(LockMode.COMPLIANCE, until))
        # An attacker holding the writer credential overwrites the key with a raw PUT (no If-None-Match).
        attacker = boto3_client(s3, s3.writer)
        for data in (b"attacker 1", b"attacker 2"):
            attacker.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/manifest", Body=data)
        listed = store.versions("manifest")
        assert [v.is_latest for v in listed] == [True, False, False]
        assert listed[-1].version_id == original  # newest first: the original is last
        assert [store.get("manifest", version_id=v.version_id) for v in listed] == [
            b"attacker 2",
            b"attacker 1",
            b"original",
        ]
        assert store.get("manifest") == b"attacker 2"
        assert store.head("manifest", version_id=original).retention == Retention(LockMode.COMPLIANCE, until)
        with pytest.raises(ObjectLocked):
            store.delete("manifest", version_id=original)
