from __future__ import annotations

import os

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format import crypto
from drkit.repo.format.crypto import KEY_SIZE, OVERHEAD, Algorithm, open_sealed, seal

KEY = bytes(range(KEY_SIZE))


@pytest.mark.parametrize("algorithm", list(Algorithm))
@pytest.mark.parametrize("size", [0, 1, 1000, 1 << 20])
def test_round_trip(algorithm: Algorithm, size: int) -> None:
    plaintext = os.urandom(size)
    blob = seal(KEY, plaintext, b"pack/abc", algorithm=algorithm)
    assert len(blob) == size + OVERHEAD
    assert blob[0] == algorithm
    assert open_sealed(KEY, blob, b"pack/abc") == plaintext


def test_ciphertext_hides_plaintext_and_nonces_differ() -> None:
    plaintext = b"A" * 64
    first, second = seal(KEY, plaintext, b""), seal(KEY, plaintext, b"")
    assert first != second
    assert plaintext not in first
    assert first[1:13] != second[1:13]


def test_every_byte_is_authenticated() -> None:
    blob = seal(KEY, b"the contents of a chunk", b"aad")
    for i in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= flip
            with pytest.raises(VerificationFailed, match="authentication failed"):
                open_sealed(KEY, bytes(tampered), b"aad")


def test_truncated_and_extended_blobs_fail() -> None:
    blob = seal(KEY, b"payload", b"")
    for bad in (blob[:-1], blob[: OVERHEAD - 1], b"", blob + b"\x00"):
        with pytest.raises(VerificationFailed, match="authentication failed"):
            open_sealed(KEY, bad, b"")


def test_aad_mismatch_fails() -> None:
    blob = seal(KEY, b"payload", b"chunk 1")
    with pytest.raises(VerificationFailed, match="authentication failed"):
        open_sealed(KEY, blob, b"chunk 2")
    with pytest.raises(VerificationFailed):
        open_sealed(KEY, blob, b"")


def test_wrong_key_fails() -> None:
    blob = seal(KEY, b"payload", b"")
    with pytest.raises(VerificationFailed, match="authentication failed"):
        open_sealed(bytes(KEY_SIZE), blob, b"")


def test_algorithm_byte_is_bound() -> None:
    """Relabelling a blob as the other algorithm does not decrypt (the byte is in the AAD)."""
    blob = seal(KEY, b"payload", b"", algorithm=Algorithm.AES_256_GCM)
    relabelled = bytes([Algorithm.CHACHA20_POLY1305]) + blob[1:]
    with pytest.raises(VerificationFailed):
        open_sealed(KEY, relabelled, b"")


def test_unknown_algorithm_byte() -> None:
    blob = b"\x7f" + seal(KEY, b"payload", b"")[1:]
    with pytest.raises(VerificationFailed, match="unknown algorithm"):
        open_sealed(KEY, blob, b"")


def test_key_length_is_checked_without_showing_the_key() -> None:
    short = b"secret-key-bytes"
    with pytest.raises(ValueError, match="32 bytes") as info:
        seal(short, b"", b"")
    assert short.decode() not in str(info.value)
    assert crypto.KEY_SIZE == 32


def test_sealer_matches_the_functions_and_hides_its_key() -> None:
    import pickle

    from drkit.repo.format.crypto import Sealer

    sealer = Sealer(KEY)
    assert open_sealed(KEY, sealer.seal(b"x", b"a"), b"a") == b"x"
    assert sealer.open(seal(KEY, b"y", b"a", algorithm=Algorithm.CHACHA20_POLY1305), b"a") == b"y"
    assert KEY.hex() not in repr(sealer)
    assert repr(sealer) == str(sealer) == "Sealer(<key hidden>)"
    with pytest.raises(TypeError, match=r"^a Sealer is not pickled: it holds a key$"):
        pickle.dumps(sealer)
    with pytest.raises(VerificationFailed):
        sealer.open(sealer.seal(b"x", b"a")[:-1], b"a")


def test_open_accepts_a_memoryview_into_a_larger_buffer() -> None:
    """A pack reader can open a blob in place, without copying it out of the pack."""
    blob = seal(KEY, b"inside a pack", b"a")
    pack = b"header" + blob + b"trailer"
    view = memoryview(pack)[6 : 6 + len(blob)]
    assert open_sealed(KEY, view, b"a") == b"inside a pack"
    with pytest.raises(VerificationFailed):
        open_sealed(KEY, memoryview(pack)[6 : 6 + len(blob) + 1], b"a")
