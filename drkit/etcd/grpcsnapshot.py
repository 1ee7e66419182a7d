"""``Maintenance.Snapshot`` over etcd's native gRPC (what ``etcdctl snapshot save`` uses).

etcd serves gRPC and its JSON gateway on the same client port. The gateway re-encodes each 32 KiB
piece of the database as base64 inside JSON, and that encoding inside etcd, not the client, limits
it (~16 MB/s for a 300 MB database here, against ~140 MB/s over gRPC: docs/performance.md).
So the snapshot stream, the only large answer, is read over gRPC; Status, HashKV and the rest stay on
the gateway.

No generated code: the call is a generic unary-stream call whose request (an empty
``SnapshotRequest``) is zero bytes and whose answers are decoded here — ``SnapshotResponse`` is
``header = 1`` (skipped), ``remaining_bytes = 2`` (varint), ``blob = 3`` (bytes), ``version = 4``
(string) (etcd ``api/etcdserverpb/rpc.proto``). Each decoded message goes through the same checks
as the gateway's (:class:`~drkit.etcd.snapshotstream.SnapshotStreamParser`: sizes, SHA-256 trailer).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint, EtcdTLS
from drkit.etcd.errors import EtcdRequestFailed, EtcdTLSError, EtcdUnavailable, SnapshotCorrupt
from drkit.etcd.snapshotstream import Piece, SnapshotStreamParser

METHOD = "/etcdserverpb.Maintenance/Snapshot"
MAX_MESSAGE = 4 << 20
"""etcd sends 32 KiB of database per message; a larger message is refused by grpc."""
POLL_ON_CALLER: Final = "-event_engine_client"
"""grpc's ``GRPC_EXPERIMENTS`` setting under which a client channel's socket is read by the thread
that waits for the next message (grpc's older polling), not by an EventEngine thread that then wakes
it: for the ~9,000 32 KiB messages of a 300 MiB snapshot, 0.36-0.43 s of CPU and ~2-4k context
switches against 0.57-0.65 s and 15-23k (grpcio 1.85.3, docs/performance.md). Read by grpc when it is
imported."""
POLL_ON_CALLER_VERSIONS: Final = ((1, 85), (1, 90))
"""grpcio versions (from, before) given :data:`POLL_ON_CALLER`: the experiment exists there (grpc logs
"Unknown experiment" for a name it does not know, and a later grpc may drop it)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def decode_snapshot_response(data: bytes) -> tuple[memoryview, int, str | None]:
    """``(blob, remaining_bytes, version)`` of one serialized ``SnapshotResponse``; ``ValueError``
    when it is not a well-formed protobuf message.

    The blob is a read-only view of ``data``, not a copy: the stream's consumer copies it once, into
    its cutting window (:mod:`drkit.repo.format.piececut`), and a copy here was 32 KiB of fresh
    memory for each of the ~9,000 messages of a 300 MiB database (docs/performance.md). Field keys
    and small values are one byte: read inline, the general varint only beyond that."""
    view = memoryview(data).toreadonly()
    blob = view[0:0]
    remaining = 0
    version: str | None = None
    pos = 0
    end = len(data)
    while pos < end:
        key = data[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(data, pos - 1)
        field, wire = key >> 3, key & 7
        if wire == 2:
            size = data[pos] if pos < end else 0x80  # past the end: the varint reader says so
            pos += 1
            if size >= 0x80:
                size, pos = _varint(data, pos - 1)
            if pos + size > end:
                raise ValueError(f"field {field} runs past the end of the message")
            if field == 3:
                blob = view[pos : pos + size]
            elif field == 4:
                version = data[pos : pos + size].decode("utf-8")
            pos += size
        elif wire == 0:
            value, pos = _varint(data, pos)
            if field == 2:
                remaining = value
        elif wire in (1, 5):  # fixed64, fixed32
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"field {field} has wire type {wire}")
        if pos > end:
            raise ValueError("truncated message")
    return blob, remaining, version


class GrpcSnapshotParser(SnapshotStreamParser):
    """``feed`` takes one serialized ``SnapshotResponse`` (not a piece of a byte stream)."""

    def feed(self, data: bytes) -> list[Piece]:
        if self._failed:
            raise SnapshotCorrupt(f"{self._source}: snapshot stream fed after a failure")
        self._messages += 1
        try:
            try:
                blob, remaining, version = decode_snapshot_response(data)
            except (ValueError, UnicodeDecodeError) as exc:
                self._fail(f"snapshot stream message {self._messages} is not a SnapshotResponse ({exc})")
            piece = self._accept(blob, remaining, version)
        except BaseException:
            self._failed = True
            raise
        return [] if piece is None else [piece]


_FIRST_IMPORT = threading.Lock()


def grpcio_version() -> tuple[int, int] | None:
    """The installed grpcio's (major, minor), read from its files without importing it; None if
    unknown."""
    spec = importlib.util.find_spec("grpc")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "_grpcio_metadata.py").read_text()
    except OSError:
        return None
    match = re.search(r"(\d+)\.(\d+)\.", text)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def preload() -> None:
    """Import ``grpc`` now (~0.05 s of CPU, several times that in wall time on a loaded machine), not
    on the stream's first ``next()``: ``EtcdClient.snapshot`` calls it, which ``drkit backup run``
    runs on a thread while the repository's key is derived (:mod:`drkit.etcd.early`).

    The first import is made with :data:`POLL_ON_CALLER` in ``GRPC_EXPERIMENTS`` (unless that is set
    already, or the grpcio version is not one it was checked with); the environment is put back
    after it, so that child processes do not inherit it."""
    with _FIRST_IMPORT:  # two threads asking at once: one sets the variable, imports, removes it
        if "grpc" not in sys.modules and "GRPC_EXPERIMENTS" not in os.environ:
            version = grpcio_version()
            low, high = POLL_ON_CALLER_VERSIONS
            if version is not None and low <= version < high:
                os.environ["GRPC_EXPERIMENTS"] = POLL_ON_CALLER
                try:
                    import grpc
                finally:
                    del os.environ["GRPC_EXPERIMENTS"]
    import grpc
    import grpc.experimental  # noqa: F401


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def _channel(endpoint: EtcdEndpoint, tls: EtcdTLS | None) -> Any:
    import grpc  # only a snapshot needs it (~0.1 s to import)
    import grpc.experimental

    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        # the consuming thread polls for the next message itself: no hand-off through grpc's own
        # thread (and the GIL) for each of the ~9,400 32 KiB messages of a 300 MiB database
        (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
    ]
    target = f"{endpoint.host}:{endpoint.port}"
    if not endpoint.tls:
        return grpc.insecure_channel(target, options=options)
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file) if tls else None,
        private_key=_read(tls.key_file) if tls else None,
        certificate_chain=_read(tls.cert_file) if tls else None,
    )
    if tls is not None and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, creds, options=options)


