"""The volume step of a cluster backup: which claims, and how their files are copied.

    options = VolumeOptions(VolumeSelection.parse("all"), path_rules=(PathRule.parse("*=/srv/{pvc}"),))
    found = discover_volumes(kube, options, capture_filter.namespace_included)
    records = capture_volumes(snap, found, options, run="r1a2b3", cluster=KubeMoverCluster(kube))

**Selection** (:mod:`drkit.capture.claims`, pure): ``--volumes all|none|<label selector>`` over the
claims of the captured namespaces; only Bound claims are captured (the others are listed as skipped).

**Local mode** (``mover="local"``, :mod:`drkit.capture.localpaths`): the files are read where drkit
runs (single-node clusters, local-path provisioner), from the directory the first matching
``--volume-path-map`` rule gives, else the PV's own host path. They are stored at
``volumes/<ns>/<pvc>`` of the cluster snapshot.

**Job mode** (``mover="job"``): a mover Job per claim (manifests: :mod:`drkit.capture.movers`; run
through the Job client :mod:`drkit.capture.jobclient`, shared with restores) writes a snapshot of kind
``volume``; the cluster snapshot records its id and the Job's result.

Per volume the ``meta.volumes`` section records what happened: files, bytes, new bytes, duration,
hooks, errors. A failing volume makes the backup partial, never a silent gap.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from drkit.capture.claims import Selected, VolumeInfo, VolumeSelection, select_volumes
from drkit.capture.hooks import Hook, HookRun, PodExec, run_around
from drkit.capture.jobclient import MoverCluster, delete_quietly, run_job
from drkit.capture.localpaths import PathRule, local_node_name, resolve_local
from drkit.capture.movers import (
    LABEL_SNAPSHOT,
    MoverSettings,
    MoverTarget,
    backup_job,
    clone_pvc,
    volume_snapshot,
)
from drkit.errors import ConfigError, DrkitError, KubernetesError, PartialFailure, StorageError
from drkit.kube.errors import KubeForbidden, KubeNotFound
from drkit.repo.engine.backup import unreadable

if TYPE_CHECKING:  # the Kubernetes client is imported by whoever makes one: an etcd-only backup never does
    from drkit.kube.client import KubeClient
    from drkit.repo.engine.snapshotwriter import SnapshotWriter
    from drkit.repo.repository import Repository

Json = dict[str, Any]
Notify = Callable[[str], None]

MOVERS: Final = ("local", "job")
BACKUP_JOBS_AT_ONCE: Final = 4
"""Job mode: mover Jobs of that many claims run at a time (each writes its own volume snapshot)."""


def _list_all(kube: KubeClient, path: str, query: Mapping[str, str] | None = None) -> Iterator[Json]:
    params = {"limit": "500", **(query or {})}
    while True:
        page = kube.get_json(path, params)
        yield from page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return
        params["continue"] = token


def discover_volumes(
    kube: KubeClient,
    options: VolumeOptions,
    include_namespace: Callable[[str], bool],
    *,
    namespaces: Sequence[str] | None = None,
) -> Selected:
    """List claims (by the selector), PVs, pods and VolumeAttachments, and select (:func:`select_volumes`).

    With ``namespaces`` (exact names) claims and pods are listed in those namespaces only, so that a
    backup identity with namespaced permissions suffices; PVs are then read one by one if they cannot
    be listed."""
    if not options.selection.enabled:
        return Selected([], {})
    query = {"labelSelector": options.selection.selector} if options.selection.selector else None
    running = {"fieldSelector": "status.phase=Running"}
    if namespaces is None:
        pvcs = list(_list_all(kube, "/api/v1/persistentvolumeclaims", query))
        pods = list(_list_all(kube, "/api/v1/pods", running))
    else:
        pvcs, pods = [], []
        for ns in namespaces:
            try:
                pvcs += _list_all(kube, f"/api/v1/namespaces/{ns}/persistentvolumeclaims", query)
                pods += _list_all(kube, f"/api/v1/namespaces/{ns}/pods", running)
            except KubeNotFound:
                continue  # no such namespace: nothing to capture there
    try:
        pvs = list(_list_all(kube, "/api/v1/persistentvolumes"))
    except KubeForbidden:
        pvs = []
        for claim in pvcs:
            name = (claim.get("spec") or {}).get("volumeName")
            if name:
                with contextlib.suppress(KubeNotFound):
                    pvs.append(kube.get_json(f"/api/v1/persistentvolumes/{name}"))
    try:
        attachments = list(_list_all(kube, "/apis/storage.k8s.io/v1/volumeattachments"))
    except (KubeNotFound, KubeForbidden):
        attachments = []  # optional: the pods using a claim also tell its node
    return select_volumes(
        pvcs,
        pvs,
        pods,
        attachments,
        include_namespace=include_namespace,
        snapshot_class=options.settings.snapshot_class,
    )


# -- the volume step of a cluster backup ----------------------------------------------------------


@dataclass(frozen=True)
class VolumeOptions:
    selection: VolumeSelection = field(default_factory=VolumeSelection)
    path_rules: tuple[PathRule, ...] = ()
    mover: str = "local"  # local: read here; job: a mover Job per claim
    settings: MoverSettings = field(default_factory=MoverSettings)
    node_name: str = field(default_factory=local_node_name)
    job_timeout_s: float = 3600.0
    run_hooks: bool = True
    parallel: int = BACKUP_JOBS_AT_ONCE  # job mode: mover Jobs of that many claims at a time

    def __post_init__(self) -> None:
        if self.mover not in MOVERS:
            raise ConfigError(f"--volume-mover is local or job, not {self.mover!r}", field="volume-mover")


@dataclass
class VolumeOutcome:
    volume: VolumeInfo
    mode: str
    ok: bool = False
    error: str = ""
    source: str = ""
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    reused_files: int = 0
    duration_s: float = 0.0
    hooks: HookRun = field(default_factory=HookRun)
    job: str = ""
    snapshot: str = ""  # job mode: the id of the volume snapshot
    result: Json = field(default_factory=dict)

    def to_record(self) -> Json:
        rec = self.volume.to_record() | {
            "mode": self.mode,
            "path": self.volume.snapshot_path if self.mode == "local" and self.ok else None,
            "status": "ok" if self.ok else "failed",
            "error": self.error,
            "source": self.source,
            "files": self.files,
            "bytes": self.bytes,
            "newBytes": self.new_bytes,
            "reusedFiles": self.reused_files,
            "durationS": round(self.duration_s, 3),
            "hooks": self.hooks.records(),
        }
        if self.mode == "job":
            rec |= {"job": self.job, "snapshot": self.snapshot, "result": self.result}
        return rec


@dataclass
class VolumeCapture:
    run: str
    outcomes: list[VolumeOutcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[VolumeOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def partial(self) -> bool:
        return bool(self.errors)

    def to_record(self, selection: VolumeSelection, mover: str) -> Json:
        return {
            "run": self.run,
            "selection": str(selection),
            "mover": mover,
            "volumes": [o.to_record() for o in self.outcomes],
            "skipped": dict(sorted(self.skipped.items())),
            "files": sum(o.files for o in self.outcomes),
            "bytes": sum(o.bytes for o in self.outcomes),
            "newBytes": sum(o.new_bytes for o in self.outcomes),
        }


class _NoExec:
    def exec(self, namespace: str, pod: str, container: str, command: Sequence[str], timeout_s: float) -> Any:
        raise KubernetesError(f"cannot exec in {namespace}/{pod}: no exec client configured")


def _around(hooks: Sequence[Hook], executor: PodExec, run: HookRun, step: Callable[[], None]) -> None:
    run_around(hooks, executor, step, run=run)


def new_run_id() -> str:
    return f"r{secrets.token_hex(5)}"


def _writer_new_bytes(snap: SnapshotWriter) -> int:
    return snap.new_bytes  # the difference around one add_directory is that volume's share


def _capture_local(snap: SnapshotWriter, outcome: VolumeOutcome, source: Path) -> None:
    files, size, reused = snap.files, snap.bytes, snap.reused_files
    new = _writer_new_bytes(snap)
    skipped_before = len(snap.skipped)
    snap.add_directory(outcome.volume.snapshot_path, source)
    outcome.files = snap.files - files
    outcome.bytes = snap.bytes - size
    outcome.reused_files = snap.reused_files - reused
    outcome.new_bytes = _writer_new_bytes(snap) - new
    outcome.result = {"skippedEntries": len(snap.skipped) - skipped_before}
    missing = unreadable(snap.skipped[skipped_before:])
    if missing:
        raise _unreadable_error(outcome, len(missing), missing, "run drkit as a user that can read them")


Around = Callable[[Callable[[], None]], None]
"""Runs a step inside the volume's hooks (pre hooks, the step, post hooks)."""


