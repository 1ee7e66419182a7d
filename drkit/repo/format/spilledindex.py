"""The master index's entries of packs already listed by a written index object, kept on disk.

A capture stores one small blob per API object: 200k objects are ~200k entries of 49 bytes, plus
16-32 bytes of hash table each, held until the process ends although an index object in the
repository already lists them. :class:`SpilledBlobs` keeps such entries in an anonymous temporary
file instead (a cache, like the index objects themselves: nothing is lost when it goes with the
process) and in memory only a sorted array of each blob's first 4 id bytes, per batch spilled
("segment"): 4 bytes a blob. A lookup bisects each segment's array; only a prefix hit reads the
file (one ``pread`` of a 41-byte row), so a blob that is not there costs no I/O but for one chance in
~65,000 per segment of 65,536 blobs.

File layout (private to the process): for each spilled pack, its entries' three buffers
(``PackEntries``: types, ids, nums) one after the other; for each segment, one row per blob sorted
by id prefix: record number u32, position u32, type u8, id (32 bytes).
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

from drkit import native
from drkit.repo.format.packentries import ID_SIZE, NUMS, PackEntries

_ROW: Final = struct.Struct("<IIB32s")  # record number, position in the record, type, id
_PREFIX: Final = struct.Struct("=I")  # an id's first 4 bytes, as array("I") reads them


class SpilledEntries(PackEntries):
    """A spilled pack's entries: read from the file when asked for (verify compares a pack's header
    with them; nothing on a capture's path reads them)."""

    __slots__ = ("_n", "_offset", "_spill")

    def __init__(self, spill: SpilledBlobs, offset: int, n: int) -> None:  # no super call: nothing in memory
        self._spill = spill
        self._offset = offset
        self._n = n

    @property
    def types(self) -> bytes:  # type: ignore[override]
        return self._spill.read_at(self._offset, self._n)

    @property
    def ids(self) -> bytes:  # type: ignore[override]
        return self._spill.read_at(self._offset + self._n, self._n * ID_SIZE)

    @property
    def nums(self) -> bytes:  # type: ignore[override]
        return self._spill.read_at(self._offset + self._n * (1 + ID_SIZE), self._n * NUMS.size)

    def num(self, position: int) -> tuple[int, int, int]:
        """Entry ``position``'s offset, length and raw length (one read of 16 bytes)."""
        at = self._offset + self._n * (1 + ID_SIZE) + position * NUMS.size
        offset, length, raw = NUMS.unpack(self._spill.read_at(at, NUMS.size))
        return offset, length, raw

    def loaded(self) -> PackEntries:
        """The entries in memory (one read each of the three buffers)."""
        return PackEntries(self.types, self.ids, self.nums)

    def __len__(self) -> int:
        return self._n


class SpilledBlobs:
    """Entries written to a temporary file, found again by id (see the module's docstring).

    ``spill`` is called under the master index's lock; ``find`` from any thread without one: a
    segment is published (appended to the list) only once its rows are written, and ``pread``
    does not move a shared file position."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="drkit-index-")  # noqa: SIM115 - lives with the index
        self._fd = self._file.fileno()
        self._end = 0
        self._write = threading.Lock()
        self._prefixes: list[array[int]] = []  # each segment's sorted id prefixes
        self._rows: list[int] = []  # each segment's rows' offset in the file
        self._native = native.load("_index")
        self.blobs = 0

    def __len__(self) -> int:
        return self.blobs

    @property
    def segments(self) -> list[array[int]]:
        """Each published segment's sorted id prefixes (the C ``find`` looks there first)."""
        return self._prefixes

    def read_at(self, offset: int, n: int) -> bytes:
        data = os.pread(self._fd, n, offset)
        while len(data) < n:  # a short read of a regular file: only at its end (a bug) or EINTR
            more = os.pread(self._fd, n - len(data), offset + len(data))
            if not more:
                raise OSError(f"the spilled index ends at {offset + len(data)}, {n} bytes wanted")
            data += more
        return data

    def _append(self, data: bytes | bytearray | memoryview) -> int:
        offset = self._end
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._end)
            self._end += n
            view = view[n:]
        return offset

    def spill(self, records: Sequence[tuple[int, PackEntries]]) -> list[SpilledEntries]:
        """Write these records' (number, entries) and publish them as one segment; their entries as
        read from the file, in order."""
        with self._write:
            spilled = []
            numbers = array("I")
            positions = array("I")
            prefixes = array("I")
            for number, e in records:
                n = len(e)
                offset = self._append(e.types)
                self._append(e.ids)
                self._append(e.nums)
                spilled.append(SpilledEntries(self, offset, n))
                numbers.extend([number] * n)
                positions.extend(range(n))
                prefixes.extend(memoryview(e.ids).cast("I")[:: ID_SIZE // 4])
            order = sorted(range(len(prefixes)), key=prefixes.__getitem__)
            rows = bytearray(_ROW.size * len(order))
            entries = dict(records)
            for k, g in enumerate(order):
                number, p = numbers[g], positions[g]
                e = entries[number]
                blob_id = e.ids[p * ID_SIZE : (p + 1) * ID_SIZE]
                _ROW.pack_into(rows, k * _ROW.size, number, p, e.types[p], blob_id)
            self._rows.append(self._append(rows))  # before its prefixes: find reads it after them
            self._prefixes.append(array("I", [prefixes[g] for g in order]))
            self.blobs += len(order)
            return spilled

    def find(self, blob_type: int, blob_id: bytes) -> tuple[int, int] | None:
        """The record number and position of ``(blob_type, blob_id)``, or None."""
        if len(blob_id) != ID_SIZE:
            return None
        (prefix,) = _PREFIX.unpack_from(blob_id)
        if self._native is not None:  # the usual answer, None, without another frame
            hits: list[tuple[int, int]] | None = self._native.prefix_hits(self._prefixes, prefix)
        else:
            hits = self._hits(prefix)
        for s, i in hits or ():
            number, p, t, bid = _ROW.unpack(self.read_at(self._rows[s] + i * _ROW.size, _ROW.size))
            if t == blob_type and bid == blob_id:
                return number, p
        return None

    def _hits(self, prefix: int) -> list[tuple[int, int]]:
        """(segment, position) of each entry with this id prefix, in Python (``prefix_hits`` in C
        makes one call for all segments: ~0.1 us a segment, where ``bisect`` makes a Python int per
        step, ~1.5 us a segment)."""
        found = []
        for s, prefixes in enumerate(list(self._prefixes)):
            i = bisect_left(prefixes, prefix)
            while i < len(prefixes) and prefixes[i] == prefix:
                found.append((s, i))
                i += 1
        return found

    def close(self) -> None:
        self._file.close()
