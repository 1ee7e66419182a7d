"""One cluster backup: etcd and API resources captured into one snapshot of the repository.

Layout inside the snapshot (docs/format.md, "Cluster snapshots"):

* ``etcd/snapshot.db``: the database as etcd streamed it (db + 32-byte SHA-256 trailer), which
  ``etcdutl snapshot restore`` accepts. Committed only after the stream verified.
* ``resources/<group|core>/<version>/<resource>/<namespace|_cluster>/<name>.json``: one object each.
* ``capture/resources.json``: per object its group/version/kind, namespace, name, resourceVersion and
  the resourceVersion of the list it came from.
* ``volumes/<namespace>/<pvc>/...``: the files of a volume read in local mode (docs/volumes.md).
* the manifest's ``meta``: ``etcd`` (revision, HashKV proof, sha256, size), ``resources`` (counts,
  list resourceVersions, skipped resources and per-item errors) and ``volumes`` (per volume: files,
  bytes, new bytes, duration, hooks; in job mode the Job's result and the volume snapshot's id).

A failure of etcd aborts the whole snapshot (nothing becomes visible). A failure of single resource
types (forbidden, gone) or of single volumes is recorded per item; the snapshot is committed and the
result is partial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from drkit import __version__
from drkit.capture.filters import CaptureFilter, is_glob
from drkit.capture.resources import CapturedObject, CaptureSummary, capture_resources, object_path
from drkit.capture.resourcesjson import RECORDS_PIECE, Record, RecordSpool, encode_sorted
from drkit.errors import ConfigError
from drkit.repo.engine.progress import NullProgress, Progress
from drkit.repo.format.heapkeep import map_large_blocks, release_freed
from drkit.storage.base import LockMode

if TYPE_CHECKING:  # imported where used: an etcd-only backup needs neither (the Kubernetes client ~0.5 s)
    from drkit.capture.volumes import VolumeCapture, VolumeOptions
    from drkit.etcd import EtcdClient
    from drkit.etcd.early import EarlySnapshot
    from drkit.kube.client import KubeClient

    # the repository's modules: `backup run` imports them while the key is derived and etcd asked
    from drkit.repo.engine.snapshotwriter import SnapshotWriter
    from drkit.repo.format.model import Snapshot
    from drkit.repo.repository import Repository

ETCD_PATH = "etcd/snapshot.db"
ETCD_ZSTD_LEVEL = 1
"""The etcd snapshot's chunks are compressed at zstd level 1 (or the repository's level when lower):
half the CPU of level 3 on its pages for about the same size (docs/performance.md); any level's frames
read the same (docs/format.md)."""
ETCD_CHUNK_SIZE = 1024 * 1024
"""The etcd snapshot is cut in chunks of this size at fixed offsets, not with FastCDC: its bbolt file
changes page by page (4 KiB pages; 64 KiB on some platforms: both divide it) without shifting, so a
chunk is stored again only when a page inside it changed. Between two snapshots of a 326 MiB database
around 300 small writes, 33% of the second was new with 1 MiB chunks, 63% with FastCDC's (which
averaged 2 MiB there); 256 KiB chunks stored 9% but cost ~10% more CPU in a first backup
(docs/performance.md). Changing it costs one snapshot's dedup against the previous ones."""
OBJECTS_PATH = "capture/resources.json"
# Resource files get one fixed mtime so that an unchanged object yields an unchanged tree entry, and
# an unchanged namespace an unchanged tree: a second backup of a quiet cluster stores almost nothing.
STABLE_MTIME = datetime(2000, 1, 1, tzinfo=UTC)

Notify = Callable[[str], None]


@dataclass(frozen=True)
class ClusterBackupRequest:
    etcd: EtcdClient | None = None
    kube: KubeClient | None = None
    capture_filter: CaptureFilter = field(default_factory=CaptureFilter)
    tags: tuple[str, ...] = ()
    host: str | None = None
    volumes: VolumeOptions | None = None  # None or selection "none": no volume data
    lock_mode: LockMode | None = None  # a schedule's spec.lock: overrides the repository's for this backup
    lock_period: timedelta | None = None
    lock_origin: str = ""  # the schedule file that asked for it (named in errors)
    schedule: str = ""  # the name of the schedule this backup runs for (recorded in the snapshot)


