"""A pack's entries held compactly: three flat buffers instead of an object per blob.

``PackEntry`` objects cost ~200 bytes per blob once their id and numbers are counted (the object,
the id's ``bytes``, three ``int``\\ s, a tuple slot); a capture of 100k API objects or an index of
a million blobs held them for every blob. :class:`PackEntries` keeps the same entries in 49 bytes
each — one type byte, the 32-byte id, offset u64, length u32 and raw length u32 — and makes a
``PackEntry`` only when one is asked for. It is a read-only sequence of ``PackEntry`` (iteration,
indexing, slicing, ``==`` with another ``PackEntries``); the master index looks blobs up in its
buffers directly (:mod:`drkit.repo.format.index`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, overload

from drkit.repo.format.blobs import BlobType

ID_SIZE: Final = 32
NUMS: Final = struct.Struct("<QII")  # offset, length, raw length
_TYPES: Final = {int(t): t for t in BlobType}
_TYPE_BYTES: Final = bytes(int(t) for t in BlobType)


@dataclass(frozen=True, slots=True)
class PackEntry:
    """One blob in a pack (``drkit.repo.format.pack``'s header entry)."""

    type: BlobType
    id: bytes
    offset: int
    length: int
    raw_length: int


class PackEntries(Sequence[PackEntry]):
    """A pack's entries, in order, in three buffers (``types``: 1 byte, ``ids``: 32 bytes and
    ``nums``: 16 bytes per entry)."""

    __slots__ = ("ids", "nums", "types")

    def __init__(self, types: bytes, ids: bytes, nums: bytes) -> None:
        n = len(types)
        if len(ids) != n * ID_SIZE or len(nums) != n * NUMS.size:
            raise ValueError("pack entry buffers of different lengths")
        if types.translate(None, _TYPE_BYTES):
            raise ValueError(f"an unknown blob type among {sorted(set(types) - set(_TYPE_BYTES))}")
        self.types = types
        self.ids = ids
        self.nums = nums

    @classmethod
    def of(cls, entries: Iterable[PackEntry]) -> PackEntries:
        """Entries from ``PackEntry`` objects (``ValueError`` for an id that is not 32 bytes, an
        unknown type or a number out of range)."""
        if isinstance(entries, PackEntries):
            return entries
        b = PackEntriesBuilder()
        for e in entries:
            b.append(e.type, e.id, e.offset, e.length, e.raw_length)
        return b.freeze()

    def __len__(self) -> int:
        return len(self.types)

    @overload
    def __getitem__(self, i: int) -> PackEntry: ...
    @overload
    def __getitem__(self, i: slice) -> PackEntries: ...
    def __getitem__(self, i: int | slice) -> PackEntry | PackEntries:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                return PackEntries.of([self[j] for j in range(start, stop, step)])
            stop = max(start, stop)
            return PackEntries(
                self.types[start:stop],
                self.ids[start * ID_SIZE : stop * ID_SIZE],
                self.nums[start * NUMS.size : stop * NUMS.size],
            )
        n = len(self.types)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("pack entry index out of range")
        return self.entry(i)

    def entry(self, i: int) -> PackEntry:
        """Entry ``i`` (no bounds check beyond the buffers')."""
        o = i * ID_SIZE
        offset, length, raw = NUMS.unpack_from(self.nums, i * NUMS.size)
        return PackEntry(_TYPES[self.types[i]], self.ids[o : o + ID_SIZE], offset, length, raw)

    def __iter__(self) -> Iterator[PackEntry]:
        types, ids = self.types, self.ids
        for i, (offset, length, raw) in enumerate(NUMS.iter_unpack(self.nums)):
            o = i * ID_SIZE
            yield PackEntry(_TYPES[types[i]], ids[o : o + ID_SIZE], offset, length, raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackEntries):
            return self.types == other.types and self.ids == other.ids and self.nums == other.nums
        if isinstance(other, tuple | list):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.types, self.ids, self.nums))

    def __repr__(self) -> str:
        return f"PackEntries({list(self)!r})"


class PackEntriesBuilder:
    """Entries appended one by one into growing buffers; :meth:`freeze` makes the ``PackEntries``."""

    __slots__ = ("_ids", "_nums", "_types")

    def __init__(self) -> None:
        self._types = bytearray()
        self._ids = bytearray()
        self._nums = bytearray()

    def __len__(self) -> int:
        return len(self._types)

    def append(self, blob_type: int, blob_id: bytes, offset: int, length: int, raw_length: int) -> None:
        if len(blob_id) != ID_SIZE:
            raise ValueError(f"a blob id of {len(blob_id)} bytes, not {ID_SIZE}")
        if blob_type not in _TYPES:
            raise ValueError(f"unknown blob type {blob_type!r}")
        try:
            nums = NUMS.pack(offset, length, raw_length)
        except struct.error as e:
            raise ValueError(f"a pack entry's number out of range: {[offset, length, raw_length]!r}") from e
        self._types.append(blob_type)
        self._ids += blob_id
        self._nums += nums

    def freeze(self) -> PackEntries:
        return PackEntries(bytes(self._types), bytes(self._ids), bytes(self._nums))
