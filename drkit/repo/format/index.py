"""Index objects (which blob is where) and the in-memory master index built from them.

An index object is ``seal(index_key, zstd(json), aad = "drkit-index")`` stored at ``index/<name>``.
Its JSON (docs/format.md)::

    {"version": 1, "packs": [{"id": hex, "version_id": str|null, "retain_until": iso|null,
                              "size": int, "blobs": [[type, id hex, offset, length, raw_length], ...]}]}

Index objects are written after the packs they describe; they are a cache of the pack headers
(each pack's own sealed header lists the same blobs), so a lost index loses no data.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.gcpause import collector_paused
from drkit.repo.format.layout import INDEX_PREFIX, is_object_name, name_of_key
from drkit.repo.format.model import Problem, ProblemKind
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.pack import PackEntry
from drkit.repo.format.sealing import MASTER_SEALER, WriteKeys
from drkit.storage.base import Store

INDEX_AAD: Final = b"drkit-index"
INDEX_VERSION: Final = 1

BlobKey = tuple[BlobType, bytes]


@dataclass(frozen=True)
class PackRecord:
    """A stored pack: its name, the store's version id, its lock, and the blobs inside."""

    id: str
    version_id: str | None
    retain_until: datetime | None
    size: int
    entries: tuple[PackEntry, ...]
    sealer: bytes = MASTER_SEALER


class IndexKeys(Protocol):
    def open_index(self, blob: bytes, aad: bytes) -> bytes: ...


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _parse_time(v: object) -> datetime | None:
    if v is None:
        return None
    t = datetime.fromisoformat(str(v))
    if t.tzinfo is None:
        raise ValueError("naive time")
    return t


