"""Large files found ahead of a first backup's walk and cut from the far end meanwhile.

The walk hands a large file (a cutter window or more, one link) to its reading thread when it meets
it, so the tree's last large files are read, sealed and written one after the other once the rest of
the walk is done: on the mixed tree (docs/performance.md) its last 384 MiB of random blobs, cheap to
seal but ~1.2 s of durable writes, while both cores wait. :class:`LargeFilesAhead` lists the tree in
the walk's order on a thread of its own (at most ``most_entries`` entries: a bounded cost on a tree
of many small files), then a second reading thread cuts the large files it found **from the last one
back** while the walk's reading thread cuts them from the first on: what is cheap to seal and what
costs the sealing threads' CPU overlap, and the end of the walk finds its last files cut already.

The walk stays the one that decides: it asks :meth:`LargeFilesAhead.claim` for each large file it
meets. A file this thread has started on (with the same ``lstat`` identity: device, inode, size,
mtime) is taken from here; any other is the walk's own from then on (never started here). A file
started here that the walk does not take (it changed, vanished, or the walk stopped) was read for
nothing: its chunks may be stored, unreferenced, like those of a backup interrupted halfway.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Final, Generic, TypeVar

from drkit.repo.engine.fsmeta import Stat

LOOKAHEAD_ENTRIES: Final = 4_096
"""Entries listed ahead of the walk at most (each listed again by the walk): 16,384 cost 0.10-0.11 s of
CPU on the 62,514-file source tree, which has one such file; a volume of a few large files (a
database) has few entries."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0)

R = TypeVar("R")
Lister = Callable[[bytes, bool], int | tuple[list[bytes], list[Stat | int]]]


def _identity(st: Stat) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class LargeFilesAhead(Generic[R]):
    """Lists ``top`` ahead of the walk and cuts the regular files of ``min_size`` or more with one link,
    last first, by ``cut(fd, size)`` (which closes ``fd``). Thread-safe; ``close`` ends both threads."""

    def __init__(
        self,
        listdir: Lister,
        min_size: int,
        cut: Callable[[int, int], R],
        *,
        most_entries: int = LOOKAHEAD_ENTRIES,
    ) -> None:
        self._listdir = listdir
        self._min = min_size
        self._cut = cut
        self._most = most_entries
        self._cond = threading.Condition()
        self._found: deque[tuple[bytes, Stat]] = deque()
        self._listed = False  # the listing ended (whole, bounded, or stopped)
        self._stop = False
        self._taken: dict[bytes, tuple[tuple[int, int, int, int], Future[R]]] = {}
        self._walked: set[bytes] = set()  # large files the walk met before this thread started on them
        self._threads: list[threading.Thread] = []

    def start(self, top: bytes) -> None:
        self._threads = [
            threading.Thread(target=self._list, args=(top,), name="drkit-ahead", daemon=True),
            threading.Thread(target=self._read, name="drkit-read-ahead", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def claim(self, full: bytes, st: Stat) -> Future[R] | None:
        """For the walk, meeting the large file ``full``: its cut started here (the same file), or
        None: the walk's own from now on."""
        with self._cond:
            got = self._taken.pop(full, None)
            if got is None:
                self._walked.add(full)
                return None
        ident, fut = got
        return fut if ident == _identity(st) else None

    def close(self) -> None:
        """Stop listing and starting files; wait for the file being cut (``cut`` is expected to stop
        early when the walk stops)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

    # -- the two threads ------------------------------------------------------------------------------

    def _list(self, top: bytes) -> None:
        try:
            self._walk(top)
        except Exception:  # noqa: BLE001, S110 - only a head start: the walk reads everything itself
            pass
        finally:
            with self._cond:
                self._listed = True
                self._cond.notify_all()

    def _walk(self, top: bytes) -> None:
        """The walk's order: names sorted, a subdirectory's entries where the subdirectory is."""
        budget = self._most
        stack: list[tuple[bytes, list[bytes], list[Stat | int], int]] = []
        listed = self._listdir(top, False)
        if isinstance(listed, int):
            return
        stack.append((top, listed[0], listed[1], 0))
        budget -= len(listed[0])
        while stack and not self._stop:
            path, names, stats, at = stack[-1]
            if at == len(names):
                stack.pop()
                continue
            stack[-1] = (path, names, stats, at + 1)
            st = stats[at]
            if isinstance(st, int):
                continue
            prefix = path if path.endswith(b"/") else path + b"/"
            if stat.S_ISREG(st.st_mode):
                if st.st_size >= self._min and st.st_nlink == 1:
                    with self._cond:
                        self._found.append((prefix + names[at], st))
            elif stat.S_ISDIR(st.st_mode) and budget > 0:
                sub = self._listdir(prefix + names[at], False)
                if not isinstance(sub, int):
                    budget -= len(sub[0])
                    stack.append((prefix + names[at], sub[0], sub[1], 0))

    def _read(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._listed:
                    self._cond.wait()  # the whole (bounded) list first: the last found is cut first
                if self._stop or not self._found:
                    return
                full, st = self._found.pop()
                if full in self._walked:
                    continue  # the walk met it first: its own
            fd = _open(full)
            if fd is None:
                continue  # the walk opens it itself and reports what it finds
            fut: Future[R] = Future()
            fut.set_running_or_notify_cancel()
            with self._cond:
                if full in self._walked or self._stop:
                    os.close(fd)
                    continue
                self._taken[full] = (_identity(st), fut)
            try:
                fut.set_result(self._cut(fd, st.st_size))
            except BaseException as e:  # noqa: BLE001 - handed to the walk through the future
                fut.set_exception(e)


def _open(full: bytes) -> int | None:
    try:
        return os.open(full, _OPEN_FLAGS)
    except PermissionError:
        try:
            return os.open(full, os.O_RDONLY | os.O_NOFOLLOW)  # O_NOATIME: the owner's only
        except OSError:
            return None
    except OSError:
        return None
