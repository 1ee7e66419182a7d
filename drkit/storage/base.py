"""The Store protocol: what every backend promises.

Rules every backend follows (and ``tests/integration/test_store_conformance.py`` checks on each):

* Keys are ``/``-separated relative paths (``drkit.storage.keys.check_key``): no ``..`` or ``.``,
  not absolute, no empty segment, no segment starting with ``.``. A bad key raises ``InvalidKey``
  (also a ``ValueError``) before anything is sent.
* ``put`` writes an object once. Putting a key that already exists raises ``ObjectExists``; an
  object is never rewritten in place. With a ``Retention``, the object is locked until
  ``retention.until`` (S3 Object Lock on S3; recorded and enforced by drkit on a local directory).
  ``put`` returns the version id the backend assigned (``None`` where it has no versions).
  Retain-until dates are kept to the second, rounded up (S3's precision; never shorter than asked);
  a date not in the future is refused (``StoreError``).
  Concurrent puts of one key: exactly one wins, the others raise ``ObjectExists`` (on S3 as far as
  the server honours ``If-None-Match``; see docs/storage.md).
* ``get`` returns the bytes of the newest version, or of ``version_id``. Missing -> ``ObjectNotFound``.
  ``head`` is ``get`` without the bytes; it reports the retention when the backend knows it.
  ``exists`` is ``head`` answering ``False`` instead of raising ``ObjectNotFound``.
* ``list`` yields every key under a prefix (newest version), in no promised order. The prefix is a
  plain string prefix (``data/ab`` matches ``data/ab12``), not only a directory.
* ``versions`` lists every version of a key, newest first: a key overwritten by someone else
  (an attacker with writer credentials) shows more than one, and the locked original can be read
  with ``get(key, version_id=...)``. A backend without versions returns the one object.
  Missing -> ``ObjectNotFound``.
* ``extend_retention`` moves retain-until later; an earlier date is ignored, never applied. An
  object without retention gets one in the backend's default mode (GOVERNANCE unless configured).
* ``delete`` removes a version (without ``version_id``: the newest) whose retention has expired;
  a locked one raises ``ObjectLocked``. GOVERNANCE is bypassed only by a store constructed with
  ``bypass_governance=True``; COMPLIANCE never.
* ``supports_object_lock`` is true when retention given to ``put`` is honoured (S3: the bucket has
  Object Lock enabled; local: drkit enforces it). It says nothing about how strong the lock is
  against someone with direct access: see docs/storage.md.
* ``url`` names the store without any secret, for messages and logs.
* Errors are ``drkit.storage.errors``: not-found, exists, locked, access denied, invalid key,
  transient. Transient errors (``err.transient``) are retried by ``RetryingStore``; the others are
  final. Backends wrap their library's errors at the boundary (``raise ... from``).
"""

from __future__ import annotations

import builtins
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

    def __post_init__(self) -> None:
        if self.until.tzinfo is None or self.until.utcoffset() is None:
            raise ValueError("Retention.until must be timezone-aware")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None = None
    retention: Retention | None = None  # None: none, or not reported (``list``/``versions`` on S3)
    is_latest: bool = True
    last_modified: datetime | None = None


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

    def versions(self, key: str) -> builtins.list[ObjectInfo]: ...

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None: ...

    def delete(self, key: str, *, version_id: str | None = None) -> None: ...


@dataclass(frozen=True)
class Leftover:
    """What an interrupted write left behind: a local store's temporary file, an S3 multipart upload
    never completed or aborted. Never an object: no reader sees it, but it takes space (and, on S3,
    is billed) until removed."""

    name: str  # local: the file's path under the store's root; S3: the upload's key
    size: int  # bytes (S3: of the parts uploaded so far)
    started: datetime  # local: the file's mtime; S3: when the upload was initiated
    upload_id: str | None = None  # S3 only


@runtime_checkable
class Housekeeping(Protocol):
    """Optional capability of a store: find and remove ``Leftover``s (``verify`` reports them,
    ``prune`` removes the old ones). ``discard`` of one already gone is not an error."""

    def leftovers(self) -> builtins.list[Leftover]: ...

    def discard(self, leftover: Leftover) -> None: ...
