"""Packs: many sealed blobs in one stored object, with a sealed header listing them.

Byte layout (little-endian)::

    "DRKPACK1"                      8 bytes magic
    sealer id                       16 bytes: zero = master data key, else a write-only session
    blob 0 | blob 1 | ...           sealed blobs (drkit.repo.format.blobs), back to back
    header                          seal(sealer's key, entries, aad = "drkit-pack-header")
    header_length                   u32: length of the sealed header

    entry = type u8 | id 32 bytes | offset u64 | length u32 | raw_length u32   (45 bytes)

The pack's name (and store key ``data/<2 hex>/<name>``) is the BLAKE3 of all of these bytes.
"""

from __future__ import annotations

import struct
from typing import Final

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.packentries import ID_SIZE, NUMS, PackEntries, PackEntriesBuilder, PackEntry
from drkit.repo.format.sealing import SEALER_ID_SIZE, Openers, WriteKeys

PACK_MAGIC: Final = b"DRKPACK1"
HEADER_AAD: Final = b"drkit-pack-header"
BLOBS_START: Final = len(PACK_MAGIC) + SEALER_ID_SIZE
_ENTRY: Final = struct.Struct("<B32sQII")
_LEN: Final = struct.Struct("<I")
SMALL_BLOB: Final = 4096
"""Sealed blobs below this are copied into runs of up to ``SMALL_RUN`` bytes instead of kept as one
object each: a pack of 100k small blobs is then ~16 buffers, not 100k objects left to the allocator."""
SMALL_RUN: Final = 1 << 20


class PackBuilder:
    """Accumulates sealed blobs; :meth:`finish` returns the pack's bytes."""

    def __init__(self, sealer_id: bytes) -> None:
        if len(sealer_id) != SEALER_ID_SIZE:
            raise ValueError("a sealer id is 16 bytes")
        # the parts, joined once by finish(): each blob's bytes are copied once, into the pack (a
        # growing bytearray copied them on append, again when it grew, and again into bytes)
        self._parts: list[bytes | bytearray] = [PACK_MAGIC + sealer_id]
        self._size = BLOBS_START
        self._run: bytearray | None = None  # the last part, small blobs copied in; None: none open
        self._entries = PackEntriesBuilder()  # 49 bytes a blob, no object per blob

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> PackEntries:
        """The entries so far (a copy of the buffers: call once, when the pack is finished)."""
        return self._entries.freeze()

    @property
    def size(self) -> int:
        return self._size

    def add(self, blob_type: BlobType, blob_id: bytes, sealed: bytes | bytearray, raw_length: int) -> None:
        """Append a sealed blob (a large one kept by reference until :meth:`finish`: not to be
        mutated; a small one copied into the current run)."""
        n = len(sealed)
        self._entries.append(blob_type, blob_id, self._size, n, raw_length)
        self._size += n
        if n < SMALL_BLOB:
            run = self._run
            if run is not None and len(run) + n <= SMALL_RUN:
                run += sealed
            else:
                self._run = run = bytearray(sealed)
                self._parts.append(run)
        else:
            self._parts.append(sealed)
            self._run = None

    def finish(self, keys: WriteKeys) -> bytes:
        """The pack's bytes. The builder lets go of the sealed blobs: call once (``entries`` stays)."""
        return b"".join(self.finish_parts(keys))

    def finish_parts(self, keys: WriteKeys) -> list[bytes | bytearray]:
        """The pack's bytes as the list of its parts in order (magic and sealer id, the sealed blobs,
        the sealed header, its length), not joined: a store that writes them one after the other
        (``LocalStore.put_parts``; ``S3Store.put_parts`` sends them as one body) never holds the pack
        twice. Call once, like :meth:`finish`."""
        e = self._entries.freeze()
        ids, types = e.ids, e.types
        header = b"".join(
            _ENTRY.pack(types[i], ids[i * ID_SIZE : (i + 1) * ID_SIZE], *nums)
            for i, nums in enumerate(NUMS.iter_unpack(e.nums))
        )
        sealed = keys.seal(header, HEADER_AAD)
        parts, self._parts = self._parts, []  # the caller's from now on
        self._run = None
        parts += (sealed, _LEN.pack(len(sealed)))
        return parts


def pack_sealer(data: bytes | memoryview, *, where: str) -> bytes:
    """The sealer id of a pack: which key sealed its blobs and header."""
    if len(data) < BLOBS_START + _LEN.size or bytes(data[: len(PACK_MAGIC)]) != PACK_MAGIC:
        raise VerificationFailed(f"{where} is not a drkit pack")
    return bytes(data[len(PACK_MAGIC) : BLOBS_START])


def read_header(keys: Openers, data: bytes, *, where: str) -> tuple[bytes, list[PackEntry]]:
    """Parse and authenticate a pack's header: its sealer id and entries (each inside the blob area)."""
    sealer_id = pack_sealer(data, where=where)
    (header_len,) = _LEN.unpack_from(data, len(data) - _LEN.size)
    header_start = len(data) - _LEN.size - header_len
    if header_start < BLOBS_START:
        raise VerificationFailed(f"{where} has a bad header length")
    try:
        header = keys.open(sealer_id, memoryview(data)[header_start : len(data) - _LEN.size], HEADER_AAD)
    except VerificationFailed as e:
        raise VerificationFailed(f"the header of {where} does not authenticate ({e.message})") from None
    if len(header) % _ENTRY.size:
        raise VerificationFailed(f"the header of {where} has a partial entry")
    entries: list[PackEntry] = []
    for t, bid, offset, length, raw_length in _ENTRY.iter_unpack(header):
        if t not in (BlobType.DATA, BlobType.TREE) or offset < BLOBS_START or offset + length > header_start:
            raise VerificationFailed(f"the header of {where} lists a blob outside the pack")
        entries.append(PackEntry(BlobType(t), bid, offset, length, raw_length))
    return sealer_id, entries
