"""The tree of a snapshot being written from paths, which stores and drops finished directories.

:class:`SealingTree` collects a cluster snapshot's entries by path (``resources/core/v1/...``,
``etcd/snapshot.db``), creating intermediate directories implicitly, but does not keep every entry
until the end: :meth:`SealingTree.seal` stores a directory's trees as soon as its writer says
it is done with it, and keeps only what a later addition there would need to reopen it (its
entries' compact form, zlib-compressed, written to an anonymous temporary file: ``TMPDIR``, deleted
when the tree is closed; memory keeps its offset); ``final=True`` drops even that (an addition there
is then refused). So a capture of 100k API objects holds the open directory of the list being read,
not every object since the start.

Entries added with :meth:`add_file` are kept as plain tuples until their directory is encoded
(a ``Node`` per file costs a few hundred bytes). The trees stored are the same as a whole-tree
encoding at the end gives: sealing changes when trees are stored, never their bytes.
"""

from __future__ import annotations

import marshal
import tempfile
import threading
import zlib
from collections.abc import Callable
from typing import IO

from drkit.errors import ConfigError
from drkit.repo.engine.vtree import DIR_MODE, join_path
from drkit.repo.format.tree import Node, NodeType

FileEntry = tuple[int, int, int, tuple[bytes, ...]]
"""A file added by path: (mode, mtime_ns, size, chunk ids)."""
StoreTree = Callable[[list[Node]], bytes]


class _Open:
    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[bytes, _Open | _Sealed | Node | FileEntry] = {}


