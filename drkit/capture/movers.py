"""Manifests of the data mover: the Jobs (and PVCs, VolumeSnapshots) that copy volume data in and out
of the repository inside the cluster. Pure functions: raw JSON-able dicts in, raw dicts out.

    job = backup_job(volume, settings, run="r-1a2b3c")            # mounts the PVC read-only
    snap, clone = volume_snapshot(volume, settings, run), clone_pvc(volume, settings, run)
    job = backup_job(volume, settings, run, claim=clone["metadata"]["name"])  # crash-consistent
    pvc, job = restore_pvc(target, snapshot_id), restore_job(target, settings, snapshot_id)

A backup Job runs ``drkit mover backup`` in the drkit image against ``/data`` (the claim, read-only)
with the repository settings mounted from a Secret as files under ``/etc/drkit/repo`` (never in
environment variables); it writes a snapshot of kind ``volume`` and its JSON result to stdout and to
the termination message (``/dev/termination-log``), which the orchestrator reads back
(:func:`parse_result`). docs/volumes.md describes every field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from drkit import __version__
from drkit.errors import ConfigError, KubernetesError

DEFAULT_IMAGE: Final = f"ghcr.io/drkit/drkit:{__version__}"
DEFAULT_SECRET: Final = "drkit-repo"  # noqa: S105 - the name of a Secret, not a secret
REPO_CONFIG_DIR: Final = "/etc/drkit/repo"
DATA_DIR: Final = "/data"
TERMINATION_LOG: Final = "/dev/termination-log"
NONROOT_UID: Final = 65532  # the distroless "nonroot" user
RESULT_MARK: Final = "drkit-mover-result"
MAX_RESULT_BYTES: Final = 4096  # the kubelet keeps at most 4096 bytes of a termination message

LABEL_APP: Final = "app.kubernetes.io/name"
LABEL_MANAGED: Final = "app.kubernetes.io/managed-by"
LABEL_MOVER: Final = "drkit.io/mover"  # backup | restore
LABEL_SNAPSHOT: Final = (
    "drkit.io/snapshot"  # backup: the run id of the cluster backup; restore: the snapshot id
)
LABEL_PVC: Final = "drkit.io/pvc"
LABEL_NAMESPACE: Final = "drkit.io/pvc-namespace"
SNAPSHOT_API: Final = "snapshot.storage.k8s.io"

Json = dict[str, Any]


@dataclass(frozen=True)
class MoverSettings:
    """How mover Jobs run. ``read_as_root`` replaces the non-root user by root with only the
    ``DAC_READ_SEARCH`` capability (reads files of any owner); restores run as root by default so that
    owners and modes are restored (``restore_as_root``)."""

    image: str = DEFAULT_IMAGE
    secret: str = DEFAULT_SECRET
    run_as_user: int = NONROOT_UID
    run_as_group: int = NONROOT_UID
    fs_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    read_as_root: bool = False
    restore_as_root: bool = True
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "1Gi"})
    ttl_seconds: int = 3600
    active_deadline_seconds: int | None = None
    service_account: str | None = None  # None: no token mounted at all
    snapshot_class: str | None = None  # a VolumeSnapshotClass: back up a clone of a CSI snapshot
    tolerate_all_when_pinned: bool = True
    image_pull_policy: str = "IfNotPresent"
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.image:
            raise ConfigError("the mover image is empty", field="image")
        if not _DNS_LABEL.fullmatch(self.secret):
            raise ConfigError(f"mover secret name {self.secret!r} is not a DNS label", field="mover-secret")
        if self.run_as_user < 0 or self.run_as_group < 0 or (self.fs_group is not None and self.fs_group < 0):
            raise ConfigError("user and group ids are not negative", field="mover-run-as-user")
        if not self.read_as_root and self.run_as_user == 0:
            raise ConfigError(
                "run_as_user 0 contradicts runAsNonRoot", field="mover-run-as-user", hint="use read_as_root"
            )


@dataclass(frozen=True)
class MoverTarget:
    """What a mover Job works on: the claim's identity as the capture found it."""

    namespace: str
    pvc: str
    node: str | None = None  # where a ReadWriteOnce volume is attached: the Job must run there
    access_modes: tuple[str, ...] = ()
    storage_class: str | None = None
    capacity: str | None = None
    volume_mode: str = "Filesystem"

    @property
    def single_node(self) -> bool:
        """Mountable on one node at a time (the Job is pinned to that node)."""
        modes = set(self.access_modes)
        return not modes & {"ReadWriteMany", "ReadOnlyMany"}

    @property
    def snapshot_path(self) -> str:
        return f"volumes/{self.namespace}/{self.pvc}"

    @property
    def host(self) -> str:
        """The ``host`` of the volume's snapshots: one series (and one incremental parent) per claim."""
        return f"pvc:{self.namespace}/{self.pvc}"


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def object_name(prefix: str, target: MoverTarget, salt: str) -> str:
    """A DNS-label name (at most 63 characters) unique per (claim, salt): ``prefix-<pvc>-<hash>``."""
    digest = hashlib.sha256(f"{target.namespace}/{target.pvc}/{salt}".encode()).hexdigest()[:10]
    room = 63 - len(prefix) - len(digest) - 2
    stem = re.sub(r"[^a-z0-9-]", "-", target.pvc.lower())[:room].strip("-") or "pvc"
    return f"{prefix}-{stem}-{digest}"


