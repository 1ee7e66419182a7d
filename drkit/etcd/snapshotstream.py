"""A pure, incremental parser of the gRPC-JSON gateway's ``Maintenance.Snapshot`` stream.

What etcd 3.6 sends (``server/etcdserver/api/v3rpc/maintenance.go``), one JSON object per line:

* data messages ``{"result":{"blob":"<base64>","remaining_bytes":"N","version":"3.6.0"}}``, at
  most 32 KiB of database each; ``remaining_bytes`` counts what is left after this message, so the
  first message tells the total size. The gateway leaves out zero fields: the last data message
  has no ``remaining_bytes``.
* then exactly one more message whose blob is the 32-byte SHA-256 of all the database bytes
  (its ``remaining_bytes`` is also 0/absent), and the stream ends.
* a failure mid-stream arrives as ``{"error":{"code":..,"message":..}}``.

``etcdctl snapshot save`` writes every blob, the checksum included, to the file, and
``etcdutl snapshot restore`` checks that 32-byte trailer (file size % 512 == 32): that is the
stored form (see :mod:`drkit.etcd.snapshotfile`).

The parser holds at most one partial message (bounded by ``max_message``), never the database.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, NoReturn

from drkit.etcd.errors import EtcdRequestFailed, SnapshotCorrupt

SHA256_SIZE = 32
Piece = bytes | memoryview
"""Database bytes as a parser hands them on: the gateway's decoded base64 (``bytes``), or a read-only
view of a gRPC message (no copy; :mod:`drkit.etcd.grpcsnapshot`)."""
DEFAULT_MAX_MESSAGE = 4 << 20
"""A 32 KiB blob is ~44 KiB of JSON; anything near this bound is not etcd talking."""


@dataclass(frozen=True)
class StreamDigest:
    """What a verified stream proved: the database's size and SHA-256, and etcd's storage version."""

    size: int
    sha256: bytes
    storage_version: str | None
    messages: int

    @property
    def trailer(self) -> bytes:
        """The 32 bytes etcd appends: what ``etcdutl snapshot restore`` expects after the database."""
        return self.sha256


class SnapshotStreamParser:
    """Feed it the response body in any pieces; it returns the database bytes as they decode.

    ``feed(data)`` returns the list of database chunks completed by ``data`` (possibly empty);
    ``finish()`` is called at end of stream and returns the :class:`StreamDigest`, or raises
    :class:`SnapshotCorrupt` if the stream was short, malformed, or the checksum did not match.
    Nothing returned by ``feed`` is trustworthy until ``finish`` returns.
    """

    def __init__(self, source: str = "etcd", *, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._source = source
        self._max_message = max_message
        self._buf = bytearray()
        self._hash = hashlib.sha256()
        self._total: int | None = None
        self._received = 0
        self._messages = 0
        self._checksum: bytes | None = None
        self._version: str | None = None
        self._failed = False

    @property
    def received(self) -> int:
        """Database bytes decoded so far."""
        return self._received

    @property
    def total(self) -> int | None:
        """The database size announced by the first message (None before it)."""
        return self._total

    def feed(self, data: bytes) -> list[Piece]:
        if self._failed:
            raise SnapshotCorrupt(f"{self._source}: snapshot stream fed after a failure")
        chunks: list[Piece] = []
        self._buf += data
        start = 0
        try:
            while True:
                nl = self._buf.find(b"\n", start)
                if nl < 0:
                    break
                line = bytes(self._buf[start:nl])
                start = nl + 1
                if line.strip():
                    blob = self._message(line)
                    if blob is not None:
                        chunks.append(blob)
            del self._buf[:start]
            if len(self._buf) > self._max_message:
                self._fail(
                    f"a snapshot stream message exceeds {self._max_message} bytes without ending"
                    " (not etcd's gateway?)"
                )
        except BaseException:
            self._failed = True
            raise
        return chunks

    def finish(self) -> StreamDigest:
        """End of stream: the checksum must have arrived and matched, with nothing after it."""
        if self._failed:
            raise SnapshotCorrupt(f"{self._source}: snapshot stream already failed")
        try:
            if self._buf.strip():
                tail = bytes(self._buf)
                self._buf.clear()
                blob = self._message(tail)
                if blob is not None:
                    # a data message without its newline, and then nothing: the checksum never came
                    self._fail(f"snapshot stream ended after {self._received} database bytes, no checksum")
            if self._checksum is None:
                expected = "?" if self._total is None else str(self._total)
                self._fail(
                    f"snapshot stream ended early: {self._received} of {expected} database bytes"
                    " and no SHA-256 checksum"
                )
        except BaseException:
            self._failed = True
            raise
        assert self._checksum is not None
        return StreamDigest(self._received, self._checksum, self._version, self._messages)

    # -- one message ------------------------------------------------------------------------

    def _message(self, line: bytes) -> Piece | None:
        """Account for one JSON message; return its database bytes (None for the checksum)."""
        self._messages += 1
        try:
            doc: Any = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            self._fail(f"snapshot stream message {self._messages} is not JSON ({exc})")
        if not isinstance(doc, dict):
            self._fail(f"snapshot stream message {self._messages} is not an object")
        if "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            code = err.get("code", err.get("grpc_code"))
            raise EtcdRequestFailed(
                f"{self._source}: snapshot failed after {self._received} bytes: "
                f"{err.get('message', 'unknown error')} (code {code})",
                code=code if isinstance(code, int) else None,
            )
        result = doc.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("blob", ""), str):
            self._fail(f"snapshot stream message {self._messages} has no result.blob")
        try:
            blob = binascii.a2b_base64(result.get("blob", ""), strict_mode=True)
            remaining = int(result.get("remaining_bytes", 0))
        except (binascii.Error, ValueError, TypeError) as exc:
            self._fail(f"snapshot stream message {self._messages} is malformed ({exc})")
        version = result.get("version")
        return self._accept(blob, remaining, version if isinstance(version, str) else None)

    def _accept(self, blob: Piece, remaining: int, version: str | None) -> Piece | None:
        """One decoded message (whatever the wire form): its database bytes, None for the checksum."""
        if version:
            self._version = version
        if self._checksum is not None:
            self._fail(f"snapshot stream has a message after the SHA-256 checksum (message {self._messages})")
        if self._total is not None and self._received == self._total:
            self._take_checksum(blob, remaining)
            return None
        if self._total is None:
            self._total = len(blob) + remaining
        if remaining < 0 or self._received + len(blob) + remaining != self._total:
            self._fail(
                f"snapshot stream message {self._messages} is inconsistent: {self._received} bytes received"
                f" + {len(blob)} in it + {remaining} remaining != {self._total} announced"
            )
        self._received += len(blob)
        self._hash.update(blob)
        return blob

    def _take_checksum(self, blob: Piece, remaining: int) -> None:
        if remaining != 0 or len(blob) != SHA256_SIZE:
            self._fail(
                f"snapshot stream: expected the {SHA256_SIZE}-byte SHA-256 after {self._received} database"
                f" bytes, got a {len(blob)}-byte blob with {remaining} remaining"
            )
        digest = self._hash.digest()
        if blob != digest:
            self._fail(
                f"snapshot SHA-256 mismatch: etcd sent {blob.hex()}, the {self._received} bytes received hash"
                f" to {digest.hex()}"
            )
        self._checksum = bytes(blob)

    def _fail(self, why: str) -> NoReturn:
        self._failed = True
        raise SnapshotCorrupt(f"{self._source}: {why}")
