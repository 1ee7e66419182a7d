"""An in-memory Store for unit tests, faithful to the rules in ``drkit.storage.base``.

It behaves like a versioned S3 bucket with Object Lock: every version is kept, ``put`` refuses an
existing key, retention is enforced against an injectable clock (GOVERNANCE bypassed only when
constructed with ``bypass_governance=True``, COMPLIANCE never), ``delete`` without a version id
removes the newest version. Two test hooks model what the real world can do and the protocol cannot:
:meth:`FakeStore.overwrite` writes a new version over an existing key (an attacker with writer
credentials on a versioned bucket), and ``deny_delete=True`` models writer-only credentials.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from drkit.storage.base import LockMode, ObjectInfo, Retention
from drkit.storage.errors import AccessDenied, ObjectExists, ObjectLocked, ObjectNotFound
from drkit.storage.validate import check_key, check_prefix, check_retention


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Version:
    version_id: str
    data: bytes
    retention: Retention | None
    written: datetime


class FakeStore:
    """A versioned, lockable object store in a dict. Not thread-safe (unit tests only)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utcnow,
        bypass_governance: bool = False,
        deny_delete: bool = False,
        default_mode: LockMode = LockMode.GOVERNANCE,
    ) -> None:
        self._objects: dict[str, list[_Version]] = {}  # newest version last
        self._ids = itertools.count(1)
        self.clock = clock
        self.bypass_governance = bypass_governance
        self.deny_delete = deny_delete
        self.default_mode = default_mode
        self.calls: list[tuple[str, str]] = []  # (operation, key): lets tests check what was done

    @property
    def supports_object_lock(self) -> bool:
        return True

    @property
    def url(self) -> str:
        return "memory://fake"

    # -- helpers ---------------------------------------------------------------------------------

    def _version(self, key: str, version_id: str | None) -> _Version:
        versions = self._objects.get(check_key(key))
        if not versions:
            raise ObjectNotFound(f"no object {key}", key=key)
        if version_id is None:
            return versions[-1]
        for version in versions:
            if version.version_id == version_id:
                return version
        raise ObjectNotFound(f"no version {version_id} of {key}", key=key)

    def _info(self, key: str, version: _Version) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=len(version.data),
            version_id=version.version_id,
            retention=version.retention,
            is_latest=version is self._objects[key][-1],
            last_modified=version.written,
        )

    def _locked(self, version: _Version) -> bool:
        retention = version.retention
        if retention is None or retention.until <= self.clock():
            return False
        return not (retention.mode is LockMode.GOVERNANCE and self.bypass_governance)

    # -- the Store protocol ----------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        self.calls.append(("put", key))
        if self._objects.get(check_key(key)):
            raise ObjectExists(f"object {key} exists: objects are written once", key=key)
        check_retention(key, retention, self.clock())
        version = _Version(f"v{next(self._ids)}", bytes(data), retention, self.clock())
        self._objects[key] = [version]
        return version.version_id

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        self.calls.append(("get", key))
        return self._version(key, version_id).data

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        return self._info(key, self._version(key, version_id))

    def exists(self, key: str) -> bool:
        return bool(self._objects.get(check_key(key)))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.calls.append(("list", prefix))
        check_prefix(prefix)
        snapshot = [(k, v[-1]) for k, v in self._objects.items() if v and k.startswith(prefix)]
        for key, version in snapshot:
            yield self._info(key, version)

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        versions = self._objects.get(check_key(key))
        if not versions:
            raise ObjectNotFound(f"no object {key}", key=key)
        return [self._info(key, v) for v in reversed(versions)]

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None:
        self.calls.append(("extend_retention", key))
        version = self._version(key, version_id)
        if version.retention is None:
            version.retention = Retention(self.default_mode, until)
        elif until > version.retention.until:
            version.retention = replace(version.retention, until=until)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        self.calls.append(("delete", key))
        version = self._version(key, version_id)
        if self.deny_delete:
            raise AccessDenied(f"these credentials may not delete {key}", key=key)
        if self._locked(version):
            raise ObjectLocked(
                f"{key} is locked until {version.retention.until if version.retention else ''}"
            )
        versions = self._objects[key]
        versions.remove(version)
        if not versions:
            del self._objects[key]

    # -- test hooks (not part of the protocol) ---------------------------------------------------

    def overwrite(self, key: str, data: bytes) -> str:
        """Write a new version over an existing key, as an attacker on a versioned bucket can."""
        version = _Version(f"v{next(self._ids)}", bytes(data), None, self.clock())
        self._objects.setdefault(check_key(key), []).append(version)
        return version.version_id

    def all_keys(self) -> builtins.list[str]:
        """Every key holding at least one version, sorted."""
        return sorted(self._objects)