@dataclass(frozen=True)
class ClusterBackupResult:
    snapshot: Snapshot
    etcd: dict[str, Any] | None
    resources: CaptureSummary | None
    duration_s: float
    volumes: VolumeCapture | None = None

    @property
    def partial(self) -> bool:
        resources = self.resources is not None and self.resources.partial
        return resources or (self.volumes is not None and self.volumes.partial)


def _record(obj: CapturedObject, path: str) -> Record:
    return (
        path,
        obj.group,
        obj.version,
        obj.resource,
        obj.kind,
        obj.namespace,
        obj.name,
        obj.resource_version,
        obj.list_resource_version,
    )


def encode_records(records: list[Record]) -> Iterator[bytes]:
    """``capture/resources.json`` from records in any order (sorted here, in memory), in pieces of
    about ``RECORDS_PIECE`` bytes; a backup uses :class:`RecordSpool`, which gives the same bytes with
    a bounded number of records in memory."""
    records.sort()  # path first: the path order
    return encode_sorted(records, RECORDS_PIECE)


def _object_record(obj: CapturedObject, path: str) -> dict[str, str]:
    return {
        "path": path,
        "group": obj.group,
        "version": obj.version,
        "resource": obj.resource,
        "kind": obj.kind,
        "namespace": obj.namespace,
        "name": obj.name,
        "resourceVersion": obj.resource_version,
        "listResourceVersion": obj.list_resource_version,
    }


def summary_record(summary: CaptureSummary) -> dict[str, Any]:
    return {
        "objects": summary.objects,
        "bytes": summary.bytes,
        "counts": dict(sorted(summary.counts.items())),
        "listResourceVersions": dict(sorted(summary.list_resource_versions.items())),
        "skipped": dict(sorted(summary.skipped.items())),
        "controllerMade": dict(sorted(summary.controller_made.items())),
        "warnings": list(summary.warnings),
        "errors": [
            {"resource": e.resource, "namespace": e.namespace, "status": e.status, "message": e.message}
            for e in summary.errors
        ],
        "aggregatedDiscovery": summary.aggregated_discovery,
    }


def _use_lock(repo: Repository, request: ClusterBackupRequest) -> None:
    if request.lock_mode is None and request.lock_period is None:
        return
    try:
        repo.use_lock(request.lock_mode, request.lock_period)
    except ConfigError as exc:
        message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
        raise ConfigError(
            message, file=request.lock_origin or None, field=f"spec.{exc.field}", hint=exc.hint
        ) from None


def start_etcd(request: ClusterBackupRequest) -> EarlySnapshot | None:
    """Ask etcd for the Status and HashKV that open the snapshot of ``request`` on a thread, so that
    opening the repository (scrypt) overlaps them; hand the result to :func:`backup_cluster` and
    close it. None without etcd, or when the request asks for a repository lock:
    :func:`backup_cluster` refuses a lock it cannot give before etcd is asked for anything."""
    if request.etcd is None or request.lock_mode is not None or request.lock_period is not None:
        return None
    from drkit.etcd.early import EarlySnapshot

    return EarlySnapshot(request.etcd.snapshot)