def _label_value(value: str) -> str:
    """Label values are at most 63 characters of ``[A-Za-z0-9_.-]``: longer ones keep a hash."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", value).strip("-_.")
    if len(clean) <= 63 and clean == value:
        return clean
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{clean[:52].strip('-_.')}-{digest}"


def labels(target: MoverTarget, op: str, snapshot: str) -> dict[str, str]:
    return {
        LABEL_APP: "drkit-mover",
        LABEL_MANAGED: "drkit",
        LABEL_MOVER: op,
        LABEL_SNAPSHOT: _label_value(snapshot),
        LABEL_PVC: _label_value(target.pvc),
        LABEL_NAMESPACE: _label_value(target.namespace),
    }


def _meta(name: str, target: MoverTarget, op: str, snapshot: str) -> Json:
    return {"name": name, "namespace": target.namespace, "labels": labels(target, op, snapshot)}


def _pod_security(settings: MoverSettings, *, as_root: bool) -> Json:
    ctx: Json = {"seccompProfile": {"type": "RuntimeDefault"}}
    if as_root:
        ctx |= {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False}
    else:
        ctx |= {"runAsUser": settings.run_as_user, "runAsGroup": settings.run_as_group, "runAsNonRoot": True}
    if settings.fs_group is not None:
        ctx["fsGroup"] = settings.fs_group
        ctx["fsGroupChangePolicy"] = "OnRootMismatch"
    if settings.supplemental_groups:
        ctx["supplementalGroups"] = list(settings.supplemental_groups)
    return ctx


def _container_security(capabilities: list[str]) -> Json:
    caps: Json = {"drop": ["ALL"]}
    if capabilities:
        caps["add"] = capabilities
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": caps}


def _resources(settings: MoverSettings) -> Json:
    out: Json = {}
    if settings.requests:
        out["requests"] = dict(settings.requests)
    if settings.limits:
        out["limits"] = dict(settings.limits)
    return out


def _job(  # noqa: PLR0917
    name: str,
    target: MoverTarget,
    op: str,
    snapshot: str,
    settings: MoverSettings,
    args: list[str],
    *,
    claim: str,
    read_only: bool,
    node: str | None,
    as_root: bool,
    capabilities: list[str],
) -> Json:
    meta = _meta(name, target, op, snapshot)
    pod: Json = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": settings.service_account is not None,
        "securityContext": _pod_security(settings, as_root=as_root),
        "containers": [
            {
                "name": "mover",
                "image": settings.image,
                "imagePullPolicy": settings.image_pull_policy,
                "command": ["drkit"],
                "args": [*args, *settings.extra_args],
                "env": [{"name": "HOME", "value": "/tmp"}],  # noqa: S108 - an emptyDir; the root is read-only
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": _container_security(capabilities),
                "resources": _resources(settings),
                "volumeMounts": [
                    {"name": "data", "mountPath": DATA_DIR} | ({"readOnly": True} if read_only else {}),
                    {"name": "repo", "mountPath": REPO_CONFIG_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir of the pod
                ],
            }
        ],
        "volumes": [
            {
                "name": "data",
                "persistentVolumeClaim": {"claimName": claim} | ({"readOnly": True} if read_only else {}),
            },
            # 0444: the pod has one container, and a non-root user must read root-owned files
            {"name": "repo", "secret": {"secretName": settings.secret, "defaultMode": 0o444}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if settings.service_account is not None:
        pod["serviceAccountName"] = settings.service_account
    if node:
        pod["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        }
        if settings.tolerate_all_when_pinned:
            pod["tolerations"] = [{"operator": "Exists"}]
    spec: Json = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": settings.ttl_seconds,
        "template": {"metadata": {"labels": dict(meta["labels"])}, "spec": pod},
    }
    if settings.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = settings.active_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def backup_args(target: MoverTarget, run: str) -> list[str]:
    return [
        "mover",
        "backup",
        "--source",
        DATA_DIR,
        "--repo-config",
        REPO_CONFIG_DIR,
        "--path",
        target.snapshot_path,
        "--host",
        target.host,
        "--tag",
        f"{LABEL_SNAPSHOT}={run}",
        "--result-file",
        TERMINATION_LOG,
    ]


def backup_job(target: MoverTarget, settings: MoverSettings, run: str, *, claim: str | None = None) -> Json:
    """The Job that backs up ``target`` (or ``claim``, a clone of it) into a ``volume`` snapshot.

    The claim is mounted read-only. Reading the live claim of a single-node volume pins the Job to
    the node where it is attached; a clone (from a VolumeSnapshot) is free to go anywhere."""
    live = claim is None
    node = target.node if live and target.single_node else None
    return _job(
        object_name("drkit-backup", target, run if live else f"{run}/{claim}"),
        target,
        "backup",
        run,
        settings,
        backup_args(target, run),
        claim=claim or target.pvc,
        read_only=True,
        node=node,
        as_root=settings.read_as_root,
        capabilities=["DAC_READ_SEARCH"] if settings.read_as_root else [],
    )


def volume_snapshot(target: MoverTarget, settings: MoverSettings, run: str) -> Json:
    """A CSI VolumeSnapshot of the claim (``settings.snapshot_class``), for a crash-consistent copy."""
    if not settings.snapshot_class:
        raise ConfigError("a VolumeSnapshot needs a VolumeSnapshotClass", field="volume-snapshot-class")
    return {
        "apiVersion": f"{SNAPSHOT_API}/v1",
        "kind": "VolumeSnapshot",
        "metadata": _meta(object_name("drkit-snap", target, run), target, "backup", run),
        "spec": {
            "volumeSnapshotClassName": settings.snapshot_class,
            "source": {"persistentVolumeClaimName": target.pvc},
        },
    }


def _pvc_spec(target: MoverTarget) -> Json:
    if not target.capacity:
        raise ConfigError(f"claim {target.namespace}/{target.pvc} has no recorded capacity", field="capacity")
    spec: Json = {
        "accessModes": list(target.access_modes or ("ReadWriteOnce",)),
        "resources": {"requests": {"storage": target.capacity}},
        "volumeMode": target.volume_mode,
    }
    if target.storage_class is not None:
        spec["storageClassName"] = target.storage_class
    return spec


def clone_pvc(target: MoverTarget, settings: MoverSettings, run: str) -> Json:
    """A claim filled from :func:`volume_snapshot`'s snapshot; the backup Job mounts it read-only."""
    spec = _pvc_spec(target)
    spec["accessModes"] = ["ReadWriteOnce"]
    spec["dataSource"] = {
        "apiGroup": SNAPSHOT_API,
        "kind": "VolumeSnapshot",
        "name": volume_snapshot(target, settings, run)["metadata"]["name"],
    }
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(object_name("drkit-clone", target, run), target, "backup", run),
        "spec": spec,
    }


