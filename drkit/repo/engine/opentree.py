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
(a ``Node`` per file costs a few hundred bytes), and encoded from ``Entry`` tuples (the compiled
encoder's input; ``Node`` objects sent every tree through the Python encoder). The trees stored are
the same as a whole-tree encoding at the end gives: sealing changes when trees are stored, never
their bytes.

A directory of more than ``SPLIT_ABOVE`` entries is stored split (:mod:`drkit.repo.format.splittree`)
when the tree is given ``store_split``. While its files arrive in name order (a list's items in one
namespace do), each part is stored as soon as it is complete and its entries leave memory (their
compact form goes to the temporary file, for reopening): a namespace of 200k objects holds one part,
not 200k entries. An entry out of order brings the stored parts' entries back (correct, as before,
just not flat).
"""

from __future__ import annotations

import marshal
import tempfile
import threading
import zlib
from collections.abc import Callable
from typing import IO, Final

from drkit.errors import ConfigError
from drkit.repo.engine.vtree import DIR_MODE, join_path
from drkit.repo.format.splittree import SPLIT_ABOVE, cut_parts, ends_part
from drkit.repo.format.tree import Entry, Node, NodeType, node_entry

FileEntry = tuple[int, int, int, tuple[bytes, ...]]
"""A file added by path: (mode, mtime_ns, size, chunk ids)."""
StoreTree = Callable[[list[Entry]], bytes]
StoreSplit = Callable[[list[tuple[bytes, int]]], bytes]
"""Stores a split tree's list of parts ((part tree id, entries), in order); returns its id."""
_Place = tuple[int, int]
_Spilled = tuple[bytes, int, int, int, tuple[bytes, ...]]  # a file as the spill holds it


class _Open:
    __slots__ = ("children", "last", "ordered", "parts", "spilled")

    def __init__(self) -> None:
        self.children: dict[bytes, _Open | _Sealed | Node | FileEntry] = {}
        # a large directory's parts stored already: (tree id, entries, newest mtime), in name order
        self.parts: list[tuple[bytes, int, int]] = []
        self.spilled: list[_Place] = []  # where those parts' files lie in the spill
        self.last = b""  # the name added last
        self.ordered = True  # every name added so far came after the one before


class _Spill:
    """Bytes kept aside in an anonymous temporary file (opened at the first ``put``), read back by
    their place: what reopening sealed directories would need, which memory then does not hold."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0

    def put(self, data: bytes) -> _Place:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="drkit-sealed-")  # noqa: SIM115 - closed in close()
        self._file.seek(self._end)
        self._file.write(data)
        place = (self._end, len(data))
        self._end += len(data)
        return place

    def get(self, place: _Place) -> bytes:
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
        files: list[_Place] | None,
        others: dict[bytes, _Sealed | Node] | None,
    ) -> None:
        self.subtree = subtree
        self.mtime_ns = mtime_ns
        # where zlib(marshal([(name, mode, mtime_ns, size, ids), ...])) runs lie in the spill; None
        # when final
        self.files = files
        self.others = others  # sub-directories and whole nodes; None when final

    @property
    def final(self) -> bool:
        return self.others is None

    def reopen(self, spill: _Spill) -> _Open:
        assert self.files is not None
        assert self.others is not None
        d = _Open()
        d.ordered = False  # not streamed again: stored as a whole when sealed
        for place in self.files:
            _unspill(spill, place, d.children)
        d.children.update(self.others)
        return d


def _note(d: _Open, name: bytes) -> None:
    """``name`` is being added to ``d``: whether names still come in order."""
    if d.ordered and name <= d.last and (d.children or d.parts):
        d.ordered = False
    d.last = name


def _unspill(spill: _Spill, place: _Place, into: dict[bytes, _Open | _Sealed | Node | FileEntry]) -> None:
    # our own bytes, made by _seal or _flush in this process: never read from outside
    for name, mode, mtime_ns, size, ids in marshal.loads(zlib.decompress(spill.get(place))):  # noqa: S302
        into[name] = (mode, mtime_ns, size, ids)


def _spill_files(spill: _Spill, files: list[_Spilled]) -> _Place:
    return spill.put(zlib.compress(marshal.dumps(files), 1))


def _file_entry(name: bytes, entry: FileEntry) -> Entry:
    """A file added by path as the encoder's tuple (what ``node_entry`` makes of its ``Node``)."""
    mode, mtime_ns, size, ids = entry
    return Entry(name, _FILE, mode, 0, 0, mtime_ns, size, b"".join(ids), b"", None, None, (), 0, 0, 0, False)


def _dir_entry(name: bytes, child: _Sealed) -> Entry:
    subtree, mtime_ns = child.subtree, child.mtime_ns
    return Entry(name, _DIR, DIR_MODE, 0, 0, mtime_ns, 0, subtree, b"", None, None, (), 0, 0, 0, False)


_FILE: Final = NodeType.FILE
_DIR: Final = NodeType.DIR