def encode_index(keys: WriteKeys, packs: Iterable[PackRecord]) -> bytes:
    doc = {
        "version": INDEX_VERSION,
        "packs": [
            {
                "id": p.id,
                "version_id": p.version_id,
                "retain_until": _iso(p.retain_until),
                "size": p.size,
                "sealer": p.sealer.hex(),
                "blobs": [[int(e.type), e.id.hex(), e.offset, e.length, e.raw_length] for e in p.entries],
            }
            for p in packs
        ],
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return keys.seal_index(zstandard.ZstdCompressor(level=3).compress(body), INDEX_AAD)


def decode_index(keys: IndexKeys, data: bytes, *, where: str) -> list[PackRecord]:
    try:
        body = zstandard.ZstdDecompressor().decompress(keys.open_index(data, INDEX_AAD))
    except VerificationFailed:
        raise VerificationFailed(f"{where} does not authenticate") from None
    except zstandard.ZstdError as e:
        raise VerificationFailed(f"{where} does not decompress: {e}") from None
    try:
        doc: dict[str, Any] = json.loads(body)
        if doc.get("version") != INDEX_VERSION:
            raise VerificationFailed(f"{where} has unknown version {doc.get('version')!r}")
        return [
            PackRecord(
                id=str(p["id"]),
                version_id=None if p["version_id"] is None else str(p["version_id"]),
                retain_until=_parse_time(p["retain_until"]),
                size=int(p["size"]),
                entries=_entries(p["blobs"]),
                sealer=bytes.fromhex(p["sealer"]),
            )
            for p in doc["packs"]
        ]
    except (KeyError, TypeError, ValueError) as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None


_TYPES: Final = {int(t): t for t in BlobType}


def _entries(blobs: list[list[Any]]) -> tuple[PackEntry, ...]:
    """An index's ``[type, id hex, offset, length, raw_length]`` rows as entries: every number a JSON
    integer (no float, string or boolean), every type a known one (``KeyError`` otherwise). A dict
    lookup instead of ``BlobType(...)`` and type checks instead of ``int(...)``: a third of the time
    on an index of 63k blobs."""
    types, fromhex, entry = _TYPES, bytes.fromhex, PackEntry
    out = [entry(types[t], fromhex(i), o, n, r) for t, i, o, n, r in blobs]
    for t, _, o, n, r in blobs:
        if type(t) is not int or type(o) is not int or type(n) is not int or type(r) is not int:
            raise ValueError(f"a blob row holds a non-integer: {[t, o, n, r]!r}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BlobLocation:
    pack_id: str
    offset: int
    length: int
    raw_length: int


class MasterIndex:
    """All known blobs -> location, all known packs, and which index object describes each pack.

    Thread-safe for the writer's use: lookups are plain dict reads, updates hold a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # a blob -> its pack's id and entry; a BlobLocation is made when asked for (one object per
        # blob fewer to build when the index loads)
        self._blobs: dict[BlobKey, tuple[str, PackEntry]] = {}
        self.packs: dict[str, PackRecord] = {}
        self.pack_index: dict[str, str] = {}
        self.index_ids: set[str] = set()
        self.index_versions: dict[str, str | None] = {}  # index object -> the version read or written

    def __contains__(self, key: BlobKey) -> bool:
        return key in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def get(self, key: BlobKey) -> BlobLocation | None:
        found = self._blobs.get(key)
        if found is None:
            return None
        pack_id, e = found
        return BlobLocation(pack_id, e.offset, e.length, e.raw_length)

    def pack_ids(self, keys: Iterable[BlobKey]) -> set[str]:
        """The packs that hold ``keys`` (``KeyError`` with the first key that is not indexed): a new
        snapshot's packs from its ~one key per file, without a location object per key."""
        blobs = self._blobs
        return {blobs[k][0] for k in keys}

    def add_pack(
        self, record: PackRecord, index_id: str | None = None, index_version: str | None = None
    ) -> None:
        with self._lock:
            if record.id not in self.packs:
                self.packs[record.id] = record
            if index_id is not None:
                self.pack_index.setdefault(record.id, index_id)
                self.index_ids.add(index_id)
                self.index_versions.setdefault(index_id, index_version)
            blobs, pack_id = self._blobs, record.id
            for e in record.entries:
                key = (e.type, e.id)
                if key not in blobs:  # the first pack that holds a blob keeps it
                    blobs[key] = (pack_id, e)

    def set_index(self, pack_ids: Iterable[str], index_id: str, index_version: str | None = None) -> None:
        with self._lock:
            self.index_ids.add(index_id)
            self.index_versions.setdefault(index_id, index_version)
            for p in pack_ids:
                self.pack_index.setdefault(p, index_id)

    def blobs(self) -> Iterator[tuple[BlobKey, BlobLocation]]:
        return iter(
            [
                (k, BlobLocation(p, e.offset, e.length, e.raw_length))
                for k, (p, e) in list(self._blobs.items())
            ]
        )


@dataclass
class LoadedIndex:
    """The master index built from every readable index object, and what could not be read."""

    index: MasterIndex
    index_packs: dict[str, set[str]]
    """Each index object's id -> the packs it lists (prune deletes an index with its last pack)."""
    problems: list[Problem]


def load_index(store: Store, reader: VerifiedReader, keys: WriteKeys) -> LoadedIndex:
    """Read every index object (by name, hash checked); index only the packs that exist."""
    existing = {name_of_key(o.key) for o in store.list("data/")}
    index = MasterIndex()
    index_packs: dict[str, set[str]] = {}
    problems: list[Problem] = []
    for info in sorted(store.list(INDEX_PREFIX), key=lambda i: i.key):
        index_id = name_of_key(info.key)
        if not is_object_name(index_id):
            problems.append(Problem(ProblemKind.CORRUPT, info.key, "not a drkit object name"))
            continue
        try:
            data, index_vid = reader.read_named(info.key, index_id)
            with collector_paused():  # objects per blob, no cycles: no collector passes over them
                records = decode_index(keys, data, where=info.key)
        except VerificationFailed as e:
            problems.append(Problem(ProblemKind.CORRUPT, info.key, e.message))
            continue
        index_packs[index_id] = {r.id for r in records}
        with collector_paused():
            for r in records:
                if r.id in existing:
                    index.add_pack(r, index_id, index_vid)
    return LoadedIndex(index, index_packs, problems)
