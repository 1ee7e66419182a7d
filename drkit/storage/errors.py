"""Errors a Store raises. Backends wrap their library's errors into these (``raise ... from``).

``transient`` (an attribute of every ``DrkitError``) is what ``RetryingStore`` reads: only
``TransientStoreError`` sets it. Every other store error is final.
"""

from __future__ import annotations

from drkit.errors import StorageError


class StoreError(StorageError):
    """A store failure that retrying will not cure. ``key`` names the object when there is one."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class InvalidKey(StoreError, ValueError):
    """A key that is not a clean relative ``/``-separated path (``..``, absolute, empty segment, ...)."""


class ObjectNotFound(StoreError):
    """No such key (or no such version of it)."""


class ObjectExists(StoreError):
    """A put to a key that already exists: objects are written once."""


class ObjectLocked(StoreError):
    """The object (version) is under retention: it cannot be deleted or its retention shortened."""


class AccessDenied(StoreError):
    """The credentials may not do this (e.g. a writer credential trying to delete), or are wrong."""


class TransientStoreError(StoreError):
    """Throttling, timeouts, 5xx, a refused connection: worth retrying with backoff."""

    transient = True


class StoreTimeout(StoreError):
    """An operation found no answer within its deadline, every attempt included (``RetryingStore``).

    Final, not transient: the deadline already covered the retries."""
