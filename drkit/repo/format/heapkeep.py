"""Keeping freed memory in the process while a large stream goes through it (glibc's ``mallopt``).

A stream such as an etcd snapshot makes and frees the same sizes over and over: gRPC's read buffers
and 32 KiB messages, each chunk's compressed and sealed copies (hundreds of KiB). glibc gives freed
memory at the top of a heap back to the kernel once more than ``M_TRIM_THRESHOLD`` (128 KiB by
default) is free there, and serves larger requests with ``mmap`` (a dynamic threshold from 128 KiB):
the next allocation then touches pages the kernel must hand out again, and on this project's VMs
each such minor fault costs microseconds of system time (docs/performance.md: 46-58k faults for
the bare gRPC read of a 327 MiB snapshot, ~14-19k with the thresholds below).

:func:`freed_memory_kept` raises both thresholds for the duration of the stream and, at the end, sets
both back to glibc's defaults and returns the free memory at once (``malloc_trim``), so that a
long-lived process (the daemon) does not keep it. Peak memory is unchanged: what is kept is
only what was freed, and it is reused by the next allocations. Elsewhere than glibc (no ``mallopt``)
it does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
TRIM_KEPT: Final = 64 << 20
"""Free bytes a heap keeps at its top during a stream (a 16 MiB pack plus the chunks in flight)."""
MMAP_FROM: Final = 32 << 20
"""Allocations served by ``mmap`` during a stream: glibc's own upper bound for its dynamic threshold."""
TRIM_DEFAULT: Final = 128 << 10
"""glibc's default ``M_TRIM_THRESHOLD``, set again when the last stream ends."""
MMAP_DEFAULT: Final = 128 << 10
"""glibc's initial ``M_MMAP_THRESHOLD``, set again when the last stream ends: without it the rest of
the process (a backup run's objects phase after the etcd stream, the daemon's next runs) kept the
stream's 32 MiB, every freed block left in the heaps. glibc's threshold then stays fixed at this
value: once set (by ``mallopt``, as on entry) it no longer adapts to the freed blocks' sizes."""

_lock = threading.Lock()
_depth = 0
_libc: Any = None
_looked = False


def _mallopt() -> Any:
    """glibc's functions through ctypes, or None (another libc, or no ctypes)."""
    global _libc, _looked  # noqa: PLW0603 - one lookup per process
    if not _looked:
        _looked = True
        try:
            import ctypes

            libc = ctypes.CDLL(None)  # the process's own symbols: its C library's malloc
            if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                _libc = libc
        except (ImportError, OSError):
            _libc = None
    return _libc


@contextmanager
def freed_memory_kept() -> Iterator[None]:
    """Freed memory stays in the process inside (see the module); streams may nest or overlap: the
    thresholds go back when the last one ends."""
    global _depth  # noqa: PLW0603
    libc = _mallopt()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_FROM)
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_KEPT)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_THRESHOLD, MMAP_DEFAULT)
                libc.mallopt(M_TRIM_THRESHOLD, TRIM_DEFAULT)
                libc.malloc_trim(0)


def release_freed() -> None:
    """Return the free memory of every heap to the kernel now (``malloc_trim(0)``), unless a stream
    keeps it (inside :func:`freed_memory_kept`); nothing elsewhere than glibc. For a phase that
    frees much before one that allocates large buffers: a cluster capture's objects leave holes in
    the heaps, and the records stream's 16 MiB windows land above them (docs/performance.md)."""
    libc = _mallopt()
    if libc is None:
        return
    with _lock:
        if _depth == 0:
            libc.malloc_trim(0)


def map_large_blocks() -> None:
    """From now on, outside a stream, every block above ``MMAP_DEFAULT`` is its own mapping, returned
    to the kernel when freed (glibc's initial threshold, fixed: as after a stream); nothing inside a
    stream (it keeps freed memory on purpose) or elsewhere than glibc. For a phase that makes and frees
    many such blocks over a long time: a cluster capture's objects (packs' runs and headers, index
    tables, list pages) otherwise left them in the heaps and their arenas, ~50-100 bytes an object
    (docs/performance.md)."""
    libc = _mallopt()
    if libc is None:
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_DEFAULT)
