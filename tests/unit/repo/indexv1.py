"""The version 1 index encoder (zstd of canonical JSON) as drkit wrote it before version 2, kept for
tests: repositories written then must still open, deduplicate, restore and verify."""

from __future__ import annotations

import json
from collections.abc import Iterable

import zstandard

from drkit.repo.format.index import INDEX_AAD, PackRecord
from drkit.repo.format.sealing import WriteKeys


def encode_index_v1(keys: WriteKeys, packs: Iterable[PackRecord]) -> bytes:
    doc = {
        "version": 1,
        "packs": [
            {
                "id": p.id,
                "version_id": p.version_id,
                "retain_until": None if p.retain_until is None else p.retain_until.isoformat(),
                "size": p.size,
                "sealer": p.sealer.hex(),
                "blobs": [[int(e.type), e.id.hex(), e.offset, e.length, e.raw_length] for e in p.entries],
            }
            for p in packs
        ],
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return keys.seal_index(zstandard.ZstdCompressor(level=3).compress(body), INDEX_AAD)
