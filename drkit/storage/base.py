"""The Store protocol: what every backend promises.

Rules every backend follows (and the conformance suite in tests/ checks):

* ``put`` writes an object once. Putting a key that already exists raises ``ObjectExists``; an
  object is never rewritten in place. With a ``Retention``, the object is locked until
  ``retention.until`` (S3 Object Lock on S3; recorded and enforced by drkit on a local directory).
  ``put`` returns the version id the backend assigned (``None`` where it has no versions).
* ``get`` returns the bytes of the newest version, or of ``version_id``. Missing -> ``ObjectNotFound``.
* ``list`` yields every key under a prefix (newest version), in no promised order.
* ``versions`` lists every version of a key, newest first: a key overwritten by someone else
  (an attacker with writer credentials) shows more than one, and the locked original can be read.
* ``extend_retention`` moves retain-until later; an earlier date is ignored, never applied.
* ``delete`` removes a version whose retention has expired; a locked one raises ``ObjectLocked``.
* Errors are ``drkit.storage.errors``: not-found, exists, locked, access denied, transient.
  Transient errors are retried by ``RetryingStore``; the others are final.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class LockMode(StrEnum):
    COMPLIANCE = "compliance"
    GOVERNANCE = "governance"


@dataclass(frozen=True)
class Retention:
    mode: LockMode
    until: datetime  # timezone-aware, UTC


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None = None
    retention: Retention | None = None
    is_latest: bool = True


@runtime_checkable
class Store(Protocol):
    """An object store holding drkit's immutable objects. See the module docstring for the rules."""

    @property
    def supports_object_lock(self) -> bool: ...

    @property
    def url(self) -> str: ...

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None: ...

    def get(self, key: str, *, version_id: str | None = None) -> bytes: ...

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def versions(self, key: str) -> list[ObjectInfo]: ...

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None: ...

    def delete(self, key: str, *, version_id: str | None = None) -> None: ...
