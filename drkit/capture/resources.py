"""Capture of Kubernetes API objects as raw JSON: discovery, filters, paged lists.

    capture = capture_resources(kube, CaptureFilter.build(include_namespaces=["shop"]))
    for obj in capture:
        store(object_path(obj), obj.raw)  # one object = one blob: unchanged objects deduplicate
    capture.summary  # counts, list resourceVersions, skipped resources and why, errors

Namespaced resources come first, cluster-scoped ones last, so that under
``--include-cluster-resources=auto`` the cluster-scoped objects the namespaced ones need are known
when they are listed (see ``drkit.capture.filters.needed_cluster_objects``). One resource failing
(forbidden, a namespace gone, an aggregated API down) is recorded in ``summary.errors`` and the capture
goes on: the caller turns a non-empty error list into a partial result, never a silent gap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drkit.capture.controllermade import endpoints_made_by_controller, is_endpoints_kind, selector_services
from drkit.capture.filters import (
    CaptureFilter,
    ClusterResources,
    NeededObject,
    is_glob,
    needed_cluster_objects,
)
from drkit.capture.references import SERVING, serves
from drkit.errors import KubernetesError
from drkit.kube.errors import KubeAPIError
from drkit.kube.resource import Resource

if TYPE_CHECKING:  # the lists import the Kubernetes client (~0.5 s): loaded when a capture starts
    from drkit.kube.client import KubeClient
    from drkit.kube.lists import ListedItem

CLUSTER_DIR = "_cluster"  # namespaces are DNS labels: never "_cluster"
CORE_DIR = "core"

ProgressFn = Callable[[Resource, "str | None", int], None]
"""Called after each list: the resource, the namespace listed (None: all or cluster-scoped), objects kept."""


@dataclass(frozen=True)
class CapturedObject:
    group: str
    version: str
    resource: str
    kind: str
    namespace: str  # "" for a cluster-scoped object
    name: str
    resource_version: str
    raw: bytes  # canonical JSON (sorted keys, compact) with apiVersion and kind
    list_resource_version: str = ""  # the resourceVersion of the list it came from

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @classmethod
    def from_listed(cls, resource: Resource, item: ListedItem, list_resource_version: str) -> CapturedObject:
        return cls(
            group=resource.group,
            version=resource.version,
            resource=resource.resource,
            kind=resource.kind,
            namespace=item.namespace,
            name=item.name,
            resource_version=item.resource_version,
            raw=item.raw,
            list_resource_version=list_resource_version,
        )


def check_segment(value: str, what: str) -> str:
    """``value`` if it is usable as one path segment, else a ``KubernetesError``. The API server
    refuses such names; meeting one means a broken or hostile server, so it is not stored."""
    if value in ("", ".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise KubernetesError(f"refusing an object whose {what} is not a safe path segment: {value!r}")
    return value


def object_path(obj: CapturedObject) -> str:
    """Where the object lives inside a snapshot:
    ``resources/<group or core>/<version>/<resource>/<namespace or _cluster>/<name>.json``."""
    group = check_segment(obj.group, "group") if obj.group else CORE_DIR
    namespace = check_segment(obj.namespace, "namespace") if obj.namespace else CLUSTER_DIR
    return "/".join(
        (
            "resources",
            group,
            check_segment(obj.version, "version"),
            check_segment(obj.resource, "resource"),
            namespace,
            f"{check_segment(obj.name, 'name')}.json",
        )
    )


@dataclass(frozen=True)
class CaptureError:
    resource: str  # "deployments.apps", or a group-version for discovery failures
    namespace: str | None
    message: str
    status: int | None = None

    def __str__(self) -> str:
        where = f"{self.resource} in namespace {self.namespace}" if self.namespace else self.resource
        return f"{where}: {self.message}"


@dataclass
class CaptureSummary:
    counts: dict[str, int] = field(default_factory=dict)  # qualified resource -> objects captured
    list_resource_versions: dict[str, str] = field(default_factory=dict)  # "res" or "res@ns" -> RV
    skipped: dict[str, str] = field(default_factory=dict)  # qualified resource -> why
    # objects left out one by one because a controller makes them: reason -> how many
    controller_made: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, list[str]] = field(default_factory=dict)  # auto: cluster-scoped objects not captured
    errors: list[CaptureError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a namespace selector that chose nothing, ...
    objects: int = 0
    bytes: int = 0
    aggregated_discovery: bool = False

    @property
    def partial(self) -> bool:
        return bool(self.errors)


class ResourceCapture:
    """An iterator of ``CapturedObject``; ``summary`` is complete once it is exhausted."""

    def __init__(self, client: KubeClient, capture_filter: CaptureFilter, progress: ProgressFn | None = None):
        self.client = client
        self.filter = capture_filter
        self.progress = progress
        self.summary = CaptureSummary()
        self._needed: set[NeededObject] = set()
        self._selector_services: set[tuple[str, str]] = set()
        self._namespaces: set[str] = set()  # of the namespaced objects captured
        self._namespaces_included: dict[str, bool] = {}
        self._iter = self._run()

    def __iter__(self) -> Iterator[CapturedObject]:
        return self

    def __next__(self) -> CapturedObject:
        return next(self._iter)

    def _run(self) -> Iterator[CapturedObject]:
        from drkit.kube.discovery import discover

        found = discover(self.client)
        summary = self.summary
        summary.aggregated_discovery = found.aggregated
        for failure in found.failures:
            summary.errors.append(CaptureError(failure.group_version, None, f"discovery: {failure.reason}"))
        included: list[Resource] = []
        for resource in found.resources:
            decision = self.filter.resource_decision(resource)
            if decision.include:
                included.append(resource)
            else:
                summary.skipped[resource.qualified] = decision.reason
        scopes = self._namespace_scopes()
        # Services before Endpoints and EndpointSlices: which of those a controller makes depends on them
        namespaced = sorted(
            (r for r in included if r.namespaced), key=lambda r: is_endpoints_kind(r.group, r.resource)
        )
        before = summary.objects
        for resource in namespaced:
            for namespace in scopes:
                yield from self._list(resource, namespace, self.filter.label_selector, names=None)
        if self.filter.label_selector and scopes and summary.objects == before:
            summary.warnings.append(
                f"the label selector {self.filter.label_selector!r} matched no namespaced object: it "
                "selects objects by their own labels; to choose namespaces by their labels, use "
                "--namespace-selector (spec.resources.namespaceSelector)"
            )
        # Kinds that serve namespaces first (their needs, e.g. a binding's ClusterRole, must be known
        # before those kinds are listed), then PersistentVolumes (their StorageClasses), then the rest.
        cluster = sorted(
            (r for r in included if not r.namespaced),
            key=lambda r: (
                0 if (r.group, r.resource) in SERVING else 1 if r.qualified == "persistentvolumes" else 2
            ),
        )
        for resource in cluster:
            if self.filter.all_cluster_objects():
                yield from self._list(resource, None, self.filter.label_selector, names=None)
                continue
            names = {n for g, p, n in self._needed if (g, p) == (resource.group, resource.resource)}
            if (resource.group, resource.resource) in SERVING:
                yield from self._list(resource, None, None, names=names, serving=self._namespaces)
            elif names:  # the selector does not apply: a bound PV is needed whatever its labels
                yield from self._list(resource, None, None, names=names)
            else:
                summary.skipped[resource.qualified] = (
                    "cluster-scoped: with --include-cluster-resources=auto only the objects that the "
                    "selected namespaces need are captured, and none is"
                )
                self._note_left_out(resource)

    def _controller_made(self, resource: Resource, item: ListedItem) -> bool:
        """Endpoints and EndpointSlices a controller makes are left out (and counted); Services are
        noted on the way (which have a selector)."""
        if (resource.group, resource.resource) == ("", "services"):
            self._selector_services |= selector_services([item.obj])
            return False
        if not is_endpoints_kind(resource.group, resource.resource):
            return False
        why = endpoints_made_by_controller(
            resource.group, resource.resource, item.obj, self._selector_services
        )
        if why is None:
            return False
        counted = f"{resource.qualified} {why}"
        self.summary.controller_made[counted] = self.summary.controller_made.get(counted, 0) + 1
        return True

    @staticmethod
    def _wanted(
        resource: Resource, item: ListedItem, names: set[str] | None, serving: set[str] | None
    ) -> bool:
        """Under auto: named by what the captured objects need, or serving one of their namespaces."""
        if names is None or item.name in names:
            return True
        return bool(serving) and serves(resource.group, resource.resource, item.obj, serving or ())

    def _note_left_out(self, resource: Resource) -> None:
        """Under auto, the names of a cluster-scoped resource's objects that nothing selected needs
        (so that the output can say what was left out). Best effort: an identity that may not list
        them (namespace-bound) just leaves the names unknown."""
        try:
            from drkit.kube.lists import ListPager

            names = [item.name for item in ListPager(self.client, resource)]
        except KubeAPIError:
            return
        if names:
            self.summary.left_out[resource.qualified] = sorted(names)

    def _namespace_included(self, namespace: str) -> bool:
        """The filter's answer for ``namespace``, asked once per namespace (globs are not cheap)."""
        known = self._namespaces_included.get(namespace)
        if known is None:
            known = self._namespaces_included[namespace] = self.filter.namespace_included(namespace)
        return known

    def _namespace_scopes(self) -> list[str | None]:
        """``[None]`` (one list across all namespaces, filtered here) unless namespaces are included
        by name or glob: then one list per matching namespace (globs are matched against the list of
        namespaces)."""
        chosen = self.filter.namespace_selector
        if chosen is not None:
            doc = self.client.get_json("/api/v1/namespaces", query={"labelSelector": chosen})
            names = sorted(str((ns.get("metadata") or {}).get("name")) for ns in doc.get("items") or [])
            scopes: list[str | None] = [n for n in names if self.filter.namespace_included(n)]
            if not scopes:
                self.summary.warnings.append(
                    f"the namespace selector {chosen!r} matched no namespace"
                    + (" that the namespace patterns include" if names else "")
                    + ": no namespaced object is captured"
                )
            return scopes
        if self.filter.whole_cluster:
            return [None]
        if not any(is_glob(p) for p in self.filter.include_namespaces):
            # named namespaces need no list of namespaces (which a namespace-bound identity may not read)
            return [
                n for n in dict.fromkeys(self.filter.include_namespaces) if self.filter.namespace_included(n)
            ]
        doc = self.client.get_json("/api/v1/namespaces")
        names = sorted(str((ns.get("metadata") or {}).get("name")) for ns in doc.get("items") or [])
        return [n for n in names if self.filter.namespace_included(n)]

    def _list(
        self,
        resource: Resource,
        namespace: str | None,
        selector: str | None,
        names: set[str] | None,
        serving: set[str] | None = None,
    ) -> Iterator[CapturedObject]:
        """One resource's objects; ``names``: only these (or, with ``serving``, those that serve one of
        these namespaces)."""
        from drkit.kube.lists import ListPager

        pager = ListPager(self.client, resource, namespace=namespace, label_selector=selector)
        kept = 0
        key = resource.qualified if namespace is None else f"{resource.qualified}@{namespace}"
        summary = self.summary
        summary.counts.setdefault(resource.qualified, 0)
        # what the AUTO rule needs: not when every cluster-scoped object is captured, or none is
        track_needed = not self.filter.all_cluster_objects() and (
            self.filter.include_cluster_resources is not ClusterResources.FALSE
        )
        included = self._namespace_included
        try:
            for item in pager:
                if not self._wanted(resource, item, names, serving):
                    summary.left_out.setdefault(resource.qualified, []).append(item.name)
                    continue
                if resource.namespaced and not included(item.namespace):
                    continue
                if self._controller_made(resource, item):
                    continue
                obj = CapturedObject.from_listed(resource, item, pager.resource_version)
                try:
                    object_path(obj)
                except KubernetesError as exc:
                    summary.errors.append(CaptureError(resource.qualified, item.namespace or None, str(exc)))
                    continue
                if track_needed:
                    self._needed |= needed_cluster_objects(resource, item.obj)
                    if item.namespace:
                        self._namespaces.add(item.namespace)
                kept += 1
                summary.counts[resource.qualified] += 1
                summary.objects += 1
                summary.bytes += len(obj.raw)
                yield obj
        except KubeAPIError as exc:
            summary.errors.append(CaptureError(resource.qualified, namespace, str(exc), exc.status))
        finally:
            if pager.resource_version:
                summary.list_resource_versions[key] = pager.resource_version
        if self.progress is not None:
            self.progress(resource, namespace, kept)


def capture_resources(
    client: KubeClient, capture_filter: CaptureFilter, progress: ProgressFn | None = None
) -> ResourceCapture:
    """Every object the filter selects, as raw JSON, one at a time (see ``ResourceCapture``)."""
    return ResourceCapture(client, capture_filter, progress)
