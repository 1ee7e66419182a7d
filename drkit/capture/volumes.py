"""Volume data in a cluster backup: which claims, where their files are, and how they are copied.

    options = VolumeOptions(VolumeSelection.parse("all"), path_rules=(PathRule.parse("*=/srv/{pvc}"),))
    found = discover_volumes(kube, options, capture_filter.namespace_included)
    records = capture_volumes(snap, found, options, run="r1a2b3", kube=kube)

**Selection** (pure, :func:`select_volumes`): ``--volumes all|none|<label selector>`` over the claims
of the captured namespaces; only Bound claims are captured (the others are listed as skipped). For
each: namespace, name, PV, access modes, storage class, capacity, the node where it is attached (a
VolumeAttachment of its PV, else a Running pod mounting it, else the PV's node affinity) and its hooks.

**Local mode** (``mover="local"``): the files are read where drkit runs (single-node clusters,
local-path provisioner). A volume's directory is found by the first matching ``--volume-path-map``
rule, else from the PV's ``spec.hostPath.path`` / ``spec.local.path`` when drkit runs on the PV's node
(or the node is unknown). It is stored at ``volumes/<ns>/<pvc>`` of the cluster snapshot.

**Job mode** (``mover="job"``): a mover Job per claim (:mod:`drkit.capture.movers`) writes a snapshot of
kind ``volume``; the cluster snapshot records its id and the Job's result.

Per volume the ``meta.volumes`` section records what happened: files, bytes, new bytes, duration,
hooks, errors. A failing volume makes the backup partial, never a silent gap.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from drkit.capture.hooks import Hook, HookRun, PodExec, claim_pods, pod_hooks, run_around
from drkit.capture.movers import (
    LABEL_SNAPSHOT,
    MoverSettings,
    MoverTarget,
    backup_job,
    clone_pvc,
    parse_result,
    restore_job,
    restore_pvc,
    volume_snapshot,
)
from drkit.errors import ConfigError, DrkitError, KubernetesError, PartialFailure, StorageError
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeForbidden, KubeNotFound
from drkit.repo.backup import unreadable

if TYPE_CHECKING:
    from drkit.repo.repository import Repository
    from drkit.repo.snapshotwriter import SnapshotWriter

Json = dict[str, Any]
Notify = Callable[[str], None]

LOCAL_PATH_ROOT: Final = "/opt/local-path-provisioner"
LOCAL_PATH_TEMPLATE: Final = "{root}/{pv}_{namespace}_{pvc}"
MOVERS: Final = ("local", "job")


# -- selection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeSelection:
    """``none`` (the default), ``all``, or a label selector over the claims."""

    mode: str = "none"  # none | all | selector
    selector: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> VolumeSelection:
        value = (text or "none").strip()
        if value in ("none", ""):
            return cls("none")
        if value == "all":
            return cls("all")
        if not re.fullmatch(r"[A-Za-z0-9_./=!,() -]+", value) or value.startswith(("=", ",")):
            raise ConfigError(
                f"--volumes takes all, none or a label selector, not {value!r}", field="volumes"
            )
        return cls("selector", value)

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def __str__(self) -> str:
        return self.selector or self.mode


@dataclass(frozen=True)
class VolumeInfo:
    namespace: str
    pvc: str
    pv: str
    access_modes: tuple[str, ...] = ()
    node: str | None = None
    node_source: str = ""  # attachment | pod | affinity | "" (unknown)
    storage_class: str | None = None
    capacity: str | None = None
    volume_mode: str = "Filesystem"
    csi_driver: str | None = None
    host_path: str | None = None  # spec.hostPath.path or spec.local.path of the PV
    snapshot_class: str | None = None
    hooks: tuple[Hook, ...] = ()
    hook_error: str = ""  # malformed hook annotations: the volume fails rather than run half of them

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pvc}"

    @property
    def snapshot_path(self) -> str:
        return f"volumes/{self.namespace}/{self.pvc}"

    def target(self) -> MoverTarget:
        return MoverTarget(
            namespace=self.namespace,
            pvc=self.pvc,
            node=self.node,
            access_modes=self.access_modes,
            storage_class=self.storage_class,
            capacity=self.capacity,
            volume_mode=self.volume_mode,
        )

    def to_record(self) -> Json:
        return {
            "namespace": self.namespace,
            "pvc": self.pvc,
            "pv": self.pv,
            "accessModes": list(self.access_modes),
            "node": self.node,
            "nodeSource": self.node_source,
            "storageClass": self.storage_class,
            "capacity": self.capacity,
            "volumeMode": self.volume_mode,
            "csiDriver": self.csi_driver,
            "snapshotClass": self.snapshot_class,
        }


@dataclass(frozen=True)
class Selected:
    volumes: list[VolumeInfo]
    skipped: dict[str, str]  # "ns/pvc" -> why


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def affinity_node(pv: Mapping[str, Any]) -> str | None:
    """The one node a PV's required node affinity names (``kubernetes.io/hostname In [n]``)."""
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get(
        "nodeSelectorTerms"
    ) or []
    names: set[str] = set()
    for term in terms:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == "kubernetes.io/hostname" and expr.get("operator") == "In":
                names.update(expr.get("values") or [])
        for expr in term.get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                names.update(expr.get("values") or [])
    return names.pop() if len(names) == 1 else None


