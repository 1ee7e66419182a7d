"""The snapshot catalog: a locked record written with each snapshot, so that a deleted manifest is seen.

A manifest that is deleted (beneath the S3 API by whoever controls the disks, by a lifecycle rule, by
a GOVERNANCE bypass, or in a repository without Object Lock) would otherwise leave no trace: nothing
else names it. Right after a snapshot's manifest is stored, a catalog entry is put at
``catalog/<time>-<snapshot id>`` (``<time>`` UTC ``YYYYmmddTHHMMSS.ffffffZ``, so that names sort in time
order), locked like the manifest. Its body is canonical JSON::

    {"format": "drkit-catalog", "version": 1, "snapshot": "<id>", "time": "<RFC 3339>",
     "retain_until": "<RFC 3339>" | null,
     "previous": {"snapshot": "<id>", "key": "catalog/...", "retain_until": ...} | null,
     "sum": "<SHA-256 hex of the canonical JSON of the other fields>"}

``sum`` is a check against damage in transit, not a seal (entries are plain, anyone who can write
them can recompute it): a store that sends no checksum header lets a byte flipped on the way back
through, and a flipped digit in ``previous`` once read as a snapshot deleted beneath its lock. A read
whose body fails the sum is read again (``READS`` in all) before the entry is believed damaged.
Entries written before the sum existed have none: one is read until two reads agree (at most
``READS``) before a problem is found in it or its ``retain_until`` is copied into the next entry.

``previous`` is the newest catalog entry when it was written, so entries form a chain: deleting a
manifest *and* its entry still leaves the next entry naming it. ``verify`` reports (``missing``):

- an entry whose manifest is gone;
- a ``previous`` whose manifest and entry are both gone while its lock had not yet expired (after
  expiry, a prune may have removed both).

``forget`` and ``prune`` delete a snapshot's entry with its manifest. Entries are plain JSON (no
secret: ids and times, which object names and dates already show), so a write-only writer can write
and read them. Writing one is best effort: a snapshot whose entry could not be stored still exists
(its manifest is written first), it is only not protected this way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from drkit.repo.format.layout import snapshot_key
from drkit.repo.format.model import Problem, ProblemKind
from drkit.storage.base import ObjectInfo, Retention, Store
from drkit.storage.errors import ObjectNotFound

CATALOG_PREFIX: Final = "catalog/"
FORMAT: Final = "drkit-catalog"
VERSION: Final = 1
MAX_ENTRY_BYTES: Final = 4096
READS: Final = 3  # reads of an entry failing its sum before it is believed damaged


@dataclass(frozen=True)
class EntryName:
    key: str
    time: str  # the sortable time part of the name
    snapshot: str


def parse_name(key: str) -> EntryName | None:
    """``catalog/<time>-<snapshot id>``; ``None`` for anything else."""
    name = key.removeprefix(CATALOG_PREFIX)
    time, _, sid = name.partition("-")
    if not key.startswith(CATALOG_PREFIX) or len(sid) != 64 or not time:
        return None
    return EntryName(key, time, sid)


def entry_key(sid: str, when: datetime) -> str:
    return f"{CATALOG_PREFIX}{when.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{sid}"


class Listing(Protocol):
    """A store as far as finding catalog entries goes (prune deletes through a narrow store)."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...


def list_entries(store: Listing) -> list[EntryName]:
    """Every catalog entry, oldest first."""
    names = [n for n in (parse_name(o.key) for o in store.list(CATALOG_PREFIX)) if n is not None]
    return sorted(names, key=lambda n: (n.time, n.snapshot))


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _sum(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k != "sum"})).hexdigest()


def encode_entry(body: dict[str, Any]) -> bytes:
    """The stored bytes of an entry: canonical JSON with its ``sum``."""
    return _canonical({**body, "sum": _sum(body)}) + b"\n"


def _parse(data: bytes) -> dict[str, Any] | None:
    """The body, ``None`` when it is no entry or fails its sum (damaged, in transit or stored)."""
    if len(data) > MAX_ENTRY_BYTES:
        return None
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    given = body.get("sum")
    if given is not None and given != _sum(body):
        return None
    return body


