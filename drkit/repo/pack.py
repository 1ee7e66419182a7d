"""Packs: many sealed blobs in one stored object, with a sealed header listing them.

Byte layout (little-endian)::

    "DRKPACK1"                      8 bytes magic
    blob 0 | blob 1 | ...           sealed blobs (drkit.repo.blobs), back to back
    header                          seal(data_key, entries, aad = "drkit-pack-header")
    header_length                   u32: length of the sealed header

    entry = type u8 | id 32 bytes | offset u64 | length u32 | raw_length u32   (45 bytes)

The pack's name (and store key ``data/<2 hex>/<name>``) is the BLAKE3 of all of these bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from drkit.errors import VerificationFailed
from drkit.repo.blobs import BlobType
from drkit.repo.keys import MasterKey

PACK_MAGIC: Final = b"DRKPACK1"
HEADER_AAD: Final = b"drkit-pack-header"
_ENTRY: Final = struct.Struct("<B32sQII")
_LEN: Final = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class PackEntry:
    type: BlobType
    id: bytes
    offset: int
    length: int
    raw_length: int


class PackBuilder:
    """Accumulates sealed blobs; :meth:`finish` returns the pack's bytes."""

    def __init__(self) -> None:
        self._buf = bytearray(PACK_MAGIC)
        self.entries: list[PackEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def size(self) -> int:
        return len(self._buf)

    def add(self, blob_type: BlobType, blob_id: bytes, sealed: bytes, raw_length: int) -> None:
        self.entries.append(PackEntry(blob_type, blob_id, len(self._buf), len(sealed), raw_length))
        self._buf += sealed

    def finish(self, key: MasterKey) -> bytes:
        header = b"".join(_ENTRY.pack(e.type, e.id, e.offset, e.length, e.raw_length) for e in self.entries)
        sealed = key.seal(header, HEADER_AAD)
        self._buf += sealed
        self._buf += _LEN.pack(len(sealed))
        return bytes(self._buf)


def read_header(key: MasterKey, data: bytes, *, where: str) -> list[PackEntry]:
    """Parse and authenticate a pack's header; check every entry lies inside the blob area."""
    if len(data) < len(PACK_MAGIC) + _LEN.size or not data.startswith(PACK_MAGIC):
        raise VerificationFailed(f"{where} is not a drkit pack")
    (header_len,) = _LEN.unpack_from(data, len(data) - _LEN.size)
    header_start = len(data) - _LEN.size - header_len
    if header_start < len(PACK_MAGIC):
        raise VerificationFailed(f"{where} has a bad header length")
    try:
        header = key.open(data[header_start : len(data) - _LEN.size], HEADER_AAD)
    except VerificationFailed:
        raise VerificationFailed(f"the header of {where} does not authenticate") from None
    if len(header) % _ENTRY.size:
        raise VerificationFailed(f"the header of {where} has a partial entry")
    entries: list[PackEntry] = []
    for t, bid, offset, length, raw_length in _ENTRY.iter_unpack(header):
        if (
            t not in (BlobType.DATA, BlobType.TREE)
            or offset < len(PACK_MAGIC)
            or offset + length > header_start
        ):
            raise VerificationFailed(f"the header of {where} lists a blob outside the pack")
        entries.append(PackEntry(BlobType(t), bid, offset, length, raw_length))
    return entries
