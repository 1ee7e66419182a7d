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
from enum import IntEnum
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from drkit.errors import VerificationFailed

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
OVERHEAD: Final = 1 + NONCE_SIZE + TAG_SIZE
"""Bytes a sealed blob adds to its plaintext."""


class Algorithm(IntEnum):
    """The first byte of a sealed blob."""

    AES_256_GCM = 0x01
    CHACHA20_POLY1305 = 0x02


DEFAULT_ALGORITHM: Final = Algorithm.AES_256_GCM


def _aead(algorithm: Algorithm, key: bytes) -> AESGCM | ChaCha20Poly1305:
    if algorithm is Algorithm.AES_256_GCM:
        return AESGCM(key)
    return ChaCha20Poly1305(key)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        # The length only: never the key.
        raise ValueError(f"an AEAD key is {KEY_SIZE} bytes, not {len(key)}")


def seal(key: bytes, plaintext: bytes, aad: bytes, *, algorithm: Algorithm = DEFAULT_ALGORITHM) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key``, binding ``aad`` (not stored in the blob)."""
    _check_key(key)
    header = bytes([algorithm])
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + _aead(algorithm, key).encrypt(nonce, plaintext, header + aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal`. Any change to the blob, the key or ``aad`` fails.

    Raises ``VerificationFailed`` (never a library exception) when the blob is malformed or does not
    authenticate.
    """
    _check_key(key)
    if len(blob) < OVERHEAD:
        raise VerificationFailed(f"sealed blob too short ({len(blob)} bytes): authentication failed")
    try:
        algorithm = Algorithm(blob[0])
    except ValueError:
        raise VerificationFailed(
            f"sealed blob has unknown algorithm byte 0x{blob[0]:02x}: authentication failed"
        ) from None
    nonce = blob[1 : 1 + NONCE_SIZE]
    body = blob[1 + NONCE_SIZE :]
    try:
        return _aead(algorithm, key).decrypt(nonce, body, blob[:1] + aad)
    except InvalidTag:
        raise VerificationFailed("sealed blob authentication failed") from None
