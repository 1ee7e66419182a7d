"""Building one snapshot from virtual files: bytes, streams of unknown length, real directories.

A cluster backup is not one directory: it is an etcd database streamed from the API, thousands of
small API objects, volume directories, and a metadata document. :class:`SnapshotWriter` collects
them at chosen paths (:mod:`drkit.repo.engine.vtree`) through the same blob writer as ``backup_path``, and
commits one snapshot whose root tree holds them all (docs/format.md, "Cluster snapshots")::

    with repo.new_snapshot(kind="cluster", tags=("nightly",)) as snap:
        snap.add_bytes("resources/apps/v1/deployments/default/web.json", data)
        snap.add_stream("etcd/snapshot.db", chunks)
        snap.add_directory("volumes/default/data", Path("/mnt/data"))
        snap.set_meta({"etcd": {...}})
    snap.snapshot  # the committed Snapshot

Leaving the block normally commits: trees are stored, then the last packs and their index, then
the manifest (last: the snapshot exists from that moment). An exception aborts: no manifest is
written; packs already uploaded are indexed (best effort) so that the next backup reuses them, as
after a crash. A stream whose source raises (a failed checksum at its end) also poisons the writer:
a later commit raises that error instead of storing a snapshot without the stream.

Memory is bounded: a stream is cut with FastCDC (or at fixed offsets: ``fixed_size``) as it arrives,
in windows of ``2 * max_size`` (:mod:`drkit.repo.format.piececut`), and at most ``2 * workers`` large
chunks are in flight (views of the windows: a window lives while a chunk of it is being sealed);
small files are sealed on the caller's thread. :meth:`SnapshotWriter.seal` stores a finished
directory's trees at once and drops its entries (:mod:`drkit.repo.engine.opentree`), so that many
small files written in path order cost memory for the directories still open only.
``add_bytes`` may be called from several threads at once; the other methods from one thread.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from drkit.errors import ConfigError, DrkitError
from drkit.repo.engine.opentree import SealingTree
from drkit.repo.engine.progress import Progress
from drkit.repo.engine.references import ReferencedBlobs
from drkit.repo.engine.target import SnapshotTarget
from drkit.repo.engine.vtree import DIR_MODE, PathSplitter, split_path
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import BlobWriter
from drkit.repo.format.chunker import Chunker
from drkit.repo.format.heapkeep import freed_memory_kept
from drkit.repo.format.model import KIND_CLUSTER, KIND_PATH, RootMeta, Snapshot, SnapshotStats
from drkit.repo.format.piececut import cut_fixed, cut_pieces
from drkit.repo.format.splittree import encode_split
from drkit.repo.format.tree import Entry, Node, NodeType, encode_tree

if TYPE_CHECKING:  # the file-tree engine (~15 ms to import): loaded by add_directory only, so that an
    # etcd snapshot or API objects written as virtual files do not pay for it
    from drkit.repo.engine.backup import ParentTrees

MAX_META_BYTES: Final = 1024 * 1024
"""The meta document travels in every manifest (read by every listing): large data belongs in files."""
FILE_MODE: Final = 0o600
INLINE_BELOW: Final = 256 * 1024
"""Chunks smaller than this are sealed on the caller's thread, larger ones in the sealing pool (the
file-tree engine's threshold for its batches, ``backup.INLINE_BELOW``, is the same size)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _done(value: bytes) -> Future[bytes]:
    f: Future[bytes] = Future()
    f.set_result(value)
    return f


def _check_mode(mode: int) -> int:
    if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise ConfigError(f"mode {mode!r} is not a permission mode (0 to 0o7777)", field="mode")
    return mode


def _mtime_ns(mtime: datetime | None, default: int) -> int:
    if mtime is None:
        return default
    if mtime.tzinfo is None:
        raise ConfigError("mtime must be timezone-aware", field="mtime")
    return (mtime - _EPOCH) // timedelta(microseconds=1) * 1000


