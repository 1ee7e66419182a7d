"""Captured objects for planner tests, built like the capture builds them."""

from __future__ import annotations

import json
from typing import Any

from drkit.capture.resources import CapturedObject

RESOURCES: dict[str, tuple[str, str, str]] = {
    # kind -> (group, version, plural)
    "ConfigMap": ("", "v1", "configmaps"),
    "Secret": ("", "v1", "secrets"),
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "Service": ("", "v1", "services"),
    "Endpoints": ("", "v1", "endpoints"),
    "Pod": ("", "v1", "pods"),
    "Event": ("", "v1", "events"),
    "Node": ("", "v1", "nodes"),
    "Namespace": ("", "v1", "namespaces"),
    "PersistentVolume": ("", "v1", "persistentvolumes"),
    "PersistentVolumeClaim": ("", "v1", "persistentvolumeclaims"),
    "LimitRange": ("", "v1", "limitranges"),
    "ResourceQuota": ("", "v1", "resourcequotas"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ControllerRevision": ("apps", "v1", "controllerrevisions"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
    "EndpointSlice": ("discovery.k8s.io", "v1", "endpointslices"),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    "APIService": ("apiregistration.k8s.io", "v1", "apiservices"),
    "StorageClass": ("storage.k8s.io", "v1", "storageclasses"),
    "PriorityClass": ("scheduling.k8s.io", "v1", "priorityclasses"),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies"),
    "Lease": ("coordination.k8s.io", "v1", "leases"),
    "FlowSchema": ("flowcontrol.apiserver.k8s.io", "v1", "flowschemas"),
    "Gadget": ("example.com", "v1", "gadgets"),
}

SERVER_FIELDS = {
    "uid": "0f1e2d3c-0000-4000-8000-000000000000",
    "resourceVersion": "4242",
    "creationTimestamp": "2026-11-01T00:00:00Z",
    "generation": 3,
    "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
    "selfLink": "/old/self/link",
}


def obj(kind: str, name: str, namespace: str = "", **fields: Any) -> CapturedObject:
    """A captured object of ``kind`` with the server-populated metadata a real one carries. ``fields``
    are top-level members; ``metadata`` given in them is merged into the generated one."""
    group, version, plural = RESOURCES[kind]
    metadata: dict[str, Any] = {"name": name, **SERVER_FIELDS}
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(fields.pop("metadata", {}))
    doc = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": metadata,
        **fields,
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return CapturedObject(group, version, plural, kind, namespace, name, "4242", raw)


def owned_by(kind: str, name: str, *, controller: bool = True) -> dict[str, Any]:
    return {
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": name,
                "uid": "old-owner",
                "controller": controller,
            }
        ]
    }
