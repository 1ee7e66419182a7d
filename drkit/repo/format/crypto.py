"""Authenticated encryption of repository objects: a thin, versioned layer over ``cryptography``'s AEADs.

A sealed blob describes itself, so that a reader needs only the key and the associated data::

    +---------+-----------+---------------------------+
    | alg (1) | nonce (12)| ciphertext || tag (16)    |
    +---------+-----------+---------------------------+

``alg`` is ``0x01`` for AES-256-GCM and ``0x02`` for ChaCha20-Poly1305. The nonce is 12 random bytes
drawn from ``os.urandom`` for every seal. The AEAD's associated data is ``alg || aad``: the algorithm
byte is authenticated with the caller's context. Nothing here invents a primitive; see docs/keys.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from enum import IntEnum
from typing import Final, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from drkit import native
from drkit.errors import VerificationFailed

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
OVERHEAD: Final = 1 + NONCE_SIZE + TAG_SIZE
"""Bytes a sealed blob adds to its plaintext."""

_native = native.load("_seal")  # drkit/native/seal: a batch of blobs sealed without the GIL


class Algorithm(IntEnum):
    """The first byte of a sealed blob."""

    AES_256_GCM = 0x01
    CHACHA20_POLY1305 = 0x02


DEFAULT_ALGORITHM: Final = Algorithm.AES_256_GCM


class Sealer:
    """An AEAD key ready for many seals and opens (the cipher objects are built once).

    Holds key material: it prints nothing of it and refuses to be pickled.
    """

    __slots__ = ("_aes", "_ciphers", "_key")

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key  # for the compiled batch (``seal_blobs``); the cipher objects hold it too
        self._ciphers: dict[int, AESGCM | ChaCha20Poly1305] = {  # by the algorithm byte
            Algorithm.AES_256_GCM: AESGCM(key),
            Algorithm.CHACHA20_POLY1305: ChaCha20Poly1305(key),
        }
        self._aes = algorithms.AES(key)  # for seal_parts: GCM fed piece by piece

    def seal_parts(self, parts: Sequence[bytes | bytearray | memoryview], aad: bytes) -> bytearray:
        """:meth:`seal` (AES-256-GCM) of the concatenation of ``parts``, without joining them: the
        ciphertext is written straight into the one buffer returned (a large blob's bytes are not
        copied into a plaintext, then a ciphertext, then a blob). The same layout as :meth:`seal`."""
        size = sum(len(p) for p in parts)
        start = 1 + NONCE_SIZE
        out = bytearray(start + size + TAG_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        out[0] = Algorithm.AES_256_GCM
        out[1:start] = nonce
        encryptor = Cipher(self._aes, modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(_HEADERS[Algorithm.AES_256_GCM] + aad)
        view = memoryview(out)
        pos = start
        for part in parts:
            # GCM is a stream mode: as many bytes out as in; the room after pos is len(part) + 16 or more
            pos += encryptor.update_into(part, view[pos:])
        encryptor.finalize()
        if pos != start + size:
            raise AssertionError("AES-GCM wrote a different number of bytes than it was given")
        view[pos:] = encryptor.tag
        return out

    def seal_blobs(
        self, level: int, min_compress: int, aad_prefix: bytes, ids: list[bytes], raws: list[bytes]
    ) -> list[bytes] | None:
        """Each of ``raws`` as ``seal(flag || body, aad_prefix + ids[i])`` (AES-256-GCM): ``body`` a zstd
        frame at ``level`` with flag 0x01 when the raw bytes have ``min_compress`` or more and the
        frame is smaller, else the raw bytes with flag 0x00 (``drkit.repo.format.blobs``'s layout,
        without its incompressibility probe of large blobs). The whole batch in one call of the
        compiled module, without the GIL; None when it is not there (the caller seals one by one)."""
        if _native is None:
            return None
        sealed: list[bytes] = _native.seal_blobs(self._key, level, min_compress, aad_prefix, ids, raws)
        return sealed

    def seal(self, plaintext: bytes, aad: bytes, *, algorithm: Algorithm = DEFAULT_ALGORITHM) -> bytes:
        """Encrypt and authenticate ``plaintext``, binding ``aad`` (which is not stored in the blob)."""
        header = _HEADERS[algorithm]
        nonce = os.urandom(NONCE_SIZE)
        return b"".join((header, nonce, self._ciphers[algorithm].encrypt(nonce, plaintext, header + aad)))

    def open(self, blob: bytes | memoryview, aad: bytes) -> bytes:
        """Decrypt a sealed blob; ``VerificationFailed`` when it is malformed or does not authenticate."""
        if len(blob) < OVERHEAD:
            raise VerificationFailed(f"sealed blob too short ({len(blob)} bytes): authentication failed")
        algorithm = blob[0]
        cipher = self._ciphers.get(algorithm)  # by the byte: no Enum call per blob
        if cipher is None:
            raise VerificationFailed(
                f"sealed blob has unknown algorithm byte 0x{algorithm:02x}: authentication failed"
            )
        view = memoryview(blob)
        try:
            return cipher.decrypt(view[1 : 1 + NONCE_SIZE], view[1 + NONCE_SIZE :], _HEADERS[algorithm] + aad)
        except InvalidTag:
            raise VerificationFailed("sealed blob authentication failed") from None

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Sealer is not pickled: it holds a key")


_HEADERS: Final[dict[int, bytes]] = {alg: bytes([alg]) for alg in Algorithm}


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        # The length only: never the key.
        raise ValueError(f"an AEAD key is {KEY_SIZE} bytes, not {len(key)}")


def seal(key: bytes, plaintext: bytes, aad: bytes, *, algorithm: Algorithm = DEFAULT_ALGORITHM) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key``, binding ``aad`` (not stored in the blob).

    For many blobs under one key, :class:`Sealer` avoids building the cipher each time.
    """
    return Sealer(key).seal(plaintext, aad, algorithm=algorithm)


def open_sealed(key: bytes, blob: bytes | memoryview, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal`. Any change to the blob, the key or ``aad`` fails.

    Raises ``VerificationFailed`` (never a library exception) when the blob is malformed or does not
    authenticate.
    """
    return Sealer(key).open(blob, aad)