class SnapshotWriter:
    """One snapshot being built. Made by :meth:`Repository.new_snapshot`; not reusable.

    ``target`` is the repository, seen through :class:`SnapshotTarget` (what a snapshot needs of it).
    """

    def __init__(
        self,
        target: SnapshotTarget,
        *,
        kind: str = KIND_CLUSTER,
        tags: Iterable[str] = (),
        host: str | None = None,
        meta: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> None:
        if not kind or kind == KIND_PATH:
            raise ConfigError(f"snapshot kind {kind!r} is for backup_path; use e.g. 'cluster'", field="kind")
        self._target = target
        self._started = time.monotonic()
        self.kind = kind
        self.tags = tuple(tags)
        self.host = host or socket.gethostname()
        self.progress = progress
        self._meta: dict[str, Any] = {}
        if meta is not None:
            self.set_meta(meta)
        now_ns = int(target.now().timestamp()) * 1_000_000_000
        self._tree = SealingTree(now_ns, self._store_tree, self._store_split)
        self._mtimes: dict[datetime, int] = {}
        self._split = PathSplitter()  # API objects come directory by directory
        self._parent = self._find_parent()
        self._writer: BlobWriter = target.blob_writer()
        self._referenced = ReferencedBlobs(self._writer.index)  # as packs: no key per blob kept
        self._ref_lock = threading.Lock()
        self._local = threading.local()
        self._workers = max(1, target.settings.workers)
        self._window = threading.BoundedSemaphore(self._workers * 2)
        self._pool: ThreadPoolExecutor | None = None
        self._failed: BaseException | None = None
        self._state = "open"
        self.snapshot: Snapshot | None = None
        self.files = 0
        self.symlinks = 0
        self.dirs_below = 0
        self.bytes = 0
        self.reused_files = 0
        self.skipped: list[str] = []
        if progress is not None:
            progress.start("snapshot", None)

    # -- context manager ---------------------------------------------------------------------------

    @property
    def new_bytes(self) -> int:
        """Bytes uploaded so far by this snapshot (new data, after dedup): the difference around one
        ``add_*`` call is that entry's share."""
        return int(self._writer.new_bytes)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.commit()
        else:
            self.abort()

    # -- adding ------------------------------------------------------------------------------------

    def add_bytes(
        self, path: str, data: bytes, *, mode: int = FILE_MODE, mtime: datetime | None = None
    ) -> None:
        """Store ``data`` as the file ``path`` (one blob when small, so equal files deduplicate)."""
        self._check_open()
        parts = self._split(path)
        self._tree.reserve(parts)
        mtime_ns = self._mtime(mtime)
        _check_mode(mode)
        chunker = self._chunker()
        pieces = [data] if len(data) <= chunker.params.min_size else chunker.chunks_of(data)
        ids = tuple(self._writer.add(BlobType.DATA, bytes(p)) for p in pieces if p)
        self._file(parts, mode, mtime_ns, len(data), ids)

    def add_stream(
        self,
        path: str,
        chunks: Iterable[bytes | memoryview],
        *,
        mode: int = FILE_MODE,
        mtime: datetime | None = None,
        max_level: int | None = None,
        fixed_size: int | None = None,
    ) -> int:
        """Store the bytes ``chunks`` yields as the file ``path``; returns its size.

        Each piece is copied as it comes (a view's memory may be reused once the next is asked for).

        The stream is cut with FastCDC as it arrives; memory stays bounded whatever its length; freed
        memory stays in the process until the stream ends (:mod:`drkit.repo.format.heapkeep`). If
        ``chunks`` raises, the error propagates and the writer is poisoned: it will not commit.
        ``max_level`` caps the zstd level of its chunks (a cheaper level for a large stream whose
        store time counts, such as an etcd snapshot; the repository's level when that is lower).
        ``fixed_size`` cuts it in chunks of that many bytes instead (a stream whose changes keep their
        offsets, such as an etcd snapshot's pages, deduplicates better so; readers do not care how a
        file was cut).
        """
        self._check_open()
        parts = split_path(path)
        self._tree.reserve(parts)
        mtime_ns = self._mtime(mtime)
        _check_mode(mode)
        chunker = self._chunker()
        futures: list[Future[bytes]] = []
        total = 0
        try:
            with freed_memory_kept():  # the stream's buffers reused, not faulted in afresh
                cut = cut_pieces(chunker.cdc, chunks) if fixed_size is None else cut_fixed(fixed_size, chunks)
                for piece in cut:
                    total += len(piece)
                    futures.append(self._submit(piece, max_level=max_level))
                    if self.progress is not None:
                        self.progress.advance(len(piece))
                ids = tuple(f.result() for f in futures)
        except BaseException as e:
            for f in futures:
                f.cancel()
            self._failed = e
            raise
        self._file(parts, mode, mtime_ns, total, ids, advance=False)
        return total

    def add_directory(self, path: str, source: Path) -> None:
        """Back up the real directory ``source`` as ``path`` (unreadable entries land in ``skipped``).

        Files unchanged since the parent snapshot (the newest of the same kind and host holding a
        directory at ``path``) are not read again.
        """
        self._check_open()
        parts = split_path(path)
        source = Path(source)
        if not source.is_dir():
            raise ConfigError(f"{source} is not a directory", field="source")
        self._tree.reserve(parts)
        from drkit.repo.engine.backup import TreeBackup

        walker = TreeBackup(
            self._writer, self._target.chunker_params, workers=self._workers, progress=self.progress
        )
        result = walker.run(source, self._parent_trees(parts))
        root = result.root
        node = Node(
            parts[-1], NodeType.DIR, root.mode, root.uid, root.gid, root.mtime_ns, subtree=result.tree
        )
        self._tree.add(parts, node)
        with self._ref_lock:
            self._referenced |= result.referenced
            self.files += result.files
            self.symlinks += result.symlinks
            self.dirs_below += result.dirs + 1
            self.bytes += result.bytes
            self.reused_files += result.reused_files
            self.skipped.extend(f"{path}/{s}" for s in result.skipped)

    def set_meta(self, meta: dict[str, Any]) -> None:
        """The snapshot's metadata document (JSON-able; replaces an earlier one), sealed in the manifest."""
        if not isinstance(meta, dict):
            raise ConfigError("snapshot meta must be a JSON object (a dict)", field="meta")
        try:
            text = json.dumps(meta, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"snapshot meta is not JSON: {e}", field="meta") from None
        if len(text) > MAX_META_BYTES:
            raise ConfigError(
                f"snapshot meta is {len(text)} bytes, more than {MAX_META_BYTES}",
                field="meta",
                hint="store large documents with add_bytes",
            )
        self._meta = json.loads(text)

    def seal(self, path: str, *, final: bool = False) -> bool:
        """Say that the directory ``path`` is complete: its trees are stored now and its entries leave
        memory, so that a snapshot of many files written in path order holds only the directories
        still being filled. An addition below it later still works (the directory is reopened from a
        compressed copy of its entries) unless ``final``: then it raises ``ConfigError``. The stored
        trees are the same as without sealing. False if there is no directory at ``path``."""
        self._check_open()
        return self._tree.seal(split_path(path), final=final)

    # -- ending ------------------------------------------------------------------------------------

    def commit(self) -> Snapshot:
        """Store the trees, the last packs and the manifest; return the snapshot."""
        if self._state == "committed" and self.snapshot is not None:
            return self.snapshot
        self._check_open()
        if self._failed is not None:
            self.abort()
            raise self._failed  # the stream's own error (e.g. EtcdError): the snapshot would lack it
        try:
            self._shutdown_pool()
            tree, mtime_ns = self._tree.encode()
            self._writer.close()
        except BaseException:
            self.abort()
            raise
        finally:
            if self.progress is not None:
                self.progress.done()
        snap = Snapshot(
            id="",
            time=self._target.now(),
            host=self.host,
            tags=self.tags,
            paths=(),
            tree=tree,
            root=RootMeta(DIR_MODE, 0, 0, mtime_ns),
            stats=SnapshotStats(
                files=self.files,
                dirs=self._tree.dirs + self.dirs_below,
                symlinks=self.symlinks,
                bytes=self.bytes,
                new_bytes=self._writer.new_bytes,
                stored_bytes=self._writer.stored_bytes,
                new_packs=len(self._writer.new_packs),
                reused_files=self.reused_files,
                skipped=tuple(self.skipped),
            ),
            parent=self._parent.id if self._parent is not None else None,
            kind=self.kind,
            meta=self._meta,
        )
        self._state = "committing"
        try:
            self.snapshot = self._target.commit_snapshot(snap, self._writer, self._referenced, self._started)
        except BaseException:
            self._state = "aborted"
            raise
        self._state = "committed"
        return self.snapshot

    def abort(self) -> None:
        """Give up: no manifest. Uploaded packs are indexed (best effort) for the next backup to reuse."""
        if self._state != "open":
            return
        self._state = "aborted"
        try:
            self._shutdown_pool()
        finally:
            self._tree.close()
            self._writer.abort()
            if self.progress is not None:
                self.progress.done()

    # -- internals ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state != "open":
            raise ConfigError(f"this snapshot writer is {self._state}")

    def _mtime(self, mtime: datetime | None) -> int:
        """``mtime`` in ns, one int object per distinct time (many files share one: ~30 bytes each)."""
        if mtime is None:
            return self._tree.default_mtime_ns
        ns = self._mtimes.get(mtime)
        if ns is None:
            ns = _mtime_ns(mtime, self._tree.default_mtime_ns)
            if len(self._mtimes) < 64:
                self._mtimes[mtime] = ns
        return ns

    def _chunker(self) -> Chunker:
        chunker: Chunker | None = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = Chunker(self._target.chunker_params)
            self._local.chunker = chunker
        return chunker

    def _submit(self, raw: bytes | memoryview, *, max_level: int | None = None) -> Future[bytes]:
        if len(raw) < INLINE_BELOW:
            return _done(self._writer.add(BlobType.DATA, raw, max_level=max_level))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="drkit-seal")
        self._window.acquire()
        try:
            fut = self._pool.submit(self._writer.add, BlobType.DATA, raw, max_level=max_level)
        except BaseException:
            self._window.release()
            raise
        fut.add_done_callback(lambda _f: self._window.release())
        return fut

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _file(
        self,
        parts: tuple[bytes, ...],
        mode: int,
        mtime_ns: int,
        size: int,
        ids: tuple[bytes, ...],
        *,
        advance: bool = True,
    ) -> None:
        self._tree.add_file(parts, (mode, mtime_ns, size, ids))
        with self._ref_lock:
            self._referenced.update((BlobType.DATA, i) for i in ids)
            self.files += 1
            self.bytes += size
        if advance and self.progress is not None:
            self.progress.advance(size)

    def _store_tree(self, nodes: list[Entry]) -> bytes:
        return self._store_plain_tree(encode_tree(nodes))

    def _store_split(self, parts: list[tuple[bytes, int]]) -> bytes:
        return self._store_plain_tree(encode_split(parts))

    def _store_plain_tree(self, plain: bytes) -> bytes:
        tree_id = self._writer.add(BlobType.TREE, plain)
        with self._ref_lock:
            self._referenced.add((BlobType.TREE, tree_id))
        return tree_id

    def _find_parent(self) -> Snapshot | None:
        if not self._target.settings.use_parent:
            return None
        snaps = self._target.known_snapshots()  # none when opened write-only
        return next((s for s in reversed(snaps) if s.kind == self.kind and s.host == self.host), None)

    def _parent_trees(self, parts: tuple[bytes, ...]) -> ParentTrees | None:
        """The parent snapshot's trees under ``parts``, when it has a directory there."""
        parent = self._parent
        if parent is None:
            return None
        try:
            pt = self._target.parent_trees(parent, parent.tree)
            tree: bytes | None = parent.tree
            for name in parts:
                assert tree is not None
                node = next((n for n in pt.nodes(tree) if n.name == name), None)
                if node is None or node.type is not NodeType.DIR:
                    return None
                tree = node.subtree
        except DrkitError:
            return None  # an unreadable parent only costs speed
        if tree is None:
            return None
        return replace(pt, tree=tree)
