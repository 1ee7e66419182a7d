"""Forgetting snapshots and removing unreferenced objects, without ever touching a locked one.

A snapshot manifest is deleted only once all its versions are unlocked. A pack is deleted only if
no remaining snapshot names it and every version of it is unlocked; an index object only if none of
the packs it describes remains and no remaining snapshot names it. Everything else that is
unreferenced but locked is reported with the time it becomes free. Packs are never rewritten
(no repacking): a pack stays as long as any blob in it is needed.

Everything here goes through a :class:`PruneStore`: the few store operations prune uses (the
``Repository`` hands it its store; a unit test may hand it any object with these members).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from drkit.errors import VerificationFailed
from drkit.repo.format import catalog
from drkit.repo.format.layout import INDEX_PREFIX, index_key, name_of_key, pack_key, snapshot_key
from drkit.repo.format.model import LockedObject, PruneResult, Snapshot, UnreadableSnapshot
from drkit.storage.base import Housekeeping, Leftover, ObjectInfo
from drkit.storage.errors import AccessDenied, ObjectLocked, ObjectNotFound, StoreError

GRACE = timedelta(hours=1)
"""Packs and leftovers younger than this are left alone: a backup running now may own them."""


class PruneStore(Protocol):
    """The store as prune sees it: list, ask for every version and its lock, delete a version.
    (Leftovers of interrupted writes go too when the store also is a ``Housekeeping`` one.)"""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def versions(self, key: str) -> builtins.list[ObjectInfo]: ...

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo: ...

    def delete(self, key: str, *, version_id: str | None = None) -> None: ...


@dataclass
class _Deleter:
    store: PruneStore
    now: datetime
    dry_run: bool
    locked: list[LockedObject] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # the credential may not delete (a writer's)

    def lock_of(self, key: str) -> tuple[list[ObjectInfo], datetime | None]:
        """All versions of ``key`` and the latest retain-until among the locked ones (``None``: free)."""
        try:
            versions = self.store.versions(key)
        except ObjectNotFound:
            return [], None
        until: datetime | None = None
        for v in versions:
            info = v
            if info.retention is None and v.version_id is not None:
                try:
                    info = self.store.head(key, version_id=v.version_id)
                except ObjectNotFound:
                    continue
            r = info.retention
            if r is not None and r.until > self.now and (until is None or r.until > until):
                until = r.until
        return versions, until

    def delete(self, key: str) -> bool:
        """Delete every version of ``key`` if none is locked; else record it as locked."""
        versions, until = self.lock_of(key)
        if not versions:
            return False
        if until is not None:
            self.locked.append(LockedObject(key, until))
            return False
        if self.dry_run:
            return True
        try:
            for v in versions:
                self.store.delete(key, version_id=v.version_id)
        except ObjectLocked:
            self.locked.append(LockedObject(key, until))
            return False
        except AccessDenied:
            self.denied.append(key)
            return False
        return True


def _prune_packs(
    store: PruneStore, d: _Deleter, needed: set[str], *, now: datetime, grace: timedelta
) -> tuple[list[str], set[str], int]:
    """Delete unreferenced, unlocked packs older than ``grace``: (deleted, surviving, bytes freed)."""
    freed = 0
    deleted: list[str] = []
    surviving: set[str] = set()
    for info in store.list("data/"):
        pack_id = name_of_key(info.key)
        young = info.last_modified is not None and now - info.last_modified < grace
        if pack_id not in needed and not young and d.delete(pack_key(pack_id)):
            deleted.append(pack_id)
            freed += info.size
        else:
            surviving.add(pack_id)
    return deleted, surviving, freed


def forget_snapshots(
    store: PruneStore, snapshot_ids: Iterable[str], *, now: datetime, dry_run: bool
) -> tuple[list[str], list[LockedObject], list[str]]:
    """Delete these snapshots' manifests (readable or not): (deleted ids, locked manifests, manifests
    the store refused)."""
    d = _Deleter(store, now, dry_run)
    deleted = [sid for sid in snapshot_ids if d.delete(snapshot_key(sid))]
    _forget_entries(store, d, deleted)
    return deleted, d.locked, d.denied


def _forget_entries(store: PruneStore, d: _Deleter, deleted: list[str]) -> None:
    """Delete the catalog entries of the snapshots whose manifests were deleted (after them: an entry
    left behind is reported by verify, a manifest left without its entry is not)."""
    if deleted:
        for key in catalog.entries_of(store, deleted):
            d.delete(key)


def list_leftovers(store: object) -> tuple[tuple[Leftover, ...], tuple[str, ...]]:
    """What interrupted writes left in ``store`` (``.tmp-*`` files, incomplete multipart uploads),
    and a note when they could not be listed (a credential without the right). A store that is not a
    ``Housekeeping`` one has none to tell."""
    if not isinstance(store, Housekeeping):
        return (), ()
    try:
        return tuple(store.leftovers()), ()
    except StoreError as exc:
        return (), (f"leftovers of interrupted writes not listed: {exc}",)


def refuse_unreadable(unreadable: Sequence[UnreadableSnapshot]) -> None:
    """``VerificationFailed`` while a snapshot manifest cannot be read: what it references is
    unknown, so deleting "unreferenced" objects could lose it; nothing is pruned."""
    if unreadable:
        first = unreadable[0]
        raise VerificationFailed(
            f"{len(unreadable)} snapshots cannot be read, so what they reference is unknown: nothing "
            f"is pruned (first: {first.object}: {first.message})",
            hint="`drkit snapshots` and `drkit verify` name them; a damaged manifest must be "
            "repaired or removed before a prune",
        )


def prune_leftovers(
    store: PruneStore, *, now: datetime, grace: timedelta, dry_run: bool
) -> tuple[tuple[Leftover, ...], tuple[Leftover, ...], tuple[str, ...]]:
    """Remove what interrupted writes left (``.tmp-*`` files, incomplete multipart uploads) that is
    older than ``grace``; a younger one may belong to a write in progress and stays.

    Returns (discarded or, with ``dry_run``, to discard; kept as young; notes). A store that cannot
    list them (no such capability, or a credential without ``s3:ListBucketMultipartUploads``) gives
    a note, never an error: leftovers cost space, not correctness."""
    if not isinstance(store, Housekeeping):
        return (), (), ()
    found, listed = list_leftovers(store)
    if listed:
        return (), (), listed
    old = tuple(item for item in found if now - item.started >= grace)
    young = tuple(item for item in found if now - item.started < grace)
    done: list[Leftover] = []
    notes: list[str] = []
    for item in old:
        if dry_run:
            done.append(item)
            continue
        try:
            store.discard(item)
        except StoreError as exc:
            notes.append(f"{item.name}: not removed: {exc}")
            continue
        done.append(item)
    return tuple(done), young, tuple(notes)


def prune_repository(
    store: PruneStore,
    index_packs: dict[str, set[str]],
    snapshots: list[Snapshot],
    keep: Iterable[str],
    *,
    now: datetime,
    dry_run: bool = False,
    grace: timedelta = GRACE,
) -> PruneResult:
    """Remove the snapshots not in ``keep``, then every unreferenced, unlocked pack and index object.

    ``index_packs`` maps each index object to the packs it describes. Packs modified less than
    ``grace`` ago are left alone when the store reports their time: a backup running right now may
    be about to name them in its manifest. Leftovers of interrupted writes older than ``grace`` go
    too (``prune_leftovers``).
    """
    keep_ids = set(keep)
    d = _Deleter(store, now, dry_run)
    deleted_snaps: list[str] = []
    remaining: list[Snapshot] = []
    for s in snapshots:
        if s.id in keep_ids:
            remaining.append(s)
        elif d.delete(snapshot_key(s.id)):
            deleted_snaps.append(s.id)
        else:
            remaining.append(s)
    _forget_entries(store, d, deleted_snaps)
    needed_packs = {p for s in remaining for p in s.packs}
    needed_indexes = {i for s in remaining for i in s.indexes}

    deleted_packs, surviving_packs, freed = _prune_packs(store, d, needed_packs, now=now, grace=grace)
    deleted_indexes: list[str] = []
    for info in store.list(INDEX_PREFIX):
        index_id = name_of_key(info.key)
        if index_id in needed_indexes or index_packs.get(index_id, set()) & surviving_packs:
            continue
        if index_id not in index_packs:
            continue  # unreadable or written after this prune loaded the index: leave it
        if d.delete(index_key(index_id)):
            deleted_indexes.append(index_id)
            freed += info.size
    discarded, young, notes = prune_leftovers(store, now=now, grace=grace, dry_run=dry_run)
    return PruneResult(
        kept_snapshots=tuple(s.id for s in remaining),
        deleted_snapshots=tuple(deleted_snaps),
        deleted_packs=tuple(sorted(deleted_packs)),
        deleted_indexes=tuple(sorted(deleted_indexes)),
        freed_bytes=freed,
        locked=tuple(d.locked),
        denied=tuple(d.denied),
        dry_run=dry_run,
        discarded_leftovers=discarded,
        young_leftovers=young,
        notes=notes,
    )
