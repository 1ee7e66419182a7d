"""Writing a new file's bytes from their parts, and dropping them from the page cache once durable.

A local repository's objects are written through the page cache with ``pwritev``: a pack's sealed
blobs as they are, up to ``IOV_MAX`` of them a call, never joined into one buffer. The caller fsyncs
the file, then :func:`drop_cached` asks the kernel to forget its pages (``POSIX_FADV_DONTNEED``):
they are clean by then, so a backup of a large volume does not push the node's own files out of the
page cache, and nothing of the repository stays in memory after it.

Until 2026-12-04 objects of 256 KiB and more were written with ``O_DIRECT`` from an aligned buffer.
On this project's machines (Firecracker VMs) the host does a guest's disk I/O on the guest's own CPU
allowance: with both CPUs busy, as while a backup seals, 1 GiB of direct writes, each file fsynced,
cost ~2.6-3.6 s of steal time against ~0.9 s of steal and ~0.6 s of the guest's CPU through the page
cache (``python -m bench.write_cost``), and the mixed tree's first backup took 0.90x as long without
``O_DIRECT`` (docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

IOV_MAX: Final = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
"""Most buffers one ``pwritev`` takes (1024 on Linux)."""


def write_parts(fd: int, parts: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write ``parts`` one after the other from the start of the new file ``fd`` (no fsync: the
    caller's). A short write goes on from the byte where it stopped."""
    views = [v for v in (memoryview(p).cast("B") for p in parts) if len(v)]
    offset = 0
    i = 0  # views[:i] are written
    while i < len(views):
        batch = views[i : i + IOV_MAX]
        written = os.pwritev(fd, batch, offset)
        if written <= 0:
            raise OSError(f"pwritev wrote {written} bytes of {sum(len(v) for v in batch)} at offset {offset}")
        offset += written
        for view in batch:  # past the views written whole; the first one written in part is cut
            if written < len(view):
                views[i] = view[written:]
                break
            written -= len(view)
            i += 1


def drop_cached(fd: int) -> None:
    """Ask the kernel to drop ``fd``'s pages from the page cache (after an fsync: they are clean).
    Advice only: where the call is missing or refused, nothing changes but the memory kept."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        return
