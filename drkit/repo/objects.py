"""Verified reads: every object read is checked, and a bad newer version falls back to a good one.

An attacker holding writer credentials cannot delete or alter a locked object version, but on a
versioned bucket they can put a *newer* version under the same key. Readers therefore check each
object (its name is the hash of its bytes; the config carries a signature) and, when the version
read fails, try the key's other versions (newest first) and use one that passes. Each fallback is
recorded as a :class:`TamperEvent` that ``verify`` reports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from drkit.errors import VerificationFailed
from drkit.repo.layout import object_name
from drkit.storage.base import Store
from drkit.storage.errors import ObjectNotFound


@dataclass(frozen=True)
class TamperEvent:
    key: str
    bad_version: str | None
    good_version: str | None
    message: str


class VerifiedReader:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.events: list[TamperEvent] = []

    def _record(self, event: TamperEvent) -> None:
        with self._lock:
            if event not in self.events:
                self.events.append(event)

    def read(
        self, key: str, valid: Callable[[bytes], bool], *, version_id: str | None = None
    ) -> tuple[bytes, str | None]:
        """The bytes of ``version_id`` (or the newest version) when valid, else of a valid other version.

        Returns the bytes and the version id they came from. Raises ``VerificationFailed`` naming
        the key when no version exists or none passes.
        """
        first: bytes | None
        try:
            first = self.store.get(key, version_id=version_id)
        except ObjectNotFound:
            first = None
        if first is not None and valid(first):
            return first, version_id
        try:
            versions = self.store.versions(key)
        except ObjectNotFound:
            versions = []
        for v in versions:
            if v.version_id is None or (first is not None and v.version_id == version_id):
                continue
            try:
                data = self.store.get(key, version_id=v.version_id)
            except ObjectNotFound:
                continue
            if valid(data):
                what = "is missing" if first is None else "fails its check"
                self._record(
                    TamperEvent(
                        key,
                        version_id
                        if version_id is not None
                        else (versions[0].version_id if versions else None),
                        v.version_id,
                        f"the version read {what}; the intact version {v.version_id} was used instead",
                    )
                )
                return data, v.version_id
        if first is None and not versions:
            raise VerificationFailed(f"{key} is missing from the store")
        raise VerificationFailed(f"{key} is corrupt or tampered with: no version of it passes its check")

    def read_named(self, key: str, name: str, *, version_id: str | None = None) -> tuple[bytes, str | None]:
        """Read an object whose name is the BLAKE3 of its bytes."""
        return self.read(key, lambda data: object_name(data) == name, version_id=version_id)