def _capture_job(  # noqa: PLR0917
    cluster: MoverCluster,
    outcome: VolumeOutcome,
    options: VolumeOptions,
    run: str,
    repo: Repository | None,
    around: Around,
    readback: threading.Lock | None = None,
) -> None:
    """With a snapshot class, the hooks wrap only the VolumeSnapshot (the application is frozen until
    the snapshot is ready to use, not during the copy); without one, they wrap the whole Job."""
    volume = outcome.volume
    target = volume.target()
    settings = options.settings
    if not volume.snapshot_class:
        settings = replace(settings, snapshot_class=None)
    claim: str | None = None
    cleanup: list[Json] = []
    try:
        if settings.snapshot_class:
            vs = volume_snapshot(target, settings, run)
            clone = clone_pvc(target, settings, run)

            def take_snapshot() -> None:
                cluster.create(vs)
                cleanup.append(vs)
                cluster.wait_snapshot_ready(target.namespace, vs["metadata"]["name"], options.job_timeout_s)

            around(take_snapshot)
            if outcome.hooks.failed:
                return
            cluster.create(clone)
            cleanup.append(clone)
            claim = clone["metadata"]["name"]
            _run_backup_job(cluster, outcome, options, settings, run, repo, claim, readback)
        else:
            around(lambda: _run_backup_job(cluster, outcome, options, settings, run, repo, None, readback))
    finally:
        delete_quietly(cluster, reversed(cleanup))


