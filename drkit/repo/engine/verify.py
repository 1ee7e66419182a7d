"""Checking a repository: structure always, data (decrypt and re-hash) for a share of the packs.

Structure: every snapshot manifest opens and its signature holds; every tree reachable from the
checked snapshots opens (its pack is read and hashed) and is well formed; every chunk a file
names is in an index and its pack exists; every pack a snapshot names exists, and a newer version
of it that fails its hash (someone overwrote it) is reported as tampering. ``read_data_percent``
of the packs are also read in full: hash, header, every blob opened and checked against its id.

Locks: every pack, index and manifest the snapshots name is asked for its retain-until date; one
locked more than :data:`RETENTION_SLACK` beyond the latest date drkit itself set (recorded in the
manifests) gets a warning: a writer credential can extend COMPLIANCE retention to any date (a cost
attack: nothing can be pruned until then), see docs/security.md.

The :class:`Verifier` reads through a :class:`VerifySource` (the ``Repository`` provides it): the
store's listings and versions, packs by their recorded version, each pack's index record, and what
the verified reads saw. A unit test can hand it any object with these members.
"""

from __future__ import annotations

import builtins
import functools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from drkit.errors import VerificationFailed
from drkit.repo.engine.blobsource import PackedBlobSource
from drkit.repo.engine.progress import Progress
from drkit.repo.engine.prune import list_leftovers
from drkit.repo.format import catalog
from drkit.repo.format.blobs import BlobType, open_blob
from drkit.repo.format.index import PackRecord
from drkit.repo.format.layout import (
    SNAPSHOTS_PREFIX,
    index_key,
    name_of_key,
    object_name,
    pack_key,
    snapshot_key,
)
from drkit.repo.format.model import Problem, ProblemKind, Snapshot, VerifyReport
from drkit.repo.format.objects import TamperEvent, TransitEvent
from drkit.repo.format.pack import read_header
from drkit.repo.format.sealing import MASTER_SEALER, session_key
from drkit.repo.format.splittree import is_split, read_split, read_tree
from drkit.repo.format.tree import NodeType
from drkit.storage.base import ObjectInfo, Store
from drkit.storage.errors import ObjectNotFound

RETENTION_SLACK = timedelta(days=2)
"""How far beyond drkit's own retain-until an object may be locked before verify warns (locks are
rounded up to at most a day)."""

FAR_LISTED = 50
"""Objects locked far beyond drkit's retention named one by one (the first in the summary line); any
more are counted in a last line, so a mass extension does not bury the rest of the report."""

VERSION_READS = 3
"""Reads of a newer pack version failing its hash before it is called an overwrite (a byte flipped
in transit, by a store that sends no checksum, is not one)."""


class VerifyStore(Protocol):
    """The store as verify reads it: listings, metadata, versions; it never writes."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo: ...

    def versions(self, key: str) -> builtins.list[ObjectInfo]: ...

    def get(self, key: str, *, version_id: str | None = None) -> bytes: ...


class VerifySource(Protocol):
    """An open (readable) repository, as the Verifier sees it."""

    @property
    def store(self) -> VerifyStore:
        """Where the objects are: to list packs, ask for locks and find newer versions."""
        ...

    def pack_source(self, *, cache_packs: int) -> PackedBlobSource:
        """Blobs and whole packs by the versions the index recorded, hash checked; its ``keys``
        open pack headers and blobs. ``cache_packs``: how many fetched packs to keep."""
        ...

    def pack_record(self, pack_id: str) -> PackRecord | None:
        """The index's record of a pack (its version, sealer and entries); ``None`` if in no index."""
        ...

    def tamper_events(self) -> Sequence[TamperEvent]:
        """Stored versions the reads so far found failing their check (overwritten by someone)."""
        ...


def complete_report(
    report: VerifyReport, store: Store, *, transit: Iterable[TransitEvent], whole: bool, now: datetime
) -> VerifyReport:
    """``report`` with what the store tells beyond the snapshots: leftovers of interrupted writes
    (and a note when they cannot be listed), the reads that failed in transit and then passed, and,
    when the whole repository was checked (``whole``), the snapshots the catalog recorded whose
    manifest is gone (deleted by someone)."""
    leftovers, notes = list_leftovers(store)
    messages = tuple(dict.fromkeys(e.message for e in transit))  # re-reads that passed
    report = replace(report, leftovers=leftovers, warnings=(*report.warnings, *messages, *notes))
    if not whole:
        return report
    manifests = {name_of_key(o.key) for o in store.list(SNAPSHOTS_PREFIX)}
    deleted = catalog.check(store, manifests, now)
    return replace(report, problems=(*report.problems, *deleted)) if deleted else report