def restore_pvc(target: MoverTarget, snapshot_id: str) -> Json:
    """The claim to restore into: same name, namespace, storage class, access modes and size."""
    meta = _meta(target.pvc, target, "restore", snapshot_id)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": _pvc_spec(target)}


def restore_args(target: MoverTarget, snapshot_id: str, path: str | None = None) -> list[str]:
    return [
        "mover",
        "restore",
        "--snapshot",
        snapshot_id,
        "--path",
        path or target.snapshot_path,
        "--target",
        DATA_DIR,
        "--repo-config",
        REPO_CONFIG_DIR,
        "--result-file",
        TERMINATION_LOG,
    ]


def restore_job(
    target: MoverTarget, settings: MoverSettings, snapshot_id: str, *, path: str | None = None
) -> Json:
    """The Job that fills the claim of :func:`restore_pvc` from the volume snapshot ``snapshot_id``
    (its directory ``path``, by default ``volumes/<target ns>/<target pvc>``: give the original's
    when restoring under another namespace or name); the workload is created once it has completed."""
    as_root = settings.restore_as_root
    return _job(
        object_name("drkit-restore", target, snapshot_id),
        target,
        "restore",
        snapshot_id,
        settings,
        restore_args(target, snapshot_id, path),
        claim=target.pvc,
        read_only=False,
        node=None,
        as_root=as_root,
        capabilities=["CHOWN", "FOWNER", "DAC_OVERRIDE", "SETFCAP"] if as_root else [],
    )


# -- results -------------------------------------------------------------------------------------


def result_text(result: Mapping[str, Any]) -> str:
    """The one JSON line a mover prints and writes as its termination message (at most 4096 bytes)."""
    text = json.dumps({RESULT_MARK: 1, **result}, sort_keys=True, separators=(",", ":"))
    if len(text.encode()) > MAX_RESULT_BYTES:
        slim = {k: v for k, v in result.items() if k not in ("skipped", "error")}
        slim["truncated"] = True
        text = json.dumps({RESULT_MARK: 1, **slim}, sort_keys=True, separators=(",", ":"))
    return text


def parse_result(text: str) -> dict[str, Any]:
    """The mover's result from a termination message or its log (the last line that is a result)."""
    for raw in reversed(text.strip().splitlines()):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get(RESULT_MARK) == 1:
            doc.pop(RESULT_MARK)
            return doc
    raise KubernetesError(f"no mover result in the termination message: {text[:200]!r}")