def select_volumes(
    pvcs: Iterable[Mapping[str, Any]],
    pvs: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    attachments: Iterable[Mapping[str, Any]] = (),
    *,
    include_namespace: Callable[[str], bool] = lambda _ns: True,
    snapshot_class: str | None = None,
) -> Selected:
    """The Bound claims of the included namespaces (``pvcs`` already filtered by the label selector),
    with their PV, node and hooks; the others in ``skipped`` with the reason. Sorted by namespace/name."""
    pv_by_name = {_name(pv): pv for pv in pvs}
    pod_list = list(pods)
    attached: dict[str, str] = {}
    for va in attachments:
        spec, status = va.get("spec") or {}, va.get("status") or {}
        pv_name = (spec.get("source") or {}).get("persistentVolumeName")
        if pv_name and status.get("attached") and spec.get("nodeName"):
            attached[str(pv_name)] = str(spec["nodeName"])
    volumes: list[VolumeInfo] = []
    skipped: dict[str, str] = {}
    for pvc in sorted(pvcs, key=lambda o: (_ns(o), _name(o))):
        ns, name = _ns(pvc), _name(pvc)
        key = f"{ns}/{name}"
        if not include_namespace(ns):
            continue
        spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
        if status.get("phase") != "Bound" or not spec.get("volumeName"):
            skipped[key] = f"not Bound (phase {status.get('phase') or 'unknown'})"
            continue
        pv_name = str(spec["volumeName"])
        pv = pv_by_name.get(pv_name)
        if pv is None:
            skipped[key] = f"its PersistentVolume {pv_name} was not found"
            continue
        pv_spec = pv.get("spec") or {}
        users = claim_pods(pod_list, ns, name)
        node, source = attached.get(pv_name), "attachment"
        if node is None:
            nodes = sorted(
                {str(p["spec"]["nodeName"]) for p in users if (p.get("spec") or {}).get("nodeName")}
            )
            node, source = (nodes[0], "pod") if nodes else (None, "")
        if node is None:
            node = affinity_node(pv)
            source = "affinity" if node else ""
        host_path = ((pv_spec.get("hostPath") or {}).get("path")) or (
            (pv_spec.get("local") or {}).get("path")
        )
        hooks: list[Hook] = []
        hook_error = ""
        try:
            for pod in users:
                hooks.extend(pod_hooks(pod))
        except ConfigError as exc:
            hook_error = str(exc)
            hooks = []
        modes = tuple(str(m) for m in (status.get("accessModes") or spec.get("accessModes") or ()))
        capacity = (status.get("capacity") or {}).get("storage") or (
            (spec.get("resources") or {}).get("requests") or {}
        ).get("storage")
        volumes.append(
            VolumeInfo(
                namespace=ns,
                pvc=name,
                pv=pv_name,
                access_modes=modes,
                node=node,
                node_source=source,
                storage_class=spec.get("storageClassName") or pv_spec.get("storageClassName"),
                capacity=str(capacity) if capacity else None,
                volume_mode=str(spec.get("volumeMode") or "Filesystem"),
                csi_driver=(pv_spec.get("csi") or {}).get("driver"),
                host_path=str(host_path) if host_path else None,
                snapshot_class=snapshot_class if (pv_spec.get("csi") or {}).get("driver") else None,
                hooks=tuple(hooks),
                hook_error=hook_error,
            )
        )
    return Selected(volumes, skipped)


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


