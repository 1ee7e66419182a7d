"""What the engines that read a snapshot need: blobs by type and id, or whole packs to read in order.

:class:`~drkit.repo.format.packsource.PackSource` provides both; an engine names only the one it
uses, so that a test (or another source: a cache, a second repository) can stand in for it.
"""

from __future__ import annotations

from typing import Protocol

from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import BlobKey, BlobLocation
from drkit.repo.format.sealing import Openers


class BlobSource(Protocol):
    """One blob's plaintext by type and id, checked (``VerificationFailed`` otherwise)."""

    def blob(self, blob_type: BlobType, blob_id: bytes) -> bytes: ...


class PackedBlobSource(BlobSource, Protocol):
    """Blobs one at a time, or a whole pack at once to open many blobs of it (a restore's data)."""

    @property
    def keys(self) -> Openers:
        """The keys that open the blobs of a fetched pack."""
        ...

    def locate(self, key: BlobKey) -> BlobLocation | None:
        """Which pack holds a blob, where in it, and how long it is; ``None`` if in no index."""
        ...

    def fetch(self, pack_id: str, *, cache: bool = False) -> bytes:
        """A whole pack's stored bytes, hash checked."""
        ...
