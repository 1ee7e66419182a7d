"""The repository facade: what the CLI and the capture/restore layers call.

A :class:`Repository` is opened (or created) on a :class:`~drkit.storage.base.Store` with a
credential; it backs up and restores file trees, lists and finds snapshots, verifies, forgets and
prunes. The format it reads and writes is documented in ``docs/format.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drkit.errors import ConfigError
from drkit.repo.engine.commit import commit_snapshot
from drkit.repo.engine.progress import Progress
from drkit.repo.engine.references import Referenced
from drkit.repo.engine.snapshotref import find_snapshot, forgettable_id
from drkit.repo.engine.snapshotwriter import SnapshotWriter
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import BlobWriter, LockPolicy, WriterSettings, put_once, utcnow
from drkit.repo.format.bootstrap import Opened, create, open_config
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.index import LoadedIndex, PackRecord, load_index
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.layout import (
    INDEX_PREFIX,
    name_of_key,
)
from drkit.repo.format.manifest import load_manifests
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.repo.format.model import (
    KIND_CLUSTER,
    Problem,
    PruneResult,
    RepoInfo,
    RestoreStats,
    Snapshot,
    UnreadableSnapshot,
    VerifyReport,
)
from drkit.repo.format.objects import TamperEvent, VerifiedReader
from drkit.repo.format.packsource import PackSource
from drkit.repo.format.repoconfig import (
    DEFAULT_COMPRESSION,
    DEFAULT_PACK_SIZE,
    RepoConfig,
    compression_level,
)
from drkit.repo.format.retainuntil import stricter_lock
from drkit.repo.format.sealing import (
    MasterWriteKeys,
    Openers,
    SessionWriteKeys,
    WriteKeys,
    session_key,
)
from drkit.repo.format.unlocking import Unlocking
from drkit.storage.base import LockMode, Store

if TYPE_CHECKING:  # the engines are imported where used: a backup loads no restore, verify or prune,
    # and a cluster backup no file tree walk
    from drkit.repo.engine.backup import ParentTrees
    from drkit.repo.engine.retention import Decision, Policy
    from drkit.repo.engine.snapshotreader import SnapshotReader

_WRITE_ONLY = "this repository was opened with a write-only key: it can back up, not read"
_WRITE_ONLY_HINT = "use a passphrase or key file of a master key slot"
PARENT_MARGIN_NS = 2_000_000_000
"""Files whose ctime is within this of the parent backup's start are read again (clock ticks)."""


@dataclass(frozen=True)
class ForgetResult:
    deleted: tuple[str, ...]
    locked: tuple[tuple[str, datetime | None], ...]
    dry_run: bool
    denied: tuple[str, ...] = ()  # manifests this credential may not delete