# -- local mode ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRule:
    """``PATTERN=TEMPLATE``: a PV name or glob (or ``<ns>/<pvc>`` glob when it holds a ``/``) and the
    directory, with ``{pv}``, ``{namespace}``, ``{pvc}`` replaced; ``local-path[:ROOT]`` stands for
    the local-path provisioner's ``ROOT/{pv}_{namespace}_{pvc}`` (ROOT: /opt/local-path-provisioner)."""

    pattern: str
    template: str

    @classmethod
    def parse(cls, text: str) -> PathRule:
        pattern, sep, template = text.partition("=")
        pattern, template = pattern.strip(), template.strip()
        if not sep or not pattern or not template:
            raise ConfigError(
                f"--volume-path-map {text!r} is not PV_OR_PATTERN=HOSTPATH",
                field="volume-path-map",
                hint="e.g. pvc-1234=/srv/data, '*=/mnt/{namespace}/{pvc}' or '*=local-path'",
            )
        if template == "local-path" or template.startswith("local-path:"):
            root = template.partition(":")[2] or LOCAL_PATH_ROOT
            template = LOCAL_PATH_TEMPLATE.replace("{root}", root.rstrip("/"))
        if not template.startswith("/"):
            raise ConfigError(
                f"--volume-path-map {text!r}: the path must be absolute", field="volume-path-map"
            )
        try:
            template.format(pv="", namespace="", pvc="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"--volume-path-map {text!r}: unknown placeholder {exc} (use {{pv}}, {{namespace}}, {{pvc}})",
                field="volume-path-map",
            ) from None
        return cls(pattern, template)

    def matches(self, volume: VolumeInfo) -> bool:
        subject = volume.key if "/" in self.pattern else volume.pv
        return fnmatch.fnmatchcase(subject, self.pattern)

    def path_for(self, volume: VolumeInfo) -> Path:
        return Path(self.template.format(pv=volume.pv, namespace=volume.namespace, pvc=volume.pvc))


@dataclass(frozen=True)
class LocalSource:
    path: Path | None
    how: str  # the rule or PV field that gave the path, or why there is none


def resolve_local(
    volume: VolumeInfo,
    rules: Sequence[PathRule],
    node_name: str,
    is_dir: Callable[[Path], bool] = Path.is_dir,
) -> LocalSource:
    """Where ``volume``'s files are on this machine: the first matching rule, else the PV's own host
    path when this is its node (or its node is unknown)."""
    for rule in rules:
        if rule.matches(volume):
            path = rule.path_for(volume)
            if not is_dir(path):
                return LocalSource(
                    None, f"--volume-path-map {rule.pattern} gives {path}, not a directory here"
                )
            return LocalSource(path, f"--volume-path-map {rule.pattern}")
    if volume.host_path:
        if volume.node is not None and volume.node != node_name:
            return LocalSource(
                None,
                f"its host path is on node {volume.node}, and drkit runs on {node_name} (map it or use Jobs)",
            )
        path = Path(volume.host_path)
        if not is_dir(path):
            return LocalSource(None, f"its host path {path} is not a directory here")
        return LocalSource(path, "the PV's host path")
    return LocalSource(None, "no --volume-path-map rule matches and the PV is not a hostPath/local volume")


