"""Blobs: one chunk of file data or one tree, compressed (zstd) and sealed (AEAD).

A blob's id is the keyed BLAKE3 of its plaintext (``MasterKey.content_id``). Sealed bytes::

    seal(data_key, flag || body, aad = "drkit-blob" || 0x00 || type || id)

``flag`` 0x00: ``body`` is the plaintext; 0x01: ``body`` is a zstd frame of it. The AAD binds the
blob to its type and id, so a blob cannot be swapped for another inside a pack unnoticed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Final

import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.format.crypto import Sealer
from drkit.repo.format.sealing import Openers, WriteKeys

ZSTD_LEVEL: Final = 3
_MIN_COMPRESS: Final = 64
_PROBE: Final = 32 * 1024
_PROBE_ABOVE: Final = 256 * 1024
_FLAG_RAW: Final = 0x00
_FLAG_ZSTD: Final = 0x01
_AAD_PREFIX: Final = b"drkit-blob\x00"
_FLAGS: Final = {_FLAG_RAW: b"\x00", _FLAG_ZSTD: b"\x01"}
_PARTS_ABOVE: Final = 64 * 1024
"""Bodies from this size on are sealed with ``seal_parts`` (fewer copies; below, one AEAD call is cheaper)."""


class BlobType(IntEnum):
    DATA = 0
    TREE = 1


_TYPE_BYTE: Final = {t: bytes([t]) for t in BlobType}

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = {}
        _local.compressors = cache
    c = cache.get(level)
    if c is None:
        c = cache[level] = zstandard.ZstdCompressor(level=level)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _local.decompressor = d
    return d


def blob_aad(blob_type: BlobType, blob_id: bytes) -> bytes:
    return _AAD_PREFIX + bytes([blob_type]) + blob_id


def _probe() -> zstandard.ZstdCompressor:
    c: zstandard.ZstdCompressor | None = getattr(_local, "probe", None)
    if c is None:
        c = zstandard.ZstdCompressor(level=1, write_content_size=False)
        _local.probe = c
    return c


def looks_incompressible(raw: bytes | memoryview) -> bool:
    """A cheap guess for large chunks: zstd level 1 on two 32 KiB samples saves under 3%."""
    if len(raw) < _PROBE_ABOVE:
        return False
    mid = len(raw) // 2
    sample = b"".join((raw[:_PROBE], raw[mid : mid + _PROBE]))
    return len(_probe().compress(sample)) > len(sample) * 0.97


def seal_blob(
    keys: WriteKeys,
    blob_type: BlobType,
    blob_id: bytes,
    raw: bytes | memoryview,
    *,
    compress: bool = True,
    level: int = ZSTD_LEVEL,
) -> bytes | bytearray:
    """Compress (when it shrinks; ``level`` 0: never) and seal ``raw``. Thread-safe: one compressor
    per thread."""
    body: bytes | memoryview = raw
    flag = _FLAG_RAW
    if compress and level > 0 and len(raw) >= _MIN_COMPRESS and not looks_incompressible(raw):
        packed = _compressor(level).compress(raw)
        if len(packed) < len(raw):
            body, flag = packed, _FLAG_ZSTD
    if len(body) >= _PARTS_ABOVE:  # the flag and the body sealed as they are: no copy of the body
        return keys.seal_parts((_FLAGS[flag], body), blob_aad(blob_type, blob_id))
    return keys.seal(_FLAGS[flag] + body, blob_aad(blob_type, blob_id))


def seal_blobs(
    keys: WriteKeys,
    blob_type: BlobType,
    blobs: Iterable[tuple[bytes, bytes]],
    *,
    level: int = ZSTD_LEVEL,
) -> list[bytes | bytearray]:
    """``seal_blob`` for many (id, raw) pairs, the same bytes each (up to the random nonces).

    Blobs too small for the incompressibility probe (a backup of small files seals one blob per
    file) go to the key's compiled batch (``drkit/native/seal``) when it has one: hashing, zstd and
    AES-GCM of the whole batch without the GIL. Else, one by one, with the compressor, the key's
    ``seal`` and the constant prefixes looked up once, not per blob."""
    items = blobs if type(blobs) is list else list(blobs)
    if all(type(raw) is bytes and len(raw) < _PROBE_ABOVE for _, raw in items):
        ids, raws = _columns(items)
        batch = keys.seal_blobs(level, _MIN_COMPRESS, _AAD_PREFIX + bytes([blob_type]), ids, raws)
        if batch is not None:
            return list(batch)
    seal, seal_parts = keys.seal, keys.seal_parts
    compress = _compressor(level).compress if level > 0 else None
    raw_flag, zstd_flag = _FLAGS[_FLAG_RAW], _FLAGS[_FLAG_ZSTD]
    prefix = _AAD_PREFIX + bytes([blob_type])
    out: list[bytes | bytearray] = []
    for blob_id, raw in items:
        flag, body = raw_flag, raw
        if compress is not None and len(raw) >= _MIN_COMPRESS and not looks_incompressible(raw):
            packed = compress(raw)
            if len(packed) < len(raw):
                flag, body = zstd_flag, packed
        if len(body) >= _PARTS_ABOVE:  # as seal_blob: no copy of the body
            out.append(seal_parts((flag, body), prefix + blob_id))
        else:
            out.append(seal(flag + body, prefix + blob_id))
    return out


def _columns(blobs: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    return [blob_id for blob_id, _ in blobs], [raw for _, raw in blobs]


def open_blob(
    keys: Openers,
    sealer_id: bytes,
    blob_type: BlobType,
    blob_id: bytes,
    sealed: bytes | memoryview,
    *,
    where: str,
) -> bytes:
    """Open a sealed blob and check that its plaintext hashes to ``blob_id``. ``where`` names it."""
    return open_blob_with(keys.sealer(sealer_id), keys.content_id, blob_type, blob_id, sealed, where=where)


def open_blob_with(
    sealer: Sealer,
    content_id: Callable[[bytes], bytes],
    blob_type: BlobType,
    blob_id: bytes,
    sealed: bytes | memoryview,
    *,
    where: str,
) -> bytes:
    """``open_blob`` with the pack's sealer already looked up (a reader of many blobs of one pack
    looks it up once)."""
    try:
        payload = sealer.open(sealed, _AAD_PREFIX + _TYPE_BYTE[blob_type] + blob_id)
    except VerificationFailed:
        raise VerificationFailed(f"blob {blob_id.hex()} in {where} does not authenticate") from None
    if not payload:
        raise VerificationFailed(f"blob {blob_id.hex()} in {where} is empty")
    flag, body = payload[0], payload[1:]
    if flag == _FLAG_RAW:
        raw = body
    elif flag == _FLAG_ZSTD:
        try:
            raw = _decompressor().decompress(body)
        except zstandard.ZstdError as e:
            raise VerificationFailed(f"blob {blob_id.hex()} in {where} does not decompress: {e}") from None
    else:
        raise VerificationFailed(f"blob {blob_id.hex()} in {where} has unknown flag 0x{flag:02x}")
    if content_id(raw) != blob_id:
        raise VerificationFailed(f"blob {blob_id.hex()} in {where} does not match its id")
    return raw
