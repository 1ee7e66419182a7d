"""Reading blobs back: fetch a pack by the version its index recorded, check its hash, open blobs."""

from __future__ import annotations

import threading
from collections import OrderedDict

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType, open_blob_with
from drkit.repo.format.crypto import Sealer
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
        # the pack the last ``blob`` came from: its id, bytes, sealer and name (a parent snapshot's
        # trees come from a few packs, one after the other)
        self._last: tuple[str, memoryview, Sealer, str] | None = None

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
        span = self.index.span((blob_type, blob_id))
        if span is None:
            raise VerificationFailed(f"{blob_type.name.lower()} blob {blob_id.hex()} is in no index")
        pack_id, offset, length = span
        last = self._last
        if last is None or last[0] != pack_id:
            data = self.fetch(pack_id, cache=True)
            where = pack_key(pack_id)
            sealer = self.keys.sealer(pack_sealer(data, where=where))
            last = self._last = (pack_id, memoryview(data), sealer, where)
        _, view, sealer, where = last
        return open_blob_with(
            sealer, self.keys.content_id, blob_type, blob_id, view[offset : offset + length], where=where
        )
