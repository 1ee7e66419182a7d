"""Who seals, and who opens: the master data key, or a write-only writer's session key.

Every pack and manifest starts with a 16-byte *sealer id*: all zeros for the master ``data_key``,
else the id of a write-only session (docs/keys.md, "Write-only mode") whose data key is stored
wrapped to the repository's X25519 key at ``sessions/<id hex>``. Writers use :class:`WriteKeys`
(content ids, sealing, index objects, signing; never opening data); readers use :class:`Openers`,
which needs the master key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from drkit.errors import VerificationFailed
from drkit.repo.format.crypto import Sealer
from drkit.repo.format.masterkey import MasterKey, WriterSession

SEALER_ID_SIZE: Final = 16
MASTER_SEALER: Final = bytes(SEALER_ID_SIZE)
SESSIONS_PREFIX: Final = "sessions/"


def session_key(sealer_id: bytes) -> str:
    return f"{SESSIONS_PREFIX}{sealer_id.hex()}"


class WriteKeys(Protocol):
    """What writing a backup needs. ``sealer_id`` goes in front of every pack and manifest."""

    @property
    def sealer_id(self) -> bytes: ...

    def content_id(self, data: bytes | memoryview) -> bytes: ...

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]: ...

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def seal_blobs(
        self, level: int, min_compress: int, aad_prefix: bytes, ids: list[bytes], raws: list[bytes]
    ) -> list[bytes] | None: ...

    def seal_parts(self, parts: Sequence[bytes | memoryview], aad: bytes) -> bytes | bytearray: ...

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open_index(self, blob: bytes, aad: bytes) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify_key(self) -> bytes: ...


class MasterWriteKeys:
    """Writing with the master key: objects sealed with ``data_key`` (sealer id zero)."""

    sealer_id = MASTER_SEALER

    def __init__(self, master: MasterKey) -> None:
        self._m = master
        self._sealer = Sealer(master.data_key)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self._m.content_id(data)

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        return self._m.content_ids(datas)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._sealer.seal(plaintext, aad)

    def seal_blobs(
        self, level: int, min_compress: int, aad_prefix: bytes, ids: list[bytes], raws: list[bytes]
    ) -> list[bytes] | None:
        return self._sealer.seal_blobs(level, min_compress, aad_prefix, ids, raws)

    def seal_parts(self, parts: Sequence[bytes | memoryview], aad: bytes) -> bytearray:
        return self._sealer.seal_parts(parts, aad)

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._m.seal_index(plaintext, aad)

    def open_index(self, blob: bytes, aad: bytes) -> bytes:
        return self._m.open_index(blob, aad)

    def sign(self, message: bytes) -> bytes:
        return self._m.sign(message)

    def verify_key(self) -> bytes:
        return self._m.verify_key()


class SessionWriteKeys:
    """Writing with a write-only session: objects sealed with the session key."""

    def __init__(self, session: WriterSession) -> None:
        self.session = session
        self.sealer_id = bytes.fromhex(session.session_id)
        if len(self.sealer_id) != SEALER_ID_SIZE or self.sealer_id == MASTER_SEALER:
            raise ValueError("a session id is 16 bytes and not all zero")

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self.session.content_id(data)

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        return self.session.content_ids(datas)

    def seal_blobs(
        self, level: int, min_compress: int, aad_prefix: bytes, ids: list[bytes], raws: list[bytes]
    ) -> list[bytes] | None:
        return self.session.seal_blobs(level, min_compress, aad_prefix, ids, raws)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self.session.seal(plaintext, aad)

    def seal_parts(self, parts: Sequence[bytes | memoryview], aad: bytes) -> bytearray:
        return self.session.seal_parts(parts, aad)

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes:
        return self.session.seal_index(plaintext, aad)

    def open_index(self, blob: bytes, aad: bytes) -> bytes:
        return self.session.open_index(blob, aad)

    def sign(self, message: bytes) -> bytes:
        return self.session.sign(message)

    def verify_key(self) -> bytes:
        return self.session.verify_key()


class Openers:
    """Opens anything any sealer of the repository sealed. Needs the master key.

    ``fetch_wrapped(sealer_id, check)`` returns the stored wrapping of a session key that passes
    ``check`` (a verified read of ``sessions/<id>``).
    """

    def __init__(
        self, master: MasterKey, fetch_wrapped: Callable[[bytes, Callable[[bytes], bool]], bytes]
    ) -> None:
        self.master = master
        self._fetch = fetch_wrapped
        self._lock = threading.Lock()
        self._sealers: dict[bytes, Sealer] = {MASTER_SEALER: Sealer(master.data_key)}

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self.master.content_id(data)

    def open_index(self, blob: bytes, aad: bytes) -> bytes:
        return self.master.open_index(blob, aad)

    def sealer(self, sealer_id: bytes) -> Sealer:
        with self._lock:
            found = self._sealers.get(sealer_id)
        if found is not None:
            return found
        session_id = sealer_id.hex()

        def check(wrapped: bytes) -> bool:
            try:
                self.master.open_session(wrapped, session_id.encode())
            except VerificationFailed:
                return False
            return True

        wrapped = self._fetch(sealer_id, check)
        sealer = self.master.session_sealer(session_id, wrapped)
        with self._lock:
            self._sealers[sealer_id] = sealer
        return sealer

    def open(self, sealer_id: bytes, blob: bytes | memoryview, aad: bytes) -> bytes:
        return self.sealer(sealer_id).open(blob, aad)
