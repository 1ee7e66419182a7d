"""Small helpers for tests on a real node: restricted namespaces, claims, pods of the test-application
image, and reading what a pod serves through the API server (no port on this machine is opened)."""

from __future__ import annotations

import time
from typing import Any

from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane

TESTAPP = "drkit.local/testapp:1"
DRKIT_IMAGE = "drkit.local/drkit:dev"
APP_UID = 1000

# What Pod Security "restricted" requires of every container.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def namespace(cluster: ControlPlane, prefix: str, level: str = "restricted") -> str:
    """A new namespace that enforces Pod Security ``level``; its default service account exists."""
    created = cluster.api(
        "POST",
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "generateName": f"{prefix}-",
                "labels": {"pod-security.kubernetes.io/enforce": level},
            },
        },
    )
    name: str = created["metadata"]["name"]
    cluster.wait(
        lambda: cluster.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        f"the default service account in {name}",
    )
    return name


def delete_namespace(cluster: ControlPlane, name: str) -> None:
    try:
        cluster.api("DELETE", f"/api/v1/namespaces/{name}")
    except http.HTTPStatusError as exc:
        if exc.status != 404:
            raise


def claim(cluster: ControlPlane, ns: str, name: str, size: str = "64Mi") -> None:
    """A claim of the default StorageClass (drkit-local: provisioned when a pod first mounts it)."""
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        },
    )


def app_pod(
    name: str,
    script: str,
    *,
    claim_name: str | None = "data",
    uid: int = APP_UID,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    once: bool = False,
) -> dict[str, Any]:
    """A restricted pod of the test-application image running ``script`` (sh) with the claim at /data;
    ``once``: run to completion (restartPolicy Never) instead of being restarted."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {"app": name}},
        "spec": {
            "securityContext": {"runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": True},
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": "Never" if once else "Always",
            "containers": [
                {
                    "name": "app",
                    "image": TESTAPP,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", script],
                    "securityContext": RESTRICTED_CONTAINER,
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}] if claim_name else [],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]
            if claim_name
            else [],
        },
    }
    return pod


def create(cluster: ControlPlane, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    kind = manifest["kind"]
    path = {
        "Pod": f"/api/v1/namespaces/{ns}/pods",
        "Service": f"/api/v1/namespaces/{ns}/services",
        "Secret": f"/api/v1/namespaces/{ns}/secrets",
    }[kind]
    created: dict[str, Any] = cluster.api("POST", path, manifest)
    return created


def wait_ready(cluster: ControlPlane, ns: str, pod: str, timeout: float = 120.0) -> dict[str, Any]:
    """Wait until ``pod`` runs and is Ready; fail with its status (and events) otherwise."""
    seen: dict[str, Any] = {}

    def ready() -> bool:
        seen.update(cluster.api("GET", f"/api/v1/namespaces/{ns}/pods/{pod}"))
        status = seen.get("status") or {}
        if status.get("phase") in {"Failed", "Succeeded"}:
            raise AssertionError(f"pod {ns}/{pod} ended: {status}")
        return any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
        )

    try:
        cluster.wait(ready, f"pod {ns}/{pod} Ready", timeout=timeout)
    except Exception as exc:
        events = cluster.api("GET", f"/api/v1/namespaces/{ns}/events")["items"]
        said = "; ".join(f"{e.get('reason')}: {e.get('message')}" for e in events[-8:])
        raise AssertionError(f"{exc}\nstatus: {seen.get('status')}\nevents: {said}") from exc
    return seen


def wait_phase(
    cluster: ControlPlane, ns: str, pod: str, phases: set[str], timeout: float = 120.0
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(cluster.api("GET", f"/api/v1/namespaces/{ns}/pods/{pod}"))
        return (seen.get("status") or {}).get("phase") in phases

    cluster.wait(done, f"pod {ns}/{pod} in {sorted(phases)}", timeout=timeout)
    return seen


def proxy_get(cluster: ControlPlane, path: str, timeout: float = 30.0) -> str:
    """GET ``path`` (an API server proxy path) until it answers 200; return the body."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, body = http.call(
                "GET", f"{cluster.server}{path}", context=cluster.admin_context(), timeout=10.0
            )
            return body.decode()
        except (http.HTTPStatusError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
