"""Restoring a snapshot's file tree into a target directory.

Four passes: (1) walk the trees, create directories and symlinks, create each regular file under a
temporary name (``.drkit-restore-<random>.tmp`` in its directory) at its full size, and note where
each chunk goes; (2) read each needed pack once (several in parallel), open its blobs and write them
at their offsets (all-zero chunks of sparse files are left as holes); (3) rename each file whose
every chunk was written to its name (replacing a file or symlink there atomically) and make the hard
links to it; (4) set owners (as root, or when asked), xattrs, modes and mtimes, directories deepest
first so that writing into them does not change their mtime afterwards. A file's own owner, xattrs,
mode and mtime are set in pass 2 already, on the descriptor its last chunk was written through
(before its rename: a file appears under its name whole); pass 4 sets them only for files pass 2
had nothing to write (empty files).

A restore that fails never leaves a file that looks restored: a file whose data could not be read
(a corrupt or missing pack) is removed under its temporary name, the rest of the tree is still
restored, and :class:`RestoreIncomplete` names every path that was not. Any other failure removes
the temporary files of the files not yet renamed. Only a crash (kill -9) can leave temporary files,
under names no snapshot uses; an existing file in their place was not touched.

The target itself must not be reached through a symlink (``restore /data`` where ``/data`` or a
directory above it is a link): the tree would be written outside the directory named. Such a target
is refused (``ConfigError``, with the resolved path as the hint); give the resolved path to restore
there.

Nothing is written outside the target: tree names are single safe components (checked when a tree
is decoded), unique within their directory; every directory is opened relative to its parent's fd
with ``O_DIRECTORY | O_NOFOLLOW`` and entries are created in it (``dir_fd``) with ``O_EXCL |
O_NOFOLLOW``, so a symlink (restored or found in the target) is never followed; later passes reopen
entries by path with ``O_NOFOLLOW`` and write only if the fd is the entry (device, inode) created in
pass 1, so a directory swapped for a link during the restore is not written through. Into an existing
directory, a restore replaces only regular files and symlinks (unlinked, then created afresh); an
existing directory is reused; anything else in the way (a non-directory where a directory belongs, a
directory, FIFO, socket or device where a file or link belongs) is refused with :class:`RestoreError`.
Files not in the snapshot are left alone.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold: os functions on purpose.
# ruff: noqa: PTH100, PTH103, PTH104, PTH108, PTH116, PTH118, PTH120

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.engine.blobsource import PackedBlobSource
from drkit.repo.engine.fsmeta import gid_of, is_zero, uid_of, write_xattrs
from drkit.repo.engine.progress import Progress
from drkit.repo.format.blobs import BlobType, open_blob
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import RestoreStats, RootMeta, Snapshot
from drkit.repo.format.pack import pack_sealer
from drkit.repo.format.splittree import read_tree
from drkit.repo.format.tree import Node, NodeType


class RestoreError(VerificationFailed):
    """A restore could not place an entry (a hostile name or an unexpected object in the target)."""


class RestoreIncomplete(VerificationFailed):
    """A restore finished, but the data of some files could not be read: they were not restored (no
    file was left in their place). ``not_restored`` lists their paths; ``stats`` counts what was."""

    def __init__(self, message: str, *, not_restored: list[str], stats: RestoreStats) -> None:
        super().__init__(
            message,
            hint="`drkit verify --read-data` names the damaged packs; restore these "
            "paths from another snapshot",
        )
        self.not_restored = not_restored
        self.stats = stats


_Ident = tuple[int, int]
"""(st_dev, st_ino) of an entry the restore created: later passes reopen it by path and check it."""


@dataclass(eq=False)
class _File:
    path: bytes  # where it belongs
    temp: bytes  # where it is written until every chunk is there
    node: Node
    ident: _Ident
    renamed: bool = False
    pending: int = 0  # chunk placements pass 2 has not written (or left as a hole) yet
    finished: bool = False  # owner, xattrs, mode and mtime set by pass 2


@dataclass
class _Plan:
    dirs: list[tuple[bytes, Node, _Ident]] = field(default_factory=list)
    files: list[_File] = field(default_factory=list)
    links: list[tuple[bytes, Node]] = field(default_factory=list)
    hardlinks: list[tuple[bytes, tuple[int, int]]] = field(default_factory=list)  # (path, link group)
    first_link: dict[tuple[int, int], _File] = field(default_factory=dict)
    # pack id -> blob id -> [(file, offset)]
    placements: dict[str, dict[bytes, list[tuple[_File, int]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    bytes: int = 0
    target: _Ident | None = None  # the target directory opened in pass 1: pass 4 sets its metadata only


_TEMP_PREFIX = b".drkit-restore-"
_TEMP_SUFFIX = b".tmp"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_XATTRS_AS_USER = ("user.", "system.posix_acl_")
"""Extended attribute namespaces a restore not running as root attempts; others need privileges."""


class TreeRestore:
    """One restore.

    Pass 2 runs ``fetchers`` threads (default and at least ``workers``), each fetching one pack at a
    time; at most ``workers`` of them open and write blobs at once, so that more packs can be in flight
    from a slow store than there are CPUs to write them.
    ``owners``: set owners (``chown``) or not; ``None`` (default) sets them when running as root.
    Owners are the numeric ids recorded; ``owners_by_name=True`` maps the recorded user and group
    names to this system's ids where they exist. Problems that do not stop the restore (an xattr or
    owner that could not be set) are collected in :attr:`warnings`.
    """

    def __init__(
        self,
        packs: PackedBlobSource,
        snapshot: Snapshot,
        *,
        workers: int = 4,
        fetchers: int | None = None,
        progress: Progress | None = None,
        owners: bool | None = None,
        owners_by_name: bool = False,
    ) -> None:
        self.packs = packs
        self.snapshot = snapshot
        self.workers = max(1, workers)
        self.fetchers = max(self.workers, fetchers or 0)
        # At most ``workers`` threads open and write blobs at once; the others are fetching.
        self._writing = threading.BoundedSemaphore(self.workers)
        self.progress = progress
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.owners = self._as_root if owners is None else owners
        self.owners_by_name = owners_by_name
        self.warnings: list[str] = []
        self._xattrs_skipped = 0
        self._lock = threading.Lock()  # pass 2's threads: files' pending counts, the skipped xattrs

    def _tree(self, tree_id: bytes) -> list[Node]:
        where = f"{tree_id.hex()} (snapshot {self.snapshot.short_id})"
        try:
            raw = self.packs.blob(BlobType.TREE, tree_id)
        except VerificationFailed as e:
            raise VerificationFailed(f"{e.message}; affects snapshot {self.snapshot.id}") from None
        return read_tree(raw, where=where, part=functools.partial(self.packs.blob, BlobType.TREE))

    def _start(self, subpath: str) -> tuple[list[Node], Node | None, Node | None]:
        """The nodes to restore for ``subpath``: a directory's entries and its metadata, or one entry."""
        parts = [p for p in subpath.split("/") if p]
        nodes = self._tree(self.snapshot.tree)
        root_meta: Node | None = _root_node(self.snapshot.root)
        single: Node | None = None
        for i, part in enumerate(parts):
            name = os.fsencode(part)
            node = next((n for n in nodes if n.name == name), None)
            if node is None:
                raise RestoreError(f"{subpath!r} is not in snapshot {self.snapshot.short_id}")
            if node.type is NodeType.DIR and node.subtree is not None:
                nodes = self._tree(node.subtree)
                root_meta = node
            elif i == len(parts) - 1:
                single = node
            else:
                raise RestoreError(
                    f"{subpath!r}: {part!r} is not a directory in snapshot {self.snapshot.short_id}"
                )
        return nodes, root_meta, single

    def run(self, target: Path, subpath: str = "") -> RestoreStats:
        started = time.monotonic()
        tgt = os.fsencode(target)
        _refuse_symlinked_target(target)
        nodes, root_meta, single = self._start(subpath)
        _make_target(target)
        if not stat.S_ISDIR(os.stat(tgt, follow_symlinks=False).st_mode):
            raise RestoreError(f"restore target {target} is not a directory")
        plan = _Plan()
        try:
            root_fd = os.open(tgt, _DIR_FLAGS)
            try:
                plan.target = _ident(root_fd)
                if single is not None:
                    self._place(plan, root_fd, tgt, [single])
                    root_meta = None
                else:
                    self._place(plan, root_fd, tgt, nodes)
            finally:
                os.close(root_fd)
            if self.progress is not None:
                self.progress.start("restore", plan.bytes)
            packs_read, failed, errors = self._write_data(plan)
            if self.progress is not None:
                self.progress.done()
            not_restored = self._finish_files(plan, failed)
        except BaseException:
            _remove_temps(plan)
            raise
        self._apply_metadata(plan, tgt, root_meta)
        if self._xattrs_skipped:
            self.warnings.append(
                f"{self._xattrs_skipped} extended attributes outside user.* not restored "
                "(not running as root)"
            )
        stats = RestoreStats(
            files=sum(1 for f in plan.files if f.renamed) + len(plan.hardlinks) - not_restored.links,
            dirs=len(plan.dirs),
            symlinks=len(plan.links),
            bytes=sum(f.node.size for f in plan.files if f.renamed),
            packs_read=packs_read,
            duration_s=time.monotonic() - started,
        )
        if not_restored.paths:
            paths = not_restored.paths
            shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
            raise RestoreIncomplete(
                f"{len(paths)} files not restored, since their data could not be read (nothing was left in "
                f"their place): {shown}; first error: {errors[0]}",
                not_restored=paths,
                stats=stats,
            )
        return stats

    # -- pass 1 ------------------------------------------------------------------------------------

    def _place(
        self, plan: _Plan, dir_fd: int, parent: bytes, nodes: list[Node], *, fresh: bool = False
    ) -> None:
        """Create ``nodes`` in the directory ``dir_fd``; ``fresh``: this restore has just made it (empty,
        and writable only by this user), so nothing needs to be looked for in the way."""
        for n in nodes:
            path = os.path.join(parent, n.name)
            if n.type is NodeType.DIR:
                self._place_dir(plan, dir_fd, path, n)
            elif n.type is NodeType.SYMLINK:
                if not fresh:
                    self._clear(dir_fd, n.name, path)
                os.symlink(n.target or b"", n.name, dir_fd=dir_fd)
                plan.links.append((path, n))
            else:
                self._place_file(plan, dir_fd, path, n, fresh=fresh)

    def _place_dir(self, plan: _Plan, dir_fd: int, path: bytes, n: Node) -> None:
        fresh = True
        try:
            os.mkdir(n.name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            fresh = False
        try:
            fd = os.open(n.name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RestoreError(
                    f"{os.fsdecode(path)} exists and is not a directory: refusing to restore into it"
                ) from None
            raise
        try:
            assert n.subtree is not None
            plan.dirs.append((path, n, _ident(fd)))
            self._place(plan, fd, path, self._tree(n.subtree), fresh=fresh)
        finally:
            os.close(fd)

    def _place_file(self, plan: _Plan, dir_fd: int, path: bytes, n: Node, *, fresh: bool) -> None:
        group = n.link_group
        if not fresh:
            self._clear(dir_fd, n.name, path, keep=True)  # replaced by the rename in pass 3
        if group is not None and group in plan.first_link:
            plan.hardlinks.append((path, group))
            return
        temp_name = _TEMP_PREFIX + os.urandom(8).hex().encode() + _TEMP_SUFFIX
        fd = os.open(temp_name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            ident = _ident(fd)
            entry = _File(path, os.path.join(os.path.dirname(path), temp_name), n, ident)
            plan.files.append(entry)  # from here on, removed if the restore fails
            os.ftruncate(fd, n.size)
        finally:
            os.close(fd)
        if group is not None:
            plan.first_link[group] = entry
        offset = 0
        for chunk_id in n.content:
            loc = self.packs.locate((BlobType.DATA, chunk_id))
            if loc is None:
                raise VerificationFailed(
                    f"data blob {chunk_id.hex()} of {os.fsdecode(path)} is in no index; "
                    f"affects snapshot {self.snapshot.id}"
                )
            plan.placements[loc.pack_id][chunk_id].append((entry, offset))
            offset += loc.raw_length
        entry.pending = len(n.content)
        if offset != n.size:
            raise VerificationFailed(
                f"{os.fsdecode(path)}: chunks add up to {offset} bytes, the tree says {n.size}; "
                f"affects snapshot {self.snapshot.id}"
            )
        plan.bytes += n.size

    @staticmethod
    def _clear(dir_fd: int, name: bytes, path: bytes, *, keep: bool = False) -> None:
        """Make room for a file or symlink: remove a regular file or symlink there (or, with ``keep``,
        leave it for a rename to replace), refuse anything else."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            if not keep:
                os.unlink(name, dir_fd=dir_fd)
            return
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a special file"
        raise RestoreError(f"{os.fsdecode(path)} exists and is {kind}: refusing to replace it")

    # -- pass 2 ------------------------------------------------------------------------------------

    def _write_pack(
        self, pack_id: str, blobs: dict[bytes, list[tuple[_File, int]]]
    ) -> tuple[set[bytes], list[str]]:
        """Write the blobs of one pack; return the chunks that could not be read, and why."""
        try:
            data = self.packs.fetch(pack_id)
            sealer = pack_sealer(data, where=pack_key(pack_id))
        except VerificationFailed as e:
            return set(blobs), [f"{e.message}; affects snapshot {self.snapshot.id}"]
        with self._writing:
            return self._write_blobs(pack_id, data, sealer, blobs)

    def _write_blobs(
        self, pack_id: str, data: bytes, sealer: bytes, blobs: dict[bytes, list[tuple[_File, int]]]
    ) -> tuple[set[bytes], list[str]]:
        view = memoryview(data)
        failed: set[bytes] = set()
        errors: list[str] = []
        for chunk_id, targets in blobs.items():
            loc = self.packs.locate((BlobType.DATA, chunk_id))
            assert loc is not None
            try:
                raw = open_blob(
                    self.packs.keys,
                    sealer,
                    BlobType.DATA,
                    chunk_id,
                    view[loc.offset : loc.offset + loc.length],
                    where=f"{pack_key(pack_id)} (snapshot {self.snapshot.id})",
                )
            except VerificationFailed as e:
                failed.add(chunk_id)
                errors.append(e.message)
                continue
            zero: bool | None = None
            for entry, offset in targets:
                if entry.node.sparse:
                    if zero is None:
                        zero = is_zero(raw)
                    if zero:  # the file was created at its full size: this range stays a hole
                        self._place_chunk(entry, None, offset)
                        continue
                self._place_chunk(entry, raw, offset)
            if self.progress is not None:
                self.progress.advance(len(raw) * len(targets))
        return failed, errors

    def _place_chunk(self, entry: _File, raw: bytes | None, offset: int) -> None:
        """Write ``raw`` (None: a hole, nothing to write) at ``offset`` of ``entry``'s temporary file;
        after its last chunk, set the file's owner, xattrs, mode and mtime through the same descriptor."""
        fd = -1
        try:
            if raw is not None:
                fd = _open_temp(entry)
                os.pwrite(fd, raw, offset)
            with self._lock:
                entry.pending -= 1
                last = entry.pending == 0
            if last:  # every chunk is in: the file's own metadata, before its rename
                if fd < 0:
                    fd = _open_temp(entry)
                self._set_meta(fd, entry.path, entry.node)
                entry.finished = True
        finally:
            if fd >= 0:
                os.close(fd)

    def _write_data(self, plan: _Plan) -> tuple[int, set[_Ident], list[str]]:
        """Pass 2. The packs read, the files (by identity) some chunk of which could not be read, and why."""
        if not plan.placements:
            return 0, set(), []
        failed: set[_Ident] = set()
        errors: list[str] = []
        with ThreadPoolExecutor(self.fetchers, thread_name_prefix="drkit-restore") as pool:
            futures = {pool.submit(self._write_pack, p, b): b for p, b in plan.placements.items()}
            for future, blobs in futures.items():
                chunks, why = future.result()
                errors += why
                for chunk_id in chunks:
                    failed.update(entry.ident for entry, _offset in blobs[chunk_id])
        return len(futures), failed, errors

    # -- pass 3 ------------------------------------------------------------------------------------

    def _finish_files(self, plan: _Plan, failed: set[_Ident]) -> _NotRestored:
        """Rename each complete file to its name and make its hard links; remove the incomplete ones."""
        result = _NotRestored()
        for entry in plan.files:
            if entry.ident in failed:
                _remove_temp(entry)
                result.paths.append(os.fsdecode(entry.path))
                continue
            _check_path(entry.temp, entry.ident)
            os.rename(entry.temp, entry.path)
            entry.renamed = True
        for path, group in plan.hardlinks:
            first = plan.first_link[group]
            if not first.renamed:
                result.paths.append(os.fsdecode(path))
                result.links += 1
                continue
            temp = os.path.join(
                os.path.dirname(path), _TEMP_PREFIX + os.urandom(8).hex().encode() + _TEMP_SUFFIX
            )
            _check_path(first.path, first.ident)
            os.link(first.path, temp, follow_symlinks=False)
            try:
                os.rename(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        return result

    # -- pass 4 ------------------------------------------------------------------------------------

    def _owner(self, n: Node) -> tuple[int, int]:
        if not self.owners_by_name:
            return n.uid, n.gid
        uid = uid_of(n.user) if n.user is not None else None
        gid = gid_of(n.group) if n.group is not None else None
        return (n.uid if uid is None else uid), (n.gid if gid is None else gid)

    def _xattrs(self, target: bytes | int, path: bytes, n: Node) -> None:
        attrs = n.xattrs
        if not attrs:
            return
        if not self._as_root:
            allowed = tuple(a for a in attrs if a[0].startswith(_XATTRS_AS_USER))
            with self._lock:
                self._xattrs_skipped += len(attrs) - len(allowed)
            attrs = allowed
        for problem in write_xattrs(target, attrs):
            self.warnings.append(f"{os.fsdecode(path)}: {problem}")

    def _set_fd(self, path: bytes, n: Node, flags: int, ident: _Ident | None) -> None:
        """Owner, xattrs, mode and mtime of a file or directory, through an fd opened without following."""
        fd = os.open(path, flags)
        try:
            if ident is not None:
                _check_ident(fd, ident, path)
            self._set_meta(fd, path, n)
        finally:
            os.close(fd)

    def _set_meta(self, fd: int, path: bytes, n: Node) -> None:
        """Owner, xattrs, mode and mtime through ``fd`` (``path`` names it in warnings)."""
        if self.owners:
            try:
                os.fchown(fd, *self._owner(n))
            except OSError as e:
                self.warnings.append(f"{os.fsdecode(path)}: cannot set owner: {e.strerror}")
        self._xattrs(fd, path, n)
        os.fchmod(fd, n.mode)
        os.utime(fd, ns=(n.mtime_ns, n.mtime_ns))

    def _set_link(self, path: bytes, n: Node) -> None:
        if self.owners:
            try:
                os.lchown(path, *self._owner(n))
            except OSError as e:
                self.warnings.append(f"{os.fsdecode(path)}: cannot set owner: {e.strerror}")
        self._xattrs(path, path, n)
        os.utime(path, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)

    def _apply_metadata(self, plan: _Plan, target: bytes, root: Node | None) -> None:
        file_flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        for entry in plan.files:
            if entry.renamed and not entry.finished:
                self._set_fd(entry.path, entry.node, file_flags, entry.ident)
        for path, node in plan.links:
            self._set_link(path, node)
        for path, node, ident in sorted(plan.dirs, key=lambda d: d[0].count(b"/"), reverse=True):
            self._set_fd(path, node, _DIR_FLAGS, ident)
        if root is not None:
            try:
                self._set_fd(target, root, _DIR_FLAGS, plan.target)
            except PermissionError as e:
                # The target existed before (a volume's mount point, owned by root): a non-root
                # restore may fill it but not change its mode or times. Everything inside is set.
                self.warnings.append(f"{os.fsdecode(target)}: cannot set its mode and times: {e.strerror}")


@dataclass
class _NotRestored:
    paths: list[str] = field(default_factory=list)
    links: int = 0  # how many of ``paths`` are hard links


def _make_target(target: Path) -> None:
    """Create the target directory (and its parents). A file where it, or a directory above it, should
    be is the caller's mistake: a ``ConfigError`` naming that file, with nothing written."""
    try:
        os.makedirs(os.fsencode(target), exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (target, *target.parents) if os.path.lexists(p) and not p.is_dir()), target
        )
        where = "it" if blocker == target else str(blocker)
        raise ConfigError(
            f"restore target {target} is not a directory: {where} is a file",
            field="target",
            hint="give a directory, or a path that does not exist yet",
        ) from None


def _refuse_symlinked_target(target: Path) -> None:
    """Refuse a target reached through a symlink (itself or a directory above it): writing there
    would put the tree outside the directory named. The resolved path is accepted."""
    named = os.path.abspath(target)
    resolved = os.path.realpath(target)
    if named != resolved:
        raise ConfigError(
            f"restore target {target} leads through a symlink (it resolves to {resolved}): refusing to "
            "restore outside the directory named",
            field="target",
            hint=f"if {resolved} is where the files belong, give that path",
        )


def _check_path(path: bytes, ident: _Ident) -> None:
    """Refuse to rename or link ``path`` unless it is (not following a link) the entry made as ``ident``."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        raise _replaced(path) from None
    if (st.st_dev, st.st_ino) != ident:
        raise _replaced(path)


def _replaced(path: bytes) -> RestoreError:
    return RestoreError(
        f"{os.fsdecode(path)} is no longer the entry this restore created (replaced during the "
        "restore?): refusing to write through it"
    )


def _open_temp(entry: _File) -> int:
    """``entry``'s temporary file opened for writing, if it is still the file pass 1 created there."""
    try:
        fd = os.open(entry.temp, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise _replaced(entry.temp) from None
    try:
        _check_ident(fd, entry.ident, entry.temp)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_temp(entry: _File) -> None:
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(entry.temp, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == entry.ident:
            os.unlink(entry.temp)


def _remove_temps(plan: _Plan) -> None:
    """After a failure: remove the temporary files of every file not yet renamed (best effort)."""
    for entry in plan.files:
        if not entry.renamed:
            with contextlib.suppress(OSError):
                _remove_temp(entry)


def _root_node(root: RootMeta) -> Node:
    return Node(b"", NodeType.DIR, root.mode, root.uid, root.gid, root.mtime_ns)


def _ident(fd: int) -> _Ident:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _check_ident(fd: int, ident: _Ident, path: bytes) -> None:
    """Refuse to touch what ``path`` leads to now unless it is the entry this restore created there."""
    if _ident(fd) != ident:
        raise _replaced(path)
