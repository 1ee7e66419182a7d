"""A read-only, seekable file over a list of buffers: an object's body sent from its parts.

A pack is built as a list of sealed blobs (``PackBuilder.finish_parts``). Joining them into one
``bytes`` before an S3 upload holds the pack twice (16 MiB more per upload in flight); the HTTP client
reads a body given as a file a block at a time instead, and seeks back to the start to send it again
(a retry, or a signature over the payload). :class:`PartsReader` serves those reads from the parts.
"""

from __future__ import annotations

import bisect
import io
import itertools
import os
from collections.abc import Sequence
from typing import TypeAlias

Buffer: TypeAlias = bytes | bytearray | memoryview


class PartsReader(io.RawIOBase):
    """The concatenation of ``parts`` as a binary file, without copying them first. The parts must not
    change while it is read."""

    def __init__(self, parts: Sequence[Buffer]) -> None:
        super().__init__()
        self._views = [v for v in (memoryview(p).cast("B") for p in parts) if len(v)]
        ends = list(itertools.accumulate(len(v) for v in self._views))
        self._starts = [0, *ends[:-1]]
        self._size = ends[-1] if ends else 0
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._checkClosed()
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        self._checkClosed()
        out = memoryview(buffer).cast("B")
        done = 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        while done < len(out) and self._pos < self._size:
            view = self._views[i]
            at = self._pos - self._starts[i]
            take = min(len(view) - at, len(out) - done)
            out[done : done + take] = view[at : at + take]
            done += take
            self._pos += take
            i += 1
        return done

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or None), joined from the
        parts in one step (``bytes.join`` releases the GIL from 1 MiB on)."""
        self._checkClosed()
        left = max(0, self._size - self._pos)
        want = left if size is None or size < 0 else min(size, left)
        if want == 0:
            return b""
        pieces: list[memoryview] = []
        got = 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        while got < want:
            view = self._views[i]
            at = self._pos + got - self._starts[i]
            take = min(len(view) - at, want - got)
            pieces.append(view[at : at + take])
            got += take
            i += 1
        self._pos += want
        return b"".join(pieces)

    def readall(self) -> bytes:
        return self.read(-1)
