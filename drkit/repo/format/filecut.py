"""FastCDC over a file read straight into reusable windows: chunks as views, no copies of their own.

``Chunker.chunks`` (pyfastcdc's ``cut_stream``) copies every byte twice after the kernel has: its
``2 * max_size`` buffer is moved to the front each time less than ``max_size`` is left in it, and
each chunk is copied out into ``bytes`` of its own (fresh pages for every chunk of a large file:
the walking thread's page faults). On the mixed tree's first backup these copies were a quarter of
the walking thread's CPU time (docs/performance.md, "First backup of the mixed tree: large files
cut in place").

:class:`FileCutter` reads a file with ``readinto`` into a window of ``2 * max_size`` bytes, cuts the
window with ``cut_buf`` and yields the chunks as read-only ``memoryview`` slices of it. Only the
tail that may still grow (the bytes after the window's last cut, at most ``max_size``) is copied, to
the front of the next window. A window is not written again while a chunk of it is referenced (the
views keep it from changing size: how :func:`_reusable` tells); after that it is reused, also for
the next file. A file smaller than a window is read whole into ``bytes`` of its own and cut there
instead: one window per medium-sized file would stay pinned by that file's chunk in flight, and the
windows made for them cost fresh pages (tried: ~60,000 more page faults and ~50 MiB more peak RSS on the
mixed tree).

The cut points are those of ``Chunker.chunks`` on the same bytes (:mod:`piececut` gives the
reasoning): a cut that FastCDC finds before the end of the bytes at hand is the same whatever
follows them, and a chunk ending exactly at the window's end is cut again with what follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Protocol

from pyfastcdc import FastCDC

_SPARE: Final = 2
"""Windows kept for reuse at most (a new window's pages cost more than the copy into it)."""


class ReadInto(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...


def _reusable(spare: list[bytearray]) -> bytearray | None:
    """The oldest window of ``spare`` no chunk (view) refers to any more, taken out of it. A
    ``bytearray`` cannot change its size while a view of it exists: shrinking it by one byte and
    growing it back tells, without keeping track of the views (and stays within its allocation)."""
    for i, window in enumerate(spare):
        try:
            del window[-1:]
        except BufferError:
            continue
        window.append(0)
        return spare.pop(i)
    return None


class FileCutter:
    """Cuts files into FastCDC chunks, viewed in place. Not thread-safe: one per thread."""

    def __init__(self, cdc: FastCDC, *, window: int = 0) -> None:
        self.cdc = cdc
        self.size = max(window, 2 * cdc.max_size)
        self._spare: list[bytearray] = []

    def _window(self) -> bytearray:
        return _reusable(self._spare) or bytearray(self.size)

    def cut(self, f: ReadInto, size_hint: int = -1) -> Iterator[memoryview]:
        """Yield the chunks of ``f`` (read to its end) as read-only views.

        ``size_hint`` (the file's size from ``lstat``; -1: unknown) below the window's size: the file
        is read whole with ``read``, else in windows with ``readinto``. A view stays valid as long as
        it is referenced (its window is not reused meanwhile). Errors of the reads (``OSError``)
        propagate."""
        size = self.size
        head = b""
        if 0 <= size_hint < size:
            head = _read_up_to(f, size, size_hint + 1)
            if len(head) < size:  # the whole file
                whole = memoryview(head).toreadonly()
                for chunk in self.cdc.cut_buf(whole):
                    yield whole[chunk.offset : chunk.offset + chunk.length]
                return
        yield from self._windows(f, head)

    def _windows(self, f: ReadInto, head: bytes) -> Iterator[memoryview]:
        size, cut_buf, spare = self.size, self.cdc.cut_buf, self._spare
        buf = self._window()
        filled = len(head)
        buf[:filled] = head
        del head
        try:
            while True:
                view = memoryview(buf)
                while filled < size:
                    n = f.readinto(view[filled:])
                    if not n:
                        break
                    filled += n
                del view
                at_end = filled < size
                whole = memoryview(buf)[:filled].toreadonly()
                start = 0
                for chunk in cut_buf(whole):
                    stop = chunk.offset + chunk.length
                    if stop == size:
                        break  # perhaps cut only by the window's end: again, with what follows
                    yield whole[chunk.offset : stop]
                    start = stop
                if at_end:
                    del whole
                    return
                nxt = self._window()
                filled = size - start
                nxt[:filled] = whole[start:]
                del whole
                spare.append(buf)  # the chunks yielded keep it from being reused until they go
                buf = nxt
                del spare[:-_SPARE]
        finally:
            spare.append(buf)
            del spare[:-_SPARE]


def _read_up_to(f: ReadInto, most: int, first: int) -> bytes:
    """What ``f`` holds up to its end, or its first ``most`` bytes (and perhaps a few more) if it
    holds more; ``first``: the size of the first read (the file's size, plus one to see its end)."""
    data = f.read(min(first, most))
    if not data:
        return b""
    parts = [data]
    total = len(data)
    while total < most:
        more = f.read(min(most - total, 1024 * 1024))
        if not more:
            break
        parts.append(more)
        total += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)
