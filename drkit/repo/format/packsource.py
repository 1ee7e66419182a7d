"""Reading blobs back: fetch a pack by the version its index recorded, check its hash, open blobs."""

from __future__ import annotations

import threading
from collections import OrderedDict

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType, open_blob
from drkit.repo.format.index import BlobKey, BlobLocation, MasterIndex
from drkit.repo.format.layout import pack_key
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.pack import pack_sealer
from drkit.repo.format.sealing import Openers


class PackSource:
    """Verified pack reads with a small LRU cache (trees are read many times, data packs once)."""

    def __init__(
        self, keys: Openers, index: MasterIndex, reader: VerifiedReader, *, cache_packs: int = 4
    ) -> None:
        self.keys = keys
        self.index = index
        self.reader = reader
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_packs = cache_packs
        self._lock = threading.Lock()
        self.packs_read = 0

    def fetch(self, pack_id: str, *, cache: bool = False) -> bytes:
        with self._lock:
            data = self._cache.get(pack_id)
            if data is not None:
                self._cache.move_to_end(pack_id)
                return data
        record = self.index.packs.get(pack_id)
        version_id = record.version_id if record is not None else None
        data, _vid = self.reader.read_named(pack_key(pack_id), pack_id, version_id=version_id)
        with self._lock:
            self.packs_read += 1
            if cache:
                self._cache[pack_id] = data
                while len(self._cache) > self._cache_packs:
                    self._cache.popitem(last=False)
        return data

    def locate(self, key: BlobKey) -> BlobLocation | None:
        """Which pack holds a blob, where in it, and how long it is; ``None`` if in no index."""
        return self.index.get(key)

    def blob(self, blob_type: BlobType, blob_id: bytes) -> bytes:
        loc = self.index.get((blob_type, blob_id))
        if loc is None:
            raise VerificationFailed(f"{blob_type.name.lower()} blob {blob_id.hex()} is in no index")
        data = self.fetch(loc.pack_id, cache=True)
        where = pack_key(loc.pack_id)
        return open_blob(
            self.keys,
            pack_sealer(data, where=where),
            blob_type,
            blob_id,
            memoryview(data)[loc.offset : loc.offset + loc.length],
            where=where,
        )