def _run_backup_job(  # noqa: PLR0917
    cluster: MoverCluster,
    outcome: VolumeOutcome,
    options: VolumeOptions,
    settings: MoverSettings,
    run: str,
    repo: Repository | None,
    claim: str | None,
    readback: threading.Lock | None = None,
) -> None:
    target = outcome.volume.target()
    job = backup_job(target, settings, run, claim=claim)
    outcome.job = job["metadata"]["name"]
    done = run_job(cluster, job, options.job_timeout_s, what="mover Job")
    result = done.result
    if result is None and repo is not None:
        with readback or contextlib.nullcontext():
            result = _result_from_repository(repo, target, run)
    if result is None:
        raise KubernetesError(f"mover Job {done.namespace}/{done.name} completed without a result")
    outcome.result = result
    outcome.snapshot = str(result.get("snapshot", ""))
    outcome.files = int(result.get("files", 0))
    outcome.bytes = int(result.get("bytes", 0))
    outcome.new_bytes = int(result.get("newBytes", 0))
    outcome.reused_files = int(result.get("reusedFiles", 0))
    count = int(result.get("unreadableCount", 0))
    if count:
        raise _unreadable_error(
            outcome, count, [str(x) for x in result.get("unreadable", [])],
            "run the mover as their owner (--mover-run-as-user UID, spec.volumes.runAsUser) or with "
            "--mover-read-as-root",
        )  # fmt: skip


def _unreadable_error(outcome: VolumeOutcome, count: int, first: list[str], remedy: str) -> PartialFailure:
    """A volume with entries that could not be read is failed, never "ok": its snapshot lacks data."""
    where = f" (snapshot {outcome.snapshot[:8]} holds the rest)" if outcome.snapshot else ""
    shown = "; ".join(first[:3])
    return PartialFailure(
        f"volume {outcome.volume.key}: {count} entries could not be read{where}: {shown}",
        hint=f"{remedy} (docs/volumes.md)",
    )


def _result_from_repository(repo: Repository, target: MoverTarget, run: str) -> Json | None:
    """The mover's result read back from its snapshot, when the termination message was lost."""
    tag = f"{LABEL_SNAPSHOT}={run}"
    repo.refresh()  # written by another process since this one listed: list again
    for snap in reversed(repo.snapshots()):
        if snap.kind == "volume" and snap.host == target.host and tag in snap.tags:
            st = snap.stats
            return {
                "op": "backup",
                "snapshot": snap.id,
                "files": st.files,
                "bytes": st.bytes,
                "newBytes": st.new_bytes,
                "reusedFiles": st.reused_files,
                "from": "repository",
            }
    return None