def local_node_name() -> str:
    """The node drkit runs on: ``$NODE_NAME`` (set it from the downward API), else the host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


# -- job mode: drkit's view of the cluster for movers ---------------------------------------------


class MoverCluster(Protocol):
    """What the orchestration of mover Jobs needs from the cluster (a fake in unit tests)."""

    def create(self, manifest: Json) -> Json: ...

    def delete(self, manifest: Json) -> None: ...

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> Json:
        """The Job once it is Complete or Failed; ``KubernetesError`` after ``timeout_s``."""
        ...

    def job_messages(self, namespace: str, name: str) -> list[str]:
        """The termination messages of the Job's pods' containers (newest pod first)."""
        ...

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None: ...


_COLLECTIONS: Final = {
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    (
        "snapshot.storage.k8s.io/v1",
        "VolumeSnapshot",
    ): "/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots",
}


def collection_path(manifest: Mapping[str, Any]) -> str:
    where = _COLLECTIONS.get((str(manifest.get("apiVersion")), str(manifest.get("kind"))))
    if where is None:
        raise ConfigError(f"no collection known for {manifest.get('apiVersion')} {manifest.get('kind')}")
    return where.format(ns=manifest["metadata"]["namespace"])


def job_finished(job: Mapping[str, Any]) -> str | None:
    """``Complete`` or ``Failed`` once the Job controller says so, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


CREATE_GRACE_S: Final = 5.0
"""How long a Job may have no pod at all before its ``FailedCreate`` events are read."""


