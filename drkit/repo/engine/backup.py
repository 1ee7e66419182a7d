"""Backing up a file tree: walk, chunk, hand chunks to worker threads, build one tree per directory.

The walk (main thread) lists directories and reads and chunks files; the chunks go to a thread pool
that hashes, compresses and seals them (``BlobWriter.add``: all three release the GIL, so they run
beside the walk): large chunks one by one, small ones in batches (one hand-off per batch). With the
compiled reader (``drkit.native._read``) the walk does not read small files itself: it hands their
paths over in the same batches, and a sealing thread reads each batch in one call without the GIL
(the pure-Python path reads them on the walk, as before). At most a few batches and large chunks are
in flight, so memory stays bounded. A directory whose chunk ids are
not known yet waits in a queue (children before parents) and its tree is stored once they are, so
every tree blob is written after its subtrees and chunks, and the walk does not stop at each
directory for the sealing threads to catch up.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold: os functions on purpose.
# ruff: noqa: PTH115, PTH116

from __future__ import annotations

import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from drkit.errors import DrkitError
from drkit.native import load as load_native
from drkit.repo.engine.dirscan import DirInfo, DirScanner, Scanned, Splice, scanner
from drkit.repo.engine.fsmeta import Stat, Xattrs, group_name, looks_sparse, read_xattrs, user_name
from drkit.repo.engine.lookahead import LargeFilesAhead
from drkit.repo.engine.progress import Progress
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.chunker import Chunker, ChunkerParams
from drkit.repo.format.filecut import FileCutter
from drkit.repo.format.gcpause import collector_paused, long_lived_frozen
from drkit.repo.format.index import BlobKey
from drkit.repo.format.model import RootMeta
from drkit.repo.format.splittree import read_tree
from drkit.repo.format.tree import (
    Entry,
    Node,
    NodeType,
    TreeMap,
    encode_tree,
    tree_map,
)

INLINE_BELOW = 256 * 1024
"""Chunks smaller than this are sealed in batches (``BATCH_BYTES``), larger ones one by one, both in
the worker pool."""

BATCH_BYTES = 1024 * 1024
BATCH_CHUNKS = 256
"""A batch of small chunks goes to a sealing thread once it holds this many bytes or chunks: one
hand-off per batch instead of one per chunk (a hand-off per small chunk cost more than sealing it)."""

LATE_DIRS = 512
"""Directories whose trees wait for chunk ids still being sealed; beyond this the walk waits."""
JOIN_POLL_S = 0.1
"""How often the thread waiting for the walk comes back to the interpreter: a signal (Ctrl-C, a
daemon's SIGTERM) that the kernel handed to another thread runs on the main thread only then."""
_FAR: Final = -2
"""``_PendingFile.size`` of a file read and cut on the reading thread (``_FarFile``)."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0)


@dataclass
class WalkResult:
    tree: bytes
    root: RootMeta
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    reused_files: int = 0
    read_files: int = 0  # files opened and read (not reused from the parent, not a second hard link)
    hardlinks: int = 0  # file entries stored as a further link to a file seen earlier in the walk
    sparse_files: int = 0
    skipped: list[str] = field(default_factory=list)
    referenced: set[BlobKey] = field(default_factory=set)


_UNREADABLE = ("cannot list directory", "cannot open", "cannot read link", "cannot stat", "read error")


def unreadable(skipped: Iterable[str]) -> list[str]:
    """The entries of a walk's ``skipped`` that existed but could not be read (permission, I/O):
    data the snapshot lacks. Special files and entries that vanished during the walk are not."""
    return [
        entry
        for entry in skipped
        if any(f": {why}" in entry for why in _UNREADABLE) and "No such file or directory" not in entry
    ]


class _WalkStopped(Exception):
    """The walk stopped because the thread waiting for it was interrupted (``TreeBackup._walk``)."""


@dataclass(frozen=True)
class ParentTrees:
    """The parent snapshot's trees, to skip reading files that have not changed since.

    A file is taken as unchanged when its size, mtime and inode equal the parent's entry, it is on the
    same filesystem, and its ctime (which no user can set) is older than ``changed_before_ns``: the
    start of the parent backup, minus a margin for clock granularity. Anything touched after the
    parent started is read again, also a file whose mtime was set back (``touch -d``). Parent entries
    written without an inode (older trees) match on the rest.

    Same filesystem: by default device numbers may be renumbered as a whole (a volume mounted afresh
    for each backup gets a new ``st_dev``), so the walk learns a one-to-one map from the parent's
    devices to the current ones and a file whose device breaks the map is read again. With
    ``strict_device`` the device numbers must be equal.
    """

    tree: bytes
    read: Callable[[bytes], bytes]  # a tree id -> the tree's plaintext
    changed_before_ns: int
    strict_device: bool = False

    def entries(self, tree_id: bytes) -> TreeMap:
        """A parent tree read once into a map of its entries by name (``tree_map``)."""
        return tree_map(self.read(tree_id), where=tree_id.hex())

    def nodes(self, tree_id: bytes) -> list[Node]:
        """A parent tree's entries, decoded."""
        return read_tree(self.read(tree_id), where=tree_id.hex(), part=self.read)


_NO_PARENT = TreeMap({}, canonical=False)
_FILE, _DIR, _SYMLINK = NodeType.FILE, NodeType.DIR, NodeType.SYMLINK
_ISREG = stat.S_ISREG


class _PendingFile:
    """A file entry whose chunks may still be in flight: its node is made once they have ids."""

    __slots__ = ("chunks", "counted", "name", "size", "sparse", "st", "xattrs")

    def __init__(
        self,
        chunks: list[_Chunk],
        size: int,
        *,
        name: bytes,
        st: Stat,
        xattrs: Xattrs,
        sparse: bool,
        counted: bool = True,
    ) -> None:
        self.name = name
        self.st = st
        self.xattrs = xattrs
        self.sparse = sparse
        self.chunks = chunks
        self.size = size
        self.counted = counted  # its bytes count in the totals (not for a further hard link)

    def entry(self, ids: tuple[bytes, ...]) -> Entry:
        """The file's tree entry (owner, mode and times from its ``lstat``) with its chunk ids."""
        st = self.st
        uid, gid, nlink = st.st_uid, st.st_gid, st.st_nlink
        return Entry(
            self.name,
            _FILE,
            st.st_mode & 0o7777,
            uid,
            gid,
            st.st_mtime_ns,
            self.size,
            b"".join(ids),
            b"",
            user_name(uid),
            group_name(gid),
            self.xattrs,
            st.st_ino,
            st.st_dev,
            nlink if nlink > 1 else 0,
            self.sparse,
        )


class StoredBlobs(Protocol):
    def __contains__(self, key: BlobKey) -> bool: ...


class BlobSink(Protocol):
    """Where a backup puts blobs: ``add`` stores one (if new) and returns its id; thread-safe.
    :class:`~drkit.repo.format.blobwriter.BlobWriter` is one."""

    @property
    def index(self) -> StoredBlobs:
        """The blobs stored already (a parent's unchanged entries are reused only if theirs are)."""
        ...

    def add(self, blob_type: BlobType, data: bytes | memoryview) -> bytes:
        """Store ``data`` (a view is valid only during the call: what is kept is copied)."""
        ...


class TreeBackup:
    """One backup walk. Not reusable.

    ``xattrs=False`` skips reading extended attributes (one syscall per entry saved). ``on_read`` is
    called with the path of every file whose content is read (a hook for tests and progress).
    ``native=False`` walks in Python only, also where the compiled directory scan (``dirscan``) and
    the compiled reader of small files (``drkit.native._read``) were built (the results are the
    same). The scan runs on the walk's thread: on a thread of its own it was slower, under load and
    on a quiet machine alike (docs/performance.md).
    """

    def __init__(
        self,
        writer: BlobSink,
        params: ChunkerParams,
        *,
        workers: int,
        progress: Progress | None = None,
        xattrs: bool = True,
        on_read: Callable[[bytes], None] | None = None,
        native: bool = True,
        look_ahead: bool = True,
    ) -> None:
        self.writer = writer
        self.native = native
        self.params = params
        self.chunker = Chunker(params)
        self._cutter = FileCutter(self.chunker.cdc)  # files above min_size: chunks viewed in place
        # Files of a cutter window or more are read and cut on a thread of their own, one after the
        # other in walk order, while the walk goes on (``_far``); made for the first such file.
        self._reader: ThreadPoolExecutor | None = None
        self._far_cutter = FileCutter(self.chunker.cdc)
        # A first backup's large files found ahead of the walk, cut from the last one back (``run``)
        self._ahead: LargeFilesAhead[tuple[list[Future[bytes]], int] | OSError] | None = None
        self.look_ahead = look_ahead
        self._stopping = False
        self.workers = max(1, workers)
        self.progress = progress
        self.xattrs = xattrs
        self.on_read = on_read
        self._window = threading.BoundedSemaphore(self.workers * 2)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="drkit-seal")
        self._result: WalkResult | None = None
        self._parent: ParentTrees | None = None
        self._inodes: dict[tuple[int, int], _PendingFile] = {}
        self._devices: dict[int, int] = {}  # parent snapshot's st_dev -> this walk's
        self._devices_taken: set[int] = set()
        self._scanner: DirScanner | None = None
        self._scanned_dirs = 0  # directories the compiled scan compared with their parent trees
        self._reused_bytes = 0  # bytes of files reused as stored, not yet reported to ``progress``
        self._batch = _Batch(0)  # small chunks not yet handed to a sealing thread
        self._late: deque[_LateTree] = deque()  # directories waiting for chunk ids, children first
        # many blobs in one call when the sink offers it (``BlobWriter.add_many``), else one by one
        self._add_many: Callable[[BlobType, list[bytes]], list[bytes]] = getattr(
            writer, "add_many", None
        ) or (lambda t, raws: [writer.add(t, raw) for raw in raws])
        lister = load_native("_walk") if native else None
        # None: each directory listed and each entry lstat'ed in Python; else a directory at a time
        # in C without the GIL (``_walk.listdir``)
        self._listdir: Callable[[bytes, bool], int | tuple[list[bytes], list[Stat | int]]] | None = (
            None if lister is None else lister.listdir
        )
        reader = load_native("_read") if native else None
        # None: small files are read on the walk (pure Python); else by the sealing threads, in C
        self._read_files: Callable[[list[bytes], list[int]], list[bytes | tuple[int, int]]] | None = (
            None if reader is None else reader.read_files
        )
        # the largest file ``_dir`` hands to ``_small`` (what ``_file`` defers); -1: none (no reader)
        self._small_max = -1 if reader is None else min(INLINE_BELOW - 1, params.min_size)
        # problems met reading a small file on a sealing thread, reported when its directory is
        # stored: (where in ``skipped`` it belongs, batch, slot, message), merged into walk order
        self._late_skips: list[tuple[int, int, int, str]] = []

    def run(self, source: Path, parent: ParentTrees | None = None) -> WalkResult:
        """Back up ``source``. With ``parent``, files unchanged since the parent snapshot are not read."""
        self._parent = parent
        if parent is not None and self.native:
            self._scanner = scanner(
                parent.changed_before_ns, strict_device=parent.strict_device, xattrs=self.xattrs
            )
        st = os.stat(source)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(f"{source} is not a directory")
        root = RootMeta(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
        self._result = WalkResult(tree=b"", root=root)
        if parent is None and self.look_ahead and self._listdir is not None:
            # A first backup: its large files are read anyway, the last ones too (lookahead.py)
            ahead_cutter = FileCutter(self.chunker.cdc)
            self._ahead = LargeFilesAhead(
                self._listdir,
                self._far_cutter.size,
                lambda fd, size: self._cut_far(fd, size, ahead_cutter),
            )
            self._ahead.start(os.fsencode(source))
        try:
            # Everything alive now (the index: objects per blob; the modules) lives through the walk:
            # the collector's full passes, set off by the walk's short-lived objects, skip it. And the
            # walk makes no cycles, but keeps every file's objects until its directory's tree is
            # stored: young collections kept scanning those (~11% of the walk's CPU time on 200k
            # small files, docs/performance.md), so the collector is off until the walk ends.
            with long_lived_frozen(), collector_paused():
                top = self._walk(os.fsencode(source), parent.tree if parent is not None else None)
                self._drain(everything=True)
                tree = top if type(top) is bytes else top.id  # type: ignore[union-attr]
                assert tree is not None
        finally:
            self._stopping = True  # a file still being cut stops at its next chunk
            if self._ahead is not None:
                self._ahead.close()
            if self._reader is not None:
                self._reader.shutdown(wait=True, cancel_futures=True)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._inodes.clear()
        self._result.tree = tree
        if self._late_skips:
            self._result.skipped = _in_walk_order(self._result.skipped, self._late_skips)
        return self._result

    def _walk(self, path: bytes, parent_tree: bytes | None) -> bytes | _LateTree:
        """``_dir`` of the top directory, on a thread of its own. CPython 3.11 keeps Python frames on
        a per-thread stack of 16 KiB chunks and unmaps a chunk as soon as the frame that opened it
        returns: deep below the command's own frames, the walk's recursion crossed a chunk boundary
        for most directories (14,300 mmap/munmap pairs in an incremental of the 62,521-file source
        tree). On a fresh thread the walk starts at the bottom of a chunk (557 in all; the
        incremental 0.85x the wall time, docs/performance.md). An interrupt of the waiting thread
        stops the walk at its next directory, then goes on as before."""
        done: list[tuple[bool, Any]] = []
        finished = threading.Event()

        def walk() -> None:
            try:
                done.append((True, self._dir(path, b"", parent_tree)))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, raised there
                done.append((False, e))
            finally:
                finished.set()

        # Waited for by an event, not by join(): a KeyboardInterrupt raised inside Thread.join marks
        # the thread stopped while it still runs (CPython 3.11, bpo-45274), and a later join returns
        # at once. Timed: a signal that the kernel handed to another thread is run here within
        # JOIN_POLL_S, not when the walk ends.
        thread = threading.Thread(target=walk, name="drkit-walk", daemon=True)
        thread.start()
        try:
            while not finished.wait(JOIN_POLL_S):
                pass
        except BaseException:
            self._stopping = True  # the walk raises _WalkStopped at its next directory
            finished.wait()
            thread.join()
            raise
        thread.join()
        ok, value = done[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    # -- internals ---------------------------------------------------------------------------------

    def _submit(self, raw: bytes | memoryview) -> _Chunk:
        """Hand a chunk to the sealing threads. A view (of ``FileCutter``'s window) must be of a
        chunk of at least ``INLINE_BELOW`` bytes: a batch would keep its window for longer."""
        if len(raw) < INLINE_BELOW:
            assert type(raw) is bytes
            batch = self._batch
            slot = _Slot(batch, len(batch.raws))
            batch.raws.append(raw)
            batch.size += len(raw)
            if batch.size >= BATCH_BYTES or len(batch.raws) + len(batch.paths) >= BATCH_CHUNKS:
                self._flush_batch()
            return slot
        return self._seal_alone(raw)

    def _seal_alone(self, raw: bytes | memoryview) -> Future[bytes]:
        """A chunk to a sealing thread by itself, once fewer than the window are in flight (thread-safe:
        the walk and the reading thread both call it)."""
        self._window.acquire()
        try:
            fut = self._pool.submit(self.writer.add, BlobType.DATA, raw)
        except BaseException:
            self._window.release()
            raise
        fut.add_done_callback(lambda _f: self._window.release())
        return fut

    def _flush_batch(self) -> None:
        """Hand the batch of small chunks to a sealing thread (hashing, zstd and AES-GCM release the
        GIL: the walk goes on meanwhile)."""
        batch = self._batch
        if not batch.raws and not batch.paths:
            return
        self._batch = _Batch(batch.seq + 1)
        self._window.acquire()
        try:
            batch.future = self._pool.submit(self._seal_batch, batch)
        except BaseException:
            self._window.release()
            raise
        batch.future.add_done_callback(lambda _f: self._window.release())

    def _seal_batch(self, batch: _Batch) -> list[bytes]:
        add_many = self._add_many
        ids = add_many(BlobType.DATA, batch.raws) if batch.raws else []
        if batch.paths:
            assert self._read_files is not None
            # one call for the whole batch: opening, reading and closing without the GIL
            got = self._read_files(batch.paths, batch.sizes)
            sizes = batch.sizes
            total = 0
            read: list[int] = []  # the files read with something in them, and what they hold
            datas: list[bytes] = []
            for i, data in enumerate(got):
                if type(data) is bytes:
                    n = len(data)
                    sizes[i] = n  # what was read: the file may have changed since its lstat
                    total += n
                    if n:
                        read.append(i)
                        datas.append(data)
            if read:
                # one call for the batch's blobs: one hold of the writer's lock, not one per file
                sealed = add_many(BlobType.DATA, datas)
                del datas
                for i, blob_id in zip(read, sealed, strict=True):
                    got[i] = blob_id
            batch.read = got  # ids (b"": empty), or (stage, errno)
            if self.progress is not None:
                self.progress.advance(total)
        batch.raws = []  # the data is sealed: not kept alive by the directories still waiting
        batch.ids = ids  # read without the future's lock (``_Slot``); set last: the batch is done
        return ids

    def _drain(self, *, everything: bool = False) -> None:
        """Store the trees of waiting directories whose chunk ids are known (children come first in
        the queue, so their ids are known when their parent's turn comes); with ``everything``, or
        when too many wait, wait for the oldest."""
        late = self._late
        while late:
            head = late[0]
            if not head.ready():
                if not everything and len(late) <= LATE_DIRS:
                    return
                self._flush_batch()  # the oldest may wait for the batch still being filled
            late.popleft()
            head.id = self._store(head.nodes, head.pending, head.dirs, head.base)
            # Only the id is wanted from now on: the parent's ``_LateDir`` keeps this object (and
            # the walk's top keeps every parent) until the walk ends, so its entries, its files'
            # ``lstat`` results and chunk slots would stay alive with it (~30 objects per file).
            head.nodes, head.pending, head.dirs, head.base = [], [], [], None

    def _skip(self, rel: bytes, why: str) -> None:
        assert self._result is not None
        self._result.skipped.append(f"{os.fsdecode(rel) or '.'}: {why}")

    def _parent_plain(self, tree_id: bytes | None) -> bytes | None:
        """A parent tree's plaintext; None without one or when it cannot be read."""
        if tree_id is None or self._parent is None:
            return None
        try:
            return self._parent.read(tree_id)
        except DrkitError:
            return None  # an unreadable parent tree only costs speed: the files are read again

    @staticmethod
    def _parent_entries(tree_id: bytes | None, plain: bytes | None) -> TreeMap:
        if tree_id is None or plain is None:
            return _NO_PARENT
        try:
            return tree_map(plain, where=tree_id.hex())
        except DrkitError:
            return _NO_PARENT  # an unreadable parent tree only costs speed: the files are read again

    def _same_meta(self, e: Entry, st: Stat, xattrs: Xattrs | None) -> bool:
        """Whether a stored entry holds exactly the type-independent fields this walk would write
        (``xattrs`` None: the entry's own are taken as they are)."""
        uid, gid = st.st_uid, st.st_gid
        return (
            e.mtime_ns == st.st_mtime_ns
            and e.mode == stat.S_IMODE(st.st_mode)
            and e.uid == uid
            and e.gid == gid
            and e.user == user_name(uid)
            and e.group == group_name(gid)
            and (xattrs is None or e.xattrs == xattrs)
        )

    def _reuse_file(self, e: Entry, st: Stat, sparse: bool) -> bool:
        """Whether the parent's entry can stand for this file as it is: unchanged since the parent
        backup in every field this walk writes (so the entry encodes to the same bytes).

        Its extended attributes are not read again: setting or removing one moves the ctime, and the
        ctime is older than the parent backup's start, so the parent read the ones the file has now.
        """
        p = self._parent
        assert p is not None
        if (
            e.type is not _FILE
            or e.size != st.st_size
            or st.st_ctime_ns >= p.changed_before_ns
            or e.inode != st.st_ino
            or e.device != st.st_dev
            or e.sparse is not sparse
            or e.links
            or not self._same_meta(e, st, None)
            or (not self.xattrs and e.xattrs)
            or not self._same_device(st.st_dev, st.st_dev)
        ):
            return False
        ids = e.ids
        index = self.writer.index
        referenced = self._result.referenced  # type: ignore[union-attr]
        if len(ids) == 32:  # the usual small file: one chunk
            key = (BlobType.DATA, ids)
            if key not in index:
                return False
            referenced.add(key)
            return True
        keys = [(BlobType.DATA, ids[i : i + 32]) for i in range(0, len(ids), 32)]
        if not all(k in index for k in keys):
            return False
        referenced.update(keys)
        return True

    def _unchanged(self, old: Entry | None, st: Stat) -> tuple[bytes, ...] | None:
        """The parent's chunk ids for a file that cannot have changed since the parent backup."""
        p = self._parent
        if (
            p is None
            or old is None
            or old.type is not _FILE
            or old.size != st.st_size
            or old.mtime_ns != st.st_mtime_ns
            or st.st_ctime_ns >= p.changed_before_ns
        ):
            return None
        if old.inode and (old.inode != st.st_ino or not self._same_device(old.device, st.st_dev)):
            return None
        ids = old.ids
        content = tuple(ids[i : i + 32] for i in range(0, len(ids), 32))
        if not all((BlobType.DATA, c) in self.writer.index for c in content):
            return None
        return content

    def _same_device(self, old: int, new: int) -> bool:
        """Whether a parent entry's device is this file's device (up to a consistent renumbering)."""
        assert self._parent is not None
        if self._parent.strict_device:
            return old == new
        seen = self._devices.get(old)
        if seen is not None:
            return seen == new
        if new in self._devices_taken:
            return False  # two parent devices cannot both be this one
        self._devices[old] = new
        self._devices_taken.add(new)
        if self._scanner is not None:
            self._scanner.map_device(old, new)
        return True

    def _dir(self, path: bytes, rel: bytes, parent_tree: bytes | None = None) -> bytes | _LateTree:  # noqa: PLR0912 - the hot loop, inlined
        """A directory's tree id, or the directory waiting for chunk ids to be stored (``_drain``)."""
        if self._stopping:
            raise _WalkStopped
        res = self._result
        assert res is not None
        plain, scanned = self._parent_scan(path, rel, parent_tree)
        if scanned is not None:
            assert parent_tree is not None
            assert plain is not None
            done = self._scanned_dir(path, rel, (parent_tree, plain), scanned)
            if done is not None:
                return done
        parent = self._parent_entries(parent_tree, plain)
        old_entries = parent.entries
        names, stats = self._list(path, rel)
        nodes: list[Entry] = []
        pending: list[_PendingFile] = []
        dirs: list[_LateDir] = []
        taken = 0  # entries that are the parent's own, unchanged
        prefix = path if path.endswith(b"/") else path + b"/"
        get = old_entries.get
        # The lister's small regular files without a parent entry (a first backup's usual file) go
        # straight to a batch (``_small``), the same as through ``_entry``: five calls less a file.
        small = self._small_max if stats is not None else -1
        for at, name in enumerate(names):
            old = get(name)
            if small >= 0 and old is None:
                st = stats[at]  # type: ignore[index]
                if type(st) is not int and st.st_size <= small and st.st_nlink == 1 and _ISREG(st.st_mode):  # type: ignore[union-attr]
                    pending.append(self._small(prefix, rel, name, st))  # type: ignore[arg-type]
                    continue
            entry = self._entry(prefix, rel, name, old, None if stats is None else stats[at])
            if entry is None:
                continue
            kind = type(entry)
            if kind is _PendingFile:
                pending.append(entry)  # type: ignore[arg-type]
            elif kind is _LateDir:
                dirs.append(entry)  # type: ignore[arg-type]
            else:
                if entry is old:
                    taken += 1
                nodes.append(entry)  # type: ignore[arg-type]
        if self._reused_bytes and self.progress is not None:
            self.progress.advance(self._reused_bytes)
        self._reused_bytes = 0
        if not pending and not dirs:
            if (
                parent_tree is not None
                and parent.canonical
                and taken == len(nodes) == len(old_entries)
                and (BlobType.TREE, parent_tree) in self.writer.index
            ):
                # Every entry is the parent's own, unchanged (and every name is there): the tree
                # would encode to the parent's bytes, so it is the parent's tree. Nothing to encode.
                res.referenced.add((BlobType.TREE, parent_tree))
                return parent_tree
            return self._store(nodes, pending, dirs)
        # Chunk ids still being sealed (or subtrees waiting for theirs): the tree is stored later,
        # in walk order, children first, while the walk goes on.
        late = _LateTree(nodes, pending, dirs)
        self._late.append(late)
        self._drain()
        return late

    def _list(self, path: bytes, rel: bytes) -> tuple[list[bytes], list[Stat | int] | None]:
        """A directory's names, sorted, and with the compiled lister each one's ``lstat`` (or its
        errno); none when it cannot be listed (the problem is noted)."""
        if self._listdir is not None:
            listed = self._listdir(path, self.xattrs)
            if type(listed) is int:
                self._skip(rel, f"cannot list directory: {os.strerror(listed)}")
                return [], None
            return listed  # type: ignore[return-value]
        try:
            with os.scandir(path) as it:
                return sorted(e.name for e in it), None
        except OSError as e:
            self._skip(rel, f"cannot list directory: {e.strerror}")
            return [], None

    def _parent_scan(
        self, path: bytes, rel: bytes, tree_id: bytes | None
    ) -> tuple[bytes | None, Scanned | None]:
        """A directory's parent tree (plaintext; None: none or unreadable) and, with the compiled
        scan, the directory compared with it."""
        if tree_id is None or self._parent is None:
            return None, None
        plain = self._parent_plain(tree_id)
        if plain is None or self._scanner is None:
            return plain, None
        return plain, self._scanner.scan(path, plain)

    def _scanned_dir(
        self, path: bytes, rel: bytes, parent: tuple[bytes, bytes], scanned: Scanned
    ) -> bytes | _LateTree | None:
        """``_dir`` for a directory the compiled scan compared with its parent tree (``dirscan``):
        the reused files are taken as it decided, every other entry as ``_dir`` takes it, in name
        order. None (nothing done yet): a reused file's chunk is not in the index; ``_dir`` decides."""
        res = self._result
        assert res is not None
        keys = scanned.keys
        index = self.writer.index
        if keys and not all(map(index.__contains__, keys)):
            return None
        parent_tree, plain = parent
        self._scanned_dirs += 1
        res.referenced.update(keys)
        reused = scanned.reused
        res.reused_files += reused
        res.files += reused
        res.bytes += scanned.reused_bytes
        res.sparse_files += scanned.sparse
        self._reused_bytes += scanned.reused_bytes
        assert self._scanner is not None
        olds = _ParentTree(parent_tree, plain, scanned, self._scanner.splice)
        prefix = path if path.endswith(b"/") else path + b"/"
        nodes, made, pending, dirs, taken = self._scanned_entries(prefix, rel, scanned, olds)
        if self._reused_bytes and self.progress is not None:
            self.progress.advance(self._reused_bytes)
        self._reused_bytes = 0
        if (
            not pending
            and not dirs
            and taken == reused + made == scanned.parent_entries
            and (BlobType.TREE, parent_tree) in index
        ):
            # Every entry is the parent's own, unchanged (and every name is there): the parent's tree.
            res.referenced.add((BlobType.TREE, parent_tree))
            return parent_tree
        # The tree is the parent's entries kept (reused files, subdirectories as stored: not decoded)
        # and the entries made anew, spliced into one (``_store``).
        base = (plain, olds.kept)
        if not pending and not dirs:
            return self._store(nodes, pending, dirs, base)
        late = _LateTree(nodes, pending, dirs, base)
        self._late.append(late)
        self._drain()
        return late

    def _scanned_entries(
        self, prefix: bytes, rel: bytes, scanned: Scanned, olds: _ParentTree
    ) -> tuple[list[Entry], int, list[_PendingFile], list[_LateDir], int]:
        """The entries the scan left to the walk, in order, as ``_entry`` takes them: the finished
        ones made anew (a parent entry kept as stored is marked in ``olds.kept`` instead), how many
        entries are finished, the files and directories still waiting, and how many entries are the
        parent's own (the scan's reused files included)."""
        names = scanned.names
        nodes: list[Entry] = []
        made = 0
        pending: list[_PendingFile] = []
        dirs: list[_LateDir] = []
        taken = scanned.reused
        for pos, info, at in scanned.special:
            name = names[pos]
            if info is None:
                old = olds.get(name) if at >= 0 else None
                entry = self._entry(prefix, rel, name, old)
            else:
                old = None
                entry = self._scanned_subdir(prefix, rel, name, info, olds)
                if entry is None:  # the parent's entry, as stored
                    olds.keep(at)
                    taken += 1
                    made += 1
                    continue
            if entry is None:
                continue
            kind = type(entry)
            if kind is _PendingFile:
                pending.append(entry)  # type: ignore[arg-type]
            elif kind is _LateDir:
                dirs.append(entry)  # type: ignore[arg-type]
            else:
                if entry is old:
                    taken += 1
                made += 1
                nodes.append(entry)  # type: ignore[arg-type]
        return nodes, made, pending, dirs, taken

    def _scanned_subdir(
        self, prefix: bytes, rel: bytes, name: bytes, info: DirInfo, olds: _ParentTree
    ) -> Entry | _LateDir | None:
        """``_directory`` for a subdirectory the scan ``lstat``ed: None when its parent entry stands
        for it as stored (not decoded: the directory may need none of its parent tree's entries)."""
        assert self._result is not None
        mode, uid, gid, mtime_ns, meta_same, old_sub = info
        full = prefix + name
        child_rel = rel + b"/" + name if rel else name
        # The scan found no xattrs when it says the metadata is the parent's (none there either).
        xattrs = () if meta_same else self._xattrs(full, child_rel)
        subtree = self._dir(full, child_rel, old_sub)
        self._result.dirs += 1
        if old_sub is not None and old_sub == subtree:
            if meta_same:
                return None
            old = olds.get(name)
            assert old is not None
            if (
                old.mtime_ns == mtime_ns
                and old.mode == mode
                and old.uid == uid
                and old.gid == gid
                and old.user == user_name(uid)
                and old.group == group_name(gid)
                and old.xattrs == xattrs
            ):
                return old
        entry = Entry(
            name, _DIR, mode, uid, gid, mtime_ns, 0, b"", b"",
            user_name(uid), group_name(gid), xattrs, 0, 0, 0, False,
        )  # fmt: skip
        if type(subtree) is bytes:
            return entry._replace(ids=subtree)
        return _LateDir(entry, subtree)  # type: ignore[arg-type]

    def _store(  # noqa: PLR0912 - the hot loop, inlined
        self,
        nodes: list[Entry],
        pending: list[_PendingFile],
        dirs: list[_LateDir],
        base: tuple[bytes, bytearray] | None = None,
    ) -> bytes:
        """Store a directory's tree, its files' chunk ids and its subtrees' ids known (or waited for).
        ``base``: a parent tree's plaintext and which of its entries the tree keeps beside ``nodes``
        (one byte per entry; a directory the compiled scan compared with that tree)."""
        res = self._result
        assert res is not None
        referenced = res.referenced
        files = 0
        read_files = 0  # deferred small files read as they were listed (``_read_result``'s usual case)
        quiet = self.on_read is None
        for pf in pending:
            if pf.size == _FAR:  # read and cut on the reading thread (``_far``)
                far = self._far_result(pf.chunks[0])  # type: ignore[arg-type]
                if far is None:
                    continue
                ids, pf.size = far
            elif pf.size < 0:  # read by a sealing thread (``_defer``)
                slot: _ReadSlot = pf.chunks[0]  # type: ignore[assignment]
                batch = slot.batch
                got = batch.read[slot.i] if batch.ids is not None else None  # type: ignore[index]
                if quiet and type(got) is bytes:  # read, nothing to report: ``_read_result`` inline
                    read_files += 1
                    ids = (got,) if got else ()
                    pf.size = batch.sizes[slot.i]
                else:
                    read = self._read_result(slot)
                    if read is None:
                        continue
                    ids, pf.size = read
            else:
                ids = tuple([c.result() for c in pf.chunks])
            for i in ids:
                referenced.add((BlobType.DATA, i))
            if pf.counted:
                res.bytes += pf.size
            nodes.append(pf.entry(ids))
            files += 1
        res.files += files
        res.read_files += read_files
        for d in dirs:
            assert d.tree.id is not None  # stored before this directory: it came first in the queue
            nodes.append(d.entry._replace(ids=d.tree.id))
        if base is None:
            plain = encode_tree(nodes)
        else:
            assert self._scanner is not None
            plain = _spliced(self._scanner.splice, base, nodes)
        tree_id = self.writer.add(BlobType.TREE, plain)
        referenced.add((BlobType.TREE, tree_id))
        return tree_id

    def _small(self, prefix: bytes, rel: bytes, name: bytes, st: Stat) -> _PendingFile:
        """``_entry`` of a small regular file with one link, listed by the compiled lister, that the
        parent snapshot does not have: what ``_regular``, ``_file`` and ``_defer`` do for it, in one
        call (``_dir`` checked the rest: its size is at most ``_small_max``)."""
        full = prefix + name
        child_rel = rel + b"/" + name if rel else name
        size = st.st_size
        sparse = st.st_blocks * 512 < size
        xattrs = self._xattrs(full, child_rel, st.bare)  # type: ignore[attr-defined]
        if sparse:
            self._result.sparse_files += 1  # type: ignore[union-attr]
        batch = self._batch
        paths = batch.paths
        slot = _ReadSlot(batch, len(paths), child_rel, len(self._result.skipped))  # type: ignore[union-attr]
        paths.append(full)
        batch.sizes.append(size)
        batch.size += size
        if batch.size >= BATCH_BYTES or len(batch.raws) + len(paths) >= BATCH_CHUNKS:
            self._flush_batch()
        return _PendingFile([slot], -1, name=name, st=st, xattrs=xattrs, sparse=sparse)

    def _xattrs(self, full: bytes, rel: bytes, bare: bool = False) -> Xattrs:
        """An entry's extended attributes (none when not asked for, or ``bare``: the compiled lister
        found it has none); a problem reading them is noted."""
        if bare or not self.xattrs:
            return ()
        xattrs, problem = read_xattrs(full)
        if problem is not None:
            self._skip(rel, f"{problem} (entry kept without them)")
        return xattrs

    def _entry(
        self, prefix: bytes, rel: bytes, name: bytes, old: Entry | None, listed: Stat | int | None = None
    ) -> Entry | _PendingFile | _LateDir | None:
        """One directory entry (``prefix``: its directory's path ending in a separator; ``old``: the
        parent's stored entry of that name; ``listed``: its ``lstat`` by the compiled lister, or the
        errno of it): a finished entry (the parent's own when nothing changed), a file whose chunks
        are in flight, or nothing."""
        full = prefix + name  # os.path.join, spelled out: two per entry showed in profiles
        child_rel = rel + b"/" + name if rel else name
        st: Stat
        if listed is None:
            try:
                st = os.lstat(full)
            except OSError as e:
                self._skip(child_rel, f"cannot stat: {e.strerror}")
                return None
            bare = False
        elif type(listed) is int:
            self._skip(child_rel, f"cannot stat: {os.strerror(listed)}")
            return None
        else:
            st = listed  # type: ignore[assignment]
            bare = st.bare  # type: ignore[attr-defined]
        mode = st.st_mode
        if stat.S_ISREG(mode):
            return self._regular(full, child_rel, name, st, old, bare=bare)
        if stat.S_ISDIR(mode):
            return self._directory(full, child_rel, name, st, old, bare=bare)
        if stat.S_ISLNK(mode):
            return self._link(full, child_rel, name, st, old, bare=bare)
        self._skip(child_rel, f"special file skipped ({_kind(mode)})")
        return None

    def _directory(
        self, full: bytes, rel: bytes, name: bytes, st: Stat, old: Entry | None, *, bare: bool = False
    ) -> Entry | _LateDir:
        """A directory's entry after its subtree: the parent's own when nothing in it changed."""
        assert self._result is not None
        xattrs = self._xattrs(full, rel, bare)
        old_sub = old.ids if old is not None and old.type is _DIR else None
        subtree = self._dir(full, rel, old_sub)
        self._result.dirs += 1
        if old is not None and old_sub == subtree and self._same_meta(old, st, xattrs):
            return old
        uid, gid = st.st_uid, st.st_gid
        entry = Entry(
            name, _DIR, stat.S_IMODE(st.st_mode), uid, gid, st.st_mtime_ns, 0, b"", b"",
            user_name(uid), group_name(gid), xattrs, 0, 0, 0, False,
        )  # fmt: skip
        if type(subtree) is bytes:
            return entry._replace(ids=subtree)
        return _LateDir(entry, subtree)  # type: ignore[arg-type]

    def _regular(
        self, full: bytes, rel: bytes, name: bytes, st: Stat, old: Entry | None, *, bare: bool = False
    ) -> _PendingFile | Entry | None:
        res = self._result
        assert res is not None
        sparse = looks_sparse(st)
        linked = st.st_nlink > 1
        if old is not None and not linked and self._reuse_file(old, st, sparse):
            # The fast path of an incremental: no entry made, nothing read or sealed.
            res.reused_files += 1
            res.files += 1
            res.bytes += st.st_size
            if sparse:
                res.sparse_files += 1
            self._reused_bytes += st.st_size  # reported once per directory (a lock per call)
            return old
        xattrs = self._xattrs(full, rel, bare)
        if linked:
            first = self._inodes.get((st.st_dev, st.st_ino))
            if first is not None:
                # A further link to a file already in this backup: same content, read once.
                res.hardlinks += 1
                return _PendingFile(
                    first.chunks, first.size, name=name, st=st, xattrs=xattrs, sparse=sparse, counted=False
                )
        if sparse:
            res.sparse_files += 1
        reused = self._unchanged(old, st)
        if reused is None:
            content = self._file(full, rel, st)
            if content is None:
                return None
            chunks, size = content
        else:
            res.reused_files += 1
            if self.progress is not None:
                self.progress.advance(st.st_size)
            chunks, size = [_done(c) for c in reused], st.st_size
        pf = _PendingFile(chunks, size, name=name, st=st, xattrs=xattrs, sparse=sparse)
        if linked:
            self._inodes[(st.st_dev, st.st_ino)] = pf
        return pf

    def _link(
        self, full: bytes, rel: bytes, name: bytes, st: Stat, old: Entry | None, *, bare: bool = False
    ) -> Entry | None:
        assert self._result is not None
        try:
            target = os.readlink(full)
        except OSError as e:
            self._skip(rel, f"cannot read link: {e.strerror}")
            return None
        self._result.symlinks += 1
        uid, gid = st.st_uid, st.st_gid
        entry = Entry(
            name, _SYMLINK, stat.S_IMODE(st.st_mode), uid, gid, st.st_mtime_ns, 0, b"", target,
            user_name(uid), group_name(gid), self._xattrs(full, rel, bare), 0, 0, 0, False,
        )  # fmt: skip
        if entry == old:
            return old
        return entry

    def _file(self, full: bytes, rel: bytes, st: Stat) -> tuple[list[_Chunk], int] | None:
        """Read a file's content: its chunks (in flight or done) and its size; None if it cannot be.

        A small file (one chunk, one link) goes to a sealing thread unread when the compiled reader is
        there: then the size is -1 and the only chunk a ``_ReadSlot`` (``_store`` finds out the rest).
        """
        size = st.st_size
        if (
            self._read_files is not None
            and size < INLINE_BELOW
            and size <= self.params.min_size
            and st.st_nlink == 1
        ):
            return [self._defer(full, rel, size)], -1
        fd = self._open(full, rel)
        if fd is None:
            return None
        assert self._result is not None
        self._result.read_files += 1
        if self.on_read is not None:
            self.on_read(full)
        if size > self.params.min_size:
            return self._chunked(fd, rel, st, full)
        # One chunk, whatever the file holds by now: read on the fd, no file object around it.
        try:
            data = _read_all(fd, size)
        except OSError as e:
            self._skip(rel, f"read error: {e.strerror}")
            return None
        finally:
            os.close(fd)
        if self.progress is not None:
            self.progress.advance(len(data))
        return ([self._submit(data)] if data else []), len(data)

    def _chunked(self, fd: int, rel: bytes, st: Stat, full: bytes) -> tuple[list[_Chunk], int] | None:
        """A file of more than one chunk, open: cut here, or on the reading thread when it is as large
        as a window of the cutter (one link: a further link takes the first's chunks as they are)."""
        if st.st_size >= self._far_cutter.size and st.st_nlink == 1:
            return [self._far(fd, rel, st, full)], _FAR
        chunks: list[_Chunk] = []
        size = 0
        try:
            with os.fdopen(fd, "rb", buffering=0) as f:
                for p in self._cutter.cut(f, st.st_size):
                    n = len(p)
                    # a large chunk is sealed from the window; a small one (a file's last) copied out
                    chunks.append(self._submit(p if n >= INLINE_BELOW else p.tobytes()))
                    size += n
                    if self.progress is not None:
                        self.progress.advance(n)
        except OSError as e:
            for c in chunks:
                c.cancel()
            self._skip(rel, f"read error: {e.strerror}")
            return None
        return chunks, size

    def _far(self, fd: int, rel: bytes, st: Stat, full: bytes) -> _FarFile:
        """Hand an open large file to the reading thread (``_cut_far``), or take it from the thread
        that started on it ahead of the walk (``LargeFilesAhead``); the walk goes on."""
        size = st.st_size
        early = self._ahead.claim(full, st) if self._ahead is not None else None
        if self._reader is None and early is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="drkit-read")
        batch = self._batch
        # where a read error is reported: here in the walk, before the small files deferred after it
        where = (len(self._result.skipped), batch.seq, 2 * len(batch.paths))  # type: ignore[union-attr]
        if early is not None:
            os.close(fd)  # opened to check it can be (as for any file); read by the other thread
            return _FarFile(early, rel, where)
        assert self._reader is not None
        try:
            fut = self._reader.submit(self._cut_far, fd, size)
        except BaseException:
            os.close(fd)
            raise
        fut.add_done_callback(lambda f: _close_if_cancelled(f, fd))  # never started: still open
        return _FarFile(fut, rel, where)

    def _cut_far(
        self, fd: int, size: int, cutter: FileCutter | None = None
    ) -> tuple[list[Future[bytes]], int] | OSError:
        """On a reading thread: cut a file (with ``cutter``, one per thread; the reading thread's by
        default), its chunks handed to the sealing threads one by one; the chunks and the size read,
        or the error that stopped the read."""
        cutter = cutter or self._far_cutter
        chunks: list[Future[bytes]] = []
        total = 0
        progress = self.progress
        try:
            with os.fdopen(fd, "rb", buffering=0) as f:
                for p in cutter.cut(f, size):
                    if self._stopping:
                        raise RuntimeError("the walk stopped")
                    n = len(p)
                    chunks.append(self._seal_alone(p if n >= INLINE_BELOW else p.tobytes()))
                    total += n
                    if progress is not None:
                        progress.advance(n)
        except OSError as e:
            for c in chunks:
                c.cancel()
            return e
        return chunks, total

    def _far_result(self, far: _FarFile) -> tuple[tuple[bytes, ...], int] | None:
        """A file cut on the reading thread: its chunk ids and size (waiting for them); None when
        reading it failed (reported where the walk met the file)."""
        got = far.future.result()
        if isinstance(got, OSError):
            anchor, seq, i = far.where
            message = f"{os.fsdecode(far.rel) or '.'}: read error: {got.strerror}"
            self._late_skips.append((anchor, seq, i, message))
            return None
        chunks, size = got
        return tuple([c.result() for c in chunks]), size

    def _open(self, full: bytes, rel: bytes) -> int | None:
        """A file opened for reading (without updating its atime when allowed); None if it cannot be."""
        try:
            return os.open(full, _OPEN_FLAGS)
        except PermissionError:
            try:
                return os.open(full, os.O_RDONLY | os.O_NOFOLLOW)  # O_NOATIME: the owner's only
            except OSError as e:
                self._skip(rel, f"cannot open: {e.strerror}")
        except OSError as e:
            self._skip(rel, f"cannot open: {e.strerror}")
        return None

    def _defer(self, full: bytes, rel: bytes, size: int) -> _ReadSlot:
        """Put a small file in the batch for a sealing thread to read (``_seal_batch``)."""
        batch = self._batch
        slot = _ReadSlot(batch, len(batch.paths), rel, len(self._result.skipped))  # type: ignore[union-attr]
        batch.paths.append(full)
        batch.sizes.append(size)
        batch.size += size
        if batch.size >= BATCH_BYTES or len(batch.raws) + len(batch.paths) >= BATCH_CHUNKS:
            self._flush_batch()
        return slot

    def _read_result(self, slot: _ReadSlot) -> tuple[tuple[bytes, ...], int] | None:
        """A deferred small file's chunk ids and size as read (waiting for its batch); None when it
        could not be read (the problem is reported, worded as when the walk reads it)."""
        got = slot.result()
        batch, i = slot.batch, slot.i
        res = self._result
        assert res is not None
        problem = slot.problem()
        if problem is None:
            res.read_files += 1
            if self.on_read is not None:
                self.on_read(batch.paths[i])
            return ((got,) if got else ()), batch.sizes[i]
        stage, err = problem
        if stage:  # opened, then a read failed
            res.read_files += 1
            if self.on_read is not None:
                self.on_read(batch.paths[i])
        why = f"{'read error' if stage else 'cannot open'}: {os.strerror(err)}"
        # 2 * i + 1: a file handed to the reading thread just before this one reports at 2 * i (``_far``)
        self._late_skips.append((slot.anchor, batch.seq, 2 * i + 1, f"{os.fsdecode(slot.rel) or '.'}: {why}"))
        return None


class _Done:
    """A chunk id already known: what a ``Future`` offers the walk, without its lock and condition
    (a real ``Future`` per small chunk was the top cost of a backup of small files)."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def result(self) -> bytes:
        return self.value

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False


class _Batch:
    """Small chunks sealed together by one thread, and small files it reads first (``paths``, with
    the compiled reader); ``future`` set once handed over. ``seq``: its place in the walk."""

    __slots__ = ("future", "ids", "paths", "raws", "read", "seq", "size", "sizes")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.raws: list[bytes] = []
        self.paths: list[bytes] = []
        self.sizes: list[int] = []  # lstat's, then (once read) the size read
        self.size = 0
        self.future: Future[list[bytes]] | None = None
        self.read: list[bytes | tuple[int, int]] | None = None  # per path: its id (b"": empty) or why not
        self.ids: list[bytes] | None = None  # set by the sealing thread when done (after ``read``)


class _Slot:
    """One small chunk of a batch: its id once the batch is sealed."""

    __slots__ = ("batch", "i")

    def __init__(self, batch: _Batch, i: int) -> None:
        self.batch = batch
        self.i = i

    def result(self) -> bytes:
        ids = self.batch.ids
        if ids is not None:
            return ids[self.i]
        f = self.batch.future
        assert f is not None, "the batch was handed over before anyone waits for it"
        return f.result()[self.i]  # waits, or raises what the sealing thread raised

    def done(self) -> bool:
        return self.batch.ids is not None

    def cancel(self) -> bool:
        return False


class _ReadSlot:
    """A small file a sealing thread reads (``_defer``): its chunk id (b"" when empty) once read, or
    (stage, errno) when it could not be. ``anchor``: how many problems the walk had reported when it
    met the file (its own, if any, goes after them: ``_in_walk_order``)."""

    __slots__ = ("anchor", "batch", "i", "rel")

    def __init__(self, batch: _Batch, i: int, rel: bytes, anchor: int) -> None:
        self.batch = batch
        self.i = i
        self.rel = rel
        self.anchor = anchor

    def result(self) -> bytes:
        """The chunk id; b"" when the file is empty or could not be read (``problem`` says which)."""
        if self.batch.ids is None:
            f = self.batch.future
            assert f is not None, "the batch was handed over before anyone waits for it"
            f.result()  # waits, or raises what the sealing thread raised
        got = self.batch.read[self.i]  # type: ignore[index]
        return got if type(got) is bytes else b""

    def problem(self) -> tuple[int, int] | None:
        """Once read: (stage, errno) when the file could not be read (stage 0: not opened)."""
        got = self.batch.read[self.i]  # type: ignore[index]
        return got if type(got) is tuple else None

    def done(self) -> bool:
        return self.batch.ids is not None

    def cancel(self) -> bool:
        return False


class _FarFile:
    """A file being read and cut on the reading thread: done once it is cut and every chunk sealed."""

    __slots__ = ("future", "rel", "where")

    def __init__(
        self,
        future: Future[tuple[list[Future[bytes]], int] | OSError],
        rel: bytes,
        where: tuple[int, int, int],
    ) -> None:
        self.future = future
        self.rel = rel
        self.where = where  # (anchor, batch, slot) for ``_late_skips``

    def done(self) -> bool:
        if not self.future.done():
            return False
        got = self.future.result()
        return isinstance(got, OSError) or all(c.done() for c in got[0])

    def cancel(self) -> bool:
        return self.future.cancel()

    def result(self) -> bytes:
        raise TypeError("a file cut on the reading thread has many chunk ids: _store asks _far_result")


class _LateTree:
    """A directory whose tree waits for chunk ids (its files') or tree ids (its subdirectories')."""

    __slots__ = ("base", "checked", "dirs", "id", "nodes", "pending")

    def __init__(
        self,
        nodes: list[Entry],
        pending: list[_PendingFile],
        dirs: list[_LateDir],
        base: tuple[bytes, bytearray] | None = None,
    ) -> None:
        self.nodes = nodes
        self.pending = pending
        self.dirs = dirs
        self.base = base  # ``_store``'s
        self.id: bytes | None = None
        self.checked = 0  # ``pending[:checked]`` are known done (a chunk once done stays done)

    def ready(self) -> bool:
        """Whether every id it needs is known (subdirectories are stored first: only files count).

        The walk asks the oldest waiting directory once per directory it lists: each time from the
        first file not found done before, not from the start (a directory of thousands of files was
        rescanned at every ask)."""
        pending = self.pending
        at = self.checked
        n = len(pending)
        while at < n:
            for c in pending[at].chunks:
                if not c.done():
                    self.checked = at
                    return False
            at += 1
        self.checked = at
        return True


class _LateDir:
    """A directory entry whose subtree waits: ``entry`` with the subtree id filled in once stored."""

    __slots__ = ("entry", "tree")

    def __init__(self, entry: Entry, tree: _LateTree) -> None:
        self.entry = entry
        self.tree = tree


class _ParentTree:
    """A scanned directory's parent tree: which of its entries the new tree keeps as stored
    (``kept``, one byte per entry: the scan marks the reused files, the walk the subdirectories),
    and the entries the walk looks at itself, decoded together on first use (a directory where
    nothing changed needs none, one with a changed file only those the scan left to the walk)."""

    __slots__ = ("_entries", "_special", "_splice", "kept", "plain", "tree_id")

    def __init__(self, tree_id: bytes, plain: bytes, scanned: Scanned, splice: Splice) -> None:
        self.tree_id = tree_id
        self.plain = plain
        self.kept = scanned.kept
        self._special = scanned.special
        self._splice = splice
        self._entries: dict[bytes, Entry] | None = None

    def keep(self, at: int) -> None:
        """The parent's entry ``at`` is taken as stored."""
        self.kept[at] = 1

    def get(self, name: bytes) -> Entry | None:
        entries = self._entries
        if entries is None:
            entries = self._entries = self._decoded()
        return entries.get(name)

    def _decoded(self) -> dict[bytes, Entry]:
        wanted = bytearray(len(self.kept))
        for _pos, _info, at in self._special:
            if at >= 0:
                wanted[at] = 1
        # the scan checked everything ``tree_map`` checks: it does not refuse these trees
        part = self._splice(self.plain, wanted, b"")
        return tree_map(self.plain if part is None else part, where=self.tree_id.hex()).entries


def _spliced(splice: Splice, base: tuple[bytes, bytearray], nodes: list[Entry]) -> bytes:
    """The tree of ``nodes`` and the entries of the parent tree ``base`` keeps: what ``encode_tree``
    gives for them all, without decoding the kept ones (``splice``; in Python if it declines)."""
    plain, kept = base
    got = splice(plain, kept, encode_tree(nodes) if nodes else b"")
    if got is not None:
        return got
    # in index order (a scanned tree's names are unique)
    olds = tree_map(plain, where="a parent tree").entries.values()
    return encode_tree([e for e, k in zip(olds, kept, strict=True) if k] + nodes)


_done = _Done
_Chunk = Future[bytes] | _Done | _Slot | _ReadSlot | _FarFile


def _in_walk_order(skipped: list[str], late: list[tuple[int, int, int, str]]) -> list[str]:
    """The walk's problems with those reported later (``late``: (anchor, batch, slot, message)) put
    where the walk met them: after the first ``anchor`` of ``skipped``, in the order of the batches."""
    out: list[str] = []
    at = 0
    for anchor, _batch, _slot, message in sorted(late):
        out += skipped[at:anchor]
        at = max(at, anchor)
        out.append(message)
    out += skipped[at:]
    return out


def _close_if_cancelled(future: Future[Any], fd: int) -> None:
    if future.cancelled():
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    """Everything in ``fd`` up to its end (``size``: what ``lstat`` said; the file may have changed)."""
    data = os.read(fd, size + 1)
    if not data:
        return data
    more = os.read(fd, 64 * 1024)
    if not more:
        return data
    parts = [data]
    while more:
        parts.append(more)
        more = os.read(fd, 1024 * 1024)
    return b"".join(parts)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "unknown type"
