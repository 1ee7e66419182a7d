"""Verified reads: every object read is checked, and a bad newer version falls back to a good one.

An attacker holding writer credentials cannot delete or alter a locked object version, but on a
versioned bucket they can put a *newer* version under the same key. Readers therefore check each
object (its name is the hash of its bytes; the config carries a signature) and, when the version
read fails, try the key's other versions (newest first) and use one that passes. Each fallback is
recorded as a :class:`TamperEvent` that ``verify`` reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from drkit.errors import VerificationFailed
from drkit.repo.format.layout import object_name
from drkit.storage.base import Store
from drkit.storage.errors import ObjectNotFound

READS: Final = 3
"""Reads of one version before a failed check is believed: a byte flipped in transit (a server that
sends no checksum header, so botocore cannot catch it) passes on a re-read; a stored corruption fails
every time."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TamperEvent:
    key: str
    bad_version: str | None
    good_version: str | None
    message: str


@dataclass(frozen=True)
class TransitEvent:
    """A version that failed its check ``failures`` times, then passed: a fault in transit, not in
    the store (nothing to repair; many of them point at the network or the server)."""

    key: str
    version: str | None
    failures: int

    @property
    def message(self) -> str:
        return f"{self.key}: failed {self.failures} read(s), then passed (a fault in transit, not stored)"


def agreed_read(store: Store, key: str, *, version_id: str | None = None, reads: int = READS) -> bytes:
    """The bytes of a version that two reads agree on (at most ``reads`` reads, else the last one).

    For objects whose check cannot tell a fault in transit from a wrong credential (a key slot: a
    flipped byte and a wrong passphrase both fail to decrypt): a byte flipped on the way does not
    flip the same way twice. Costs one extra GET of a small object."""
    seen: list[bytes] = []
    for _ in range(max(2, reads)):
        data = store.get(key, version_id=version_id)
        if data in seen:
            if len(seen) > 1:
                log.warning(
                    "%s: reads disagreed %d time(s), then two agreed (a fault in transit)", key, len(seen) - 1
                )
            return data
        seen.append(data)
    return seen[-1]


class VerifiedReader:
    def __init__(self, store: Store, *, reads: int = READS) -> None:
        self.store = store
        self.reads = max(1, reads)
        self._lock = threading.Lock()
        self.events: list[TamperEvent] = []
        self.transit: list[TransitEvent] = []

    def _record(self, event: TamperEvent) -> None:
        with self._lock:
            if event not in self.events:
                self.events.append(event)

    def _read_version(
        self, key: str, version_id: str | None, valid: Callable[[bytes], bool]
    ) -> tuple[bytes | None, bool]:
        """Read one version until it passes, at most ``reads`` times: (its bytes, passed).
        ``(None, False)`` when it does not exist."""
        data: bytes | None = None
        for attempt in range(1, self.reads + 1):
            try:
                data = self.store.get(key, version_id=version_id)
            except ObjectNotFound:
                return None, False
            if valid(data):
                if attempt > 1:
                    event = TransitEvent(key, version_id, attempt - 1)
                    with self._lock:
                        self.transit.append(event)
                    log.warning("%s", event.message)
                return data, True
        return data, False

    def read(
        self, key: str, valid: Callable[[bytes], bool], *, version_id: str | None = None
    ) -> tuple[bytes, str | None]:
        """The bytes of ``version_id`` (or the newest version) when valid, else of a valid other version.

        A version that fails its check is read again (``reads`` times in all) before it is called
        corrupt: one that passes on a re-read is a fault in transit (``transit``), not tampering.
        Returns the bytes and the version id they came from. Raises ``VerificationFailed`` naming
        the key when no version exists or none passes.
        """
        first, passed = self._read_version(key, version_id, valid)
        if passed:
            assert first is not None
            return first, version_id
        try:
            versions = self.store.versions(key)
        except ObjectNotFound:
            versions = []
        for v in versions:
            if v.version_id is None or (first is not None and v.version_id == version_id):
                continue
            data, passed = self._read_version(key, v.version_id, valid)
            if passed:
                assert data is not None
                what = "is missing" if first is None else f"fails its check ({self._times()})"
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
        raise VerificationFailed(
            f"{key} is corrupt or tampered with: no version of it passes its check ({self._times()})"
        )

    def _times(self) -> str:
        return "consistently corrupt" if self.reads == 1 else f"consistently corrupt: read {self.reads} times"

    def read_named(self, key: str, name: str, *, version_id: str | None = None) -> tuple[bytes, str | None]:
        """Read an object whose name is the BLAKE3 of its bytes."""
        return self.read(key, lambda data: object_name(data) == name, version_id=version_id)
