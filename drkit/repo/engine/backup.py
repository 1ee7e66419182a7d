"""Backing up a file tree: walk, chunk, hand chunks to worker threads, build one tree per directory.

The walk (main thread) reads and chunks files; chunks go to a thread pool that hashes, compresses
and seals them (``BlobWriter.add``) with a bounded number in flight, so memory stays bounded. A
directory's tree is built once the chunks of its files have ids, depth first, so every tree blob is
written after its subtrees and chunks.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold: os functions on purpose.
# ruff: noqa: PTH115, PTH116

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drkit.errors import DrkitError
from drkit.repo.engine.fsmeta import Xattrs, group_name, looks_sparse, read_xattrs, user_name
from drkit.repo.engine.progress import Progress
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import BlobWriter
from drkit.repo.format.chunker import Chunker, ChunkerParams
from drkit.repo.format.index import BlobKey
from drkit.repo.format.model import RootMeta
from drkit.repo.format.tree import Node, NodeType, encode_tree

INLINE_BELOW = 256 * 1024
"""Chunks smaller than this are sealed on the walking thread, larger ones in the worker pool."""

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
    load: Callable[[bytes], list[Node]]
    changed_before_ns: int
    strict_device: bool = False


class _PendingFile:
    """A file entry whose chunks may still be in flight: its node is made once they have ids."""

    __slots__ = ("chunks", "counted", "name", "size", "sparse", "st", "xattrs")

    def __init__(
        self,
        chunks: list[_Chunk],
        size: int,
        *,
        name: bytes,
        st: os.stat_result,
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

    def node(self, ids: tuple[bytes, ...]) -> Node:
        """The file's tree entry (owner, mode and times from its ``lstat``) with its chunk ids."""
        st = self.st
        uid, gid, nlink = st.st_uid, st.st_gid, st.st_nlink
        return Node(
            name=self.name,
            type=NodeType.FILE,
            mode=st.st_mode & 0o7777,
            uid=uid,
            gid=gid,
            mtime_ns=st.st_mtime_ns,
            size=self.size,
            content=ids,
            user=user_name(uid),
            group=group_name(gid),
            xattrs=self.xattrs,
            inode=st.st_ino,
            device=st.st_dev,
            links=nlink if nlink > 1 else 0,
            sparse=self.sparse,
        )