def backup_cluster(
    repo: Repository,
    request: ClusterBackupRequest,
    *,
    notify: Notify | None = None,
    progress: Progress | None = None,
    etcd_start: EarlySnapshot | None = None,
) -> ClusterBackupResult:
    """Capture etcd (if configured) and the API resources (if configured) into one new snapshot.
    ``notify`` hears each phase's messages; ``progress`` counts the bytes stored, phase by phase
    (``etcd``, ``resources``, ``volumes``). ``etcd_start``: what :func:`start_etcd` started for this
    request (the caller closes it); without it the snapshot is started here."""
    if request.etcd is None and request.kube is None:
        raise ConfigError("nothing to back up: give a Kubernetes context/kubeconfig, etcd endpoints, or both")
    say = notify or (lambda _msg: None)
    started = time.monotonic()
    etcd_record: dict[str, Any] | None = None
    summary: CaptureSummary | None = None
    volumes: VolumeCapture | None = None
    wants_volumes = request.volumes is not None and request.volumes.selection.enabled
    if wants_volumes and request.kube is None:
        raise ConfigError("--volumes needs the Kubernetes API (a context or kubeconfig)", field="volumes")
    writer: dict[str, Any] = {"capture": 1, "version": __version__}
    if request.schedule:
        writer["schedule"] = request.schedule
    meta: dict[str, Any] = {"drkit": writer}
    _use_lock(repo, request)
    bars = progress or NullProgress()
    with repo.new_snapshot(kind="cluster", tags=request.tags, host=request.host, progress=progress) as snap:
        if request.etcd is not None:
            bars.start("etcd", None)
            stream = etcd_start.stream() if etcd_start is not None else request.etcd.snapshot()
            say(f"etcd: streaming a snapshot from {stream.endpoint}")
            with stream:
                size = snap.add_stream(
                    ETCD_PATH, stream, max_level=ETCD_ZSTD_LEVEL, fixed_size=ETCD_CHUNK_SIZE
                )
            etcd_record = stream.result.to_record()
            meta["etcd"] = etcd_record
            say(f"etcd: {size} bytes at revision {etcd_record['revision']}, checksum verified")
        if request.kube is not None:
            bars.start("resources", None)
            capture = capture_resources(request.kube, request.capture_filter)
            spool = RecordSpool()
            try:
                _store_objects(snap, capture, spool)
                summary = capture.summary
                _store_records(snap, spool)
            finally:
                spool.close()
            meta["resources"] = summary_record(summary)
            meta["kubernetes"] = {"server": request.kube.server, "context": request.kube.context}
            say(f"resources: {summary.objects} objects of {len(summary.counts)} resource types")
        if wants_volumes and request.kube is not None and request.volumes is not None:
            bars.start("volumes", None)
            volumes = _capture_volumes(repo, snap, request.kube, request.volumes, request.capture_filter, say)
            meta["volumes"] = volumes.to_record(request.volumes.selection, request.volumes.mover)
        snap.set_meta(meta)
    assert snap.snapshot is not None  # committed: the with-block left normally
    return ClusterBackupResult(snap.snapshot, etcd_record, summary, time.monotonic() - started, volumes)


def _store_records(snap: SnapshotWriter, spool: RecordSpool) -> None:
    """``capture/resources.json`` from the spool, the objects phase's free memory returned first: the
    stream's cutting windows (2 x 16 MiB, made at once) would otherwise land above the holes it
    left (200k objects: peak RSS ~117 -> ~104 MiB, docs/performance.md)."""
    release_freed()
    snap.add_stream(OBJECTS_PATH, spool.pieces(), mtime=STABLE_MTIME)


def _store_objects(snap: SnapshotWriter, objects: Iterable[CapturedObject], spool: RecordSpool) -> None:
    """Store each object at its path and spool its record. Objects come list by list, and a list's
    items in key order (namespace, then name): the directory of one resource type and namespace is
    sealed when the next object lands elsewhere (reopened, correctly if slower, should a list come
    back to it), and a resource type's directory for good when the next type starts (each type is
    listed once), so that memory holds the directory being filled, not every object captured. Blocks
    above 128 KiB are their own mappings meanwhile (``heapkeep.map_large_blocks``: what the objects
    phase frees does not pile up in the heaps, docs/performance.md)."""
    map_large_blocks()
    current: str | None = None
    for obj in objects:
        path = object_path(obj)
        directory = path.rpartition("/")[0]
        if directory != current:
            if current is not None:
                snap.seal(current)
                kind_dir = current.rpartition("/")[0]
                if directory.rpartition("/")[0] != kind_dir:
                    snap.seal(kind_dir, final=True)
            current = directory
        snap.add_bytes(path, obj.raw, mtime=STABLE_MTIME)
        spool.add(_record(obj, path))
    if current is not None:
        snap.seal(current.rpartition("/")[0], final=True)


def _capture_volumes(  # noqa: PLR0917
    repo: Repository,
    snap: SnapshotWriter,
    kube: KubeClient,
    options: VolumeOptions,
    capture_filter: CaptureFilter,
    say: Notify,
) -> VolumeCapture:
    from drkit.capture.jobclient import KubeMoverCluster
    from drkit.capture.volumes import capture_volumes, discover_volumes
    from drkit.kube.exec import KubePodExec

    exact = capture_filter.include_namespaces
    named = list(exact) if exact and not any(is_glob(n) for n in exact) else None
    selected = discover_volumes(kube, options, capture_filter.namespace_included, namespaces=named)
    say(f"volumes: {len(selected.volumes)} selected ({options.selection}), {len(selected.skipped)} skipped")
    return capture_volumes(
        snap,
        selected,
        options,
        executor=KubePodExec(kube) if any(v.hooks for v in selected.volumes) else None,
        cluster=KubeMoverCluster(kube) if options.mover == "job" else None,
        repo=repo,
        notify=say,
    )
