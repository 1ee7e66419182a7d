"""The compiled directory scan of an incremental backup (``drkit/native/_scan.c``), when it was built.

For one directory with a parent tree (version 2), the scan lists it, sorts the names, ``lstat``s every
entry and compares each with the parent's entry of that name, all in C with the GIL released; it
decides only that a regular file's parent entry stands for it as stored (what ``_reuse_file``
decides) and reports each subdirectory's ``lstat`` fields and whether its own metadata is the
parent's. Every other entry is left to the Python walk. Without a compiler the module is missing and
the walk does everything in Python, with the same results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from drkit.repo.engine.fsmeta import group_name, user_name
from drkit.repo.format.blobs import BlobType

if TYPE_CHECKING:
    from drkit.native._scan import Result, Scanner

from drkit import native

Splice = Callable[[bytes, bytearray, bytes], bytes | None]
"""``_scan.splice(parent, keep, new)``: a changed directory's tree from the parent tree's entries
``keep`` marks (one byte each) and a version 2 tree of the entries made anew (b"": none), encoded as
``encode_tree`` would; None when it declines (the caller encodes in Python)."""

DirInfo = tuple[int, int, int, int, bool, bytes | None]
"""A subdirectory as scanned: permission bits, uid, gid, mtime_ns, whether its own metadata (those,
the owner names, no xattrs) is its parent entry's, and the parent entry's subtree id (None: no
parent entry of that name, or not a directory)."""


@dataclass(frozen=True, slots=True)
class Scanned:
    """One directory as the scan left it: names sorted; ``special`` every entry that is not a reused
    file, in order, as (position, None: the walk decides, or ``DirInfo``; the index of the parent
    entry of that name, -1: none); ``keys`` the (DATA, id) of every reused file's chunks;
    ``parent_entries`` the number in the parent tree; ``kept`` one byte per parent entry, 1 for
    the reused files' (the walk marks more: ``Splice``)."""

    names: list[bytes]
    special: list[tuple[int, DirInfo | None, int]]
    keys: list[tuple[BlobType, bytes]]
    reused: int
    reused_bytes: int
    sparse: int
    parent_entries: int
    kept: bytearray


def _encoded(name: str | None) -> bytes | None:
    return None if name is None else name.encode("utf-8", "surrogateescape")


class DirScanner:
    """A compiled scanner for one walk: tells it the owner names it asks for and the device pairs
    the walk maps (``map_device``)."""

    def __init__(
        self, module: ModuleType, changed_before_ns: int, *, strict_device: bool, xattrs: bool
    ) -> None:
        self._s: Scanner = module.Scanner(changed_before_ns, strict_device, xattrs, BlobType.DATA)
        self.splice: Splice = module.splice

    def map_device(self, old: int, new: int) -> None:
        self._s.map_device(old, new)

    def scan(self, path: bytes, tree: bytes) -> Scanned | None:
        """``path`` compared with its parent tree's plaintext; None: the Python walk decides it all."""
        return self._result(self._s.scan(path, tree), path, tree)

    def _result(self, got: Result, path: bytes, tree: bytes) -> Scanned | None:
        if got[0] == 1:
            _, uids, gids = got
            for uid in uids:
                self._s.set_user(uid, _encoded(user_name(uid)))
            for gid in gids:
                self._s.set_group(gid, _encoded(group_name(gid)))
            got = self._s.scan(path, tree)
        if got[0] != 2:
            return None
        _, names, special, keys, reused, reused_bytes, sparse, parent_entries, kept = got
        return Scanned(names, special, keys, reused, reused_bytes, sparse, parent_entries, kept)  # type: ignore[arg-type]


def scanner(changed_before_ns: int, *, strict_device: bool, xattrs: bool) -> DirScanner | None:
    """A compiled scanner, or None when the module was not built or is ruled out (``DRKIT_NO_NATIVE``,
    read at each walk)."""
    module = native.load("_scan")
    if module is None:
        return None
    return DirScanner(module, changed_before_ns, strict_device=strict_device, xattrs=xattrs)
