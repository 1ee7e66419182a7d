"""A verified snapshot download: the bytes as they stream, and the facts proven once it has ended.

:class:`SnapshotStream` is an iterator of bytes-like pieces: the database as etcd sends it, then -- only
once the SHA-256 checksum has matched, the HTTP stream has ended cleanly and the revision bracket
has been checked -- the 32-byte checksum trailer itself. Concatenated, the chunks are exactly the
file ``etcdctl snapshot save`` would write and ``etcdutl snapshot restore`` accepts. If anything is
wrong the iterator raises an :class:`~drkit.errors.EtcdError` instead of yielding the trailer, and
``result`` is never available: a consumer that records a snapshot only from ``result`` cannot
record a bad one.

The revision. The stream carries none, so the client brackets it on the same member:

* before: ``Status``, then ``HashKV(0)``: the hash H at the current revision R1, with the member's
  compaction point C;
* the snapshot (etcd takes its view when the request arrives);
* after: ``Status`` (revision R2), and a one-key read at revision C that fails if the member has
  compacted past C meanwhile.

The database in the snapshot is at some revision R with R1 <= R <= R2; if R1 == R2 it is exactly
R1. Either way it contains every revision up to R1 with compaction point C, so a member restored
from it answers ``HashKV(R1)`` with (H, C): that is the recorded proof. A compaction during the
snapshot would break it: :class:`~drkit.etcd.errors.SnapshotRaced` (transient; take it again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import SnapshotRaced
from drkit.etcd.snapshotstream import SHA256_SIZE, Piece, SnapshotStreamParser, StreamDigest
from drkit.etcd.status import Status


@dataclass(frozen=True)
class HashKV:
    """``POST /v3/maintenance/hashkv``: hash of the MVCC keyspace from ``compact_revision`` to
    ``hash_revision``, as computed by ``member_id`` (all members agree when not corrupt)."""

    hash: int
    compact_revision: int
    hash_revision: int
    revision: int
    """The member's current revision when it answered (header)."""
    member_id: int

    def proof(self) -> tuple[int, int, int]:
        """What a restored member must reproduce: (hash_revision, hash, compact_revision)."""
        return (self.hash_revision, self.hash, self.compact_revision)


@dataclass(frozen=True)
class SnapshotResult:
    """A snapshot that verified. ``to_record()`` is what a backup manifest keeps."""

    endpoint: str
    member_id: int
    cluster_id: int
    etcd_version: str
    storage_version: str | None
    size: int
    """Database bytes (without the trailer)."""
    sha256: str
    """Hex SHA-256 of the database: the trailer etcd sent, verified."""
    revision_before: int
    revision_after: int
    hash_kv: HashKV
    """HashKV at ``revision_before``, computed by the member just before the stream."""

    @property
    def stored_size(self) -> int:
        """Bytes of the stored form: database + 32-byte checksum trailer."""
        return self.size + SHA256_SIZE

    @property
    def revision_exact(self) -> bool:
        return self.revision_before == self.revision_after

    @property
    def revision(self) -> int | None:
        """The snapshot's revision when the bracket pins it (nothing was written meanwhile), else None:
        read it from the file (:func:`drkit.etcd.snapshotfile.revision_from_db`) at restore."""
        return self.revision_before if self.revision_exact else None

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "member_id": f"{self.member_id:x}",
            "cluster_id": f"{self.cluster_id:x}",
            "etcd_version": self.etcd_version,
            "storage_version": self.storage_version,
            "size": self.size,
            "stored_size": self.stored_size,
            "sha256": self.sha256,
            "revision": self.revision,
            "revision_min": self.revision_before,
            "revision_max": self.revision_after,
            "hash_kv": {
                "revision": self.hash_kv.hash_revision,
                "hash": self.hash_kv.hash,
                "compact_revision": self.hash_kv.compact_revision,
            },
        }


class SnapshotStream(Iterator[Piece]):
    """Iterate to download; the last chunk (the trailer) comes only after everything verified.

    ``close()`` (or leaving a ``with`` block) abandons the download and closes the connection.
    """

    def __init__(
        self,
        endpoint: EtcdEndpoint,
        before: Status,
        hash_before: HashKV,
        body: Iterator[bytes],
        after: Callable[[], tuple[Status, bool]],
        *,
        max_message: int | None = None,
        parser: SnapshotStreamParser | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._before = before
        self._hash_before = hash_before
        self._body = body
        self._after = after
        kwargs = {} if max_message is None else {"max_message": max_message}
        self._parser = parser or SnapshotStreamParser(f"etcd {endpoint} snapshot", **kwargs)
        self._pending: list[Piece] = []
        self._result: SnapshotResult | None = None
        self._done = False

    @property
    def received(self) -> int:
        """Database bytes received so far (for progress)."""
        return self._parser.received

    @property
    def total(self) -> int | None:
        """The database size etcd announced (None until the first message)."""
        return self._parser.total

    @property
    def result(self) -> SnapshotResult:
        if self._result is None:
            raise EtcdError(f"etcd {self.endpoint}: the snapshot has not been fully received and verified")
        return self._result

    def __iter__(self) -> SnapshotStream:
        return self

    def __next__(self) -> Piece:
        while not self._pending:
            if self._done:
                raise StopIteration
            try:
                piece = next(self._body, None)
                if piece is None:
                    digest = self._parser.finish()
                    self._result = self._conclude(digest)
                    self._done = True
                    return digest.trailer
                self._pending = self._parser.feed(piece)
                self._pending.reverse()
            except BaseException:
                self.close()
                raise
        return self._pending.pop()

    def close(self) -> None:
        self._done = True
        self._pending = []
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> SnapshotStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conclude(self, digest: StreamDigest) -> SnapshotResult:
        after, compacted = self._after()
        b = self._before
        h = self._hash_before
        if after.member_id != b.member_id or after.cluster_id != b.cluster_id:
            raise EtcdError(
                f"etcd {self.endpoint}: the member changed during the snapshot "
                f"({b.member_id:x} -> {after.member_id:x}); take it again"
            )
        if compacted:
            raise SnapshotRaced(
                f"etcd {self.endpoint}: compacted past revision {h.compact_revision} during the snapshot, "
                f"so HashKV at {h.hash_revision} would not prove the restore; take it again"
            )
        if after.revision < h.hash_revision:
            raise EtcdError(
                f"etcd {self.endpoint}: revision went back from {h.hash_revision} to {after.revision}"
            )
        return SnapshotResult(
            endpoint=self.endpoint.url,
            member_id=b.member_id,
            cluster_id=b.cluster_id,
            etcd_version=b.version,
            storage_version=digest.storage_version or b.storage_version,
            size=digest.size,
            sha256=digest.sha256.hex(),
            revision_before=h.hash_revision,
            revision_after=after.revision,
            hash_kv=h,
        )