class SealingTree:
    """Entries by path; thread-safe; :meth:`seal` stores a finished directory early, :meth:`encode`
    stores the rest and returns the root."""

    def __init__(
        self, default_mtime_ns: int, store_tree: StoreTree, store_split: StoreSplit | None = None
    ) -> None:
        self.default_mtime_ns = default_mtime_ns
        self._store_tree = store_tree
        self._store_split = store_split  # None: nothing is split
        self._root = _Open()
        self._spill = _Spill()
        self._lock = threading.Lock()
        # the directory found for the last addition, by its parts; forgotten when anything is sealed
        self._last: tuple[tuple[bytes, ...], _Open] | None = None
        self.dirs = 0
        self.sealed = 0
        self.reopened = 0
        self.parts = 0  # parts of split trees stored
        self.unsplit = 0  # directories whose stored parts came back (an entry out of order)

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
            name = parts[-1]
            _note(parent, name)
            children = parent.children
            children[name] = value
            if len(children) > SPLIT_ABOVE and parent.ordered and self._store_split is not None:
                self._flush(parent)

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
        if d.parts and parts[-1] <= d.last:
            self._unsplit(d)  # it may repeat a stored entry, or belong inside a stored part
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
                if d.parts and name <= d.last:
                    self._unsplit(d)
                _note(d, name)
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

    def _flush(self, d: _Open) -> None:
        """Store the complete parts of the large directory ``d`` whose entries came in name order, and
        let them go (kept in the spill only); the entries after the last complete part stay."""
        items = list(d.children.items())
        if not all(type(v) is tuple for _n, v in items):
            d.ordered = False  # sub-directories or whole nodes: stored with the rest at the end
            return
        store_split = self._store_split
        assert store_split is not None
        start = 0
        count = 0
        for k, (name, _v) in enumerate(items):
            count += 1
            if ends_part(name, count):
                self._store_part(d, items[start : k + 1])  # type: ignore[arg-type]
                start, count = k + 1, 0
        if start:
            d.children = dict(items[start:])

    def _store_part(self, d: _Open, run: list[tuple[bytes, FileEntry]]) -> None:
        nodes = [_file_entry(name, e) for name, e in run]
        tree_id = self._store_tree(nodes)
        d.parts.append((tree_id, len(nodes), max(n.mtime_ns for n in nodes)))
        d.spilled.append(_spill_files(self._spill, [(name, *e) for name, e in run]))
        self.parts += 1

    def _unsplit(self, d: _Open) -> None:
        """Bring a directory's stored parts back into memory (an entry came out of order)."""
        back: dict[bytes, _Open | _Sealed | Node | FileEntry] = {}
        for place in d.spilled:
            _unspill(self._spill, place, back)
        back.update(d.children)
        d.children = back
        d.parts, d.spilled = [], []
        d.ordered = False
        self.unsplit += 1

    def _seal(self, d: _Open, *, keep: bool) -> _Sealed:
        nodes: list[Entry] = []
        files: list[tuple[bytes, int, int, int, tuple[bytes, ...]]] = []
        others: dict[bytes, _Sealed | Node] = {}
        for name, entry in d.children.items():
            child = self._seal(entry, keep=keep) if isinstance(entry, _Open) else entry
            if isinstance(child, _Sealed):
                nodes.append(_dir_entry(name, child))
                if keep:
                    others[name] = child
                elif not child.final:
                    child.files = child.others = None
            elif isinstance(child, Node):
                nodes.append(node_entry(child))
                others[name] = child
            else:
                nodes.append(_file_entry(name, child))
                if keep:
                    files.append((name, *child))
        mtime = max((n.mtime_ns for n in nodes), default=self.default_mtime_ns)
        if d.parts or (len(nodes) > SPLIT_ABOVE and self._store_split is not None):
            subtree, mtime = self._store_split_tree(d, nodes, mtime)
        else:
            subtree = self._store_tree(nodes)
        del nodes
        self.sealed += 1
        if not keep:
            return _Sealed(subtree, mtime, None, None)
        return _Sealed(subtree, mtime, [*d.spilled, _spill_files(self._spill, files)], others)

    def _store_split_tree(self, d: _Open, nodes: list[Entry], mtime: int) -> tuple[bytes, int]:
        """A large directory stored as parts: those stored already, then ``nodes`` (after them in name
        order when there are any) cut the same way. Returns (split tree id, newest mtime)."""
        assert self._store_split is not None
        nodes.sort(key=_node_name)  # in name order already when parts were stored
        parts = [(tree_id, count) for tree_id, count, _m in d.parts]
        mtime = max([mtime, *(m for _i, _c, m in d.parts)]) if nodes else max(m for _i, _c, m in d.parts)
        for run in cut_parts(nodes, _node_name):
            parts.append((self._store_tree(run), len(run)))
            self.parts += 1
        return self._store_split(parts), mtime


def _node_name(n: Entry) -> bytes:
    return n.name
