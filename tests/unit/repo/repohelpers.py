"""Helpers for the repository data-path tests: a thread-safe fake store, a crashing one, trees."""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drkit.errors import StorageError
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.base import LockMode, ObjectInfo, Retention
from tests.unit.repo.fakestore import FakeStore

SMALL_CHUNKS = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=12345)
CRED = Credential(passphrase=Secret("correct horse battery staple"))
SCRYPT_N = 2**10


class Clock:
    """A settable clock for the repository (and the fake store's lock checks)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class SafeStore:
    """FakeStore behind a lock (the writer uploads from several threads); counts puts; can crash."""

    def __init__(self, inner: FakeStore | None = None, *, fail_after_puts: int | None = None) -> None:
        self.inner = inner or FakeStore()
        self._lock = threading.RLock()
        self.puts = 0
        self.fail_after_puts = fail_after_puts

    @property
    def supports_object_lock(self) -> bool:
        return True

    @property
    def url(self) -> str:
        return "memory://safe"

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        with self._lock:
            if self.fail_after_puts is not None and self.puts >= self.fail_after_puts:
                raise StorageError(f"simulated crash before putting {key}")
            self.puts += 1
            return self.inner.put(key, data, retention=retention)

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        with self._lock:
            return self.inner.get(key, version_id=version_id)

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        with self._lock:
            return self.inner.head(key, version_id=version_id)

    def exists(self, key: str) -> bool:
        with self._lock:
            return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            return iter(builtins.list(self.inner.list(prefix)))

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        with self._lock:
            return self.inner.versions(key)

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None:
        with self._lock:
            self.inner.extend_retention(key, until, version_id=version_id)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        with self._lock:
            self.inner.delete(key, version_id=version_id)

    def keys(self, prefix: str = "") -> builtins.list[str]:
        with self._lock:
            return sorted(i.key for i in self.inner.list(prefix))


def new_repo(store: Any, *, pack_size: int = 64 * 1024, index_every: int = 1, **kw: Any) -> Repository:
    return Repository.init(
        store,
        CRED,
        lock_mode=kw.pop("lock_mode", LockMode.COMPLIANCE),
        retention=kw.pop("retention", timedelta(days=7)),
        chunker=SMALL_CHUNKS,
        pack_size=pack_size,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=index_every),
        **kw,
    )


def open_repo(store: Any, *, index_every: int = 1, **kw: Any) -> Repository:
    return Repository.open(store, CRED, settings=WriterSettings(workers=2, index_every=index_every), **kw)


def corrupt(store: SafeStore, key: str, *, at: int = 20) -> None:
    """Flip one byte of the stored (original) version of ``key``, as bit rot would."""
    version = store.inner._objects[key][0]
    data = bytearray(version.data)
    data[at % len(data)] ^= 0x01
    version.data = bytes(data)


def vanish(store: SafeStore, key: str) -> None:
    """Lose an object entirely (a store losing data), bypassing the lock."""
    del store.inner._objects[key]


def make_tree(root: Path) -> None:
    """A tree with files of several sizes (empty, tiny, multi-chunk), symlinks, empty dirs, modes."""
    rng = __import__("random").Random(42)
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.txt").write_bytes(b"")
    (root / "tiny.txt").write_bytes(b"hello\n")
    (root / "big.bin").write_bytes(rng.randbytes(200_000))  # ~ many 4 KiB chunks
    (root / "compressible.txt").write_bytes(b"abcdefgh" * 50_000)
    sub = root / "sub" / "deeper"
    sub.mkdir(parents=True)
    (sub / "data.bin").write_bytes(rng.randbytes(30_000))
    (root / "sub" / "script.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "sub" / "script.sh").chmod(0o751)
    (root / "emptydir").mkdir()
    (root / "emptydir").chmod(0o700)
    (root / "link").symlink_to("sub/script.sh")
    (root / "dangling").symlink_to("/nonexistent/target")
    (root / "dup.bin").write_bytes((root / "big.bin").read_bytes())
    (root / "readonly.txt").write_bytes(b"ro")
    (root / "readonly.txt").chmod(0o444)
    (root / "ünïcode name.txt").write_bytes(b"utf8")
    (root / os.fsdecode(b"bad-\xff-name")).write_bytes(b"not utf-8 name")
    t = 1_600_000_000_123_456_789
    for i, p in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(p, ns=(t + i, t + i), follow_symlinks=False)
    os.utime(root, ns=(t - 5, t - 5))


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything a restore must reproduce: type, mode, mtime, contents or link target."""
    out: dict[str, tuple[object, ...]] = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        rel = os.fsdecode(p.relative_to(root).as_posix()) if p != root else "."
        if p.is_symlink():
            out[rel] = ("link", str(p.readlink()), st.st_mtime_ns)
        elif p.is_dir():
            out[rel] = ("dir", oct(st.st_mode & 0o7777), st.st_mtime_ns)
        else:
            out[rel] = ("file", oct(st.st_mode & 0o7777), st.st_mtime_ns, p.read_bytes())
    return out
