"""A fake of drkit's ``KubeClient`` (drkit's own interface, not the Kubernetes API): serves aggregated
discovery for a fixed set of resources and paged lists of in-memory objects, and can expire a
continue token once (410 Gone) to exercise the relist."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from drkit.kube.client import KubeClient, RawResponse, api_error
from drkit.kube.resource import Resource

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


class FakeKube:
    def __init__(self, resources: list[Resource], objects: Mapping[Resource, list[dict[str, Any]]]) -> None:
        self.resources = resources
        self.objects = {r: list(objects.get(r, [])) for r in resources}
        self.rv = 1000
        self.expire_continue_once = False
        self.forbidden: set[str] = set()  # qualified names whose lists answer 403
        self.requests: list[tuple[str, dict[str, str]]] = []

    def as_client(self) -> KubeClient:
        return cast(KubeClient, self)

    def request(
        self, verb: str, path: str, *, query: Mapping[str, str] | None = None, **_: Any
    ) -> RawResponse:
        self.requests.append((path, dict(query or {})))
        if path in ("/api", "/apis"):
            return RawResponse(200, AGGREGATED, json.dumps(self._discovery(core=path == "/api")).encode())
        return RawResponse(200, "application/json", self._list(path, dict(query or {})))

    def get_bytes(self, path: str, query: Mapping[str, str] | None = None, **_: Any) -> bytes:
        return self.request("GET", path, query=query).body

    def get_json(self, path: str, query: Mapping[str, str] | None = None, **_: Any) -> Any:
        return json.loads(self.get_bytes(path, query))

    def _discovery(self, *, core: bool) -> dict[str, Any]:
        groups: dict[str, list[Resource]] = {}
        for r in self.resources:
            if (r.group == "") == core:
                groups.setdefault(r.group, []).append(r)
        items = [
            {
                "metadata": {"name": group},
                "versions": [
                    {
                        "version": rs[0].version,
                        "resources": [
                            {
                                "resource": r.resource,
                                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                                "scope": "Namespaced" if r.namespaced else "Cluster",
                                "verbs": ["get", "list", "watch"],
                                "subresources": [{"subresource": "status", "verbs": ["get"]}],
                            }
                            for r in rs
                        ],
                    }
                ],
            }
            for group, rs in groups.items()
        ]
        return {"kind": "APIGroupDiscoveryList", "items": items}

    def _list(self, path: str, query: dict[str, str]) -> bytes:
        for r in self.resources:
            namespace = None
            if path == r.path():
                break
            parts = path.split("/")
            if r.namespaced and len(parts) > 3 and parts[-3] == "namespaces" and r.path(parts[-2]) == path:
                namespace = parts[-2]
                break
        else:
            raise api_error("GET", path, 404, b'{"kind":"Status","message":"the server could not find it"}')
        if r.qualified in self.forbidden:
            message = f'{r.resource} is forbidden: User "u" cannot list resource "{r.resource}"'
            raise api_error("GET", path, 403, json.dumps({"message": message}).encode())
        items = [
            o for o in self.objects[r] if namespace is None or o["metadata"].get("namespace") == namespace
        ]
        selector = query.get("labelSelector")
        if selector:
            key, _, value = selector.partition("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
        start = int(query.get("continue") or 0)
        if start and self.expire_continue_once:
            self.expire_continue_once = False
            self.rv += 1
            raise api_error("GET", path, 410, b'{"kind":"Status","reason":"Expired","message":"too old"}')
        limit = int(query.get("limit") or len(items) or 1)
        page = items[start : start + limit]
        more = start + limit < len(items)
        meta = {"resourceVersion": str(self.rv), **({"continue": str(start + limit)} if more else {})}
        # list items carry no apiVersion/kind, like the real API
        return json.dumps(
            {"kind": f"{r.kind}List", "apiVersion": r.group_version, "metadata": meta, "items": page}
        ).encode()
