"""The repository's domain objects, as the facade returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from drkit.storage.base import Leftover, LockMode


@dataclass(frozen=True)
class SnapshotStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    new_bytes: int = 0
    stored_bytes: int = 0
    new_packs: int = 0
    reused_files: int = 0  # files not read again: unchanged since the parent snapshot
    duration_s: float = 0.0
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackRef:
    """A pack a snapshot needs: the version it was written as, and its lock as of the snapshot."""

    version_id: str | None
    retain_until: datetime | None


@dataclass(frozen=True)
class RootMeta:
    mode: int
    uid: int
    gid: int
    mtime_ns: int


KIND_PATH: Final = "path"
"""A snapshot of one directory (``Repository.backup_path``): ``paths`` names it."""
KIND_CLUSTER: Final = "cluster"
"""A snapshot built from virtual files (``Repository.new_snapshot``): etcd, API objects, volumes."""
KIND_DRILL: Final = "drill"
"""A drill's result (``drkit/drill/store.py``): a record, not a backup; ``latest`` never picks it."""
KIND_VOLUME: Final = "volume"
"""One volume's files, written by a mover Job (``drkit mover backup``) and named by a cluster snapshot."""
SNAPSHOT_KINDS: Final = (KIND_PATH, KIND_CLUSTER, KIND_VOLUME, KIND_DRILL)


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    host: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    tree: bytes
    root: RootMeta
    stats: SnapshotStats
    parent: str | None = None
    retain_until: datetime | None = None
    packs: dict[str, PackRef] = field(default_factory=dict, compare=False)
    indexes: dict[str, datetime | None] = field(default_factory=dict, compare=False)
    kind: str = KIND_PATH
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:8]


@dataclass(frozen=True)
class RepoInfo:
    id: str
    url: str
    version: int
    lock_mode: LockMode | None
    retention: timedelta
    snapshot_count: int
    pack_count: int
    index_count: int
    pack_bytes: int
    key_slots: tuple[str, ...]
    chunker: str


@dataclass(frozen=True)
class RestoreStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    packs_read: int = 0
    duration_s: float = 0.0
    warnings: tuple[str, ...] = ()  # what could not be set (xattrs, owners), one line each


class ProblemKind(StrEnum):
    MISSING = "missing"
    CORRUPT = "corrupt"
    TAMPERED = "tampered"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    object: str
    message: str
    snapshots: tuple[str, ...] = ()

    def __str__(self) -> str:
        affected = f" (snapshots: {', '.join(s[:8] for s in self.snapshots)})" if self.snapshots else ""
        return f"{self.kind.value}: {self.object}: {self.message}{affected}"


@dataclass(frozen=True)
class UnreadableSnapshot:
    """A snapshot whose manifest is stored but cannot be read: ``id`` (from its object name), the
    ``object`` (``snapshots/<id>``) and why (``message``)."""

    id: str
    object: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    snapshots_checked: int
    trees_checked: int
    blobs_checked: int
    packs_checked: int
    packs_read: int
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...] = ()  # not damage, but worth a look: objects locked far beyond drkit's dates
    # What interrupted writes left (temporary files, incomplete multipart uploads): not a problem of
    # the repository's content (verify stays ok), but space to reclaim: ``prune`` removes old ones.
    leftovers: tuple[Leftover, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class LockedObject:
    key: str
    retain_until: datetime | None


@dataclass(frozen=True)
class PruneResult:
    kept_snapshots: tuple[str, ...]
    deleted_snapshots: tuple[str, ...]
    deleted_packs: tuple[str, ...]
    deleted_indexes: tuple[str, ...]
    freed_bytes: int
    locked: tuple[LockedObject, ...]
    dry_run: bool = False
    denied: tuple[str, ...] = ()  # objects this credential was not allowed to delete
    # Leftovers of interrupted writes: removed (or, dry run, to remove) and the young ones kept
    # because a write in progress may own them.
    discarded_leftovers: tuple[Leftover, ...] = ()
    young_leftovers: tuple[Leftover, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def next_free(self) -> datetime | None:
        """When the earliest still-locked unreferenced object becomes deletable."""
        times = [o.retain_until for o in self.locked if o.retain_until is not None]
        return min(times) if times else None
