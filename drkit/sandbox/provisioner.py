"""Dynamic provisioning for a sandbox with real nodes: claims of the StorageClass ``drkit-local`` get
a hostPath PersistentVolume in a directory of the sandbox, on the node the scheduler chose.

The class binds ``WaitForFirstConsumer``: the scheduler picks a node for the first pod that mounts
the claim and writes it into the claim's ``volume.kubernetes.io/selected-node`` annotation; this
provisioner then creates a PV pinned to that node (node affinity) and bound to the claim
(``claimRef`` with its uid), and the volume controller binds them. A Released PV of this class with
reclaim policy Delete is deleted with its directory, as local-path-provisioner does.

Restored claims (drills, copies into the sandbox) name what the source cluster had. Two cases get a
hostPath volume at ``<root>/<namespace>/<claim>``, with the claim's class and reclaim policy Retain:
a claim that names a PersistentVolume (``spec.volumeName``) which does not exist, and a claim of a
StorageClass this cluster does not have (``manual``, ``gp3``: nothing else would ever bind it). That
directory is where a drill restores the claim's data (``DirectoryVolumes``), so the restored
application mounts the restored files.

Directories are mode 0777 (like local-path-provisioner's): hostPath volumes get no fsGroup, and
non-root pods (drkit's movers run as uid 65532) must be able to write into a new volume.

Runs as its own process (``python -m drkit.sandbox.provisioner``) so that it outlives
``drkit sandbox up``; :func:`reconcile` is one pass, tested on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drkit.sandbox import http

CLASS_NAME = "drkit-local"
PROVISIONER = "drkit.io/local-path"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
INTERVAL_S = 0.5

log = logging.getLogger(__name__)

Api = Callable[..., Any]  # api(method, path, body=None) -> JSON


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": CLASS_NAME,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def pv_name(claim: dict[str, Any]) -> str:
    return f"pvc-{claim['metadata']['uid']}"


def volume_for(claim: dict[str, Any], root: Path) -> dict[str, Any]:
    """The PV for ``claim`` (which must carry the selected-node annotation)."""
    meta, spec = claim["metadata"], claim["spec"]
    node = meta["annotations"][SELECTED_NODE]
    name = pv_name(claim)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS_NAME,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(root / name), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            },
        },
    }


def named_volume_for(claim: dict[str, Any], root: Path) -> dict[str, Any]:
    """The missing PV a claim names, at ``<root>/<namespace>/<claim>`` (no node affinity: every node
    of a sandbox is on this machine)."""
    meta, spec = claim["metadata"], claim["spec"]
    pv = volume_for({**claim, "metadata": {**meta, "annotations": {SELECTED_NODE: ""}}}, root)
    pv["metadata"]["name"] = spec.get("volumeName") or pv_name(claim)
    pv["spec"]["hostPath"]["path"] = str(root / meta["namespace"] / meta["name"])
    pv["spec"]["storageClassName"] = spec.get("storageClassName") or ""
    pv["spec"]["persistentVolumeReclaimPolicy"] = "Retain"
    del pv["spec"]["nodeAffinity"]
    return pv


def _needs_static_volume(claim: dict[str, Any], existing: set[str], classes: set[str]) -> bool:
    """A Pending claim that names a missing PV, or asks for a class this cluster does not have."""
    meta, spec = claim["metadata"], claim["spec"]
    if (claim.get("status") or {}).get("phase") != "Pending" or "deletionTimestamp" in meta:
        return False
    if spec.get("volumeName"):
        return bool(spec["volumeName"] not in existing)
    wanted = spec.get("storageClassName")
    return bool(wanted) and wanted not in classes


def _wants_volume(claim: dict[str, Any]) -> bool:
    meta, spec = claim["metadata"], claim["spec"]
    return (
        spec.get("storageClassName") == CLASS_NAME
        and not spec.get("volumeName")
        and (claim.get("status") or {}).get("phase") == "Pending"
        and SELECTED_NODE in (meta.get("annotations") or {})
        and "deletionTimestamp" not in meta
    )


def reconcile(api: Api, root: Path) -> list[str]:
    """One pass: provision the claims that wait, delete released volumes. Returns what it did."""
    done: list[str] = []
    volumes = api("GET", "/api/v1/persistentvolumes")["items"]
    existing = {v["metadata"]["name"] for v in volumes}
    classes = {c["metadata"]["name"] for c in api("GET", "/apis/storage.k8s.io/v1/storageclasses")["items"]}
    for claim in api("GET", "/api/v1/persistentvolumeclaims")["items"]:
        if _needs_static_volume(claim, existing, classes):
            pv = named_volume_for(claim, root)
        elif _wants_volume(claim):
            pv = volume_for(claim, root)
        else:
            continue
        if pv["metadata"]["name"] in existing:  # made in an earlier pass; the binding is under way
            continue
        directory = Path(pv["spec"]["hostPath"]["path"])
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # hostPath gets no fsGroup: non-root pods must be able to write
        try:
            api("POST", "/api/v1/persistentvolumes", pv)
        except http.HTTPStatusError as exc:
            if exc.status != 409:
                raise
        meta = claim["metadata"]
        existing.add(pv["metadata"]["name"])
        done.append(f"provisioned {pv['metadata']['name']} for {meta['namespace']}/{meta['name']}")
    for volume in volumes:
        meta, spec = volume["metadata"], volume["spec"]
        released = (volume.get("status") or {}).get("phase") in {"Released", "Failed"}
        ours = (meta.get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
        if not (ours and released and spec.get("persistentVolumeReclaimPolicy") == "Delete"):
            continue
        path = Path(spec.get("hostPath", {}).get("path", ""))
        if path.is_relative_to(root) and path != root:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(http.HTTPStatusError):
            api("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
        done.append(f"deleted {meta['name']}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drkit.sandbox.provisioner")
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True, type=Path)
    parser.add_argument("--cert", required=True, type=Path)
    parser.add_argument("--key", required=True, type=Path)
    parser.add_argument("--root", required=True, type=Path, help="where volumes' directories go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    context = http.tls_context(args.ca, args.cert, args.key)
    args.root.mkdir(parents=True, exist_ok=True)

    def api(method: str, path: str, body: Any = None) -> Any:
        return http.call_json(method, f"{args.server}{path}", body=body, context=context, timeout=10.0)

    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    log.info("provisioning class %s into %s", CLASS_NAME, args.root)
    while running:
        try:
            for line in reconcile(api, args.root):
                log.info("%s", line)
        except Exception as exc:  # noqa: BLE001 - a failed pass is retried; the API server may restart
            log.warning("pass failed: %s", exc)
        time.sleep(INTERVAL_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