def read_entry(store: Store, key: str) -> dict[str, Any] | None:
    """The body of an entry, ``None`` when it is gone or no valid entry. A body that does not parse
    or fails its sum is read again, ``READS`` times in all: a byte flipped in transit is not a
    damaged entry. A body without a sum (written before it existed) is read until two reads agree
    (at most ``READS``, else the last one): a changed digit still parses, and ``write_entry`` would
    copy it into the next entry for good."""
    seen: list[dict[str, Any]] = []
    for _ in range(READS):
        try:
            data = store.get(key)
        except ObjectNotFound:
            return None
        body = _parse(data)
        if body is None:
            continue
        if "sum" in body or body in seen:
            return body
        seen.append(body)
    return seen[-1] if seen else None


def write_entry(store: Store, sid: str, when: datetime, retention: Retention | None) -> str:
    """Store the catalog entry of snapshot ``sid`` (its manifest already stored), chained to the newest."""
    previous: dict[str, Any] | None = None
    entries = list_entries(store)
    if entries:
        newest = entries[-1]
        body = read_entry(store, newest.key) or {}
        previous = {"snapshot": newest.snapshot, "key": newest.key, "retain_until": body.get("retain_until")}
    key = entry_key(sid, when)
    body = {
        "format": FORMAT,
        "version": VERSION,
        "snapshot": sid,
        "time": _iso(when),
        "retain_until": _iso(retention.until) if retention is not None else None,
        "previous": previous,
    }
    store.put(key, encode_entry(body), retention=retention)
    return key


def entries_of(store: Listing, snapshot_ids: Iterable[str]) -> list[str]:
    """The catalog keys of these snapshots (to delete with their manifests)."""
    wanted = set(snapshot_ids)
    return [n.key for n in list_entries(store) if n.snapshot in wanted]


def check(store: Store, manifests: set[str], now: datetime) -> list[Problem]:
    """Snapshots the catalog recorded whose manifest is gone. ``manifests``: the ids under snapshots/."""
    problems: list[Problem] = []
    entries = list_entries(store)
    cataloged = {n.snapshot for n in entries}
    for name in entries:
        body = read_entry(store, name.key)
        if body is None and _present(store, name.key):
            problems.append(
                Problem(
                    ProblemKind.CORRUPT,
                    name.key,
                    f"the catalog entry is damaged (no valid entry in {READS} reads): "
                    "the chain is not checked through it",
                    (name.snapshot,),
                )
            )
        # the listing of manifests was taken before the entries': a backup that committed in
        # between has an entry and a manifest the listing missed, so absence is asked again
        if name.snapshot not in manifests and not _present(store, snapshot_key(name.snapshot)):
            when = body.get("time") if body else None
            problems.append(
                Problem(
                    ProblemKind.MISSING,
                    snapshot_key(name.snapshot),
                    f"the manifest is gone, but {name.key} records the snapshot"
                    + (f" (taken {when})" if when else "")
                    + ": it was deleted (if it was forgotten on purpose, delete the catalog entry too)",
                    (name.snapshot,),
                )
            )
        previous = body.get("previous") if body else None
        if not isinstance(previous, dict):
            continue
        psid = previous.get("snapshot")
        if not isinstance(psid, str) or psid in manifests or psid in cataloged:
            continue
        until = previous.get("retain_until")
        locked_until = _parse_time(until) if isinstance(until, str) else None
        if locked_until is not None and locked_until > now:
            problems.append(
                Problem(
                    ProblemKind.MISSING,
                    snapshot_key(psid),
                    f"the manifest and its catalog entry are gone, though {name.key} names the snapshot "
                    f"and it was locked until {until}: both were deleted beneath the lock",
                    (psid,),
                )
            )
    return problems


def _present(store: Store, key: str) -> bool:
    try:
        store.head(key)
    except ObjectNotFound:
        return False
    return True


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
