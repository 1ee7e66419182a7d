"""Reading a snapshot's files by path: list, read, stream, restore part of it.

Works on any snapshot (``path`` or ``cluster`` kind): paths are relative to its root tree,
``/``-separated (docs/format.md, "Cluster snapshots"). Trees are read (and cached) as they are
walked; file data is read chunk by chunk from verified packs, so :meth:`SnapshotReader.stream`
holds at most a couple of packs in memory whatever the file's size.
"""

from __future__ import annotations

import builtins
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from drkit.errors import VerificationFailed
from drkit.repo.engine.blobsource import BlobSource, PackedBlobSource
from drkit.repo.engine.progress import Progress
from drkit.repo.engine.restore import TreeRestore
from drkit.repo.engine.vtree import NoSuchPath, join_path, split_path
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.model import RestoreStats, Snapshot
from drkit.repo.format.splittree import read_tree
from drkit.repo.format.tree import Node, NodeType

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    """One entry of a snapshot: ``type`` is ``"file"``, ``"dir"`` or ``"symlink"``."""

    path: str
    type: NodeType
    size: int
    mode: int
    mtime: datetime
    target: str | None = None  # symlinks only
    mtime_ns: int = 0  # ``mtime`` to the nanosecond


def _time(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


class SnapshotReader:
    """Read access to one snapshot. Made by :meth:`Repository.snapshot_reader`."""

    def __init__(
        self, snapshot: Snapshot, *, trees: PackedBlobSource, data: BlobSource, workers: int = 4
    ) -> None:
        self.snapshot = snapshot
        self._trees = trees
        self._data = data
        self._workers = workers
        self._cache: dict[bytes, builtins.list[Node]] = {}

    @property
    def meta(self) -> dict[str, Any]:
        return self.snapshot.meta

    @property
    def kind(self) -> str:
        return self.snapshot.kind

    # -- queries -----------------------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Every entry under the directory ``prefix`` (recursively, depth first, sorted by name).

        ``prefix`` names a directory (a trailing ``/`` is optional; ``""`` is the root) or a file
        (then that one entry). A prefix that is not in the snapshot yields nothing.
        """
        parts = split_path(prefix, allow_root=True)
        node = self._lookup(parts)
        if node is None:
            return
        if node.type is not NodeType.DIR:
            yield self._entry(parts, node)
            return
        assert node.subtree is not None
        yield from self._walk(builtins.list(parts), node.subtree)

    def entry(self, path: str) -> Entry:
        """The entry at ``path``; ``NoSuchPath`` if there is none."""
        parts = split_path(path, allow_root=True)
        return self._entry(parts, self._need(parts, path))

    def exists(self, path: str) -> bool:
        return self._lookup(split_path(path, allow_root=True)) is not None

    def read_bytes(self, path: str) -> bytes:
        """The whole contents of the file ``path`` (use :meth:`stream` for large files)."""
        return b"".join(self.stream(path))

    def stream(self, path: str) -> Iterator[bytes]:
        """The contents of the file ``path``, chunk by chunk, each checked against its id."""
        parts = split_path(path)
        node = self._need(parts, path)
        if node.type is not NodeType.FILE:
            raise NoSuchPath(f"{path!r} is a {node.type.value}, not a file", field="path")
        return self._chunks(path, node)

    def _chunks(self, path: str, node: Node) -> Iterator[bytes]:
        size = 0
        for chunk_id in node.content:
            try:
                raw = self._data.blob(BlobType.DATA, chunk_id)
            except VerificationFailed as e:
                raise VerificationFailed(
                    f"{path}: {e.message}; affects snapshot {self.snapshot.id}", hint=e.hint
                ) from None
            size += len(raw)
            yield raw
        if size != node.size:
            raise VerificationFailed(
                f"{path}: chunks add up to {size} bytes, the tree says {node.size}; "
                f"affects snapshot {self.snapshot.id}"
            )

    def restore_to(
        self, path_prefix: str, target_dir: Path, *, progress: Progress | None = None
    ) -> RestoreStats:
        """Restore the directory ``path_prefix`` (its contents; ``""``: everything) or one file into
        ``target_dir``, as ``Repository.restore_path`` does."""
        parts = split_path(path_prefix, allow_root=True)
        self._need(parts, path_prefix)
        restorer = TreeRestore(self._trees, self.snapshot, workers=self._workers, progress=progress)
        return restorer.run(Path(target_dir), join_path(parts))

    # -- internals ---------------------------------------------------------------------------------

    def _tree(self, tree_id: bytes) -> builtins.list[Node]:
        nodes = self._cache.get(tree_id)
        if nodes is None:
            try:
                raw = self._trees.blob(BlobType.TREE, tree_id)
            except VerificationFailed as e:
                raise VerificationFailed(f"{e.message}; affects snapshot {self.snapshot.id}") from None
            nodes = read_tree(
                raw,
                where=f"{tree_id.hex()} (snapshot {self.snapshot.short_id})",
                part=functools.partial(self._trees.blob, BlobType.TREE),
            )
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[tree_id] = nodes
        return nodes

    def _root(self) -> Node:
        r = self.snapshot.root
        return Node(b"", NodeType.DIR, r.mode, r.uid, r.gid, r.mtime_ns, subtree=self.snapshot.tree)

    def _lookup(self, parts: tuple[bytes, ...]) -> Node | None:
        node = self._root()
        for name in parts:
            if node.type is not NodeType.DIR or node.subtree is None:
                return None
            node_or_none = next((n for n in self._tree(node.subtree) if n.name == name), None)
            if node_or_none is None:
                return None
            node = node_or_none
        return node

    def _need(self, parts: tuple[bytes, ...], path: str) -> Node:
        node = self._lookup(parts)
        if node is None:
            raise NoSuchPath(f"{path!r} is not in snapshot {self.snapshot.short_id}", field="path")
        return node

    def _entry(self, parts: tuple[bytes, ...] | builtins.list[bytes], n: Node) -> Entry:
        return Entry(
            path=join_path(parts),
            type=n.type,
            size=n.size if n.type is NodeType.FILE else 0,
            mode=n.mode,
            mtime=_time(n.mtime_ns),
            target=os.fsdecode(n.target) if n.type is NodeType.SYMLINK and n.target is not None else None,
            mtime_ns=n.mtime_ns,
        )

    def _walk(self, parts: builtins.list[bytes], tree_id: bytes) -> Iterator[Entry]:
        for n in self._tree(tree_id):
            child = [*parts, n.name]
            yield self._entry(child, n)
            if n.type is NodeType.DIR and n.subtree is not None:
                yield from self._walk(child, n.subtree)
