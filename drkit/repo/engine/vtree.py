"""Virtual paths: where a snapshot's files that never existed on disk (API objects, an etcd stream) go.

A cluster snapshot names its files by path (``a/b/c.json``); the snapshot writer's open tree
(:mod:`drkit.repo.engine.opentree`) creates the intermediate directories and encodes ordinary tree
blobs (docs/format.md, "Trees"). :func:`split_path` is the one place virtual paths are checked:
relative, ``/``-separated, no empty, ``.`` or ``..`` segments, every segment a
:func:`~drkit.repo.format.tree.safe_name`.
"""

from __future__ import annotations

import os

from drkit.errors import ConfigError
from drkit.repo.format.tree import safe_name

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


class PathSplitter:
    """:func:`split_path` for many paths in few directories (one API list's objects): the directory
    of the last path split is kept, so that a path in the same directory costs its last segment's
    check only. The same parts and the same errors as :func:`split_path`. Thread-safe (the one
    entry is replaced whole)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[str, tuple[bytes, ...]] = ("", ())

    def __call__(self, path: str) -> tuple[bytes, ...]:
        if isinstance(path, str) and len(path) <= MAX_PATH:
            head, _, name = path.rpartition("/")
            last_head, last_parts = self._last
            if head and head == last_head:
                leaf = os.fsencode(name)
                if safe_name(leaf):
                    return (*last_parts, leaf)
        parts = split_path(path)
        if len(parts) > 1:
            self._last = (path.rpartition("/")[0], parts[:-1])
        return parts
