"""Scanning ahead of an incremental walk, on a second core.

A thread goes through the source in the walk's own order (depth first, names sorted bytewise) and, for
each directory that has a parent tree, reads that tree and runs the compiled scan (``dirscan``) on it:
the ``lstat`` calls and comparisons release the GIL, so they run beside the walk, which takes the
results in order (``take``). It follows only the subdirectories the scan reports with a parent
subtree; a directory the walk enters that the thread did not scan (a race, a directory the scan left
to Python) is simply scanned by the walk itself. At most ``depth`` results wait, so memory stays
bounded.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold.
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drkit.errors import DrkitError
from drkit.repo.engine.dirscan import DirScanner, Scanned


@dataclass(frozen=True, slots=True)
class Ahead:
    """A directory scanned ahead: its parent tree's plaintext (None: unreadable) and the scan's
    result (None: the walk decides in Python)."""

    key: bytes
    tree_id: bytes
    plain: bytes | None
    scanned: Scanned | None


def walk_key(rel: bytes) -> bytes:
    """The position of a directory in the walk's order: its path with ``/`` as NUL (no name holds
    one), so that a directory sorts before everything inside it and that before its next sibling."""
    return rel.replace(b"/", b"\x00")


class ScanAhead:
    """The scanning thread, started at once; ``close`` stops it (always call it)."""

    def __init__(
        self,
        scanner: DirScanner,
        read: Callable[[bytes], bytes],
        root: tuple[bytes, bytes],
        *,
        depth: int = 512,
    ) -> None:
        self._scanner = scanner
        self._read = read
        self._depth = depth
        self._cond = threading.Condition()
        self._ready: deque[Ahead] = deque()
        self._finished = False
        self._stopped = False
        self._error: BaseException | None = None
        self.taken = 0  # directories the walk took from here
        self._thread = threading.Thread(target=self._run, args=root, name="drkit-scan", daemon=True)
        self._thread.start()

    def _run(self, path: bytes, tree_id: bytes) -> None:
        stack = [(path, b"", tree_id)]
        try:
            while stack:
                path, rel, tree_id = stack.pop()
                try:
                    plain: bytes | None = self._read(tree_id)
                except DrkitError:
                    plain = None
                scanned = None if plain is None else self._scanner.scan(path, plain)
                if not self._put(Ahead(walk_key(rel), tree_id, plain, scanned)):
                    return
                if scanned is None:
                    continue
                names = scanned.names
                prefix = path if path.endswith(b"/") else path + b"/"
                subs = [
                    (prefix + names[pos], rel + b"/" + names[pos] if rel else names[pos], info[5])
                    for pos, info in scanned.special
                    if info is not None and info[5] is not None
                ]
                stack.extend(reversed(subs))
        except BaseException as e:  # noqa: BLE001 (handed to the walk: ``take`` raises it)
            self._error = e
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _put(self, item: Ahead) -> bool:
        with self._cond:
            while len(self._ready) >= self._depth and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return False
            self._ready.append(item)
            self._cond.notify_all()
            return True

    def take(self, rel: bytes, tree_id: bytes) -> Ahead | None:
        """The directory ``rel`` scanned against ``tree_id``, waiting for it if the thread will get
        there; None when it will not (the walk scans it itself). Asked in the walk's order."""
        key = walk_key(rel)
        ready = self._ready
        with self._cond:
            while True:
                while not ready and not self._finished:
                    self._cond.wait()
                if not ready:
                    if self._error is not None:
                        raise self._error
                    return None
                head = ready[0]
                if head.key > key:
                    return None  # not one the thread went to
                ready.popleft()
                self._cond.notify_all()
                if head.key == key:
                    if head.tree_id != tree_id:
                        return None
                    self.taken += 1
                    return head
                # a directory the walk passed by without asking (it walked its parent in Python)

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._ready.clear()
            self._cond.notify_all()
        self._thread.join()