class KubeMoverCluster:
    """:class:`MoverCluster` over the API server (raw JSON, polling)."""

    def __init__(self, kube: KubeClient, *, poll_s: float = 1.0) -> None:
        self.kube = kube
        self.poll_s = poll_s

    def create(self, manifest: Json) -> Json:
        created: Json = self.kube.send_json("POST", collection_path(manifest), manifest)
        return created

    def delete(self, manifest: Json) -> None:
        path = f"{collection_path(manifest)}/{manifest['metadata']['name']}"
        with contextlib.suppress(KubeNotFound):
            self.kube.send_json("DELETE", path, {"propagationPolicy": "Background"})

    def _poll(
        self, get: Callable[[], Json], done: Callable[[Json], bool], what: str, timeout_s: float
    ) -> Json:
        deadline = time.monotonic() + timeout_s
        while True:
            obj = get()
            if done(obj):
                return obj
            if time.monotonic() >= deadline:
                raise KubernetesError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            time.sleep(self.poll_s)

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> Json:
        """The finished Job. A Job whose pod cannot even be created (the namespace's Pod Security
        level refuses it, a quota is exhausted: the Job controller's ``FailedCreate`` events) fails
        after :data:`CREATE_GRACE_S` with the API server's reason instead of waiting out ``timeout_s``."""
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
        started = time.monotonic()

        def done(job: Json) -> bool:
            if job_finished(job) is not None:
                return True
            status = job.get("status") or {}
            no_pod = not any(status.get(k) for k in ("active", "succeeded", "failed", "ready"))
            if no_pod and time.monotonic() - started >= CREATE_GRACE_S:
                refused = self._create_refused(namespace, name)
                if refused:
                    raise KubernetesError(
                        f"Job {namespace}/{name} cannot create its pod: {refused}",
                        hint="a namespace whose Pod Security level is 'restricted' refuses a mover that "
                        "runs as root (restores do by default); see docs/volumes.md",
                    )
            return False

        try:
            return self._poll(
                lambda: self.kube.get_json(path), done, f"Job {namespace}/{name} to finish", timeout_s
            )
        except KubernetesError as exc:
            why = self._pending_reason(namespace, name)
            if why:
                raise KubernetesError(f"{exc.message}; its pod: {why}", hint=exc.hint) from None
            raise

    def _create_refused(self, namespace: str, name: str) -> str:
        """The newest ``FailedCreate`` event message of the Job, if any."""
        try:
            events = self.kube.get_json(
                f"/api/v1/namespaces/{namespace}/events",
                {"fieldSelector": f"involvedObject.kind=Job,involvedObject.name={name},reason=FailedCreate"},
            )
        except DrkitError:
            return ""
        items = sorted(
            events.get("items") or [],
            key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
        )
        return str(items[-1].get("message") or "") if items else ""

    def _pending_reason(self, namespace: str, name: str) -> str:
        """Why the Job's pod is not running (not scheduled: an unbound claim, no node), if it says."""
        try:
            pods = self.kube.get_json(
                f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"job-name={name}"}
            )
        except DrkitError:
            return ""
        for pod in pods.get("items") or []:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    return f"not scheduled: {cond.get('message') or cond.get('reason') or 'no reason given'}"
            waiting = [
                (s.get("state") or {}).get("waiting") or {}
                for s in (pod.get("status") or {}).get("containerStatuses") or []
            ]
            for w in waiting:
                if w.get("reason"):
                    return f"waiting: {w['reason']}" + (f": {w['message']}" if w.get("message") else "")
        return ""

    def job_messages(self, namespace: str, name: str) -> list[str]:
        pods = self.kube.get_json(
            f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"job-name={name}"}
        )
        items = sorted(
            pods.get("items") or [],
            key=lambda p: str(p["metadata"].get("creationTimestamp", "")),
            reverse=True,
        )
        out = []
        for pod in items:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                message = ((status.get("state") or {}).get("terminated") or {}).get("message")
                if message:
                    out.append(str(message))
        return out

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        path = f"/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}/volumesnapshots/{name}"

        def ready(vs: Json) -> bool:
            status = vs.get("status") or {}
            if status.get("error"):
                raise KubernetesError(f"VolumeSnapshot {namespace}/{name}: {status['error'].get('message')}")
            return bool(status.get("readyToUse"))

        self._poll(lambda: self.kube.get_json(path), ready, f"VolumeSnapshot {namespace}/{name}", timeout_s)


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
            _run_backup_job(cluster, outcome, options, settings, run, repo, claim)
        else:
            around(lambda: _run_backup_job(cluster, outcome, options, settings, run, repo, None))
    finally:
        for obj in reversed(cleanup):  # best effort: their labels name them for a manual clean-up
            with contextlib.suppress(DrkitError):
                cluster.delete(obj)


def _run_backup_job(  # noqa: PLR0917
    cluster: MoverCluster,
    outcome: VolumeOutcome,
    options: VolumeOptions,
    settings: MoverSettings,
    run: str,
    repo: Repository | None,
    claim: str | None,
) -> None:
    target = outcome.volume.target()
    job = backup_job(target, settings, run, claim=claim)
    name = job["metadata"]["name"]
    outcome.job = name
    cluster.create(job)
    finished = cluster.wait_job(target.namespace, name, options.job_timeout_s)
    state = job_finished(finished)
    messages = cluster.job_messages(target.namespace, name)
    result = _first_result(messages)
    if result is None and state == "Complete" and repo is not None:
        result = _result_from_repository(repo, target, run)
    if state != "Complete":
        raise KubernetesError(
            f"mover Job {target.namespace}/{name} failed: {failure_reason(result, messages)}"
        )
    if result is None:
        raise KubernetesError(f"mover Job {target.namespace}/{name} completed without a result")
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


def _first_result(messages: list[str]) -> Json | None:
    """The mover's result: the first termination message that is one."""
    for message in messages:
        try:
            return parse_result(message)
        except KubernetesError:
            continue
    return None


FAILURE_TAIL = 600


