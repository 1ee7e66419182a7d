"""Server-populated fields removed from a captured object before it is applied to another cluster.

Pure functions over the object's JSON (a ``dict``, changed in place); each returns notes for the
plan's reasons when the change is one a reader should know about (a claim that will bind anew,
node ports given up). What is removed, and why, is documented in ``docs/restore-plans.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

METADATA_FIELDS = (
    "uid",  # identity in the source cluster; the target assigns its own
    "resourceVersion",  # the source's etcd revision; a stale one makes apply a conflict
    "creationTimestamp",
    "generation",
    "managedFields",  # field ownership of the source's managers
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",  # point at the owners' old uids: the garbage collector would delete the object
)

ANNOTATIONS_DROPPED = ("deployment.kubernetes.io/revision",)

PVC_BIND_ANNOTATIONS = (  # the first two always go; the others when volumeName goes
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)

JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


@dataclass(frozen=True)
class CleanOptions:
    include_status: bool = False
    keep_last_applied: bool = False


def clean_object(
    obj: dict[str, Any],
    group: str,
    resource: str,
    options: CleanOptions,
    restored_pvs: Container[str] = frozenset(),
) -> list[str]:
    """Remove what the source's API server and controllers filled in. ``restored_pvs``: names of the
    PersistentVolumes the same plan restores (a claim keeps ``volumeName`` only for those)."""
    notes: list[str] = []
    metadata = obj.get("metadata")
    last_applied = _clean_metadata(metadata, options, notes) if isinstance(metadata, dict) else None
    if not options.include_status:
        obj.pop("status", None)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return notes
    if group == "" and resource == "services":
        notes += _clean_service(spec, last_applied)
    elif group == "" and resource == "pods":
        spec.pop("nodeName", None)
    elif group == "" and resource == "persistentvolumeclaims":
        notes += _clean_claim(obj, spec, restored_pvs)
    elif group == "" and resource == "persistentvolumes":
        claim = spec.get("claimRef")
        if isinstance(claim, dict):
            claim.pop("uid", None)
            claim.pop("resourceVersion", None)
    elif group == "batch" and resource == "jobs":
        _clean_job(spec)
    return notes


def _clean_metadata(metadata: dict[str, Any], options: CleanOptions, notes: list[str]) -> object:
    """Clean ``metadata`` in place; returns the last-applied configuration it held (for node ports)."""
    if metadata.get("ownerReferences"):
        owners = ", ".join(
            f"{o.get('kind')}/{o.get('name')}" for o in metadata["ownerReferences"] if isinstance(o, dict)
        )
        notes.append(f"ownerReferences dropped ({owners})")
    last_applied = _annotations(metadata).get(LAST_APPLIED)
    for key in METADATA_FIELDS:
        metadata.pop(key, None)
    annotations = _annotations(metadata)
    for key in ANNOTATIONS_DROPPED:
        annotations.pop(key, None)
    if not options.keep_last_applied:
        annotations.pop(LAST_APPLIED, None)
    if "annotations" in metadata and not metadata["annotations"]:
        del metadata["annotations"]
    return last_applied


def clean_service_account(obj: dict[str, Any]) -> None:
    """Drop the references to legacy token Secrets (``<name>-token-xxxxx``): they are not restored."""
    name = str((obj.get("metadata") or {}).get("name", ""))
    secrets = obj.get("secrets")
    if isinstance(secrets, list):
        kept = [
            s
            for s in secrets
            if not (isinstance(s, dict) and str(s.get("name", "")).startswith(f"{name}-token-"))
        ]
        if kept:
            obj["secrets"] = kept
        else:
            del obj["secrets"]


SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"  # noqa: S105 (a type name, not a secret)


def legacy_token_secret(obj: dict[str, Any]) -> bool:
    """A token Secret the token controller of a cluster before 1.24 generated itself
    (``<serviceaccount>-token-xxxxx``): the target issues its own, nothing is restored."""
    metadata = obj.get("metadata") or {}
    account = _annotations(metadata).get(SA_NAME_ANNOTATION) if isinstance(metadata, dict) else None
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    return bool(account) and re.fullmatch(rf"{re.escape(str(account))}-token-[a-z0-9]{{5}}", name) is not None


def clean_token_secret(obj: dict[str, Any]) -> str:
    """A token Secret someone created (type ``kubernetes.io/service-account-token`` with the
    ServiceAccount's name annotation) is recreated **without** its data and the old ServiceAccount's uid:
    the target's token controller then fills in a token signed with the target's keys (with the old uid
    it would delete the Secret instead). Returns the note for the plan."""
    obj.pop("data", None)
    obj.pop("stringData", None)
    metadata = obj.get("metadata")
    account = "?"
    if isinstance(metadata, dict):
        annotations = _annotations(metadata)
        annotations.pop(SA_UID_ANNOTATION, None)
        account = str(annotations.get(SA_NAME_ANNOTATION, "?"))
    return (
        "a service-account token Secret, recreated without its data: the target's token controller "
        f"fills in a token of ServiceAccount {account} signed with the target's keys"
    )


def _annotations(metadata: dict[str, Any]) -> dict[str, Any]:
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _clean_service(spec: dict[str, Any], last_applied: object) -> list[str]:
    notes: list[str] = []
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)
    pinned = _pinned_node_ports(last_applied)
    dropped: list[str] = []
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and "nodePort" in port and port["nodePort"] not in pinned:
            dropped.append(str(port.pop("nodePort")))
    if dropped:
        notes.append(f"node ports {', '.join(dropped)} left to the target to assign")
    return notes


def _pinned_node_ports(last_applied: object) -> set[object]:
    """Node ports the user wrote (in kubectl's last-applied configuration): kept. Others were assigned."""
    if not isinstance(last_applied, str):
        return set()
    try:
        applied = json.loads(last_applied)
    except ValueError:
        return set()
    ports = (applied.get("spec") or {}).get("ports") if isinstance(applied, dict) else None
    return {p["nodePort"] for p in ports or [] if isinstance(p, dict) and "nodePort" in p}


def _clean_claim(obj: dict[str, Any], spec: dict[str, Any], restored_pvs: Container[str]) -> list[str]:
    """A claim restored bound (``bind-completed``) to a volume whose ``claimRef`` has no uid would be
    marked Lost by the volume controller: the bind annotations always go, so that it binds again
    (to its own restored volume, by ``volumeName``, or to a new one)."""
    annotations = _annotations(obj.get("metadata") or {})
    for key in PVC_BIND_ANNOTATIONS[:2]:
        annotations.pop(key, None)
    volume = spec.get("volumeName")
    if not volume or volume in restored_pvs:
        _drop_empty_annotations(obj)
        return []
    del spec["volumeName"]
    for key in PVC_BIND_ANNOTATIONS:
        annotations.pop(key, None)
    _drop_empty_annotations(obj)
    return [f"spec.volumeName cleared: PersistentVolume {volume} is not restored, the claim binds anew"]


def _drop_empty_annotations(obj: dict[str, Any]) -> None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "annotations" in metadata and not metadata["annotations"]:
        del metadata["annotations"]


def _clean_job(spec: dict[str, Any]) -> None:
    """A Job's generated selector names its old uid; the API server refuses it without manualSelector."""
    if spec.get("manualSelector"):
        return
    selector = spec.get("selector")
    labels = (selector or {}).get("matchLabels") if isinstance(selector, dict) else None
    if isinstance(labels, dict) and any(k in labels for k in JOB_UID_LABELS):
        del spec["selector"]
    template = spec.get("template")
    meta = template.get("metadata") if isinstance(template, dict) else None
    pod_labels = meta.get("labels") if isinstance(meta, dict) else None
    if isinstance(pod_labels, dict):
        for key in JOB_UID_LABELS:
            pod_labels.pop(key, None)