class TreeBackup:
    """One backup walk. Not reusable.

    ``xattrs=False`` skips reading extended attributes (one syscall per entry saved). ``on_read`` is
    called with the path of every file whose content is read (a hook for tests and progress).
    """

    def __init__(
        self,
        writer: BlobWriter,
        params: ChunkerParams,
        *,
        workers: int,
        progress: Progress | None = None,
        xattrs: bool = True,
        on_read: Callable[[bytes], None] | None = None,
    ) -> None:
        self.writer = writer
        self.params = params
        self.chunker = Chunker(params)
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

    def run(self, source: Path, parent: ParentTrees | None = None) -> WalkResult:
        """Back up ``source``. With ``parent``, files unchanged since the parent snapshot are not read."""
        self._parent = parent
        st = os.stat(source)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(f"{source} is not a directory")
        root = RootMeta(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
        self._result = WalkResult(tree=b"", root=root)
        try:
            tree = self._dir(os.fsencode(source), b"", parent.tree if parent is not None else None)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._inodes.clear()
        self._result.tree = tree
        return self._result

    # -- internals ---------------------------------------------------------------------------------

    def _submit(self, raw: bytes) -> _Chunk:
        if len(raw) < INLINE_BELOW:
            # Small chunks cost more to hand to a thread (GIL hand-offs) than to seal right here.
            return _done(self.writer.add(BlobType.DATA, raw))
        self._window.acquire()
        try:
            fut = self._pool.submit(self.writer.add, BlobType.DATA, raw)
        except BaseException:
            self._window.release()
            raise
        fut.add_done_callback(lambda _f: self._window.release())
        return fut

    def _skip(self, rel: bytes, why: str) -> None:
        assert self._result is not None
        self._result.skipped.append(f"{os.fsdecode(rel) or '.'}: {why}")

    def _parent_nodes(self, tree_id: bytes | None) -> dict[bytes, Node]:
        if tree_id is None or self._parent is None:
            return {}
        try:
            return {n.name: n for n in self._parent.load(tree_id)}
        except DrkitError:
            return {}  # an unreadable parent tree only costs speed: the files are read again

    def _unchanged(self, old: Node | None, st: os.stat_result) -> tuple[bytes, ...] | None:
        """The parent's chunk ids for a file that cannot have changed since the parent backup."""
        p = self._parent
        if (
            p is None
            or old is None
            or old.type is not NodeType.FILE
            or old.size != st.st_size
            or old.mtime_ns != st.st_mtime_ns
            or st.st_ctime_ns >= p.changed_before_ns
        ):
            return None
        if old.inode and (old.inode != st.st_ino or not self._same_device(old.device, st.st_dev)):
            return None
        if not all((BlobType.DATA, c) in self.writer.index for c in old.content):
            return None
        return old.content

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
        return True

    def _dir(self, path: bytes, rel: bytes, parent_tree: bytes | None = None) -> bytes:
        res = self._result
        assert res is not None
        old_nodes = self._parent_nodes(parent_tree)
        try:
            with os.scandir(path) as it:
                names = sorted(e.name for e in it)
        except OSError as e:
            self._skip(rel, f"cannot list directory: {e.strerror}")
            names = []
        nodes: list[Node] = []
        pending: list[_PendingFile] = []
        prefix = path if path.endswith(b"/") else path + b"/"
        for name in names:
            entry = self._entry(prefix, rel, name, old_nodes.get(name))
            if isinstance(entry, _PendingFile):
                pending.append(entry)
            elif entry is not None:
                nodes.append(entry)
        referenced = res.referenced
        for pf in pending:
            ids = tuple([c.result() for c in pf.chunks])
            for i in ids:
                referenced.add((BlobType.DATA, i))
            if pf.counted:
                res.bytes += pf.size
            nodes.append(pf.node(ids))
        res.files += len(pending)
        tree_id = self.writer.add(BlobType.TREE, encode_tree(nodes))
        res.referenced.add((BlobType.TREE, tree_id))
        return tree_id

    def _xattrs(self, full: bytes, rel: bytes) -> Xattrs:
        """An entry's extended attributes (none when not asked for); a problem reading them is noted."""
        if not self.xattrs:
            return ()
        xattrs, problem = read_xattrs(full)
        if problem is not None:
            self._skip(rel, f"{problem} (entry kept without them)")
        return xattrs

    def _node(
        self, full: bytes, rel: bytes, name: bytes, kind: NodeType, st: os.stat_result
    ) -> dict[str, Any]:
        """An entry's fields but its content: type, mode, owner (ids and names), mtime, xattrs."""
        return {
            "name": name,
            "type": kind,
            "mode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid,
            "gid": st.st_gid,
            "mtime_ns": st.st_mtime_ns,
            "user": user_name(st.st_uid),
            "group": group_name(st.st_gid),
            "xattrs": self._xattrs(full, rel),
        }

    def _entry(self, prefix: bytes, rel: bytes, name: bytes, old: Node | None) -> Node | _PendingFile | None:
        """One directory entry (``prefix``: its directory's path ending in a separator): a finished
        node, a file whose chunks are in flight, or nothing."""
        res = self._result
        assert res is not None
        full = prefix + name  # os.path.join, spelled out: two per entry showed in profiles
        child_rel = rel + b"/" + name if rel else name
        try:
            st = os.lstat(full)
        except OSError as e:
            self._skip(child_rel, f"cannot stat: {e.strerror}")
            return None
        mode = st.st_mode
        if stat.S_ISREG(mode):
            return self._regular(full, child_rel, name, st, old)
        if stat.S_ISDIR(mode):
            node = self._node(full, child_rel, name, NodeType.DIR, st)
            old_sub = old.subtree if old is not None and old.type is NodeType.DIR else None
            subtree = self._dir(full, child_rel, old_sub)
            res.dirs += 1
            return Node(**node, subtree=subtree)
        if stat.S_ISLNK(mode):
            return self._link(full, child_rel, name, st)
        self._skip(child_rel, f"special file skipped ({_kind(mode)})")
        return None

    def _regular(
        self, full: bytes, rel: bytes, name: bytes, st: os.stat_result, old: Node | None
    ) -> _PendingFile | None:
        res = self._result
        assert res is not None
        xattrs = self._xattrs(full, rel)
        sparse = looks_sparse(st)
        linked = st.st_nlink > 1
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
        reused = None if old is None else self._unchanged(old, st)
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

    def _link(self, full: bytes, rel: bytes, name: bytes, st: os.stat_result) -> Node | None:
        assert self._result is not None
        try:
            target = os.readlink(full)
        except OSError as e:
            self._skip(rel, f"cannot read link: {e.strerror}")
            return None
        self._result.symlinks += 1
        return Node(**self._node(full, rel, name, NodeType.SYMLINK, st), target=target)

    def _file(self, full: bytes, rel: bytes, st: os.stat_result) -> tuple[list[_Chunk], int] | None:
        """Read a file's content: its chunks (in flight or done) and its size; None if it cannot be."""
        try:
            fd = os.open(full, _OPEN_FLAGS)
        except PermissionError:
            try:
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as e:
                self._skip(rel, f"cannot open: {e.strerror}")
                return None
        except OSError as e:
            self._skip(rel, f"cannot open: {e.strerror}")
            return None
        assert self._result is not None
        self._result.read_files += 1
        if self.on_read is not None:
            self.on_read(full)
        if st.st_size <= self.params.min_size:
            # One chunk, whatever the file holds by now: read on the fd, no file object around it.
            try:
                data = _read_all(fd, st.st_size)
            except OSError as e:
                self._skip(rel, f"read error: {e.strerror}")
                return None
            finally:
                os.close(fd)
            if self.progress is not None:
                self.progress.advance(len(data))
            return ([self._submit(data)] if data else []), len(data)
        chunks: list[_Chunk] = []
        size = 0
        try:
            with os.fdopen(fd, "rb", buffering=0) as f:
                for p in self.chunker.chunks(f):
                    chunks.append(self._submit(p))
                    size += len(p)
                    if self.progress is not None:
                        self.progress.advance(len(p))
        except OSError as e:
            for c in chunks:
                c.cancel()
            self._skip(rel, f"read error: {e.strerror}")
            return None
        return chunks, size


class _Done:
    """A chunk id already known: what a ``Future`` offers the walk, without its lock and condition.

    Most chunks of a tree of small files are sealed inline; a real ``Future`` per chunk was the top
    cost of such a backup (a ``threading.Condition`` each).
    """

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def result(self) -> bytes:
        return self.value

    def cancel(self) -> bool:
        return False


_done = _Done
_Chunk = Future[bytes] | _Done


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
