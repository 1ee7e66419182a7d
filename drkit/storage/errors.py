"""Errors a Store raises. Backends wrap their library's errors into these (``raise ... from``)."""

from __future__ import annotations

from drkit.errors import StorageError


class StoreError(StorageError):
    """A permanent store failure."""


class ObjectNotFound(StoreError):
    """No such key (or no such version of it)."""


class ObjectExists(StoreError):
    """A put to a key that already exists: objects are written once."""


class ObjectLocked(StoreError):
    """The object (version) is under retention: it cannot be deleted or its retention shortened."""


class AccessDenied(StoreError):
    """The credentials may not do this (e.g. a writer credential trying to delete)."""


class TransientStoreError(StoreError):
    """Throttling, timeouts, 5xx: worth retrying with backoff."""

    transient = True
