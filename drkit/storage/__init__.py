"""Object storage: the Store protocol, its backends (local directory, S3 Object Lock) and wrappers.

Open a store with ``open_store(url)``; the rules every store follows are in ``drkit.storage.base``;
the errors in ``drkit.storage.errors``. boto3 is imported only when an S3 store is opened.
"""

from __future__ import annotations

from drkit.storage.base import LockMode, ObjectInfo, Retention, Store
from drkit.storage.errors import (
    AccessDenied,
    InvalidKey,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
    TransientStoreError,
)
from drkit.storage.options import S3Options
from drkit.storage.url import describe, open_store

__all__ = [
    "AccessDenied",
    "InvalidKey",
    "LockMode",
    "ObjectExists",
    "ObjectInfo",
    "ObjectLocked",
    "ObjectNotFound",
    "Retention",
    "S3Options",
    "Store",
    "StoreError",
    "TransientStoreError",
    "describe",
    "open_store",
]
