"""LocalStore: a directory as an object store, the embedded default.

Layout under ``root``::

    <key>                       the object, read-only (0444), written once
    .retention/<key>.json       its retention, {"mode": ..., "until": ...}, written atomically
    .lock                       flock(2) that serialises the publish/retention/delete steps

An object is written to a temporary file in its own directory (a pack from its parts, never joined,
:mod:`drkit.storage.filewrite`), fsynced, dropped from the page cache, made read-only, then
published with ``os.link`` (which fails if the key exists, so two writers in two processes cannot
both win) and the directory fsynced. Retention is recorded and enforced by drkit only: anyone with
write access to the directory can delete objects. Keys whose segments start with ``.`` are refused
(``drkit.storage.validate``), so the store's own files never collide with objects.

Leftovers: a crash between writing the temporary file and publishing it leaves a ``.tmp-*`` file
(nothing replaces it later: each put picks a new random name). ``leftovers()`` lists them,
``discard()`` removes one; ``verify`` reports them and ``prune`` removes those older than its grace.

Limits: no versions (``version_id`` is ``None``; asking for one is ``ObjectNotFound``); a key cannot
be both an object and a directory of other keys (``a`` and ``a/b``), a filesystem limit S3 has not;
flock must work on the filesystem (local disks do; some network filesystems do not).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from drkit.storage.base import Leftover, LockMode, ObjectInfo, Retention
from drkit.storage.errors import AccessDenied, ObjectExists, ObjectLocked, ObjectNotFound, StoreError
from drkit.storage.filewrite import drop_cached, write_parts
from drkit.storage.validate import check_key, check_prefix, check_retention, whole_second

RETENTION_DIR = ".retention"
LOCK_FILE = ".lock"
_TMP_PREFIX = ".tmp-"
_READ_ONLY = 0o444


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LocalStore:
    """A directory of immutable objects. See the module docstring for the layout and its limits."""

    def __init__(
        self,
        root: Path,
        *,
        default_mode: LockMode = LockMode.GOVERNANCE,
        bypass_governance: bool = False,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.root = Path(root).absolute()
        self.default_mode = default_mode
        self.bypass_governance = bypass_governance
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalStore({self.url})"

    @property
    def supports_object_lock(self) -> bool:
        return True  # enforced by drkit, not by the filesystem

    @property
    def url(self) -> str:
        return self.root.as_uri()

    # -- paths -------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _sidecar(self, key: str) -> Path:
        return self.root / RETENTION_DIR / f"{key}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- writing -----------------------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        return self.put_parts(key, (data,), retention=retention)

    def put_parts(
        self, key: str, parts: Sequence[bytes | bytearray | memoryview], *, retention: Retention | None = None
    ) -> str | None:
        """:meth:`put` of the concatenation of ``parts``, written one after the other (a pack's
        sealed blobs: ``PackBuilder.finish_parts``), never joined in memory."""
        path = self._path(key)
        check_retention(key, retention, self._clock())
        with _os_errors(key, "put"):
            _mkdirs(path.parent, key)
            tmp = _write_temp(path.parent, parts)
            try:
                with self._locked():
                    if os.path.lexists(path):
                        raise ObjectExists(f"{key}: already exists", key=key)
                    sidecar = self._sidecar(key)
                    if retention is not None:
                        self._write_retention(sidecar, retention)
                    else:
                        sidecar.unlink(missing_ok=True)  # left by a put that crashed before publishing
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise ObjectExists(f"{key}: already exists", key=key) from None
                    _fsync_dir(path.parent)
            finally:
                tmp.unlink(missing_ok=True)
        return None

    def _write_retention(self, sidecar: Path, retention: Retention) -> None:
        doc = {"mode": retention.mode.value, "until": whole_second(retention.until).isoformat()}
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(sidecar.parent, (json.dumps(doc).encode(),))
        try:
            tmp.replace(sidecar)  # safe to replace: every writer holds the store lock
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(sidecar.parent)

    def _read_retention(self, key: str) -> Retention | None:
        sidecar = self._sidecar(key)
        try:
            doc = json.loads(sidecar.read_bytes())
            return Retention(LockMode(doc["mode"]), datetime.fromisoformat(doc["until"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{key}: unreadable retention record {sidecar}: {exc}", key=key) from exc

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None:
        path = self._path(key)
        _no_versions(key, version_id)
        until = whole_second(until)
        with _os_errors(key, "extend_retention"), self._locked():
            if not path.is_file():
                raise ObjectNotFound(f"{key}: no such object", key=key)
            current = self._read_retention(key)
            if current is not None and current.until >= until:
                return  # never shortened
            mode = current.mode if current is not None else self.default_mode
            self._write_retention(self._sidecar(key), Retention(mode, until))

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        path = self._path(key)
        _no_versions(key, version_id)
        with _os_errors(key, "delete"), self._locked():
            if not path.is_file():
                raise ObjectNotFound(f"{key}: no such object", key=key)
            retention = self._read_retention(key)
            if retention is not None and retention.until > self._clock():
                bypass = retention.mode is LockMode.GOVERNANCE and self.bypass_governance
                if not bypass:
                    raise ObjectLocked(
                        f"{key}: locked ({retention.mode.value}) until {retention.until.isoformat()}",
                        key=key,
                    )
            path.unlink()
            _fsync_dir(path.parent)
            self._sidecar(key).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------------

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        path = self._path(key)
        _no_versions(key, version_id)
        with _os_errors(key, "get"):
            return path.read_bytes()

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        path = self._path(key)
        _no_versions(key, version_id)
        with _os_errors(key, "head"):
            st = path.stat()
            if not path.is_file():
                raise ObjectNotFound(f"{key}: no such object", key=key)
            return ObjectInfo(
                key=key,
                size=st.st_size,
                retention=self._read_retention(key),
                last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            )

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file()

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        return [self.head(key)]

    # -- leftovers ---------------------------------------------------------------------------------

    def leftovers(self) -> builtins.list[Leftover]:
        """The temporary files (``.tmp-*``) that puts interrupted by a crash left, anywhere under the
        root (object directories and ``.retention/``). A put in progress has one too, for a moment:
        callers leave young ones alone (``prune`` removes those older than its grace)."""
        found: builtins.list[Leftover] = []
        if not self.root.is_dir():
            return found
        for dirpath, _dirnames, filenames in os.walk(self.root, onerror=_raise_walk_error(".tmp-*")):
            for name in filenames:
                if not name.startswith(_TMP_PREFIX):
                    continue
                path = Path(dirpath) / name
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue  # its put finished while we looked
                found.append(
                    Leftover(
                        name=path.relative_to(self.root).as_posix(),
                        size=st.st_size,
                        started=datetime.fromtimestamp(st.st_mtime, UTC),
                    )
                )
        found.sort(key=lambda item: item.name)
        return found

    def discard(self, leftover: Leftover) -> None:
        """Remove one temporary file (only a ``.tmp-*`` file under the root: never an object)."""
        path = (self.root / leftover.name).resolve()
        if not path.name.startswith(_TMP_PREFIX) or not path.is_relative_to(self.root.resolve()):
            raise StoreError(f"{leftover.name}: not a temporary file of this store", key=leftover.name)
        with _os_errors(leftover.name, "discard"):
            path.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        directory, _, _ = prefix.rpartition("/")
        base = self.root / directory if directory else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base, onerror=_raise_walk_error(prefix)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix):
                    continue
                try:
                    st = (Path(dirpath) / name).stat()
                except FileNotFoundError:
                    continue  # deleted while listing
                yield ObjectInfo(
                    key=key, size=st.st_size, last_modified=datetime.fromtimestamp(st.st_mtime, UTC)
                )


# -- helpers ---------------------------------------------------------------------------------------


def _no_versions(key: str, version_id: str | None) -> None:
    if version_id is not None:
        raise ObjectNotFound(
            f"{key}: version {version_id!r} not found (a local store keeps no versions)", key=key
        )


def _mkdirs(directory: Path, key: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise StoreError(
            f"{key}: a parent of this key is an object; a local store cannot hold both 'a' and 'a/b'",
            key=key,
        ) from exc


def _write_temp(directory: Path, parts: Sequence[bytes | bytearray | memoryview]) -> Path:
    """Write ``parts`` one after the other to a new read-only temporary file in ``directory``,
    fsynced. Returns its path."""
    tmp = directory / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_parts(fd, parts)
        os.fsync(fd)
        drop_cached(fd)  # durable now: the node's own files keep their place in the page cache
        os.fchmod(fd, _READ_ONLY)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _raise_walk_error(prefix: str) -> Callable[[OSError], None]:
    def onerror(exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            return  # a directory removed while listing
        raise StoreError(f"listing {prefix!r}: {exc}") from exc

    return onerror


@contextlib.contextmanager
def _os_errors(key: str, op: str) -> Iterator[None]:
    """Turn the filesystem's errors into store errors naming the key."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        if op == "put":
            raise StoreError(f"{key}: put failed: {exc}", key=key) from exc
        raise ObjectNotFound(f"{key}: no such object", key=key) from exc
    except PermissionError as exc:
        raise AccessDenied(f"{key}: {op} not permitted: {exc.strerror}", key=key) from exc
    except OSError as exc:
        raise StoreError(f"{key}: {op} failed: {exc}", key=key) from exc
