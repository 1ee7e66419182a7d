"""The reference graph: which cluster-scoped objects an object needs, and which cluster-scoped objects
serve a namespace. One set of rules for the capture's ``--include-cluster-resources auto`` and the
restore planner's ``includeClusterResources: auto`` and dangling-reference warnings. Pure functions
over raw JSON.

    needs("apps", "deployments", doc)          # {Need(scheduling.k8s.io, priorityclasses, high, ...)}
    serves("rbac.authorization.k8s.io", "clusterrolebindings", doc, {"shop"})   # True: binds shop/app

Forward references (an object needs the cluster-scoped object it names):

* every namespaced object: its Namespace; a custom resource: its CRD (``plural.group``);
* a pod template (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs,
  ReplicationControllers, PodTemplates): ``priorityClassName`` (PriorityClass), ``runtimeClassName``
  (RuntimeClass);
* a PersistentVolumeClaim: ``volumeName`` (PersistentVolume), ``storageClassName`` (StorageClass);
  a StatefulSet's ``volumeClaimTemplates``: their StorageClass; a PersistentVolume: its StorageClass;
* an Ingress: ``ingressClassName`` (IngressClass);
* a RoleBinding or ClusterRoleBinding: ``roleRef`` naming a ClusterRole.

Reverse references (a cluster-scoped object serves a namespace, so it comes with it): a
ClusterRoleBinding with a ServiceAccount subject in the namespace; a Validating/Mutating webhook
configuration or an APIService whose service is in the namespace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True, order=True)
class Need:
    """A cluster-scoped object that something refers to, and by which field (for messages)."""

    group: str
    resource: str
    name: str
    field: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.resource, self.name)


# (group, plural) -> (version, kind) of the cluster-scoped kinds the graph names
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("", "namespaces"): ("v1", "Namespace"),
    ("", "persistentvolumes"): ("v1", "PersistentVolume"),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("v1", "CustomResourceDefinition"),
    ("storage.k8s.io", "storageclasses"): ("v1", "StorageClass"),
    ("scheduling.k8s.io", "priorityclasses"): ("v1", "PriorityClass"),
    ("node.k8s.io", "runtimeclasses"): ("v1", "RuntimeClass"),
    ("networking.k8s.io", "ingressclasses"): ("v1", "IngressClass"),
    (RBAC, "clusterroles"): ("v1", "ClusterRole"),
}

# Cluster-scoped kinds that may serve a namespace (listed first by the capture: what they need is
# known before the kinds they need are listed).
SERVING = frozenset(
    {
        (RBAC, "clusterrolebindings"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
        ("apiregistration.k8s.io", "apiservices"),
    }
)

_POD_TEMPLATES = {
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("", "replicationcontrollers"),
}

# Groups whose kinds Kubernetes serves itself (no CRD to need).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


def needs(group: str, resource: str, doc: Mapping[str, Any]) -> set[Need]:
    """The cluster-scoped objects ``doc`` (an object of ``resource.group``) refers to."""
    return set(_needs(group, resource, doc))


def _needs(group: str, resource: str, doc: Mapping[str, Any]) -> Iterator[Need]:  # noqa: PLR0912
    meta = _map(doc.get("metadata"))
    spec = _map(doc.get("spec"))
    if meta.get("namespace"):
        yield Need("", "namespaces", str(meta["namespace"]), "metadata.namespace")
    if group and group not in BUILTIN_GROUPS:
        yield Need("apiextensions.k8s.io", "customresourcedefinitions", f"{resource}.{group}", "its kind")
    key = (group, resource)
    template: Mapping[str, Any] | None = None
    if key == ("", "pods"):
        template = spec
    elif key in _POD_TEMPLATES:
        template = _map(_map(spec.get("template")).get("spec"))
    elif key == ("batch", "cronjobs"):
        job = _map(_map(spec.get("jobTemplate")).get("spec"))
        template = _map(_map(job.get("template")).get("spec"))
    elif key == ("", "podtemplates"):
        template = _map(_map(doc.get("template")).get("spec"))
    if template is not None:
        yield from _named(template, "priorityClassName", "scheduling.k8s.io", "priorityclasses")
        yield from _named(template, "runtimeClassName", "node.k8s.io", "runtimeclasses")
    if key == ("apps", "statefulsets"):
        for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
            claim_spec = _map(_map(claim).get("spec"))
            for need in _named(claim_spec, "storageClassName", "storage.k8s.io", "storageclasses"):
                yield Need(
                    need.group, need.resource, need.name, f"spec.volumeClaimTemplates[{i}].{need.field}"
                )
    elif key == ("", "persistentvolumeclaims"):
        yield from _named(spec, "volumeName", "", "persistentvolumes")
        yield from _named(spec, "storageClassName", "storage.k8s.io", "storageclasses")
    elif key == ("", "persistentvolumes"):
        yield from _named(spec, "storageClassName", "storage.k8s.io", "storageclasses")
    elif key == ("networking.k8s.io", "ingresses"):
        yield from _named(spec, "ingressClassName", "networking.k8s.io", "ingressclasses")
    elif key in ((RBAC, "rolebindings"), (RBAC, "clusterrolebindings")):
        ref = _map(doc.get("roleRef"))
        if ref.get("kind") == "ClusterRole" and ref.get("name"):
            yield Need(RBAC, "clusterroles", str(ref["name"]), "roleRef")


def serves(group: str, resource: str, doc: Mapping[str, Any], namespaces: Collection[str]) -> bool:
    """Whether the cluster-scoped ``doc`` points into one of ``namespaces`` (a binding of a
    ServiceAccount there, a webhook or API service backed by a Service there)."""
    return bool(served_namespaces(group, resource, doc) & set(namespaces))


def served_namespaces(group: str, resource: str, doc: Mapping[str, Any]) -> set[str]:
    key = (group, resource)
    found: set[str] = set()
    if key == (RBAC, "clusterrolebindings"):
        for subject in doc.get("subjects") or []:
            s = _map(subject)
            if s.get("kind") == "ServiceAccount" and s.get("namespace"):
                found.add(str(s["namespace"]))
    elif key in SERVING and group == "admissionregistration.k8s.io":
        for hook in doc.get("webhooks") or []:
            service = _map(_map(_map(hook).get("clientConfig")).get("service"))
            if service.get("namespace"):
                found.add(str(service["namespace"]))
    elif key == ("apiregistration.k8s.io", "apiservices"):
        service = _map(_map(doc.get("spec")).get("service"))
        if service.get("namespace"):
            found.add(str(service["namespace"]))
    return found


def provided_by_every_cluster(need: Need) -> bool:
    """Objects every cluster has (bootstrap RBAC, built-in priority classes): never dangling."""
    if need.resource == "clusterroles":
        return need.name.startswith("system:") or need.name in ("admin", "edit", "view", "cluster-admin")
    if need.resource == "priorityclasses":
        return need.name.startswith("system-")
    return need.resource == "namespaces" and need.name in ("default", "kube-system", "kube-public")


def _named(spec: Mapping[str, Any], field: str, group: str, resource: str) -> Iterator[Need]:
    value = spec.get(field)
    if isinstance(value, str) and value:
        yield Need(group, resource, value, field)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
