"""Which claims a backup captures (``--volumes all|none|<label selector>``), and what is known of each.

    selected = select_volumes(pvcs, pvs, pods, attachments, include_namespace=ok)   # pure

Only Bound claims are captured (the others are listed as skipped, with the reason). For each:
namespace, name, PV, access modes, storage class, capacity, the node where it is attached (a
VolumeAttachment of its PV, else a Running pod mounting it, else the PV's node affinity) and the
hooks of the pods that mount it. Listing the claims from the cluster is
:func:`drkit.capture.volumes.discover_volumes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drkit.capture.hooks import Hook, claim_pods, pod_hooks
from drkit.capture.movers import MoverTarget
from drkit.errors import ConfigError

Json = dict[str, Any]


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
