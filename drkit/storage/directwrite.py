"""Writing a large object's bytes to a new file without the page cache (``O_DIRECT``).

A pack (16 MiB by default) written through the page cache makes the kernel allocate and fill a page
cache page for every 4 KiB; on the virtual machines measured in docs/performance.md ("etcd snapshot
into the repository: the store's CPU") that was most of a stream's system time. ``O_DIRECT`` sends
the bytes from an aligned buffer to the device instead. The file is still fsynced by the caller:
``O_DIRECT`` alone does not make data durable (the device's cache, the file's size and blocks), so
nothing about durability changes.

The bytes go through one page-aligned buffer per thread (``PIECE``, reused: no new pages per object)
in whole 4 KiB blocks; the tail that is not a whole block is written through the page cache after
clearing ``O_DIRECT`` on the descriptor. A filesystem that refuses ``O_DIRECT`` (tmpfs, some network
and FUSE filesystems: ``EINVAL`` at open or at the first write) gets the ordinary buffered write.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from drkit.native import load as load_native

ALIGN: Final = 4096
"""Offsets and lengths of direct writes: a multiple of every device's logical block size in use."""
PIECE: Final = 1 << 20
"""The aligned buffer (per thread): one direct write each."""
DIRECT_ABOVE: Final = 256 * 1024
"""Smaller objects (trees, indexes, manifests, small packs) are written through the page cache."""

_O_DIRECT: Final = getattr(os, "O_DIRECT", 0)
_local = threading.local()
_native = load_native("_direct")
""" None: pieces gathered in Python (a slice assignment holds the GIL for every byte copied); else in C
with the GIL released, the writes too (``_direct.gather_pwrite``)."""


def _buffer() -> mmap.mmap:
    buf: mmap.mmap | None = getattr(_local, "buf", None)
    if buf is None:
        buf = mmap.mmap(-1, PIECE)  # anonymous: page-aligned
        _local.buf = buf
    return buf


def open_new(path: os.PathLike[str] | str, size: int, mode: int) -> tuple[int, bool]:
    """Create ``path`` (``O_EXCL``) for writing ``size`` bytes: ``(fd, direct)``; direct only when
    the size makes it worthwhile and the filesystem accepts it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if _O_DIRECT and size >= DIRECT_ABOVE:
        try:
            return os.open(path, flags | _O_DIRECT, mode), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # Kernels before 6.6 refuse O_DIRECT on tmpfs only after creating the file: it is ours
            # (O_EXCL, a fresh name), and the buffered open below needs the name free again.
            Path(path).unlink(missing_ok=True)
    return os.open(path, flags, mode), False


def _buffered(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _stop_direct(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)


def write_all(fd: int, data: bytes | bytearray | memoryview, *, direct: bool) -> None:
    """Write all of ``data`` at the start of the new file ``fd`` (no fsync: the caller's)."""
    write_parts(fd, (data,), direct=direct)


def write_parts(fd: int, parts: Sequence[bytes | bytearray | memoryview], *, direct: bool) -> None:
    """Write ``parts`` one after the other from the start of the new file ``fd`` (no fsync: the
    caller's). Direct: the parts are gathered into the aligned buffer, whole blocks at a time, so a
    pack's sealed blobs need not be joined first."""
    views = [memoryview(p).cast("B") for p in parts]
    offset = 0
    if direct:
        buf = _buffer()
        total = sum(len(v) for v in views)
        whole = total - total % ALIGN
        if whole and _native is not None:
            offset = _native.gather_pwrite(fd, views, buf, whole)
        else:
            offset = _gather_pwrite(fd, views, buf, whole)
        _stop_direct(fd)
    skip = offset  # what the direct writes wrote
    for view in views:
        if skip >= len(view):
            skip -= len(view)
            continue
        _buffered(fd, view[skip:], offset)
        offset += len(view) - skip
        skip = 0


def _gather_pwrite(fd: int, views: list[memoryview], buf: mmap.mmap, whole: int) -> int:
    """``_direct.gather_pwrite`` in Python: the first ``whole`` bytes of ``views`` gathered into ``buf``
    a piece at a time and written directly from offset 0; how many were written (fewer than ``whole``
    after a short write or a refused one, ``EINVAL``)."""
    offset = 0
    i = pos = 0  # the next byte to gather: views[i][pos]
    while offset < whole:
        n = min(PIECE, whole - offset)
        got = 0
        while got < n:
            take = min(n - got, len(views[i]) - pos)
            buf[got : got + take] = views[i][pos : pos + take]
            got += take
            pos += take
            if pos == len(views[i]):
                i, pos = i + 1, 0
        try:
            written = os.pwrite(fd, memoryview(buf)[:n], offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            break  # the filesystem opened it but will not write it directly: buffered from here
        offset += written
        if written != n:
            break  # a short direct write: the rest (perhaps unaligned now) buffered
    return offset
