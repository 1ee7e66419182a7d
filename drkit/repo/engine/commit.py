"""Committing a snapshot: lock what it references, then store its manifest and its catalog entry.

The last step of every backup (``SnapshotTarget.commit_snapshot``, engine/target.py). Order matters
(docs/format.md): everything a manifest names is locked at least as long as the manifest before the
manifest exists, and the catalog entry is written after it, so that a crash in between leaves a
snapshot without an entry (verify reports it), never an entry without its snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from drkit.errors import DrkitError
from drkit.repo.engine.references import Referenced, lock_references
from drkit.repo.format import catalog
from drkit.repo.format.blobwriter import BlobWriter, LockPolicy, put_once
from drkit.repo.format.index import MasterIndex
from drkit.repo.format.layout import CONFIG_KEY, object_name, snapshot_key
from drkit.repo.format.manifest import encode_manifest
from drkit.repo.format.model import Snapshot
from drkit.repo.format.retainuntil import lock_until, retention_at
from drkit.repo.format.sealing import WriteKeys
from drkit.storage.base import Store
from drkit.storage.errors import ObjectExists

_log = logging.getLogger(__name__)


def commit_snapshot(
    store: Store,
    index: MasterIndex,
    known: Sequence[Snapshot],
    snap: Snapshot,
    *,
    writer: BlobWriter,
    referenced: Referenced,
    started: float,
    lock: LockPolicy,
    keys: WriteKeys,
    config_version: str | None,
) -> Snapshot:
    """Lock what ``snap`` references (``known``: the snapshots that may already hold those objects),
    then store its manifest sealed with ``keys``: the snapshot exists from then on; the stored
    snapshot, with its id.

    ``writer`` must be closed. ``snap``'s time, lock, pack and index tables and duration are filled
    in here; ``started`` is the ``time.monotonic()`` of the backup's start. The repository config
    (read by every reader, at ``config_version``) is locked as long as the new snapshot."""
    now = lock.clock()
    needed = (
        lock_until(now, lock.retention) if lock.mode is not None and lock.retention > timedelta(0) else None
    )
    pack_refs, index_refs = lock_references(
        store, index, known, referenced, new_indexes=writer.new_indexes, needed=needed
    )
    if needed is not None:
        store.extend_retention(CONFIG_KEY, needed, version_id=config_version)
    snap = replace(
        snap,
        time=now,
        retain_until=needed,
        packs=pack_refs,
        indexes=index_refs,
        stats=replace(snap.stats, duration_s=time.monotonic() - started),
    )
    data = encode_manifest(keys, snap)
    sid = object_name(data)
    put_once(store, snapshot_key(sid), data, lock)
    snap = replace(snap, id=sid)
    try:  # after the manifest: a crash in between leaves a snapshot without an entry, never the reverse
        catalog.write_entry(store, sid, now, retention_at(lock.mode, lock.retention, lock.clock()))
    except (DrkitError, ObjectExists) as exc:
        _log.warning("snapshot %s: its catalog entry was not stored: %s", sid[:8], exc)
    return snap