class Repository:
    """An open repository. Build with :meth:`init` or :meth:`open`."""

    def __init__(
        self,
        store: Store,
        key: MasterKey | WriterKey,
        slot_id: str,
        config: RepoConfig,
        *,
        config_version: str | None,
        reader: VerifiedReader,
        settings: WriterSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._clock = clock
        self._master = key if isinstance(key, MasterKey) else None
        self._write_keys: WriteKeys
        if isinstance(key, MasterKey):
            self._write_keys = MasterWriteKeys(key)
            self._openers: Openers | None = Openers(key, self._fetch_wrapped)
        else:
            self._write_keys = SessionWriteKeys(key.start_session())
            self._openers = None
        self._session_stored = False
        self.slot_id = slot_id
        self.config = config
        self._lock_override: tuple[LockMode | None, timedelta] | None = None
        self.settings = settings or WriterSettings()
        self._config_version = config_version
        self._reader = reader
        self._index: LoadedIndex | None = None
        self._snapshots: list[Snapshot] | None = None
        self._snapshot_problems: list[Problem] = []

    # -- creating and opening ------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        store: Store,
        credential: Credential,
        *,
        lock_mode: LockMode | None,
        retention: timedelta,
        label: str = "initial",
        chunker: ChunkerParams | None = None,
        pack_size: int = DEFAULT_PACK_SIZE,
        compression: str = DEFAULT_COMPRESSION,
        scrypt_n: int | None = None,
        settings: WriterSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Repository:
        """Create a repository: a new master key, its first key slot, then the config."""
        opened = create(
            store,
            credential,
            lock_mode=lock_mode,
            retention=retention,
            clock=clock,
            label=label,
            chunker=chunker,
            pack_size=pack_size,
            compression=compression,
            scrypt_n=scrypt_n,
        )
        return cls._from(store, opened, settings, clock)

    @classmethod
    def open(
        cls,
        store: Store,
        credential: Credential,
        *,
        settings: WriterSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        unlocking: Unlocking | None = None,
    ) -> Repository:
        """Open a repository: ``RepositoryNotFound`` without a config, ``WrongKey`` if no slot opens.
        ``unlocking``: its key slot already being opened on a thread (started with this store and
        credential, ``write_only=False``)."""
        return cls._open(
            store, credential, write_only=False, settings=settings, clock=clock, unlocking=unlocking
        )

    @classmethod
    def open_writer(
        cls,
        store: Store,
        credential: Credential,
        *,
        settings: WriterSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        unlocking: Unlocking | None = None,
    ) -> Repository:
        """Open for backups only, with a write-only slot (or a master slot used as one).

        Such a repository can back up (new objects are sealed with a session key only the master
        key opens) but cannot list, read, restore, verify or prune: docs/format.md, "Write-only".
        """
        return cls._open(
            store, credential, write_only=True, settings=settings, clock=clock, unlocking=unlocking
        )

    @classmethod
    def _open(
        cls,
        store: Store,
        credential: Credential,
        *,
        write_only: bool,
        settings: WriterSettings | None,
        clock: Callable[[], datetime],
        unlocking: Unlocking | None = None,
    ) -> Repository:
        opened = open_config(store, credential, write_only=write_only, unlocking=unlocking)
        return cls._from(store, opened, settings, clock)

    @classmethod
    def _from(
        cls,
        store: Store,
        opened: Opened,
        settings: WriterSettings | None,
        clock: Callable[[], datetime],
    ) -> Repository:
        return cls(
            store,
            opened.key,
            opened.slot_id,
            opened.config,
            config_version=opened.config_version,
            reader=opened.reader,
            settings=settings,
            clock=clock,
        )

    # -- loading ---------------------------------------------------------------------------------

    def _load_index(self) -> LoadedIndex:
        if self._index is None:
            self._index = load_index(self.store, self._reader, self._write_keys)
        return self._index

    def refresh(self) -> None:
        """Forget the cached snapshot list and index: another process may have written since."""
        self._snapshots = None
        self._index = None

    def _load_snapshots(self) -> list[Snapshot]:
        if self._snapshots is None:
            if self._openers is None:  # a write-only writer cannot open manifests
                self._snapshots, self._snapshot_problems = [], []
            else:
                self._snapshots, self._snapshot_problems = load_manifests(
                    self.store, self._reader, self._openers, self.config.verify_key
                )
        return self._snapshots

    def _lock(self) -> LockPolicy:
        return LockPolicy(*self.lock_settings, self._clock)

    @property
    def lock_settings(self) -> tuple[LockMode | None, timedelta]:
        """The lock mode and period of what this handle writes: the repository's, or what
        :meth:`use_lock` set."""
        return self._lock_override or (self.config.lock_mode, self.config.retention)

    def use_lock(self, mode: LockMode | None = None, period: timedelta | None = None) -> None:
        """Lock what this handle writes from now on with ``mode`` and/or ``period`` instead of the
        repository's own (a schedule's ``spec.lock``). New objects get them; objects a snapshot
        reuses keep their mode and have their retention extended to the new period. Only as strict
        or stricter: COMPLIANCE may replace GOVERNANCE, never the reverse, and a repository created
        without Object Lock cannot be given one here. ``ConfigError`` otherwise."""
        self._lock_override = stricter_lock(self.config.lock_mode, self.config.retention, mode, period)

    # -- keys ------------------------------------------------------------------------------------

    @property
    def write_only(self) -> bool:
        """Opened with a writer key: can back up, cannot read anything back."""
        return self._master is None

    @property
    def key(self) -> MasterKey:
        """The master key (for key slot management). A write-only repository has none."""
        if self._master is None:
            raise ConfigError(_WRITE_ONLY, hint=_WRITE_ONLY_HINT)
        return self._master

    def _read_keys(self) -> Openers:
        if self._openers is None:
            raise ConfigError(_WRITE_ONLY, hint=_WRITE_ONLY_HINT)
        return self._openers

    def _fetch_wrapped(self, sealer_id: bytes, check: Callable[[bytes], bool]) -> bytes:
        data, _vid = self._reader.read(session_key(sealer_id), check)
        return data

    # -- queries ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.store.url

    def snapshots(self) -> list[Snapshot]:
        """Every readable snapshot, oldest first. :meth:`unreadable_snapshots` names the others."""
        self._read_keys()
        return list(self._load_snapshots())

    def unreadable_snapshots(self) -> list[UnreadableSnapshot]:
        """The snapshots whose manifest exists but cannot be read (corrupt, tampered with, or sealed
        with a write-only session key that is itself unreadable), each with why. A listing shows them
        and fails; addressing one raises ``VerificationFailed`` naming the corruption."""
        self._read_keys()
        self._load_snapshots()
        return [
            UnreadableSnapshot(id=name_of_key(p.object), object=p.object, message=p.message)
            for p in self._snapshot_problems
        ]

    def find_snapshot(self, ref: str) -> Snapshot:
        """A snapshot by full id, unique prefix (4+ hex digits) or ``latest`` (engine/snapshotref.py)."""
        self._read_keys()
        return find_snapshot(ref, self._load_snapshots(), self.unreadable_snapshots())

    def info(self) -> RepoInfo:
        self._read_keys()
        packs = list(self.store.list("data/"))
        indexes = list(self.store.list(INDEX_PREFIX))
        slots = KeyRing(self.store).list()
        c = self.config.chunker
        return RepoInfo(
            id=self.config.id,
            url=self.store.url,
            version=self.config.version,
            lock_mode=self.config.lock_mode,
            retention=self.config.retention,
            snapshot_count=len(self._load_snapshots()),
            pack_count=len(packs),
            index_count=len(indexes),
            pack_bytes=sum(p.size for p in packs),
            key_slots=tuple(f"{s.slot_id} ({s.kind}, {s.label})" for s in slots),
            chunker=f"{c.algorithm} min={c.min_size} avg={c.avg_size} max={c.max_size}",
        )

    # -- backup ----------------------------------------------------------------------------------

    def backup_path(
        self,
        source: Path,
        *,
        tags: Sequence[str] = (),
        host: str | None = None,
        progress: Progress | None = None,
    ) -> Snapshot:
        """Back up the directory ``source``; the snapshot exists once its manifest is written."""
        from drkit.repo.engine.pathbackup import backup_path

        return backup_path(self, source, tags=tags, host=host, progress=progress)

    # -- what the engines that write a snapshot need (engine/target.py, SnapshotTarget) ---------------

    @property
    def chunker_params(self) -> ChunkerParams:
        return self.config.chunker

    def now(self) -> datetime:
        return self._clock()

    def known_snapshots(self) -> list[Snapshot]:
        """The readable snapshots, oldest first (none when opened write-only), cached."""
        return self._load_snapshots()

    def write_keys(self) -> WriteKeys:
        """The keys new objects are sealed with. A write-only session's wrapped key is stored first
        (once): every object sealed with it needs it to be read back."""
        keys = self._write_keys
        if isinstance(keys, SessionWriteKeys) and not self._session_stored:
            put_once(self.store, session_key(keys.sealer_id), keys.session.wrapped, self.lock_policy())
            self._session_stored = True
        return keys

    def read_keys(self) -> Openers:
        """The keys that open stored objects (``ConfigError`` when opened write-only)."""
        return self._read_keys()

    def lock_policy(self) -> LockPolicy:
        """How new objects are locked (the repository's mode and period)."""
        return self._lock()

    def blob_writer(self) -> BlobWriter:
        """A writer for one backup; stores the write-only session's key first if not yet done."""
        state = self._load_index()
        return BlobWriter(
            self.store,
            self.write_keys(),
            state.index,
            pack_size=self.settings.pack_size or self.config.pack_size,
            lock=self._lock(),
            settings=self.settings,
            compression_level=compression_level(self.config.compression),
        )

    def parent_trees(self, parent: Snapshot, tree: bytes) -> ParentTrees:
        """The parent snapshot's trees from ``tree`` down, to skip files unchanged since it was made."""
        from drkit.repo.engine.backup import ParentTrees

        packs = PackSource(self._read_keys(), self._load_index().index, self._reader, cache_packs=4)
        started_ns = int((parent.time.timestamp() - parent.stats.duration_s) * 1e9)
        return ParentTrees(
            tree=tree,
            read=functools.partial(packs.blob, BlobType.TREE),  # no Python frame per tree
            changed_before_ns=started_ns - PARENT_MARGIN_NS,
        )

    def commit_snapshot(
        self, snap: Snapshot, writer: BlobWriter, referenced: Referenced, started: float
    ) -> Snapshot:
        """Lock what ``snap`` references, then store its manifest (engine/commit.py); the snapshot
        list this handle caches gets it too."""
        snapshots = self._load_snapshots()
        snap = commit_snapshot(
            self.store,
            self._load_index().index,
            snapshots,
            snap,
            writer=writer,
            referenced=referenced,
            started=started,
            lock=self._lock(),
            keys=self._write_keys,
            config_version=self._config_version,
        )
        snapshots.append(snap)
        snapshots.sort(key=lambda s: (s.time, s.id))
        return snap

    # -- cluster snapshots: virtual files -----------------------------------------------------------

    def new_snapshot(
        self,
        *,
        kind: str = KIND_CLUSTER,
        tags: Sequence[str] = (),
        host: str | None = None,
        meta: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> SnapshotWriter:
        """Start a snapshot of virtual files (bytes, streams, directories) at chosen paths.

        Use as a context manager: leaving the block normally commits (the manifest is written
        last); an exception aborts and nothing becomes visible. See :class:`SnapshotWriter`.
        """
        return SnapshotWriter(self, kind=kind, tags=tags, host=host, meta=meta, progress=progress)

    def snapshot_reader(self, snapshot: str) -> SnapshotReader:
        """Read one snapshot's files by path (``latest``, an id, or a unique prefix)."""
        from drkit.repo.engine.snapshotreader import SnapshotReader

        snap = self.find_snapshot(snapshot)
        state = self._load_index()
        return SnapshotReader(
            snap,
            trees=PackSource(self._read_keys(), state.index, self._reader, cache_packs=8),
            data=PackSource(self._read_keys(), state.index, self._reader, cache_packs=2),
            workers=max(4, self.settings.workers),
        )

    # -- restore ---------------------------------------------------------------------------------

    def restore_path(
        self, snapshot: str, target: Path, *, subpath: str = "", progress: Progress | None = None
    ) -> RestoreStats:
        """Restore ``snapshot`` (or its ``subpath``) into the directory ``target``. ``RestoreIncomplete``
        when the data of some files could not be read: the rest is restored, those are not (and no
        file is left in their place); ``ConfigError`` for a target reached through a symlink."""
        from drkit.repo.engine.restore import RestoreIncomplete, TreeRestore

        snap = self.find_snapshot(snapshot)
        state = self._load_index()
        packs = PackSource(self._read_keys(), state.index, self._reader, cache_packs=8)
        fetchers, workers = restore_workers(self.store.url, self.settings.workers)
        restorer = TreeRestore(packs, snap, workers=workers, fetchers=fetchers, progress=progress)
        try:
            stats = restorer.run(Path(target), subpath)
        except RestoreIncomplete as exc:
            exc.stats = replace(exc.stats, warnings=(*exc.stats.warnings, *restorer.warnings))
            raise
        return replace(stats, warnings=(*stats.warnings, *restorer.warnings))

    # -- verify ----------------------------------------------------------------------------------

    def verify(
        self, *, read_data_percent: float = 0.0, snapshot: str | None = None, progress: Progress | None = None
    ) -> VerifyReport:
        """Check the repository; problems name the object and the snapshots affected."""
        from drkit.repo.engine.verify import Verifier, complete_report

        # manifests first: a snapshot's index objects are stored before its manifest, so every
        # snapshot read here is in the index read next, even one a backup committed meanwhile
        all_snaps = self._load_snapshots()
        state = self._load_index()
        chosen = [self.find_snapshot(snapshot)] if snapshot else list(all_snaps)
        verifier = Verifier(
            self,
            all_snapshots=all_snaps,
            load_problems=[*state.problems, *self._snapshot_problems],
            progress=progress,
        )
        report = verifier.run(chosen, read_data_percent=read_data_percent)
        return complete_report(
            report,
            self.store,
            transit=self._reader.transit,
            whole=not snapshot,
            now=self._clock(),
        )

    # -- what the Verifier reads (engine/verify.py, VerifySource) ------------------------------------

    def pack_source(self, *, cache_packs: int) -> PackSource:
        """Blobs and packs by the versions the index recorded (``ConfigError`` when write-only)."""
        return PackSource(self._read_keys(), self._load_index().index, self._reader, cache_packs=cache_packs)

    def pack_record(self, pack_id: str) -> PackRecord | None:
        return self._load_index().index.packs.get(pack_id)

    def tamper_events(self) -> Sequence[TamperEvent]:
        return self._reader.events

    # -- forget and prune ------------------------------------------------------------------------

    def forget(self, snapshots: Sequence[str], *, dry_run: bool = False) -> ForgetResult:
        """Delete these snapshots' manifests where their lock has expired; report the others. An
        unreadable snapshot named by its id (or a unique prefix) can be forgotten too: its manifest is
        the one object drkit knows of it."""
        from drkit.repo.engine.prune import forget_snapshots

        self._read_keys()
        known, unreadable = self._load_snapshots(), self.unreadable_snapshots()
        chosen = list(dict.fromkeys(forgettable_id(ref, known, unreadable) for ref in snapshots))
        deleted, locked, denied = forget_snapshots(self.store, chosen, now=self._clock(), dry_run=dry_run)
        if not dry_run:
            self._snapshots = None
        return ForgetResult(
            tuple(deleted), tuple((o.key, o.retain_until) for o in locked), dry_run, tuple(denied)
        )

    def retention(
        self, policy: Policy, now: datetime | None = None
    ) -> tuple[list[str], list[str], dict[str, Decision]]:
        """What ``policy`` keeps and removes, with reasons, series by series (engine/retention.py,
        :func:`~drkit.repo.engine.retention.apply_to_series`)."""
        from drkit.repo.engine.retention import apply_to_series

        return apply_to_series(self._load_snapshots(), policy, now or self._clock())

    def prune(
        self,
        keep: Sequence[str] | None = None,
        *,
        policy: Policy | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> PruneResult:
        """Remove snapshots not in ``keep`` (or not kept by ``policy``), then unreferenced objects.

        With neither, every snapshot is kept and only unreferenced objects go. Locked objects are
        never deleted; the result says when each becomes free. While a snapshot manifest cannot be read,
        nothing is done (``VerificationFailed``): the objects it references would look unreferenced.
        """
        from drkit.repo.engine.prune import prune_repository, refuse_unreadable

        now = now or self._clock()
        snaps = self._load_snapshots()
        refuse_unreadable(self.unreadable_snapshots())
        if keep is None and policy is not None:
            keep, _remove, _decisions = self.retention(policy, now)
        keep_ids = {s.id for s in snaps} if keep is None else {self.find_snapshot(k).id for k in keep}
        state = self._load_index()
        result = prune_repository(self.store, state.index_packs, snaps, keep_ids, now=now, dry_run=dry_run)
        if not dry_run:
            self._index = None
            self._snapshots = None
        return result


S3_RESTORE_FETCHERS = 8
"""Packs a restore from S3 keeps in flight (up to 16 MiB each). Over a link of 10 ms each way and
100 MB/s per connection (``python -m bench.s3 --link 10ms,100``) 8 fetching threads beside 2 writing
ones restored the mixed tree in 3.6 s against 5.0 s for 4 threads that both fetched and wrote, and
4 fetching beside 2 writing were no faster than those 4 (docs/performance.md)."""


def restore_workers(store_url: str, workers: int) -> tuple[int, int]:
    """(threads that fetch a restore's packs, how many of them write blobs at once). The writing is the
    CPU's (opening blobs, the kernel copying data into the page cache): ``workers`` (one per CPU); more
    only wake each other for the GIL (2 against 4 on 2 CPUs: ~10% faster, docs/performance.md). From
    a local repository a fetch is a read from the page cache, so every thread writes too; from S3 a
    fetch waits for the network, so :data:`S3_RESTORE_FETCHERS` fetch while ``workers`` write."""
    writers = max(1, workers)
    if store_url.startswith("file:"):
        return writers, writers
    return max(S3_RESTORE_FETCHERS, writers), writers
