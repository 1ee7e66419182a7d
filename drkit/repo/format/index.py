"""Index objects (which blob is where) and the in-memory master index built from them.

An index object is ``seal(index_key, zstd(body), aad = "drkit-index")`` stored at ``index/<name>``.
Its body (docs/format.md, "Index objects") is written in version 2: binary, each pack's entries as
the three columns :class:`PackEntries` holds in memory, so that loading one is slicing. Version 1,
JSON, is still read::

    {"version": 1, "packs": [{"id": hex, "version_id": str|null, "retain_until": iso|null,
                              "size": int, "blobs": [[type, id hex, offset, length, raw_length], ...]}]}

Index objects are written after the packs they describe; they are a cache of the pack headers
(each pack's own sealed header lists the same blobs), so a lost index loses no data.
"""

from __future__ import annotations

import json
import struct
import threading
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol, TypeAlias

import zstandard

from drkit import native
from drkit.errors import VerificationFailed
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.gcpause import collector_paused
from drkit.repo.format.layout import INDEX_PREFIX, is_object_name, name_of_key
from drkit.repo.format.model import Problem, ProblemKind
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.packentries import ID_SIZE, NUMS, PackEntries
from drkit.repo.format.sealing import MASTER_SEALER, WriteKeys
from drkit.repo.format.spilledindex import SpilledBlobs, SpilledEntries
from drkit.storage.base import Store

INDEX_AAD: Final = b"drkit-index"
INDEX_VERSION: Final = 2
INDEX_MAGIC: Final = b"DRKIDX\x00\x02"
"""The first bytes of a version 2 body (a version 1 body is JSON: it starts with ``{``)."""
_COUNT: Final = struct.Struct("<I")
_PACK: Final = struct.Struct("<IQ16s")  # blob count, size, sealer id
_TEXT: Final = struct.Struct("<H")  # a string's length in bytes; NULL_TEXT: none
NULL_TEXT: Final = 0xFFFF

BlobKey = tuple[BlobType, bytes]


@dataclass(frozen=True)
class PackRecord:
    """A stored pack: its name, the store's version id, its lock, and the blobs inside (kept compact:
    ``PackEntries``; a sequence of ``PackEntry`` given here is converted)."""

    id: str
    version_id: str | None
    retain_until: datetime | None
    size: int
    entries: PackEntries
    sealer: bytes = MASTER_SEALER

    def __post_init__(self) -> None:
        if not isinstance(self.entries, PackEntries):
            object.__setattr__(self, "entries", PackEntries.of(self.entries))


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


def _text(out: list[bytes], value: str | None) -> None:
    if value is None:
        out.append(_TEXT.pack(NULL_TEXT))
        return
    raw = value.encode()
    if len(raw) >= NULL_TEXT:
        raise ValueError(f"a string of {len(raw)} bytes in an index object")
    out += (_TEXT.pack(len(raw)), raw)


def encode_index_body(packs: Iterable[PackRecord]) -> bytes:
    """The version 2 body (docs/format.md): magic, pack count, then per pack its blob count, size,
    sealer id, id, version id and retain-until (each a u16-length string or NULL_TEXT), and its
    entries as three columns: types, ids, (offset, length, raw length)."""
    records = list(packs)
    out = [INDEX_MAGIC, _COUNT.pack(len(records))]
    for p in records:
        e = p.entries
        out.append(_PACK.pack(len(e), p.size, p.sealer))
        _text(out, p.id)
        _text(out, p.version_id)
        _text(out, _iso(p.retain_until))
        out += (e.types, e.ids, e.nums)
    return b"".join(out)


def encode_index(keys: WriteKeys, packs: Iterable[PackRecord]) -> bytes:
    body = encode_index_body(packs)
    return keys.seal_index(zstandard.ZstdCompressor(level=3).compress(body), INDEX_AAD)


