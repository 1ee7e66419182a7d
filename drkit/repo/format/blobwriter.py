"""The blob writer: dedup, compress + seal, fill packs, upload them, then write index objects.

A pack is finished at the pack size or at ``WriterSettings.pack_blobs`` blobs, whichever comes
first: until a pack is uploaded and indexed, each of its blobs costs ~330 bytes besides its sealed
bytes (its id in the pending set, its entry, the snapshot's waiting reference), and 16 MiB of
API objects sealed to ~150 bytes each is ~100k blobs (a saw of ~30 MiB in a capture's memory).
A pack of trees is finished at ``WriterSettings.tree_pack_size`` (4 MiB): trees are stored over
the whole backup, and the split trees of a capture of 400k objects (12.6 MB) stayed in memory in one
open pack until the commit.

``add`` is called from many worker threads (hashing, zstd and AES release the GIL). Full packs go
through a bounded queue to uploader threads; an index object is written after every
``index_every`` uploaded packs or once they hold ``index_blobs`` blobs (packs of small blobs: an
index object, encoded and sealed at once, then stays a few MB), and always after (never before) the
packs it lists. A crash at any
point leaves only whole objects behind: packs without an index are unreferenced (prune removes
them once unlocked); packs with an index are known to the next backup, which reuses them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import blake3

from drkit.repo.format.blobs import BlobType, seal_blob, seal_blobs
from drkit.repo.format.index import INDEX_VERSION, MasterIndex, PackRecord, encode_index
from drkit.repo.format.layout import index_key, object_name, pack_key
from drkit.repo.format.pack import PackBuilder
from drkit.repo.format.packentries import PackEntries
from drkit.repo.format.retainuntil import retention_at
from drkit.repo.format.sealing import WriteKeys
from drkit.storage.base import LockMode, Store
from drkit.storage.errors import ObjectExists

assert INDEX_VERSION == 2


@dataclass
class WriterSettings:
    """How a writer runs (not part of the format)."""

    workers: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    uploaders: int = 2
    queued_packs: int = 2
    index_every: int = 8
    index_blobs: int = 65_536  # an index object is written once its packs hold this many blobs
    pack_size: int | None = None  # None: the repository config's pack size
    pack_blobs: int = 16_384  # a pack is also finished once it holds this many blobs (see BlobWriter)
    tree_pack_size: int = 4 << 20  # a pack of trees is finished at this size (or pack_size if smaller)
    spill_blobs: int = 65_536  # indexed new entries kept in memory before they go to a file (0: never)
    use_parent: bool = True  # skip reading files unchanged since the parent snapshot


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockPolicy:
    """How new objects are locked: mode and period (``mode`` None: no lock), and the clock used."""

    mode: LockMode | None
    retention: timedelta
    clock: Callable[[], datetime] = utcnow


def put_once(
    store: Store,
    key: str,
    data: bytes | bytearray | memoryview | Sequence[bytes | bytearray],
    lock: LockPolicy,
) -> tuple[str | None, datetime | None]:
    """Put a content-addressed object; an existing one with the same name is the same bytes.

    ``data`` may be a list of parts (a pack: :meth:`PackBuilder.finish_parts`): a store with
    ``put_parts`` (``LocalStore``, ``S3Store`` through ``RetryingStore``) takes them as they are, any
    other gets them joined."""
    retention = retention_at(lock.mode, lock.retention, lock.clock())
    try:
        if isinstance(data, bytes | bytearray | memoryview):  # one object, not a list of parts
            vid = store.put(key, bytes(data), retention=retention)
        else:
            put_parts = getattr(store, "put_parts", None)
            if put_parts is not None:
                vid = put_parts(key, data, retention=retention)
            else:
                vid = store.put(key, b"".join(data), retention=retention)
    except ObjectExists:
        info = store.head(key)
        vid = info.version_id
        if retention is not None:
            store.extend_retention(key, retention.until, version_id=vid)
    return vid, None if retention is None else retention.until


class _Sentinel:
    pass


_STOP = _Sentinel()


class BlobWriter:
    def __init__(
        self,
        store: Store,
        key: WriteKeys,
        index: MasterIndex,
        *,
        pack_size: int,
        lock: LockPolicy,
        settings: WriterSettings,
        compression_level: int = 3,
    ) -> None:
        self.store = store
        self.key = key
        self.index = index
        self.pack_size = pack_size
        # a pack's sealed blobs stay in memory until it is finished: trees come over a whole backup
        # (a capture of 400k objects: 12.6 MB of split trees held until the commit), so theirs is smaller
        self._pack_limit = {
            BlobType.DATA: pack_size,
            BlobType.TREE: min(pack_size, settings.tree_pack_size or pack_size),
        }
        self.lock = lock
        self.settings = settings
        self.compression_level = compression_level
        self._pack_lock = threading.Lock()
        # the ids of blobs sealed but not yet in the index, by type (ids, not (type, id) tuples: ~60
        # bytes a blob less while a pack of small blobs fills)
        self._pending: dict[int, set[bytes]] = {t: set() for t in BlobType}
        self._builders = {
            BlobType.DATA: PackBuilder(key.sealer_id),
            BlobType.TREE: PackBuilder(key.sealer_id),
        }
        self._queue: queue.Queue[tuple[list[bytes | bytearray], PackEntries] | _Sentinel] = queue.Queue(
            maxsize=max(1, settings.queued_packs)
        )
        self._batch: list[PackRecord] = []
        self._batch_blobs = 0
        self._batch_lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._new_packs: list[str] = []  # ids: their entries are the index's (perhaps in its file)
        self._indexed: list[str] = []  # packs listed by a written index object, not yet spilled
        self._indexed_blobs = 0
        self.new_indexes: dict[str, datetime | None] = {}
        self.new_bytes = 0
        self.stored_bytes = 0
        self._threads = [
            threading.Thread(target=self._upload_loop, name=f"drkit-upload-{i}", daemon=True)
            for i in range(max(1, settings.uploaders))
        ]
        for t in self._threads:
            t.start()

    @property
    def new_packs(self) -> list[PackRecord]:
        """The packs this writer stored, as the index holds them (a spilled one's entries are read
        from the index's file when asked for)."""
        with self._batch_lock:
            ids = list(self._new_packs)
        return [self.index.packs[p] for p in ids]

    # -- producer side -----------------------------------------------------------------------

    def known(self, blob_type: BlobType, blob_id: bytes) -> bool:
        return (blob_type, blob_id) in self.index or blob_id in self._pending[blob_type]

    def add(self, blob_type: BlobType, raw: bytes | memoryview, *, max_level: int | None = None) -> bytes:
        """Store ``raw`` unless already known; return its id. Thread-safe. ``max_level`` caps the
        zstd level (the repository's level, or none, when that is lower). ``raw`` may be a view of a
        larger buffer (a stream's chunk): it is not kept after the call."""
        self._raise_if_failed()
        blob_id = self.key.content_id(raw)
        if self.known(blob_type, blob_id):
            return blob_id
        level = self.compression_level if max_level is None else min(self.compression_level, max_level)
        sealed = seal_blob(self.key, blob_type, blob_id, raw, level=level)
        with self._pack_lock:
            self._raise_if_failed()
            pending = self._pending[blob_type]
            if blob_id in pending or (blob_type, blob_id) in self.index:
                return blob_id
            pending.add(blob_id)
            builder = self._builders[blob_type]
            builder.add(blob_type, blob_id, sealed, len(raw))
            self.new_bytes += len(raw)
            if builder.size >= self._pack_limit[blob_type] or len(builder) >= self.settings.pack_blobs:
                self._builders[blob_type] = PackBuilder(self.key.sealer_id)
                self._queue.put((builder.finish_parts(self.key), builder.entries))
        return blob_id

    def add_many(self, blob_type: BlobType, raws: Sequence[bytes]) -> list[bytes]:
        """``add`` for many blobs: their ids in order. Hashed and sealed one after the other
        (``seal_blobs``), then put into the pack under one hold of the lock, not one per blob (a
        sealing thread's batch of small files). Thread-safe."""
        self._raise_if_failed()
        ids = self.key.content_ids(raws)
        pending = self._pending[blob_type]
        index = self.index
        new: dict[bytes, bytes] = {}  # id -> raw, the first of equal blobs, not stored yet
        for blob_id, raw in zip(ids, raws, strict=True):
            if blob_id not in new and blob_id not in pending and (blob_type, blob_id) not in index:
                new[blob_id] = raw
        if not new:
            return ids
        sealed = seal_blobs(self.key, blob_type, list(new.items()), level=self.compression_level)
        with self._pack_lock:
            self._raise_if_failed()
            builder = self._builders[blob_type]
            for (blob_id, raw), blob in zip(new.items(), sealed, strict=True):
                if blob_id in pending or (blob_type, blob_id) in index:
                    continue  # stored meanwhile by another thread
                pending.add(blob_id)
                builder.add(blob_type, blob_id, blob, len(raw))
                self.new_bytes += len(raw)
                if builder.size >= self._pack_limit[blob_type] or len(builder) >= self.settings.pack_blobs:
                    self._builders[blob_type] = PackBuilder(self.key.sealer_id)
                    self._queue.put((builder.finish_parts(self.key), builder.entries))
                    builder = self._builders[blob_type]
        return ids

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # -- uploader side -------------------------------------------------------------------------

    def _upload_loop(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Sentinel):
                return
            if self._error is None:  # else drain without uploading after a failure
                try:
                    self._upload(item)
                except BaseException as e:  # noqa: BLE001 - handed to the producer thread
                    self._error = e
            # the pack's bytes (a whole pack_size) are not kept while this thread waits for the next
            del item

    def _upload(self, item: tuple[list[bytes | bytearray], PackEntries]) -> None:
        parts, entries = item
        name = blake3.blake3()  # object_name of the joined parts
        for part in parts:
            name.update(part)
        pack_id = name.hexdigest()
        size = sum(len(p) for p in parts)
        vid, until = put_once(self.store, pack_key(pack_id), parts, self.lock)
        record = PackRecord(pack_id, vid, until, size, entries, self.key.sealer_id)
        self.index.add_pack(record)
        # known through the index from now on (~100 bytes less per blob). Not under _pack_lock: a
        # producer holds it while it waits for room in the queue this thread empties. Each discard
        # is one atomic set operation, and add() finds the blob in the index either way.
        ids, types, pending = entries.ids, entries.types, self._pending
        for i in range(len(types)):
            pending[types[i]].discard(ids[i * 32 : i * 32 + 32])
        with self._batch_lock:
            self.stored_bytes += size
            self._new_packs.append(pack_id)
            self._batch.append(record)
            self._batch_blobs += len(entries)
            batch = None
            settings = self.settings
            if len(self._batch) >= settings.index_every or self._batch_blobs >= settings.index_blobs:
                batch, self._batch = self._batch, []
                self._batch_blobs = 0
        if batch:
            self._write_index(batch)

    def _write_index(self, batch: list[PackRecord]) -> None:
        data = encode_index(self.key, batch)
        index_id = object_name(data)
        vid, until = put_once(self.store, index_key(index_id), data, self.lock)
        self.index.set_index((p.id for p in batch), index_id, vid)
        spill = None
        with self._batch_lock:
            self.new_indexes[index_id] = until
            self._indexed += [p.id for p in batch]
            self._indexed_blobs += sum(len(p.entries) for p in batch)
            if self.settings.spill_blobs and self._indexed_blobs >= self.settings.spill_blobs:
                spill, self._indexed, self._indexed_blobs = self._indexed, [], 0
        if spill:
            # listed by index objects in the store: the entries can leave memory (~75 bytes a blob
            # there, 4 in the spilled index's prefixes): a capture's memory stays flat in its objects
            self.index.spill(spill)

    # -- end -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush partial packs, wait for every upload, write the last index object."""
        if self._closed:
            self._raise_if_failed()
            return
        self._closed = True
        try:
            if self._error is None:
                with self._pack_lock:
                    for t, builder in self._builders.items():
                        if len(builder):
                            self._builders[t] = PackBuilder(self.key.sealer_id)
                            self._queue.put((builder.finish_parts(self.key), builder.entries))
        finally:
            self._stop_threads()
        self._raise_if_failed()
        with self._batch_lock:
            batch, self._batch = self._batch, []
            self._batch_blobs = 0
        if batch:
            self._write_index(batch)

    def abort(self) -> None:
        """Stop after a failure elsewhere: finish queued uploads and index them (best effort)."""
        if self._closed:
            return
        self._closed = True
        self._stop_threads()
        with self._batch_lock:
            batch, self._batch = self._batch, []
            self._batch_blobs = 0
        if batch and self._error is None:
            with contextlib.suppress(Exception):  # best effort: the original error matters more
                self._write_index(batch)

    def _stop_threads(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join()
