"""Discovery: every served resource that can be listed, at its group's preferred version.

Aggregated discovery (``apidiscovery.k8s.io/v2``, Kubernetes 1.30+) answers in two requests (``/api``
and ``/apis``); older servers get the classic walk (``/api``, ``/apis``, then one request per
group-version). A group that fails (an aggregated API whose backend is down answers 503, or is
marked ``Stale``) is reported in ``Discovery.failures`` and does not stop the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeAPIError, KubeForbidden
from drkit.kube.resource import Resource

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@dataclass(frozen=True)
class DiscoveryFailure:
    group_version: str  # "metrics.k8s.io/v1beta1", or the group alone when no version is known
    reason: str


@dataclass
class Discovery:
    resources: list[Resource] = field(default_factory=list)
    failures: list[DiscoveryFailure] = field(default_factory=list)
    aggregated: bool = False  # True when the server answered with aggregated discovery

    def find(self, group: str, resource: str) -> Resource | None:
        for r in self.resources:
            if r.group == group and r.resource == resource:
                return r
        return None


def discover(client: KubeClient, *, aggregated: bool = True) -> Discovery:
    """Every resource with the ``list`` verb, at its group's preferred version, subresources excluded,
    sorted by (group, resource). ``aggregated=False`` forces the classic walk. Raises ``KubeAPIError``
    only when ``/api`` or ``/apis`` themselves fail."""
    core = client.request("GET", "/api", accept=AGGREGATED_ACCEPT if aggregated else "application/json")
    if aggregated and _is_aggregated(core.content_type):
        apis = client.request("GET", "/apis", accept=AGGREGATED_ACCEPT)
        result = Discovery(aggregated=True)
        for doc in (_loads(core.body), _loads(apis.body)):
            _read_aggregated(doc, result)
    else:
        result = _classic(client, _loads(core.body))
    result.resources.sort(key=lambda r: (r.group, r.resource))
    return result


def _is_aggregated(content_type: str) -> bool:
    return "as=APIGroupDiscoveryList" in content_type.replace(" ", "")


def _loads(body: bytes) -> Any:
    return json.loads(body)


def _read_aggregated(doc: Mapping[str, Any], into: Discovery) -> None:
    """An ``APIGroupDiscoveryList``: its groups' versions come in order of preference, first preferred."""
    for group_doc in doc.get("items") or []:
        group = str((group_doc.get("metadata") or {}).get("name") or "")
        versions = group_doc.get("versions") or []
        if not versions:
            continue
        preferred = versions[0]
        version = str(preferred.get("version"))
        gv = f"{group}/{version}" if group else version
        if preferred.get("freshness") == "Stale":
            into.failures.append(
                DiscoveryFailure(gv, "stale: the aggregated API server did not answer discovery")
            )
            continue
        for res in preferred.get("resources") or []:
            response_kind = res.get("responseKind") or {}
            r = _resource(
                group,
                version,
                str(res.get("resource") or ""),
                str(response_kind.get("kind") or ""),
                namespaced=res.get("scope") == "Namespaced",
                verbs=res.get("verbs") or (),
            )
            if r is not None:
                into.resources.append(r)


def _classic(client: KubeClient, core: Mapping[str, Any]) -> Discovery:
    result = Discovery(aggregated=False)
    group_versions: list[tuple[str, str]] = [("", str(v)) for v in (core.get("versions") or ["v1"])[:1]]
    for group_doc in client.get_json("/apis").get("groups") or []:
        name = str(group_doc.get("name") or "")
        preferred = (group_doc.get("preferredVersion") or {}).get("version")
        if not preferred and group_doc.get("versions"):
            preferred = group_doc["versions"][0].get("version")
        if preferred:
            group_versions.append((name, str(preferred)))
    for group, version in group_versions:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        gv = f"{group}/{version}" if group else version
        try:
            doc = client.get_json(path)
        except KubeForbidden:
            raise
        except KubeAPIError as exc:
            result.failures.append(DiscoveryFailure(gv, str(exc)))
            continue
        for res in doc.get("resources") or []:
            r = _resource(
                group,
                version,
                str(res.get("name") or ""),
                str(res.get("kind") or ""),
                namespaced=bool(res.get("namespaced")),
                verbs=res.get("verbs") or (),
            )
            if r is not None:
                result.resources.append(r)
    return result


def _resource(
    group: str, version: str, plural: str, kind: str, *, namespaced: bool, verbs: Iterable[Any]
) -> Resource | None:
    """A listable top-level resource, or None (a subresource such as ``pods/log``, or no ``list``)."""
    verb_tuple = tuple(sorted(str(v) for v in verbs))
    if not plural or "/" in plural or "list" not in verb_tuple:
        return None
    return Resource(group, version, plural, kind, namespaced, verb_tuple)