class _Spill:
    """Bytes kept aside in an anonymous temporary file (opened at the first ``put``), read back by
    their place: what reopening sealed directories would need, which memory then does not hold."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0

    def put(self, data: bytes) -> tuple[int, int]:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="drkit-sealed-")  # noqa: SIM115 - closed in close()
        self._file.seek(self._end)
        self._file.write(data)
        place = (self._end, len(data))
        self._end += len(data)
        return place

    def get(self, place: tuple[int, int]) -> bytes:
        assert self._file is not None
        offset, length = place
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) != length:
            raise OSError(
                f"the temporary copy of a sealed directory is short ({len(data)} of {length} bytes)"
            )
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _Sealed:
    """A stored directory: its tree id and mtime, and (unless final) what reopening it needs."""

    __slots__ = ("files", "mtime_ns", "others", "subtree")

    def __init__(
        self,
        subtree: bytes,
        mtime_ns: int,
        files: tuple[int, int] | None,
        others: dict[bytes, _Sealed | Node] | None,
    ) -> None:
        self.subtree = subtree
        self.mtime_ns = mtime_ns
        # where zlib(marshal([(name, mode, mtime_ns, size, ids), ...])) lies in the spill; None when final
        self.files = files
        self.others = others  # sub-directories and whole nodes; None when final

    @property
    def final(self) -> bool:
        return self.others is None

    def reopen(self, spill: _Spill) -> _Open:
        assert self.files is not None
        assert self.others is not None
        d = _Open()
        # our own bytes, made by _seal in this process: never read from outside
        for name, mode, mtime_ns, size, ids in marshal.loads(zlib.decompress(spill.get(self.files))):  # noqa: S302
            d.children[name] = (mode, mtime_ns, size, ids)
        d.children.update(self.others)
        return d


def _file_node(name: bytes, entry: FileEntry) -> Node:
    mode, mtime_ns, size, ids = entry
    return Node(name, NodeType.FILE, mode, 0, 0, mtime_ns, size=size, content=ids)


class SealingTree:
    """Entries by path; thread-safe; :meth:`seal` stores a finished directory early, :meth:`encode`
    stores the rest and returns the root."""

    def __init__(self, default_mtime_ns: int, store_tree: StoreTree) -> None:
        self.default_mtime_ns = default_mtime_ns
        self._store_tree = store_tree
        self._root = _Open()
        self._spill = _Spill()
        self._lock = threading.Lock()
        # the directory found for the last addition, by its parts; forgotten when anything is sealed
        self._last: tuple[tuple[bytes, ...], _Open] | None = None
        self.dirs = 0
        self.sealed = 0
        self.reopened = 0

    # -- adding ------------------------------------------------------------------------------------

    def reserve(self, parts: tuple[bytes, ...]) -> None:
        """Fail early (``ConfigError``) if ``parts`` cannot be added: taken, under a non-directory, or
        under a directory sealed for good."""
        with self._lock:
            self._parent(parts, create=False)

    def add(self, parts: tuple[bytes, ...], node: Node) -> None:
        """Add ``node`` (named ``parts[-1]``) at ``parts``, creating missing parent directories."""
        assert node.name == parts[-1]
        self._put(parts, node)

    def add_file(self, parts: tuple[bytes, ...], entry: FileEntry) -> None:
        """Add a file by its compact form (mode, mtime_ns, size, chunk ids)."""
        self._put(parts, entry)

    def _put(self, parts: tuple[bytes, ...], value: Node | FileEntry) -> None:
        with self._lock:
            parent = self._parent(parts, create=True)
            assert parent is not None
            parent.children[parts[-1]] = value

    def _parent(self, parts: tuple[bytes, ...], *, create: bool) -> _Open | None:
        where = parts[:-1]
        last = self._last
        if last is not None and last[0] == where:
            d = last[1]  # the directory of the last addition (API objects come directory by directory)
        else:
            found = self._walk(parts, create=create)
            if found is None:
                return None  # the rest is free
            d = found
            self._last = (where, d)
        if parts[-1] in d.children:
            raise ConfigError(f"{join_path(parts)!r} was already added to this snapshot", field="path")
        return d

    def _walk(self, parts: tuple[bytes, ...], *, create: bool) -> _Open | None:
        d: _Open = self._root
        for i, name in enumerate(parts[:-1]):
            child = d.children.get(name)
            if child is None:
                if not create:
                    return None  # the rest is free
                child = _Open()
                d.children[name] = child
                self.dirs += 1
            elif isinstance(child, _Sealed):
                if child.final:
                    raise ConfigError(
                        f"cannot add {join_path(parts)!r}: {join_path(parts[: i + 1])!r} was sealed "
                        "(its writer said it was complete)",
                        field="path",
                    )
                # added to after all (an API list not in key order): still correct
                child = child.reopen(self._spill)
                d.children[name] = child
                self.reopened += 1
            elif not isinstance(child, _Open):
                kind = child.type.value if isinstance(child, Node) else "file"
                raise ConfigError(
                    f"cannot add {join_path(parts)!r}: {join_path(parts[: i + 1])!r} is a {kind}, "
                    "not a directory",
                    field="path",
                )
            d = child
        return d

    # -- storing -----------------------------------------------------------------------------------

    def seal(self, parts: tuple[bytes, ...], *, final: bool = False) -> bool:
        """Store the trees of the directory at ``parts`` now and drop its entries from memory.

        Without ``final`` a later addition below it reopens it (from a compressed copy of its
        entries: still correct, just slower); with ``final`` that copy is dropped too and an addition
        there raises ``ConfigError``. Returns False when there is no directory at ``parts``.
        """
        if not parts:
            raise ConfigError("the root is sealed by commit, not by seal()", field="path")
        with self._lock:
            self._last = None
            d: _Open | _Sealed | Node | FileEntry | None = self._root
            for name in parts[:-1]:
                if not isinstance(d, _Open):
                    return False
                d = d.children.get(name)
            if not isinstance(d, _Open):
                return False
            parent = d
            child = parent.children.get(parts[-1])
            if isinstance(child, _Open):
                parent.children[parts[-1]] = self._seal(child, keep=not final)
                return True
            if isinstance(child, _Sealed):
                if final and not child.final:
                    child.files = child.others = None
                return True
            return False

    def encode(self) -> tuple[bytes, int]:
        """Store every tree not stored yet (children first); return (root tree id, root mtime_ns).

        A directory's mtime is the newest of its entries' (so that unchanged contents give the same
        tree bytes), the default time for an empty one.
        """
        with self._lock:
            self._last = None
            root = self._seal(self._root, keep=False)
            self._spill.close()
            return root.subtree, root.mtime_ns

    def close(self) -> None:
        """Let go of the temporary file of sealed directories (after :meth:`encode`, or to give up)."""
        with self._lock:
            self._spill.close()

    def _seal(self, d: _Open, *, keep: bool) -> _Sealed:
        nodes: list[Node] = []
        files: list[tuple[bytes, int, int, int, tuple[bytes, ...]]] = []
        others: dict[bytes, _Sealed | Node] = {}
        for name, entry in d.children.items():
            child = self._seal(entry, keep=keep) if isinstance(entry, _Open) else entry
            if isinstance(child, _Sealed):
                nodes.append(Node(name, NodeType.DIR, DIR_MODE, 0, 0, child.mtime_ns, subtree=child.subtree))
                if keep:
                    others[name] = child
                elif not child.final:
                    child.files = child.others = None
            elif isinstance(child, Node):
                nodes.append(child)
                others[name] = child
            else:
                nodes.append(_file_node(name, child))
                if keep:
                    files.append((name, *child))
        mtime = max((n.mtime_ns for n in nodes), default=self.default_mtime_ns)
        subtree = self._store_tree(nodes)
        del nodes
        self.sealed += 1
        if not keep:
            return _Sealed(subtree, mtime, None, None)
        return _Sealed(subtree, mtime, self._spill.put(zlib.compress(marshal.dumps(files), 1)), others)
