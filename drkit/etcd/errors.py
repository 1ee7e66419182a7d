"""The etcd client's errors: all are ``drkit.errors.EtcdError`` (exit code 18), each names its endpoint."""

from __future__ import annotations

from drkit.errors import EtcdError


class EtcdUnavailable(EtcdError):
    """An endpoint could not be reached or did not answer in time (worth a retry or another endpoint)."""

    transient = True


class EtcdTLSError(EtcdError):
    """The TLS handshake failed: wrong CA, missing or refused client certificate, wrong host name."""


class EtcdRequestFailed(EtcdError):
    """etcd answered with an error (HTTP status >= 400 or an ``error`` object in a stream)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SnapshotCorrupt(EtcdError):
    """The snapshot stream was short, malformed, or its SHA-256 trailer did not match: store nothing."""


class SnapshotRaced(EtcdError):
    """A compaction moved under the snapshot, so its HashKV proof is not valid: take it again."""

    transient = True