def failure_reason(result: Json | None, messages: list[str]) -> str:
    """Why a mover Job failed, for its error: the mover's own ``error``, else what its pod said last
    (a crash before the mover could write a result leaves its log as the termination message)."""
    if result and result.get("error"):
        return str(result["error"])
    said = next((m.strip() for m in messages if m.strip()), "")
    if not said:
        return "its pod left no message (see the Job's pod logs)"
    return f"its pod said: {said[-FAILURE_TAIL:]}"


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
    wrapped in its pods' hooks. One volume failing is recorded and the others go on."""
    say = notify or (lambda _m: None)
    capture = VolumeCapture(run or new_run_id(), skipped=dict(selected.skipped))
    exec_client: PodExec = executor if executor is not None else _NoExec()
    for volume in selected.volumes:
        outcome = VolumeOutcome(volume, options.mover)
        capture.outcomes.append(outcome)
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
                _capture_job(cluster, outcome, options, capture.run, repo, around)
            if outcome.hooks.failed:
                raise KubernetesError(f"volume {volume.key}: {outcome.hooks.failed}")
            outcome.ok = True
        except StorageError:
            raise  # the repository itself failed: the whole snapshot is aborted
        except DrkitError as exc:
            outcome.error = str(exc)
        finally:
            outcome.duration_s = time.monotonic() - started
        say(
            f"volume {volume.key}: "
            + (
                f"{outcome.files} files, {outcome.bytes} bytes ({outcome.new_bytes} new)"
                if outcome.ok
                else f"failed: {outcome.error}"
            )
        )
    return capture


# -- restore: a new claim filled by a mover Job, before the workload starts ------------------------


def target_from_record(record: Mapping[str, Any]) -> MoverTarget:
    """The claim to recreate, from a volume record of a cluster snapshot's ``meta.volumes``."""
    try:
        return MoverTarget(
            namespace=str(record["namespace"]),
            pvc=str(record["pvc"]),
            access_modes=tuple(record.get("accessModes") or ()),
            storage_class=record.get("storageClass"),
            capacity=record.get("capacity"),
            volume_mode=str(record.get("volumeMode") or "Filesystem"),
        )
    except KeyError as exc:
        raise ConfigError(f"a volume record lacks {exc}", field="meta.volumes") from None


def restore_volume(
    cluster: MoverCluster,
    target: MoverTarget,
    snapshot_id: str,
    settings: MoverSettings,
    *,
    path: str | None = None,
    timeout_s: float = 3600.0,
) -> Json:
    """Create the claim and run the restore Job that fills it from the volume snapshot (its directory
    ``path``, default ``volumes/<ns>/<pvc>`` of ``target``); return the mover's result once the Job
    completed (``KubernetesError`` if it failed or left no result). The caller creates the workload
    afterwards."""
    cluster.create(restore_pvc(target, snapshot_id))
    return run_restore_job(cluster, target, snapshot_id, settings, path=path, timeout_s=timeout_s)


def run_restore_job(
    cluster: MoverCluster,
    target: MoverTarget,
    snapshot_id: str,
    settings: MoverSettings,
    *,
    path: str | None = None,
    timeout_s: float = 3600.0,
) -> Json:
    """Run the restore Job that fills the existing claim ``target`` (see :func:`restore_volume`);
    the mover's result, with the Job's name under ``job``."""
    job = restore_job(target, settings, snapshot_id, path=path)
    name = job["metadata"]["name"]
    cluster.create(job)
    try:
        finished = cluster.wait_job(target.namespace, name, timeout_s)
    except KubernetesError:
        with contextlib.suppress(DrkitError):
            cluster.delete(job)  # a pending Job would fill the claim after the workloads started
        raise
    state = job_finished(finished)
    messages = cluster.job_messages(target.namespace, name)
    result = _first_result(messages)
    if state != "Complete":
        raise KubernetesError(
            f"restore Job {target.namespace}/{name} failed: {failure_reason(result, messages)}"
        )
    if result is None:
        raise KubernetesError(f"restore Job {target.namespace}/{name} completed without a result")
    return {**result, "job": name}
