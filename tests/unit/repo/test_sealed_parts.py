"""Large blobs sealed without joining (``Sealer.seal_parts``) and packs written without joining
(``PackBuilder.finish_parts``, ``LocalStore.put_parts``): byte for byte the formats of docs/format.md."""

from __future__ import annotations

import os
import random

import pytest

from drkit.repo.format import crypto
from drkit.repo.format.blobs import BlobType, open_blob, seal_blob
from drkit.repo.format.crypto import OVERHEAD, Sealer
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers

MK = MasterKey.generate()
W = MasterWriteKeys(MK)
KEY = bytes(range(32))


def _openers() -> Openers:
    def fetch(_sid: bytes, _check: object) -> bytes:
        raise AssertionError("no sessions here")

    return Openers(MK, fetch)


@pytest.mark.parametrize(
    "parts",
    [
        [b""],
        [b"\x01", b"body" * 1000],
        [b"\x00", memoryview(b"xyz" * 50_000)[7:]],
        [b"a", b"", bytearray(b"b" * 17)],
    ],
)
def test_seal_parts_is_seal_of_the_joined_parts(monkeypatch: pytest.MonkeyPatch, parts: list[bytes]) -> None:
    nonce = os.urandom(crypto.NONCE_SIZE)
    monkeypatch.setattr(crypto.os, "urandom", lambda n: nonce[:n])
    sealer = Sealer(KEY)
    joined = b"".join(bytes(p) for p in parts)
    sealed = sealer.seal_parts(parts, b"context")
    assert bytes(sealed) == sealer.seal(joined, b"context")
    assert len(sealed) == len(joined) + OVERHEAD
    assert sealer.open(bytes(sealed), b"context") == joined


@pytest.mark.parametrize("level", [0, 1, 3])
def test_a_large_blob_sealed_in_parts_opens_whether_compressed_or_raw(level: int) -> None:
    rng = random.Random(level)
    raw = rng.randbytes(200_000) + b"text " * 40_000
    view = memoryview(b"--" + raw)[2:]  # a stream's chunk: a view into a larger window
    bid = W.content_id(view)
    sealed = seal_blob(W, BlobType.DATA, bid, view, level=level)
    assert isinstance(sealed, bytearray)  # the parts path
    assert open_blob(_openers(), MASTER_SEALER, BlobType.DATA, bid, bytes(sealed), where="test") == raw
