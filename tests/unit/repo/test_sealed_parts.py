"""Large blobs sealed without joining (``Sealer.seal_parts``) and packs written without joining
(``PackBuilder.finish_parts``, ``LocalStore.put_parts``): byte for byte the formats of docs/format.md."""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path

import pytest

from drkit.repo.format import crypto
from drkit.repo.format.blobs import BlobType, open_blob, seal_blob
from drkit.repo.format.blobwriter import BlobWriter, LockPolicy, WriterSettings, put_once
from drkit.repo.format.crypto import OVERHEAD, Sealer
from drkit.repo.format.index import MasterIndex
from drkit.repo.format.layout import object_name, pack_key
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.pack import read_header
from drkit.repo.format.sealing import MASTER_SEALER, MasterWriteKeys, Openers
from drkit.storage.local import LocalStore
from tests.unit.repo.fakestore import FakeStore

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


def _writer(store: object) -> BlobWriter:
    return BlobWriter(
        store,  # type: ignore[arg-type]
        W,
        MasterIndex(),
        pack_size=1 << 20,
        lock=LockPolicy(None, timedelta(0)),
        settings=WriterSettings(workers=2, uploaders=2),
        compression_level=1,
    )


@pytest.mark.parametrize("kind", ["local", "fake"])
def test_packs_written_in_parts_are_named_by_their_bytes_and_read_back(tmp_path: Path, kind: str) -> None:
    store = LocalStore(tmp_path / "store") if kind == "local" else FakeStore()
    writer = _writer(store)
    rng = random.Random(5)
    blobs = {}
    for i in range(40):
        raw = rng.randbytes(rng.randrange(1, 150_000)) + bytes(rng.randrange(0, 100_000))
        blobs[writer.add(BlobType.DATA, raw if i % 2 else memoryview(raw))] = raw
    writer.close()
    assert len(writer.new_packs) > 2
    for record in writer.new_packs:
        data = store.get(pack_key(record.id))
        assert object_name(data) == record.id
        assert len(data) == record.size
        sealer, entries = read_header(_openers(), data, where=record.id)
        assert sealer == MASTER_SEALER
        for e in entries:
            raw = open_blob(_openers(), sealer, e.type, e.id, data[e.offset : e.offset + e.length], where="t")
            assert raw == blobs.pop(e.id)
    assert blobs == {}


@pytest.mark.parametrize("data", [b"one object", bytearray(b"one object"), memoryview(b"one object")])
def test_put_once_takes_one_object_whatever_its_buffer_type(tmp_path: Path, data: bytes) -> None:
    store = LocalStore(tmp_path / "store")
    put_once(store, "index/ab/one", data, LockPolicy(None, timedelta(0)))
    put_once(store, "index/ab/parts", [b"one ", bytearray(b"object")], LockPolicy(None, timedelta(0)))
    assert store.get("index/ab/one") == store.get("index/ab/parts") == b"one object"
