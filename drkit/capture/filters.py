"""Which resources and objects a capture takes: pure functions of a ``CaptureFilter``.

Resource patterns name a resource by its plural (``deployments``, any group), by ``plural.group``
(``deployments.apps``; the core group has no suffix: ``configmaps``), or by a glob over either form
(``*.example.com``, ``*``). Namespace patterns are globs over namespace names. Matching is
case-insensitive.

The default skip list (``DEFAULT_SKIP``) names resources that must not be restored or that a cluster
regenerates by itself; each entry carries its reason. Its entries are matched against the qualified
name only, so ``nodes`` skips the core Nodes and not a custom ``nodes.example.com``. A skipped
resource is still captured when an include pattern names it exactly (not by a glob), or when
``skip`` is replaced.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from drkit.capture.references import needs
from drkit.errors import ConfigError
from drkit.kube.resource import Resource

DEFAULT_SKIP: Mapping[str, str] = {
    "events": "events are a short-lived log of what happened, not state; a restore must not replay them",
    "events.events.k8s.io": "the same events through the events.k8s.io API",
    "nodes": "nodes belong to the machines: kubelets register them; restoring them would invent machines",
    "leases.coordination.k8s.io": "leader election and node heartbeats; stale holders stall controllers",
    "componentstatuses": "computed on read, deprecated; not stored objects",
    "bindings": "create-only (pod scheduling requests), not stored objects",
    "tokenreviews.authentication.k8s.io": "create-only review requests, not stored objects",
    "selfsubjectreviews.authentication.k8s.io": "create-only review requests, not stored objects",
    "subjectaccessreviews.authorization.k8s.io": "create-only review requests, not stored objects",
    "selfsubjectaccessreviews.authorization.k8s.io": "create-only review requests, not stored objects",
    "selfsubjectrulesreviews.authorization.k8s.io": "create-only review requests, not stored objects",
    "localsubjectaccessreviews.authorization.k8s.io": "create-only review requests, not stored objects",
    "*.metrics.k8s.io": "live metrics computed by metrics-server, not stored objects",
    "certificatesigningrequests.certificates.k8s.io": "one-time requests tied to private keys that are "
    "not in the backup",
    "csinodes.storage.k8s.io": "registered per node by kubelets",
    "volumeattachments.storage.k8s.io": "attach state of volumes to nodes, owned by the attach/detach "
    "controller",
    "resourceslices.resource.k8s.io": "published per node by device drivers",
    "ipaddresses.networking.k8s.io": "Service IP allocations made by the API server; restored Services "
    "allocate their own",
}

_GLOB_CHARS = frozenset("*?[")


class ClusterResources(Enum):
    """Which cluster-scoped objects a capture takes."""

    AUTO = "auto"  # all of them for a whole-cluster capture, else those the namespaced ones need
    TRUE = "true"  # all of them (subject to the resource filters and the skip list)
    FALSE = "false"  # none, not even the Namespace objects

    @classmethod
    def parse(cls, value: str | bool | ClusterResources) -> ClusterResources:
        if isinstance(value, ClusterResources):
            return value
        if isinstance(value, bool):
            return cls.TRUE if value else cls.FALSE
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigError(
                f"{value!r} is not one of auto, true, false", field="include-cluster-resources"
            ) from None


@dataclass(frozen=True)
class ResourceDecision:
    include: bool
    reason: str  # why not, when not included; "" when included


NeededObject = tuple[str, str, str]  # (group, plural, name) of a cluster-scoped object


@dataclass(frozen=True)
class CaptureFilter:
    include_namespaces: tuple[str, ...] = ()  # empty: all
    exclude_namespaces: tuple[str, ...] = ()
    include_resources: tuple[str, ...] = ()  # empty: all
    exclude_resources: tuple[str, ...] = ()
    label_selector: str | None = None
    include_cluster_resources: ClusterResources = ClusterResources.AUTO
    skip: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SKIP))
    namespace_selector: str | None = None  # label selector over the Namespace objects

    @classmethod
    def build(
        cls,
        *,
        include_namespaces: Iterable[str] = (),
        exclude_namespaces: Iterable[str] = (),
        include_resources: Iterable[str] = (),
        exclude_resources: Iterable[str] = (),
        label_selector: str | None = None,
        include_cluster_resources: str | bool | ClusterResources = ClusterResources.AUTO,
        skip: Mapping[str, str] | None = None,
        namespace_selector: str | None = None,
    ) -> CaptureFilter:
        """From option values: comma-separated lists are split, blanks dropped, patterns checked."""
        return cls(
            include_namespaces=_patterns(include_namespaces, "include-namespaces"),
            exclude_namespaces=_patterns(exclude_namespaces, "exclude-namespaces"),
            include_resources=_patterns(include_resources, "include-resources"),
            exclude_resources=_patterns(exclude_resources, "exclude-resources"),
            label_selector=(label_selector or "").strip() or None,
            include_cluster_resources=ClusterResources.parse(include_cluster_resources),
            skip=dict(DEFAULT_SKIP if skip is None else skip),
            namespace_selector=(namespace_selector or "").strip() or None,
        )

    # --- namespaces -------------------------------------------------------------------------------

    @property
    def whole_cluster(self) -> bool:
        """True when no namespace is singled out (every namespace is in, excludes aside)."""
        if self.namespace_selector is not None:
            return False
        return not self.include_namespaces or "*" in self.include_namespaces

    def namespace_included(self, namespace: str) -> bool:
        if self.include_namespaces and not _any_match(self.include_namespaces, (namespace,)):
            return False
        return not _any_match(self.exclude_namespaces, (namespace,))

    # --- resources --------------------------------------------------------------------------------

    def resource_decision(self, resource: Resource) -> ResourceDecision:
        """Whether the resource's objects are listed at all, and if not, why."""
        names = _names(resource)
        if _any_match(self.exclude_resources, names):
            return ResourceDecision(False, "excluded by --exclude-resources")
        if self.include_resources and not _any_match(self.include_resources, names):
            return ResourceDecision(False, "not named by --include-resources")
        skipped = [p for p in self.skip if _matches(p, names[1:])]  # skip entries are qualified names
        if skipped and not _named_exactly(self.include_resources, names):
            return ResourceDecision(False, f"default skip list: {self.skip[skipped[0]]}")
        if not resource.namespaced and self.include_cluster_resources is ClusterResources.FALSE:
            return ResourceDecision(False, "cluster-scoped, and --include-cluster-resources=false")
        return ResourceDecision(True, "")

    def all_cluster_objects(self) -> bool:
        """Whether every object of an included cluster-scoped resource is captured (else only the
        needed ones, see ``needed_cluster_objects``)."""
        mode = self.include_cluster_resources
        return mode is ClusterResources.TRUE or (mode is ClusterResources.AUTO and self.whole_cluster)