def capture_volumes(
    snap: SnapshotWriter,
    selected: Selected,
    options: VolumeOptions,
    *,
    run: str | None = None,
    executor: PodExec | None = None,
    cluster: MoverCluster | None = None,
    repo: Repository | None = None,
    notify: Notify | None = None,
) -> VolumeCapture:
    """Capture every selected volume (local mode into ``snap``; job mode through ``cluster``), each
    wrapped in its pods' hooks. One volume failing is recorded and the others go on.

    Local mode reads one volume after the other (one snapshot writer). Job mode runs the mover Jobs of
    ``options.parallel`` claims at a time; claims whose hooks run in the same pod stay in one lane, one
    after the other, so a pod is never frozen twice at once. Outcomes keep the selection's order."""
    say = _locked(notify or (lambda _m: None))
    capture = VolumeCapture(run or new_run_id(), skipped=dict(selected.skipped))
    exec_client: PodExec = executor if executor is not None else _NoExec()
    capture.outcomes = [VolumeOutcome(volume, options.mover) for volume in selected.volumes]
    readback = threading.Lock()  # the repository fallback lists snapshots: one lane at a time

    def one(outcome: VolumeOutcome) -> None:
        _capture_one(snap, outcome, options, capture.run, exec_client, cluster, repo, readback)
        say(_said(outcome))

    lanes = _lanes(capture.outcomes) if options.mover == "job" else [capture.outcomes]
    at_once = min(max(1, options.parallel), len(lanes))
    if at_once <= 1:
        for lane in lanes:
            for outcome in lane:
                one(outcome)
        return capture
    failure: list[StorageError] = []

    def run_lane(lane: list[VolumeOutcome]) -> None:
        for outcome in lane:
            if failure:
                outcome.error = "not started: the repository failed for another volume"
                continue
            try:
                one(outcome)
            except StorageError as exc:
                failure.append(exc)

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="drkit-mover") as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()
    if failure:
        raise failure[0]  # the repository itself failed: the whole snapshot is aborted
    return capture


def _capture_one(  # noqa: PLR0917
    snap: SnapshotWriter,
    outcome: VolumeOutcome,
    options: VolumeOptions,
    run: str,
    exec_client: PodExec,
    cluster: MoverCluster | None,
    repo: Repository | None,
    readback: threading.Lock,
) -> None:
    volume = outcome.volume
    started = time.monotonic()
    try:
        if volume.hook_error:
            raise ConfigError(volume.hook_error)
        local_path: Path | None = None
        if options.mover == "local":
            local = resolve_local(volume, options.path_rules, options.node_name)
            outcome.source = local.how if local.path is None else f"{local.path} ({local.how})"
            if local.path is None:
                raise ConfigError(f"volume {volume.key}: {local.how}")
            local_path = local.path
        elif cluster is None:
            raise ConfigError("job mode needs a Kubernetes client")
        hooks = volume.hooks if options.run_hooks else ()
        around: Around = functools.partial(_around, hooks, exec_client, outcome.hooks)
        if local_path is not None:
            around(functools.partial(_capture_local, snap, outcome, local_path))
        elif cluster is not None:
            _capture_job(cluster, outcome, options, run, repo, around, readback)
        if outcome.hooks.failed:
            raise KubernetesError(f"volume {volume.key}: {outcome.hooks.failed}")
        outcome.ok = True
    except StorageError:
        raise  # the repository itself failed: the whole snapshot is aborted
    except DrkitError as exc:
        outcome.error = str(exc)
    finally:
        outcome.duration_s = time.monotonic() - started


def _said(outcome: VolumeOutcome) -> str:
    if outcome.ok:
        what = f"{outcome.files} files, {outcome.bytes} bytes ({outcome.new_bytes} new)"
    else:
        what = f"failed: {outcome.error}"
    return f"volume {outcome.volume.key}: {what}"


def _locked(notify: Notify) -> Notify:
    lock = threading.Lock()

    def say(message: str) -> None:
        with lock:
            notify(message)

    return say


def _lanes(outcomes: Sequence[VolumeOutcome]) -> list[list[VolumeOutcome]]:
    """Claims grouped so that claims whose hooks run in a common pod share a lane (in selection order);
    a claim without hooks is a lane of its own."""
    lanes: list[list[VolumeOutcome]] = []
    lane_of_pod: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        pods = {(h.namespace, h.pod) for h in outcome.volume.hooks}
        joined = sorted({lane_of_pod[p] for p in pods if p in lane_of_pod})
        if not joined:
            index = len(lanes)
            lanes.append([outcome])
        else:
            index = joined[0]
            for other in joined[1:]:  # this claim links two lanes: merge them, order kept
                lanes[index].extend(lanes[other])
                lanes[other] = []
                for pod, at in lane_of_pod.items():
                    if at == other:
                        lane_of_pod[pod] = index
            lanes[index].append(outcome)
        for pod in pods:
            lane_of_pod[pod] = index
    order = {id(o): i for i, o in enumerate(outcomes)}
    return [sorted(lane, key=lambda o: order[id(o)]) for lane in lanes if lane]