class Verifier:
    def __init__(
        self,
        source: VerifySource,
        *,
        all_snapshots: list[Snapshot],
        load_problems: Iterable[Problem] = (),
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.store = source.store
        self.all_snapshots = all_snapshots
        self.progress = progress
        self.problems: list[Problem] = list(load_problems)
        self._pack_snapshots: dict[str, set[str]] = defaultdict(set)
        for s in all_snapshots:
            for p in s.packs:
                self._pack_snapshots[p].add(s.id)
        self._seen: dict[tuple[ProblemKind, str], int] = {
            (p.kind, p.object): i for i, p in enumerate(self.problems)
        }
        self.warnings: list[str] = []
        # Trees are read once however many snapshots share them: what was found below a tree is
        # remembered with it, so a later snapshot reaching the tree is named in those problems too.
        self._tree: bytes | None = None  # the tree whose entries are being checked
        self._tree_problems: dict[bytes, set[tuple[ProblemKind, str]]] = defaultdict(set)
        self._subtrees: dict[bytes, list[bytes]] = {}

    def _problem(self, kind: ProblemKind, obj: str, message: str, snapshots: Iterable[str] = ()) -> None:
        """Record a problem once per object; met again, the snapshots it affects are added to it."""
        key = (kind, obj)
        if self._tree is not None:
            self._tree_problems[self._tree].add(key)
        at = self._seen.get(key)
        if at is None:
            self._seen[key] = len(self.problems)
            self.problems.append(Problem(kind, obj, message, tuple(sorted(set(snapshots)))))
            return
        old = self.problems[at]
        merged = tuple(sorted({*old.snapshots, *snapshots}))
        if merged != old.snapshots:
            self.problems[at] = replace(old, snapshots=merged)

    def _also_affects(self, tree_id: bytes, snap_id: str) -> None:
        """``snap_id`` reaches ``tree_id``, checked already for another snapshot: name it in every
        problem found in that tree or below it."""
        if not self._tree_problems:
            return
        stack, seen = [tree_id], {tree_id}
        while stack:
            t = stack.pop()
            for kind, obj in self._tree_problems.get(t, ()):
                self._problem(kind, obj, "", [snap_id])
            for sub in self._subtrees.get(t, ()):
                if sub not in seen:
                    seen.add(sub)
                    stack.append(sub)

    def _affected(self, pack_id: str, also: Iterable[str] = ()) -> set[str]:
        """The snapshots that need a pack: those whose manifest lists it, and ``also`` (the snapshot
        being checked, which needs it though its manifest may not list it)."""
        return self._pack_snapshots.get(pack_id, set()) | set(also)

    def run(self, snapshots: list[Snapshot], *, read_data_percent: float = 0.0) -> VerifyReport:
        existing = {name_of_key(o.key): o for o in self.store.list("data/")}
        packs = self.source.pack_source(cache_packs=8)
        trees_checked = 0
        blobs_checked = 0
        checked_trees: set[bytes] = set()
        referenced_packs: set[str] = set()
        if self.progress is not None:
            self.progress.start("verify structure", len(snapshots), "snapshots")
        for snap in snapshots:
            trees, blobs = self._walk(snap, existing, packs, checked_trees, referenced_packs)
            trees_checked += trees
            blobs_checked += blobs
            if self.progress is not None:
                self.progress.advance(1)
        if self.progress is not None:
            self.progress.done()
        for p in sorted(referenced_packs):
            if p in existing:
                self._check_versions(p)
        self._check_sessions(referenced_packs)
        self._check_locks(snapshots, existing)
        packs_read = self._read_data(sorted(p for p in referenced_packs if p in existing), read_data_percent)
        for ev in self.source.tamper_events():
            self._problem(
                ProblemKind.TAMPERED,
                ev.key,
                f"version {ev.bad_version} fails its check (overwritten?); {ev.message}",
                self._affected(name_of_key(ev.key)),
            )
        return VerifyReport(
            snapshots_checked=len(snapshots),
            trees_checked=trees_checked,
            blobs_checked=blobs_checked,
            packs_checked=len(referenced_packs),
            packs_read=packs_read,
            problems=tuple(self.problems),
            warnings=tuple(self.warnings),
        )

    def _check_locks(self, snapshots: list[Snapshot], existing: dict[str, ObjectInfo]) -> None:
        """Warn about objects locked far beyond what drkit set (the manifests record each date)."""
        expected: dict[str, datetime | None] = {}

        def record(key: str, until: datetime | None) -> None:
            known = expected.get(key)
            expected[key] = until if known is None or (until is not None and until > known) else known

        checked: set[str] = set()
        chosen = {s.id for s in snapshots}
        for snap in [*self.all_snapshots, *(s for s in snapshots if s not in self.all_snapshots)]:
            keys = [(snapshot_key(snap.id), snap.retain_until)]
            keys += [(pack_key(p), ref.retain_until) for p, ref in snap.packs.items() if p in existing]
            keys += [(index_key(i), until) for i, until in snap.indexes.items()]
            for key, until in keys:
                record(key, until)  # a later snapshot may have extended it: every snapshot counts
                if snap.id in chosen:
                    checked.add(key)
        far: list[tuple[str, datetime, datetime | None]] = []
        for key in sorted(checked):
            try:
                info = self.store.head(key)
            except ObjectNotFound:
                continue  # reported as missing where it matters
            actual = info.retention.until if info.retention is not None else None
            limit = expected[key]
            if actual is not None and (limit is None or actual > limit + RETENTION_SLACK):
                far.append((key, actual, limit))
        if far:
            key, actual, limit = far[0]
            set_by_drkit = limit.date().isoformat() if limit is not None else "no lock"
            self.warnings.append(
                f"{len(far)} objects are locked far beyond the retention drkit set (first: {key} until "
                f"{actual.date().isoformat()}, drkit set {set_by_drkit}): a writer credential may have "
                "extended them (a cost attack: they cannot be pruned before then; docs/security.md)"
            )
            self.warnings += [
                f"{k} locked until {a.isoformat()}, drkit set {lim.isoformat() if lim else 'no lock'}"
                for k, a, lim in far[1:FAR_LISTED]
            ]
            if len(far) > FAR_LISTED:
                self.warnings.append(
                    f"... and {len(far) - FAR_LISTED} more objects locked far beyond the retention drkit "
                    f"set, not listed (the first {FAR_LISTED} are, in key order)"
                )

    def _walk(
        self,
        snap: Snapshot,
        existing: dict[str, ObjectInfo],
        packs: PackedBlobSource,
        checked_trees: set[bytes],
        referenced_packs: set[str],
    ) -> tuple[int, int]:
        """Check one snapshot's packs and trees; returns (trees read, chunks checked)."""
        trees_checked = blobs_checked = 0
        referenced_packs.update(snap.packs)
        for p in snap.packs:
            if p not in existing:
                self._problem(
                    ProblemKind.MISSING, pack_key(p), "pack is missing", self._affected(p, [snap.id])
                )
        stack = [snap.tree]
        while stack:
            tree_id = stack.pop()
            if tree_id in checked_trees:
                self._also_affects(tree_id, snap.id)
                continue
            checked_trees.add(tree_id)
            self._tree = tree_id
            try:
                trees, blobs = self._walk_tree(
                    tree_id,
                    snap,
                    existing=existing,
                    packs=packs,
                    referenced_packs=referenced_packs,
                    stack=stack,
                )
            finally:
                self._tree = None
            trees_checked += trees
            blobs_checked += blobs
        return trees_checked, blobs_checked

    def _walk_tree(
        self,
        tree_id: bytes,
        snap: Snapshot,
        *,
        existing: dict[str, ObjectInfo],
        packs: PackedBlobSource,
        referenced_packs: set[str],
        stack: list[bytes],
    ) -> tuple[int, int]:
        """Check one tree and its entries' chunks; push its subtrees on ``stack``."""
        loc = packs.locate((BlobType.TREE, tree_id))
        if loc is None:
            self._problem(
                ProblemKind.MISSING,
                f"tree {tree_id.hex()}",
                "tree is in no index (or its pack is missing)",
                [snap.id],
            )
            return 0, 0
        parts: list[tuple[bytes, int]] = []
        try:
            raw = packs.blob(BlobType.TREE, tree_id)
            if is_split(raw):  # a large directory in parts: each is a tree of the snapshot too
                parts = read_split(raw, where=tree_id.hex())
                for k, (part_id, _count) in enumerate(parts):
                    if packs.locate((BlobType.TREE, part_id)) is None:
                        self._problem(
                            ProblemKind.MISSING,
                            f"tree {part_id.hex()}",
                            f"part {k + 1} of split tree {tree_id.hex()} is in no index "
                            "(or its pack is missing)",
                            [snap.id],
                        )
                        return 0, 0
            nodes = read_tree(raw, where=tree_id.hex(), part=functools.partial(packs.blob, BlobType.TREE))
        except VerificationFailed as e:
            self._problem(
                ProblemKind.CORRUPT,
                f"tree {tree_id.hex()}",
                e.message,
                self._affected(loc.pack_id, [snap.id]),
            )
            return 0, 0
        blobs_checked = 0
        subtrees = [n.subtree for n in nodes if n.type is NodeType.DIR and n.subtree is not None]
        self._subtrees[tree_id] = subtrees
        stack.extend(subtrees)
        for n in nodes:
            for c in n.content:
                blobs_checked += 1
                self._check_chunk(packs, c, snap, existing, referenced_packs)
        return 1 + len(parts), blobs_checked

    def _check_chunk(
        self,
        packs: PackedBlobSource,
        chunk: bytes,
        snap: Snapshot,
        existing: dict[str, ObjectInfo],
        referenced_packs: set[str],
    ) -> None:
        loc = packs.locate((BlobType.DATA, chunk))
        if loc is None:
            self._problem(
                ProblemKind.MISSING,
                f"data blob {chunk.hex()}",
                "chunk is in no index (or its pack is missing)",
                [snap.id],
            )
        elif loc.pack_id not in existing:
            self._problem(
                ProblemKind.MISSING,
                pack_key(loc.pack_id),
                "pack is missing",
                self._affected(loc.pack_id, [snap.id]),
            )
        else:
            referenced_packs.add(loc.pack_id)

    def _check_sessions(self, pack_ids: Iterable[str]) -> None:
        """Every write-only session whose packs are referenced has a session key that opens."""
        by_sealer: dict[bytes, set[str]] = defaultdict(set)
        for p in pack_ids:
            record = self.source.pack_record(p)
            if record is not None and record.sealer != MASTER_SEALER:
                by_sealer[record.sealer].add(p)
        keys = self.source.pack_source(cache_packs=0).keys
        for sealer, packs in sorted(by_sealer.items()):
            try:
                keys.sealer(sealer)
            except VerificationFailed as e:
                affected = set().union(*(self._affected(p) for p in packs))
                self._problem(ProblemKind.MISSING, session_key(sealer), e.message, affected)

    def _check_versions(self, pack_id: str) -> None:
        key = pack_key(pack_id)
        record = self.source.pack_record(pack_id)
        try:
            versions = self.store.versions(key)
        except ObjectNotFound:
            return
        if len(versions) < 2 or record is None or record.version_id is None:
            return
        newest = versions[0]
        if newest.version_id == record.version_id:
            return
        for _ in range(VERSION_READS):
            try:
                data = self.store.get(key, version_id=newest.version_id)
            except ObjectNotFound:
                return
            if object_name(data) == pack_id:
                return
        self._problem(
            ProblemKind.TAMPERED,
            key,
            f"newer version {newest.version_id} fails its hash (overwritten by someone); "
            f"reads use the recorded version {record.version_id}",
            self._affected(pack_id),
        )

    def _read_data(self, pack_ids: list[str], percent: float) -> int:
        if percent <= 0 or not pack_ids:
            return 0
        n = min(len(pack_ids), math.ceil(len(pack_ids) * min(percent, 100.0) / 100.0))
        chosen = pack_ids if n == len(pack_ids) else sorted(random.sample(pack_ids, n))
        if self.progress is not None:
            self.progress.start("verify data", n, "packs")
        packs = self.source.pack_source(cache_packs=0)
        for pack_id in chosen:
            key = pack_key(pack_id)
            try:
                data = packs.fetch(pack_id)
                sealer, entries = read_header(packs.keys, data, where=key)
                record = self.source.pack_record(pack_id)
                if record is not None and set(entries) != set(record.entries):
                    self._problem(ProblemKind.CORRUPT, key, "its header and its index entry disagree")
                view = memoryview(data)
                for e in entries:
                    open_blob(
                        packs.keys, sealer, e.type, e.id, view[e.offset : e.offset + e.length], where=key
                    )
            except VerificationFailed as e:
                self._problem(ProblemKind.CORRUPT, key, e.message, self._affected(pack_id))
            if self.progress is not None:
                self.progress.advance(1)
        if self.progress is not None:
            self.progress.done()
        return len(chosen)