def needed_cluster_objects(resource: Resource, obj: Mapping[str, Any]) -> set[NeededObject]:
    """The cluster-scoped objects an object needs to be restored (the AUTO rule), by the reference graph
    (``drkit.capture.references``): its Namespace; the CRD of a custom resource; the PV bound to a PVC;
    the StorageClass of a PVC, PV or StatefulSet claim template; the PriorityClass and RuntimeClass of a
    pod template; the IngressClass of an Ingress; the ClusterRole a (Cluster)RoleBinding refers to."""
    return {n.key for n in needs(resource.group, resource.resource, obj)}


def _names(resource: Resource) -> tuple[str, ...]:
    return (resource.resource.lower(), resource.qualified.lower())


def _matches(pattern: str, names: tuple[str, ...]) -> bool:
    pattern = pattern.lower()
    if is_glob(pattern):
        return any(fnmatch.fnmatchcase(n, pattern) for n in names)
    return pattern in names


def _any_match(patterns: Iterable[str], names: tuple[str, ...]) -> bool:
    return any(_matches(p, names) for p in patterns)


def _named_exactly(patterns: Iterable[str], names: tuple[str, ...]) -> bool:
    return any(not is_glob(p) and p.lower() in names for p in patterns)


def is_glob(pattern: str) -> bool:
    """Whether a pattern has glob characters (``*``, ``?``, ``[``)."""
    return any(c in _GLOB_CHARS for c in pattern)


def _patterns(values: Iterable[str], option: str) -> tuple[str, ...]:
    out: list[str] = []
    if isinstance(values, str):
        values = (values,)
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if not part:
                continue
            if "/" in part:
                raise ConfigError(f"{part!r}: a pattern has no '/'", field=option)
            out.append(part)
    return tuple(out)
