"""FastCDC over a stream that arrives in pieces (an etcd snapshot's 32 KiB messages), with few copies.

``Chunker.chunks`` reads a stream through ``readinto`` into pyfastcdc's ``2 * max_size`` buffer and
copies each chunk out: every byte is copied into that buffer, moved to its front again each time less
than ``max_size`` is left in it, then copied into the chunk's own ``bytes``. :func:`cut_pieces`
copies the pieces once, into a window of ``max_size + avg_size`` bytes, cuts the window with
``cut_buf`` and yields the chunks as read-only ``memoryview`` slices of it (no copy). A window is not
written again while a chunk of it is referenced; after that it is reused. A chunk that ends exactly
at a window's end may end there only for want of the next bytes: it is copied to the front of the
next window. Any window longer than ``max_size`` makes progress (the first chunk of a window ends at
``max_size`` at the latest); the ``avg_size`` beyond it is about what is carried each time. Two
windows are usually alive (one filling, one whose last chunks are still being sealed): 2 x 9 MiB with
the default chunker, not 2 x 16 MiB (a capture's ``capture/resources.json``, docs/performance.md).

The cut points are those of ``Chunker.chunks`` on the same bytes (so an etcd snapshot still
deduplicates against the one before it): FastCDC cuts at the first qualifying position after
``min_size``, or at ``max_size``, and a cut found before the end of the bytes at hand is the same
whatever follows them.

:func:`cut_fixed` cuts the same windows at fixed sizes instead, for a stream whose changes stay at
their offsets (an etcd snapshot's pages; docs/performance.md measured the dedup of both cuts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from pyfastcdc import FastCDC

Buffer = bytes | bytearray | memoryview
_SPARE: Final = 4
"""Windows kept for reuse at most (a new window's pages cost more than copying into it)."""
_FIXED_WINDOW: Final = 16 << 20
"""The window of :func:`cut_fixed` (the etcd snapshot's): 16 MiB, as measured there (docs/performance.md)."""


def _reusable(spare: list[bytearray]) -> bytearray | None:
    """The oldest window of ``spare`` that no chunk (view) refers to any more, taken out of it.

    A ``bytearray`` cannot change its size while a view of it exists (``BufferError``): trying to is
    how to tell, without keeping track of the views. Shrinking by one byte and growing back stays
    within its allocation (no copy)."""
    for i, window in enumerate(spare):
        try:
            del window[-1:]
        except BufferError:
            continue
        window.append(0)
        return spare.pop(i)
    return None


def cut_pieces(cdc: FastCDC, pieces: Iterable[Buffer], *, window: int = 0) -> Iterator[memoryview]:
    """Yield the FastCDC chunks of the concatenated ``pieces`` as read-only ``memoryview`` slices.

    ``cdc`` is a configured :class:`pyfastcdc.FastCDC`. ``window`` (bytes cut at a time) is at least
    ``max_size + avg_size``, so that each window holds a whole chunk beyond the start (and about one
    more beyond the tail carried into it). The pieces are copied as they come (the source may reuse
    them); one that is not bytes-like raises ``TypeError``.
    """

    def cut(whole: memoryview) -> Iterator[tuple[int, int]]:
        for chunk in cdc.cut_buf(whole):
            yield chunk.offset, chunk.offset + chunk.length

    return _cut(pieces, max(window, cdc.max_size + cdc.avg_size), cut)


def cut_fixed(size: int, pieces: Iterable[Buffer], *, window: int = 0) -> Iterator[memoryview]:
    """Yield the concatenated ``pieces`` in chunks of ``size`` bytes (the last one shorter), as
    read-only ``memoryview`` slices of reused windows, like :func:`cut_pieces`.

    For a stream that changes in place, page by page, never shifting (an etcd snapshot: a bbolt file
    of fixed-size pages): a chunk at an offset deduplicates against the chunk at the same offset of
    the previous snapshot unless a page inside it changed. ``window`` is rounded up to a multiple of
    ``size`` (at least 2 chunks)."""
    if size <= 0:
        raise ValueError(f"chunk size {size} is not positive")
    window = max(window, _FIXED_WINDOW, 2 * size)
    window += -window % size

    def cut(whole: memoryview) -> Iterator[tuple[int, int]]:
        end = len(whole)
        for offset in range(0, end, size):
            yield offset, min(offset + size, end)

    return _cut(pieces, window, cut, carry=False)


def _cut(
    pieces: Iterable[Buffer],
    size: int,
    cut: Callable[[memoryview], Iterable[tuple[int, int]]],
    *,
    carry: bool = True,
) -> Iterator[memoryview]:
    """The windows: ``cut(window)`` gives the chunks' ``(start, stop)`` in a full window or the last
    one; with ``carry``, a chunk stopping at a full window's end is carried into the next window
    (FastCDC may have cut it there only for want of bytes; a fixed-size chunk is whole)."""
    spare: list[bytearray] = []  # windows cut before, reusable once no chunk of theirs is referenced
    buf = bytearray(size)
    filled = 0
    for piece in pieces:
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(f"a stream yielded {type(piece).__name__}, not bytes")
        end = filled + len(piece)
        if end < size:  # the usual case: the piece fits
            buf[filled:end] = piece
            filled = end
            continue
        view = memoryview(piece).cast("B")
        while view:
            n = min(len(view), size - filled)
            buf[filled : filled + n] = view[:n]
            filled += n
            view = view[n:]
            if filled == size:
                whole = memoryview(buf).toreadonly()
                start = 0
                for offset, stop in cut(whole):
                    if stop == size and carry:
                        break  # perhaps cut only by the window's end: again, with what follows
                    yield whole[offset:stop]
                    start = stop
                spare.append(buf)  # the chunks yielded keep it alive, and unusable, until they go
                buf = _reusable(spare) or bytearray(size)
                filled = size - start
                buf[:filled] = whole[start:]
                del whole
                del spare[:-_SPARE]
    if filled:
        whole = memoryview(buf)[:filled].toreadonly()
        for offset, stop in cut(whole):
            yield whole[offset:stop]
