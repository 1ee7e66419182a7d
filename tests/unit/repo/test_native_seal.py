"""The compiled batch sealer (drkit/native/seal, ``drkit.native._seal``): what it writes is what the
Python path writes -- the same content ids, the same choice of compression, blobs that the Python
openers open under the master key and a write-only session's key -- and bad arguments are refused
without a word of the key."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from drkit import native
from drkit.repo.format import blobs as blobs_module
from drkit.repo.format import crypto, masterkey
from drkit.repo.format.blobs import BlobType, open_blob, seal_blob, seal_blobs
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers, SessionWriteKeys, WriteKeys

MK = MasterKey.generate()
SEAL = native.load("_seal")
needs_native = pytest.mark.skipif(SEAL is None, reason="drkit.native._seal not built (make venv)")


def _small_blobs() -> list[bytes]:
    """Text, noise, the edges of the compression threshold (64 bytes), empty, and the largest blob
    the batch takes (just under the probe's 256 KiB)."""
    rng = random.Random(7)
    text = [b"GET /api/v1/namespaces/%d/pods 200\n" % (i % 5) * rng.randrange(1, 400) for i in range(80)]
    noise = [rng.randbytes(rng.randrange(1, 5000)) for _ in range(40)]
    edges = [b"", b"a", b"b" * 63, b"c" * 64, b"d" * 65, rng.randbytes(64)]
    largest = [b"x" * (256 * 1024 - 1), rng.randbytes(256 * 1024 - 1)]
    return text + noise + edges + largest


def _session_keys() -> tuple[WriteKeys, Openers]:
    session = MK.writer_key().start_session()
    return SessionWriteKeys(session), Openers(MK, lambda _sid, _check: session.wrapped)


def _master_keys() -> tuple[WriteKeys, Openers]:
    return MasterWriteKeys(MK), Openers(MK, lambda _sid, _check: b"")


KEYS: dict[str, Callable[[], tuple[WriteKeys, Openers]]] = {"master": _master_keys, "session": _session_keys}


@needs_native
@pytest.mark.parametrize("who", sorted(KEYS))
@pytest.mark.parametrize("level", [0, 1, 3])
def test_a_batch_seals_as_seal_blob_does(who: str, level: int) -> None:
    keys, openers = KEYS[who]()
    raws = _small_blobs()
    ids = keys.content_ids(raws)
    batch = keys.seal_blobs(level, 64, b"drkit-blob\x00" + bytes([BlobType.DATA]), ids, raws)
    assert batch is not None
    assert seal_blobs(keys, BlobType.DATA, list(zip(ids, raws, strict=True)), level=level) is not None
    for blob_id, raw, sealed in zip(ids, raws, batch, strict=True):
        one = seal_blob(keys, BlobType.DATA, blob_id, raw, level=level)
        assert len(sealed) == len(one)  # the same choice of compression; only the nonces differ
        assert sealed[1:13] != one[1:13]
        opened = open_blob(openers, keys.sealer_id, BlobType.DATA, blob_id, sealed, where="test")
        assert opened == raw
        with pytest.raises(Exception, match="authenticate"):  # the blob's type and id are bound in
            open_blob(openers, keys.sealer_id, BlobType.TREE, blob_id, sealed, where="test")
        other = ids[0] if blob_id != ids[0] else ids[1]
        with pytest.raises(Exception, match="authenticate"):
            open_blob(openers, keys.sealer_id, BlobType.DATA, other, sealed, where="test")
    assert len({sealed[1:13] for sealed in batch}) == len(batch)  # a fresh nonce for each blob


@needs_native
def test_compressible_blobs_are_compressed_and_noise_is_not() -> None:
    keys, openers = _master_keys()
    text, noise = b"kind: ConfigMap\n" * 1000, random.Random(3).randbytes(16_000)
    batch = keys.seal_blobs(1, 64, b"p", [b"1" * 32, b"2" * 32], [text, noise])
    assert batch is not None
    assert len(batch[0]) < len(text) // 10
    assert len(batch[1]) == len(noise) + crypto.OVERHEAD + 1  # stored raw: zstd did not make it smaller
    assert openers.open(MASTER_SEALER, batch[1], b"p" + b"2" * 32) == b"\x00" + noise


def test_content_ids_are_the_keyed_blake3_of_each(monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [*_small_blobs(), b"y" * (3 << 20)]
    one_by_one = [MK.content_id(raw) for raw in raws]
    assert MK.content_ids(raws) == one_by_one
    assert MK.writer_key().content_ids(raws) == one_by_one
    assert MK.content_ids([]) == []
    monkeypatch.setattr(masterkey, "_native", None)  # the Python path (DRKIT_NO_NATIVE, or not built)
    assert MK.content_ids(raws) == one_by_one


def test_without_the_compiled_module_the_batch_is_sealed_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    keys, openers = _master_keys()
    monkeypatch.setattr(crypto, "_native", None)
    raws = _small_blobs()
    ids = keys.content_ids(raws)
    assert keys.seal_blobs(1, 64, b"p", ids, raws) is None
    sealed = seal_blobs(keys, BlobType.DATA, list(zip(ids, raws, strict=True)), level=1)
    for blob_id, raw, blob in zip(ids, raws, sealed, strict=True):
        assert open_blob(openers, MASTER_SEALER, BlobType.DATA, blob_id, blob, where="test") == raw


def test_large_or_viewed_blobs_take_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch has no incompressibility probe (blobs of 256 KiB or more) and takes bytes only."""
    keys, openers = _master_keys()
    calls: list[int] = []
    real = keys.seal_blobs

    def counted(*args: object) -> list[bytes] | None:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "seal_blobs", counted)
    big = random.Random(5).randbytes(blobs_module._PROBE_ABOVE)
    for raw in (big, b"small"):
        pairs = [(keys.content_id(raw), raw), (keys.content_id(b"t" * 100), b"t" * 100)]
        sealed = seal_blobs(keys, BlobType.DATA, pairs, level=1)
        for (blob_id, r), blob in zip(pairs, sealed, strict=True):
            assert open_blob(openers, MASTER_SEALER, BlobType.DATA, blob_id, blob, where="test") == r
    assert calls == [1]  # only the batch of small bytes


@needs_native
def test_bad_arguments_are_refused_without_the_key() -> None:
    assert SEAL is not None
    key = bytes(range(31))
    with pytest.raises(ValueError, match=r"^an AEAD key is 32 bytes, not 31$"):
        SEAL.seal_blobs(key, 1, 64, b"", [b"i" * 32], [b"data"])
    with pytest.raises(ValueError, match=r"^an id key is 32 bytes, not 31$"):
        SEAL.content_ids(key, [b"data"])
    with pytest.raises(ValueError, match=r"^2 ids for 1 blobs$"):
        SEAL.seal_blobs(bytes(32), 1, 64, b"", [b"i" * 32, b"j" * 32], [b"data"])
    with pytest.raises(TypeError):
        SEAL.seal_blobs(bytes(32), 1, 64, b"", [b"i" * 32], [memoryview(b"data")])
    with pytest.raises(TypeError):
        SEAL.content_ids(bytes(32), ["text"])