def decode_index(keys: IndexKeys, data: bytes, *, where: str) -> list[PackRecord]:
    """An index object's packs, version 2 or 1 (``VerificationFailed`` naming ``where`` when it does
    not authenticate, decompress or parse)."""
    try:
        body = zstandard.ZstdDecompressor().decompress(keys.open_index(data, INDEX_AAD))
    except VerificationFailed:
        raise VerificationFailed(f"{where} does not authenticate") from None
    except zstandard.ZstdError as e:
        raise VerificationFailed(f"{where} does not decompress: {e}") from None
    try:
        if body.startswith(INDEX_MAGIC):
            return _decode_v2(body)
        if body.startswith(INDEX_MAGIC[:-1]):
            raise VerificationFailed(f"{where} has unknown version {body[len(INDEX_MAGIC) - 1]}")
        doc: dict[str, Any] = json.loads(body)
        if doc.get("version") != 1:
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
    except (KeyError, TypeError, ValueError, struct.error) as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None


def _decode_v2(body: bytes) -> list[PackRecord]:
    """Version 2's packs: each read with a few ``struct`` calls and three slices, nothing per blob.
    ``ValueError`` or ``struct.error`` for a body truncated, with trailing bytes, or with a field
    out of its range (PackEntries checks the types)."""
    view = memoryview(body)
    (count,) = _COUNT.unpack_from(body, len(INDEX_MAGIC))
    pos = len(INDEX_MAGIC) + _COUNT.size
    records: list[PackRecord] = []

    def text() -> str | None:
        nonlocal pos
        (n,) = _TEXT.unpack_from(body, pos)
        pos += _TEXT.size
        if n == NULL_TEXT:
            return None
        if pos + n > len(body):
            raise ValueError("truncated")
        value = str(view[pos : pos + n], "utf-8")
        pos += n
        return value

    for _ in range(count):
        n, size, sealer = _PACK.unpack_from(body, pos)
        pos += _PACK.size
        pack_id = text()
        if pack_id is None:
            raise ValueError("a pack without an id")
        version_id = text()
        retain_until = _parse_time(text())
        ends = (pos + n, pos + n * (1 + ID_SIZE), pos + n * (1 + ID_SIZE + NUMS.size))
        if ends[2] > len(body):
            raise ValueError("truncated")
        entries = PackEntries(body[pos : ends[0]], body[ends[0] : ends[1]], body[ends[1] : ends[2]])
        pos = ends[2]
        records.append(PackRecord(pack_id, version_id, retain_until, size, entries, sealer))
    if pos != len(body):
        raise ValueError(f"{len(body) - pos} bytes after the last pack")
    return records


def _entries(blobs: list[list[Any]]) -> PackEntries:
    """An index's ``[type, id hex, offset, length, raw_length]`` rows as compact entries: every number
    a JSON integer (no float, string or boolean), every id 64 hex digits, every type a known one
    (``ValueError`` or ``struct.error`` otherwise). The buffers are built by C loops (``bytes``,
    ``fromhex``, one ``struct.pack``) after one pass of type checks: no object per blob."""
    for t, i, o, n, r in blobs:
        if type(t) is not int or type(o) is not int or type(n) is not int or type(r) is not int:
            raise ValueError(f"a blob row holds a non-integer: {[t, o, n, r]!r}")
        if type(i) is not str or len(i) != 2 * ID_SIZE:
            raise ValueError(f"a blob id is not {2 * ID_SIZE} hex digits: {i!r}")
    types = bytes([row[0] for row in blobs])
    ids = bytes.fromhex("".join([row[1] for row in blobs]))
    nums = struct.pack("<" + "QII" * len(blobs), *[x for row in blobs for x in row[2:]])
    return PackEntries(types, ids, nums)


def _nums(e: PackEntries, position: int) -> tuple[int, int, int]:
    """Entry ``position``'s offset, length and raw length (a spilled pack's: read from its file)."""
    if isinstance(e, SpilledEntries):
        return e.num(position)
    offset, length, raw = NUMS.unpack_from(e.nums, position * NUMS.size)
    return offset, length, raw


@dataclass(frozen=True, slots=True)
class BlobLocation:
    pack_id: str
    offset: int
    length: int
    raw_length: int


_HEAD: Final = struct.Struct("=Q")  # a blob id's first 8 bytes: its slot in the table (ids are hashes)
_LOW: Final = 0xFFFFFFFF
_FIRST_SLOTS: Final = 1024


