"""Virtual trees: a snapshot's tree built from paths (``a/b/c.json``) instead of from a directory walk.

A cluster snapshot holds files that never existed on disk (API objects, an etcd stream) next to
real directories. :class:`VirtualTree` collects them by path, creating intermediate directories
implicitly, and encodes them bottom-up into ordinary tree blobs (docs/format.md, "Trees"), so that
restore, verify and prune handle the result like any other snapshot. :func:`split_path` is the one
place virtual paths are checked: relative, ``/``-separated, no empty, ``.`` or ``..`` segments,
every segment a :func:`~drkit.repo.format.tree.safe_name`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from drkit.errors import ConfigError
from drkit.repo.format.tree import Node, NodeType, safe_name

DIR_MODE = 0o700
"""Mode of implicitly created directories (and of a cluster snapshot's root)."""

MAX_PATH = 4096


class NoSuchPath(ConfigError):
    """A path that is not in the snapshot (or is not what the caller asked for: a file, a directory)."""


def split_path(path: str, *, allow_root: bool = False) -> tuple[bytes, ...]:
    """The components of a virtual path, or ``ConfigError`` for anything a restore must not create.

    ``allow_root``: the empty path (and ``/``-only trailing forms like ``"resources/"``) name a
    directory, as readers accept; writers need at least one component.
    """
    if not isinstance(path, str):
        raise ConfigError(f"path {path!r} is not a string", field="path")
    if len(path) > MAX_PATH:
        raise ConfigError(f"path is longer than {MAX_PATH} characters", field="path")
    if path.startswith("/"):
        raise ConfigError(f"path {path!r} must be relative", field="path")
    text = path.removesuffix("/") if allow_root else path
    if not text:
        if allow_root:
            return ()
        raise ConfigError("empty path", field="path")
    parts = tuple(os.fsencode(p) for p in text.split("/"))
    for p in parts:
        if not safe_name(p):
            raise ConfigError(f"path {path!r} has an invalid segment {os.fsdecode(p)!r}", field="path")
    return parts


def join_path(parts: tuple[bytes, ...] | list[bytes]) -> str:
    return "/".join(os.fsdecode(p) for p in parts)


@dataclass
class _Dir:
    children: dict[bytes, _Dir | Node] = field(default_factory=dict)


class VirtualTree:
    """Entries by path; thread-safe inserts; :meth:`encode` stores the trees once everything is in."""

    def __init__(self, default_mtime_ns: int) -> None:
        self.default_mtime_ns = default_mtime_ns
        self._root = _Dir()
        self._lock = threading.Lock()
        self.dirs = 0

    def reserve(self, parts: tuple[bytes, ...]) -> None:
        """Fail early (``ConfigError``) if ``parts`` cannot be added: taken, or under a non-directory."""
        with self._lock:
            self._parent(parts, create=False)

    def add(self, parts: tuple[bytes, ...], node: Node) -> None:
        """Add ``node`` (named ``parts[-1]``) at ``parts``, creating missing parent directories."""
        assert node.name == parts[-1]
        with self._lock:
            parent = self._parent(parts, create=True)
            assert parent is not None
            parent.children[parts[-1]] = node

    def _parent(self, parts: tuple[bytes, ...], *, create: bool) -> _Dir | None:
        d: _Dir | None = self._root
        for i, name in enumerate(parts[:-1]):
            assert d is not None
            child = d.children.get(name)
            if child is None:
                if not create:
                    return None  # the rest is free
                child = _Dir()
                d.children[name] = child
                self.dirs += 1
            elif not isinstance(child, _Dir):
                raise ConfigError(
                    f"cannot add {join_path(parts)!r}: {join_path(parts[: i + 1])!r} is a "
                    f"{child.type.value}, not a directory",
                    field="path",
                )
            d = child
        if d is not None and parts[-1] in d.children:
            raise ConfigError(f"{join_path(parts)!r} was already added to this snapshot", field="path")
        return d

    def encode(self, store_tree: Callable[[list[Node]], bytes]) -> tuple[bytes, int]:
        """Store every tree (children first) with ``store_tree``; return (root tree id, root mtime_ns).

        A directory's mtime is the newest of its entries' (so that unchanged contents give the same
        tree bytes), the default time for an empty root.
        """
        with self._lock:
            return self._encode(self._root, store_tree)

    def _encode(self, d: _Dir, store_tree: Callable[[list[Node]], bytes]) -> tuple[bytes, int]:
        nodes: list[Node] = []
        for name, child in d.children.items():
            if isinstance(child, _Dir):
                sub, mtime = self._encode(child, store_tree)
                nodes.append(Node(name, NodeType.DIR, DIR_MODE, 0, 0, mtime, subtree=sub))
            else:
                nodes.append(child)
        mtime = max((n.mtime_ns for n in nodes), default=self.default_mtime_ns)
        return store_tree(nodes), mtime
