"""Content ids are the keyed BLAKE3 of the plaintext (docs/format.md), for the master key and a
writer key alike: each is hashed on a copy of one keyed hasher, so ids must not depend on what was
hashed before, on the size, or on other threads hashing at the same time."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import blake3

from drkit.repo.format.masterkey import MasterKey


def test_content_ids_are_the_keyed_blake3_of_the_plaintext() -> None:
    master = MasterKey(bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96)))
    # a known answer: BLAKE3 keyed with bytes 32..63, of b"drkit"
    expected = blake3.blake3(b"drkit", key=bytes(range(32, 64))).digest()
    assert master.content_id(b"drkit") == expected
    writer = master.writer_key()
    for size in (0, 1, 64, 1024, 1025, 300_000, 3 << 20):
        data = os.urandom(size)
        want = blake3.blake3(data, key=master.id_key).digest()
        assert master.content_id(data) == want == writer.content_id(data)
    assert master.content_id(b"drkit") == expected  # nothing left over from the hashes before


def test_content_ids_from_many_threads_at_once() -> None:
    master = MasterKey.generate()
    blobs = [os.urandom(n) for n in range(0, 200_000, 997)]
    want = [blake3.blake3(b, key=master.id_key).digest() for b in blobs]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            assert list(pool.map(master.content_id, blobs)) == want
