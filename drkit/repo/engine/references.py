"""What a new snapshot references, each object locked at least as long as the snapshot.

A snapshot needs its packs, the index objects that list them, and the write-only session keys that
sealed them. Each is locked until the snapshot's own retain-until (docs/format.md, "Object Lock");
an object reused from an earlier snapshot whose known retain-until is earlier gets
``extend_retention`` (by the version id recorded for it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import BlobKey, MasterIndex
from drkit.repo.format.layout import index_key, pack_key
from drkit.repo.format.model import PackRef, Snapshot
from drkit.repo.format.sealing import MASTER_SEALER, session_key
from drkit.storage.base import Store

_RESOLVE_EVERY: Final = 4096
_KEY: Final = 1 + 32  # a waiting key: its type byte, its id
_TYPES: Final = {int(t): t for t in BlobType}


class ReferencedBlobs:
    """The blobs a snapshot references, kept as the packs that hold them: the commit needs only the
    packs (to lock them), and a set of ``(type, id)`` keys cost ~100 bytes per blob until then.

    A blob not yet indexed (its pack still filling or on its way up) waits as 33 bytes in one
    buffer, and is looked up again once as many more have come as are waiting (at least
    ``resolve_every``: each waiting key is looked up a bounded number of times) and at the end.
    Not thread-safe: the caller holds its lock around ``add`` and ``update``.
    """

    def __init__(self, index: MasterIndex, *, resolve_every: int = _RESOLVE_EVERY) -> None:
        self._index = index
        self._packs: set[str] = set()  # one shared string per pack (the index's)
        self._waiting = bytearray()
        self._every = resolve_every
        self._limit = resolve_every

    def add(self, key: BlobKey) -> None:
        pack = self._index.pack_of(key)
        if pack is not None:
            self._packs.add(pack)
            return
        t, blob_id = key
        if len(blob_id) != _KEY - 1:
            raise KeyError(key)  # never indexed: no blob id has another length
        self._waiting.append(t)
        self._waiting += blob_id
        if self.waiting >= self._limit:
            self._resolve()

    def update(self, keys: Iterable[BlobKey]) -> None:
        for k in keys:
            self.add(k)

    def __ior__(self, keys: Iterable[BlobKey]) -> ReferencedBlobs:
        self.update(keys)
        return self

    @property
    def waiting(self) -> int:
        """How many references wait for their blob to be indexed."""
        return len(self._waiting) // _KEY

    def _resolve(self) -> None:
        pack_of, packs, buf = self._index.pack_of, self._packs, self._waiting
        still = bytearray()
        for o in range(0, len(buf), _KEY):
            pack = pack_of((_TYPES[buf[o]], bytes(buf[o + 1 : o + _KEY])))
            if pack is None:
                still += buf[o : o + _KEY]
            else:
                packs.add(pack)
        self._waiting = still
        self._limit = 2 * self.waiting + self._every

    def pack_ids(self) -> set[str]:
        """The packs that hold every referenced blob (``KeyError`` with a key that is not indexed)."""
        self._resolve()
        if self._waiting:
            raise KeyError((BlobType(self._waiting[0]), bytes(self._waiting[1:_KEY])))
        return set(self._packs)


Referenced = set[BlobKey] | ReferencedBlobs
"""What a commit is given: the referenced keys, or the packs they resolved to."""


def known_untils(snapshots: Iterable[Snapshot]) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """The latest retain-until that ``snapshots`` record for each pack and each index object."""
    packs: dict[str, datetime] = {}
    indexes: dict[str, datetime] = {}
    for s in snapshots:
        for p, ref in s.packs.items():
            if ref.retain_until is not None and (p not in packs or ref.retain_until > packs[p]):
                packs[p] = ref.retain_until
        for i, t in s.indexes.items():
            if t is not None and (i not in indexes or t > indexes[i]):
                indexes[i] = t
    return packs, indexes


def lock_references(
    store: Store,
    index: MasterIndex,
    snapshots: Iterable[Snapshot],
    referenced: Referenced,
    *,
    new_indexes: dict[str, datetime | None],
    needed: datetime | None,
) -> tuple[dict[str, PackRef], dict[str, datetime | None]]:
    """The packs and index objects a snapshot needs, each locked at least until ``needed``.

    ``snapshots`` are the existing ones (what they record of each object's retain-until);
    ``new_indexes`` the index objects this backup wrote, with their retain-until.
    """
    try:
        if isinstance(referenced, ReferencedBlobs):
            pack_ids = referenced.pack_ids()
        else:
            pack_ids = index.pack_ids(referenced)
    except KeyError as e:  # the writer indexes every blob it stores
        k = e.args[0]
        raise VerificationFailed(f"{BlobType(k[0]).name.lower()} blob {k[1].hex()} was not stored") from None
    known_packs, known_indexes = known_untils(snapshots)
    pack_refs: dict[str, PackRef] = {}
    index_refs: dict[str, datetime | None] = {}
    sessions: set[bytes] = set()
    for p in sorted(pack_ids):
        rec = index.packs[p]
        until = max((t for t in (rec.retain_until, known_packs.get(p)) if t is not None), default=None)
        if needed is not None and (until is None or until < needed):
            store.extend_retention(pack_key(p), needed, version_id=rec.version_id)
            until = needed
        pack_refs[p] = PackRef(rec.version_id, until)
        if needed is not None and rec.sealer != MASTER_SEALER and rec.sealer not in sessions:
            store.extend_retention(session_key(rec.sealer), needed)
            sessions.add(rec.sealer)
        index_id = index.pack_index.get(p)
        if index_id is not None and index_id not in index_refs:
            iuntil = new_indexes.get(index_id) or known_indexes.get(index_id)
            if needed is not None and (iuntil is None or iuntil < needed):
                store.extend_retention(
                    index_key(index_id), needed, version_id=index.index_versions.get(index_id)
                )
                iuntil = needed
            index_refs[index_id] = iuntil
    return pack_refs, index_refs