def _wrap(exc: Any, endpoint: EtcdEndpoint, idle: bool, timeout: float) -> EtcdError:
    import grpc

    code = exc.code() if hasattr(exc, "code") else None
    details = str(exc.details() if hasattr(exc, "details") else exc)
    where = f"etcd {endpoint} snapshot (gRPC)"
    if idle:
        return EtcdUnavailable(f"{where}: no data for {timeout:g}s")
    if code == grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        if any(w in lowered for w in ("ssl", "tls", "handshake", "certificate")):
            return EtcdTLSError(f"{where}: TLS handshake failed: {details}")
        return EtcdUnavailable(f"{where}: unavailable: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return EtcdUnavailable(f"{where}: {details}")
    value = code.value[0] if code is not None else None
    name = code.name if code is not None else "unknown"
    return EtcdRequestFailed(f"{where}: {details} ({name})", code=value if isinstance(value, int) else None)


def stream(endpoint: EtcdEndpoint, tls: EtcdTLS | None, timeout: float) -> Iterator[bytes]:
    """Yield the serialized ``SnapshotResponse`` messages of one snapshot; waiting more than
    ``timeout`` seconds for etcd's next message (or its first) cancels the call. The time the
    consumer holds a message is not counted. Every failure is an :class:`EtcdError` naming the
    endpoint."""
    preload()  # grpc imported as preload imports it (a no-op once it is)
    import grpc

    try:
        channel = _channel(endpoint, tls)
    except OSError as exc:
        raise EtcdTLSError(f"etcd {endpoint}: reading TLS files: {exc}") from exc
    call = channel.unary_stream(METHOD, request_serializer=None, response_deserializer=None)(b"")
    # when the wait for etcd's next message began; None while the consumer holds a message (a
    # consumer that pauses, e.g. a read-ahead held until the repository opens, is not etcd's silence)
    waiting: list[float | None] = [time.monotonic()]
    idle = threading.Event()
    done = threading.Event()

    def watchdog() -> None:
        while not done.wait(min(1.0, timeout / 4)):
            since = waiting[0]
            if since is not None and time.monotonic() - since > timeout:
                idle.set()
                call.cancel()
                return

    dog = threading.Thread(target=watchdog, name="drkit-etcd-watchdog", daemon=True)
    dog.start()
    try:
        for message in call:
            waiting[0] = None
            yield message
            waiting[0] = time.monotonic()
    except grpc.RpcError as exc:
        raise _wrap(exc, endpoint, idle.is_set(), timeout) from None
    finally:
        done.set()
        call.cancel()
        channel.close()
