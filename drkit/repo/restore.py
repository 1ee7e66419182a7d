"""Restoring a snapshot's file tree into a target directory.

Three passes: (1) walk the trees, create directories, symlinks and empty files of the right size,
and note where each chunk goes; (2) read each needed pack once (several in parallel), open its blobs
and write them at their offsets; (3) set owners (when root), modes and mtimes, directories deepest
first so that writing into them does not change their mtime afterwards.

Nothing is written outside the target: tree names are single safe components (checked when a tree
is decoded), unique within their directory, files are opened with ``O_NOFOLLOW`` and an existing
non-directory where a directory should be is refused.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold: os functions on purpose.
# ruff: noqa: PTH101, PTH102, PTH103, PTH108, PTH116, PTH118, PTH211

from __future__ import annotations

import os
import stat
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from drkit.errors import VerificationFailed
from drkit.repo.blobs import BlobType, open_blob
from drkit.repo.layout import pack_key
from drkit.repo.model import RestoreStats, RootMeta, Snapshot
from drkit.repo.pack import pack_sealer
from drkit.repo.packsource import PackSource
from drkit.repo.progress import Progress
from drkit.repo.tree import Node, NodeType, decode_tree


class RestoreError(VerificationFailed):
    """A restore could not place an entry (a hostile name or an unexpected object in the target)."""


@dataclass
class _Plan:
    dirs: list[tuple[bytes, RootMeta]] = field(default_factory=list)
    files: list[tuple[bytes, Node]] = field(default_factory=list)
    links: list[tuple[bytes, Node]] = field(default_factory=list)
    # pack id -> blob id -> [(path, offset)]
    placements: dict[str, dict[bytes, list[tuple[bytes, int]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    bytes: int = 0


def _meta(n: Node) -> RootMeta:
    return RootMeta(n.mode, n.uid, n.gid, n.mtime_ns)


class TreeRestore:
    def __init__(
        self, packs: PackSource, snapshot: Snapshot, *, workers: int = 4, progress: Progress | None = None
    ) -> None:
        self.packs = packs
        self.snapshot = snapshot
        self.workers = max(1, workers)
        self.progress = progress
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    def _tree(self, tree_id: bytes) -> list[Node]:
        where = f"{tree_id.hex()} (snapshot {self.snapshot.short_id})"
        try:
            raw = self.packs.blob(BlobType.TREE, tree_id)
        except VerificationFailed as e:
            raise VerificationFailed(f"{e.message}; affects snapshot {self.snapshot.id}") from None
        return decode_tree(raw, where=where)

    def run(self, target: Path, subpath: str = "") -> RestoreStats:
        started = time.monotonic()
        tgt = os.fsencode(target)
        parts = [p for p in subpath.split("/") if p]
        nodes = self._tree(self.snapshot.tree)
        root_meta: RootMeta | None = self.snapshot.root
        single: Node | None = None
        for i, part in enumerate(parts):
            name = os.fsencode(part)
            node = next((n for n in nodes if n.name == name), None)
            if node is None:
                raise RestoreError(f"{subpath!r} is not in snapshot {self.snapshot.short_id}")
            if node.type is NodeType.DIR and node.subtree is not None:
                nodes = self._tree(node.subtree)
                root_meta = _meta(node)
            elif i == len(parts) - 1:
                single = node
            else:
                raise RestoreError(
                    f"{subpath!r}: {part!r} is not a directory in snapshot {self.snapshot.short_id}"
                )
        os.makedirs(tgt, exist_ok=True)
        if not stat.S_ISDIR(os.stat(tgt).st_mode):
            raise RestoreError(f"restore target {target} is not a directory")
        plan = _Plan()
        stats = RestoreStats()
        if single is not None:
            self._place(plan, tgt, [single])
            root_meta = None
        else:
            self._place(plan, tgt, nodes)
        if self.progress is not None:
            self.progress.start("restore", plan.bytes)
        packs_read = self._write_data(plan)
        if self.progress is not None:
            self.progress.done()
        self._apply_metadata(plan, tgt, root_meta)
        return RestoreStats(
            files=len(plan.files),
            dirs=len(plan.dirs),
            symlinks=len(plan.links),
            bytes=plan.bytes,
            packs_read=packs_read,
            duration_s=time.monotonic() - started + stats.duration_s,
        )

    # -- pass 1 ------------------------------------------------------------------------------------

    def _place(self, plan: _Plan, parent: bytes, nodes: list[Node]) -> None:
        for n in nodes:
            path = os.path.join(parent, n.name)
            if n.type is NodeType.DIR:
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        raise RestoreError(
                            f"{os.fsdecode(path)} exists and is not a directory: refusing to restore into it"
                        ) from None
                plan.dirs.append((path, _meta(n)))
                assert n.subtree is not None
                self._place(plan, path, self._tree(n.subtree))
            elif n.type is NodeType.SYMLINK:
                self._remove_nondir(path)
                os.symlink(n.target or b"", path)
                plan.links.append((path, n))
            else:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    os.ftruncate(fd, n.size)
                finally:
                    os.close(fd)
                plan.files.append((path, n))
                offset = 0
                for chunk_id in n.content:
                    loc = self.packs.index.get((BlobType.DATA, chunk_id))
                    if loc is None:
                        raise VerificationFailed(
                            f"data blob {chunk_id.hex()} of {os.fsdecode(path)} is in no index; "
                            f"affects snapshot {self.snapshot.id}"
                        )
                    plan.placements[loc.pack_id][chunk_id].append((path, offset))
                    offset += loc.raw_length
                if offset != n.size:
                    raise VerificationFailed(
                        f"{os.fsdecode(path)}: chunks add up to {offset} bytes, the tree says {n.size}; "
                        f"affects snapshot {self.snapshot.id}"
                    )
                plan.bytes += n.size

    @staticmethod
    def _remove_nondir(path: bytes) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise RestoreError(f"{os.fsdecode(path)} exists and is a directory: refusing to replace it")
        os.unlink(path)

    # -- pass 2 ------------------------------------------------------------------------------------

    def _write_pack(self, pack_id: str, blobs: dict[bytes, list[tuple[bytes, int]]]) -> None:
        try:
            data = self.packs.fetch(pack_id)
        except VerificationFailed as e:
            raise VerificationFailed(f"{e.message}; affects snapshot {self.snapshot.id}") from None
        view = memoryview(data)
        sealer = pack_sealer(data, where=pack_key(pack_id))
        for chunk_id, targets in blobs.items():
            loc = self.packs.index.get((BlobType.DATA, chunk_id))
            assert loc is not None
            raw = open_blob(
                self.packs.keys,
                sealer,
                BlobType.DATA,
                chunk_id,
                view[loc.offset : loc.offset + loc.length],
                where=f"{pack_key(pack_id)} (snapshot {self.snapshot.id})",
            )
            for path, offset in targets:
                fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
                try:
                    os.pwrite(fd, raw, offset)
                finally:
                    os.close(fd)
                if self.progress is not None:
                    self.progress.advance(len(raw))

    def _write_data(self, plan: _Plan) -> int:
        if not plan.placements:
            return 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="drkit-restore") as pool:
            futures = [pool.submit(self._write_pack, p, b) for p, b in plan.placements.items()]
            for f in futures:
                f.result()
        return len(futures)

    # -- pass 3 ------------------------------------------------------------------------------------

    def _set(self, path: bytes, meta: RootMeta, *, link: bool = False) -> None:
        if self._as_root:
            os.lchown(path, meta.uid, meta.gid)
        if not link:
            os.chmod(path, meta.mode)
        os.utime(path, ns=(meta.mtime_ns, meta.mtime_ns), follow_symlinks=not link)

    def _apply_metadata(self, plan: _Plan, target: bytes, root: RootMeta | None) -> None:
        for path, node in plan.files:
            self._set(path, _meta(node))
        for path, node in plan.links:
            self._set(path, _meta(node), link=True)
        for path, meta in sorted(plan.dirs, key=lambda d: d[0].count(b"/"), reverse=True):
            self._set(path, meta)
        if root is not None:
            self._set(target, root)