_Live: TypeAlias = "tuple[tuple[array[int], int], list[tuple[str, PackEntries]]]"  # a table, its records
_SPILLED_MAYBE: Final = -3  # native find: not in the table, a spilled segment holds the id's prefix
_SPILL_GROUP: Final = 65_536  # blobs of spilled packs read back at a time to find a commit's packs


class MasterIndex:
    """All known blobs -> location, all known packs, and which index object describes each pack.

    Compact: each added pack's entries stay in their ``PackEntries`` buffers (49 bytes a blob), and
    one open-addressing table of 8-byte slots (at most half full) finds a blob's entry by the first
    8 bytes of its id, probing linearly: ``(record << 32 | position) + 1``, 0 for empty. No Python
    object per blob (a dict of tuples held ~300 bytes per blob).

    Thread-safe for the writer's use: lookups read without a lock (the table and the records only
    grow; a larger table is built aside and swapped in whole), updates hold a lock.

    Lookups and inserts run in C (``drkit/native/_index.c``, the same probing holding the GIL) when it
    was built and not ruled out (``DRKIT_NO_NATIVE``, read when the index is made); the Python loops
    otherwise.
    """

    def __init__(self) -> None:
        self._native = native.load("_index")
        self._lock = threading.Lock()
        # the table and every pack added (its id and entries), swapped together: a spill makes a new
        # list (its packs' entries read from the file) and a table that no longer names them
        self._live: _Live = (
            (array("Q", bytes(8 * _FIRST_SLOTS)), _FIRST_SLOTS - 1),
            [],
        )
        self._spilled: SpilledBlobs | None = None
        self._count = 0
        self._live_count = 0  # of them in the table (not spilled)
        self.packs: dict[str, PackRecord] = {}
        self.pack_index: dict[str, str] = {}
        self.index_ids: set[str] = set()
        self.index_versions: dict[str, str | None] = {}  # index object -> the version read or written

    @property
    def _table(self) -> tuple[array[int], int]:
        return self._live[0]

    @property
    def _records(self) -> list[tuple[str, PackEntries]]:
        return self._live[1]

    def _find(self, key: BlobKey) -> int:
        """The slot value (minus one) of ``key``; -1 when not indexed."""
        spilled = self._spilled
        if spilled is None:
            return self._find_live(key)
        if self._native is not None:  # the table and the spilled prefixes in one call
            table, records = self._live
            found: int = self._native.find(table, records, key, spilled.segments)
            if found != _SPILLED_MAYBE:
                return found
        else:
            found = self._find_live(key)
            if found >= 0:
                return found
        where = spilled.find(key[0], key[1])
        return -1 if where is None else (where[0] << 32) | where[1]

    def _find_live(self, key: BlobKey) -> int:
        return self._find_in(self._live, key)

    def _find_in(self, live: _Live, key: BlobKey) -> int:
        table, records = live
        if self._native is not None:
            found: int = self._native.find(table, records, key)
            return found
        t, bid = key
        if len(bid) != ID_SIZE:
            return -1
        slots, mask = table
        i: int = _HEAD.unpack_from(bid)[0] & mask
        while True:
            v = slots[i]
            if not v:
                return -1
            v -= 1
            e = records[v >> 32][1]
            p = v & _LOW
            if e.types[p] == t and e.ids.startswith(bid, p * ID_SIZE):
                return v
            i = (i + 1) & mask

    def __contains__(self, key: BlobKey) -> bool:
        if self._native is None:
            return self._find(key) >= 0
        table, records = self._live  # no _find frame: dirscan asks per reused chunk, a writer per blob
        spilled = self._spilled
        if spilled is None:
            return bool(self._native.find(table, records, key) >= 0)
        found = self._native.find(table, records, key, spilled.segments)  # a new blob: one C call
        if found != _SPILLED_MAYBE:
            return bool(found >= 0)
        return spilled.find(key[0], key[1]) is not None

    def __len__(self) -> int:
        return self._count

    def get(self, key: BlobKey) -> BlobLocation | None:
        v = self._find(key)
        if v < 0:
            return None
        pack_id, e = self._records[v >> 32]
        offset, length, raw = _nums(e, v & _LOW)
        return BlobLocation(pack_id, offset, length, raw)

    def span(self, key: BlobKey) -> tuple[str, int, int] | None:
        """Where a blob is, as (pack id, offset, length); None if not indexed. ``get`` without the
        location object (a reader of many small blobs: an incremental backup's parent trees)."""
        v = self._find(key)
        if v < 0:
            return None
        pack_id, e = self._records[v >> 32]
        offset, length, _raw = _nums(e, v & _LOW)
        return pack_id, offset, length

    def pack_of(self, key: BlobKey) -> str | None:
        """The id of the pack that holds ``key`` (one shared string per pack), or None."""
        v = self._find(key)
        return None if v < 0 else self._records[v >> 32][0]

    def pack_ids(self, keys: Iterable[BlobKey]) -> set[str]:
        """The packs that hold ``keys`` (``KeyError`` with the first key that is not indexed): a new
        snapshot's packs from its ~one key per file, without a location object per key."""
        live = self._live
        if self._native is not None and self._spilled is None:
            packs: set[str] = self._native.pack_ids(*live, keys)
            return packs
        missing: list[BlobKey] = []
        found = self._pack_ids_in(live, keys, missing)
        if missing:
            found |= self._spilled_pack_ids(live[1], missing)
        return found

    def _pack_ids_in(
        self,
        live: _Live,
        keys: Iterable[BlobKey],
        missing: list[BlobKey],
    ) -> set[str]:
        """The packs of ``live`` (a table and its records) that hold ``keys``; the others appended to
        ``missing``."""
        if self._native is not None:
            packs: set[str] = self._native.pack_ids(*live, keys, missing)
            return packs
        records = live[1]
        found: set[str] = set()
        for k in keys:
            v = self._find_in(live, k)
            if v < 0:
                missing.append(k)
            else:
                found.add(records[v >> 32][0])
        return found

    def _spilled_pack_ids(self, records: list[tuple[str, PackEntries]], keys: list[BlobKey]) -> set[str]:
        """The spilled packs of ``records`` that hold ``keys`` (``KeyError`` with a key none holds).

        The spilled entries are read back a group of ~``_SPILL_GROUP`` blobs at a time into a table
        of their own, and the keys looked up there: a commit's ~one key per file made a lookup each,
        a ``pread`` of the spilled index per key (~2.5 us: 0.5 s for 200k files). Groups in record
        order: the first pack that holds a blob is the one found, as in the spilled index."""
        found: set[str] = set()
        group: list[tuple[str, PackEntries]] = []
        blobs = 0
        spilled = [(p, e) for p, e in records if isinstance(e, SpilledEntries)]
        for k, (pack_id, e) in enumerate(spilled):
            group.append((pack_id, e.loaded()))
            blobs += len(e)
            if blobs < _SPILL_GROUP and k + 1 < len(spilled):
                continue
            size = _FIRST_SLOTS
            while 2 * blobs > size:
                size *= 2
            table = (array("Q", bytes(8 * size)), size - 1)
            for n, (_p, entries) in enumerate(group):
                self._insert(table, group, n, entries)
            rest: list[BlobKey] = []
            found |= self._pack_ids_in((table, group), keys, rest)
            if not rest:
                return found
            keys, group, blobs = rest, [], 0
        raise KeyError(keys[0])

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
            entries = record.entries
            if not entries:
                return
            self._reserve(self._live_count + len(entries))
            table, records = self._live
            number = len(records)
            records.append((record.id, entries))  # before any slot names it
            added = self._insert(table, records, number, entries)
            self._count += added
            self._live_count += added

    def _insert(
        self,
        table: tuple[array[int], int],
        records: list[tuple[str, PackEntries]],
        number: int,
        entries: PackEntries,
    ) -> int:
        """Put ``entries`` (record ``number``) into the table, except blobs already in it (the first
        pack that holds a blob keeps it); how many were new. The table has room (``_reserve``)."""
        if self._native is not None:  # the same probing in C: ~30x faster when an index is loaded
            added: int = self._native.insert(table, records, number)
            return added
        slots, mask = table
        types, ids = entries.types, entries.ids
        heads = memoryview(ids).cast("Q")[::4].tolist()  # each id's first 8 bytes, as _HEAD reads them
        base = (number << 32) + 1
        added = 0
        for p, h in enumerate(heads):
            i = h & mask
            t = types[p]
            while True:
                v = slots[i]
                if not v:
                    slots[i] = base + p
                    added += 1
                    break
                v -= 1
                e = records[v >> 32][1]
                q = v & _LOW
                if (
                    e.types[q] == t
                    and e.ids[q * ID_SIZE : (q + 1) * ID_SIZE] == ids[p * ID_SIZE : (p + 1) * ID_SIZE]
                ):
                    break  # already indexed
                i = (i + 1) & mask
        return added

    def _reserve(self, count: int) -> None:
        """Grow the table (a new one, filled aside, then swapped in) so that ``count`` blobs fill at
        most half of it."""
        table, records = self._live
        slots, mask = table
        if count * 2 <= mask + 1:
            return
        size = mask + 1
        while count * 2 > size:
            size *= 2
        new = array("Q", bytes(8 * size))
        new_mask = size - 1
        if self._native is not None:
            self._native.rehash(table, records, (new, new_mask))
            self._live = ((new, new_mask), records)
            return
        for v in slots:
            if v:
                e = records[(v - 1) >> 32][1]
                i = _HEAD.unpack_from(e.ids, ((v - 1) & _LOW) * ID_SIZE)[0] & new_mask
                while new[i]:
                    i = (i + 1) & new_mask
                new[i] = v
        self._live = ((new, new_mask), records)

    def spill(self, pack_ids: Iterable[str]) -> int:
        """Keep the entries of these packs (the writer's, once an index object lists them) in a
        temporary file instead of memory (:mod:`drkit.repo.format.spilledindex`): lookups still find
        them, for ~4 bytes a blob. Returns how many entries went."""
        wanted = set(pack_ids)
        with self._lock:
            records = self._live[1]
            chosen = [
                (n, e)
                for n, (pack_id, e) in enumerate(records)
                if pack_id in wanted and len(e) and not isinstance(e, SpilledEntries)
            ]
            if not chosen:
                return 0
            if self._spilled is None:
                self._spilled = SpilledBlobs()
            spilled = self._spilled.spill(chosen)  # findable there before the table forgets them
            new_records = list(records)
            for (n, _e), lazy in zip(chosen, spilled, strict=True):
                pack_id = records[n][0]
                new_records[n] = (pack_id, lazy)
                rec = self.packs.get(pack_id)
                if rec is not None and not isinstance(rec.entries, SpilledEntries):
                    self.packs[pack_id] = replace(rec, entries=lazy)
            live = [
                (n, e)
                for n, (_p, e) in enumerate(new_records)
                if len(e) and not isinstance(e, SpilledEntries)
            ]
            size = _FIRST_SLOTS
            while 2 * sum(len(e) for _n, e in live) > size:
                size *= 2
            new_table = (array("Q", bytes(8 * size)), size - 1)
            count = 0
            for n, e in live:
                count += self._insert(new_table, new_records, n, e)
            self._live = (new_table, new_records)
            self._live_count = count
            return sum(len(e) for _n, e in chosen)

    def set_index(self, pack_ids: Iterable[str], index_id: str, index_version: str | None = None) -> None:
        with self._lock:
            self.index_ids.add(index_id)
            self.index_versions.setdefault(index_id, index_version)
            for p in pack_ids:
                self.pack_index.setdefault(p, index_id)

    def blobs(self) -> Iterator[tuple[BlobKey, BlobLocation]]:
        (slots, _mask), records = self._live
        found = []
        for pack_id, e in records:
            if isinstance(e, SpilledEntries):
                found += [
                    ((x.type, x.id), BlobLocation(pack_id, x.offset, x.length, x.raw_length))
                    for x in e.loaded()
                ]
        for v in slots:
            if v:
                pack_id, e = records[(v - 1) >> 32]
                entry = e.entry((v - 1) & _LOW)
                found.append(
                    (
                        (entry.type, entry.id),
                        BlobLocation(pack_id, entry.offset, entry.length, entry.raw_length),
                    )
                )
        return iter(found)


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
