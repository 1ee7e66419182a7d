"""A fake of drkit's own ``Requester`` interface (``KubeClient.request``): an in-memory API server with
just enough behaviour for the applier and the waits: server-side apply and POST, GET of objects and
of metadata lists, 404 for unknown namespaces and unserved groups, 409 and 422, scripted status."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from drkit.kube.client import JSON, RawResponse, api_error

StatusHook = Callable[[str, dict[str, Any], int], None]  # (path, object, how many GETs of it so far)


def status_body(status: int, reason: str, message: str) -> bytes:
    doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message}
    return json.dumps({**doc, "code": status}).encode()


@dataclass
class Call:
    verb: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class FakeClock:
    now_s: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += max(seconds, 0.001)


@dataclass
class FakeApi:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    unserved_groups: set[str] = field(default_factory=set)
    conflicts: set[str] = field(default_factory=set)  # paths whose apply conflicts unless forced
    failures: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first
    hooks: list[StatusHook] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    gets: dict[str, int] = field(default_factory=dict)

    def add(self, path: str, obj: dict[str, Any]) -> None:
        self.objects[path] = obj

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb in ("PATCH", "POST")]

    # --- the Requester interface ---------------------------------------------------------------

    def request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        accept: str = JSON,
        content_type: str = JSON,
    ) -> RawResponse:
        q = dict(query or {})
        self.calls.append(Call(verb, path, q, content_type, json.loads(body) if body else None))
        pending = self.failures.get(path)
        if pending:
            status = pending.pop(0)
            raise api_error(verb, path, status, status_body(status, "ServiceUnavailable", "try later"))
        self._served(verb, path)
        if verb == "GET":
            return self._get(path, q)
        if verb == "PATCH":
            return self._apply(path, q, content_type, body or b"")
        if verb == "POST":
            return self._create(path, body or b"")
        raise AssertionError(f"unexpected {verb}")

    # --- behaviour -----------------------------------------------------------------------------

    def _served(self, verb: str, path: str) -> None:
        parts = path.split("/")
        if parts[1] == "apis" and parts[2] in self.unserved_groups:
            raise api_error(
                verb,
                path,
                404,
                status_body(404, "NotFound", "the server could not find the requested resource"),
            )
        if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
            i = parts.index("namespaces")
            ns = unquote(parts[i + 1])
            if f"/api/v1/namespaces/{ns}" not in self.objects:
                raise api_error(verb, path, 404, status_body(404, "NotFound", f'namespaces "{ns}" not found'))

    def _get(self, path: str, query: dict[str, str]) -> RawResponse:
        if path in self.objects:
            self.gets[path] = self.gets.get(path, 0) + 1
            obj = self.objects[path]
            for hook in self.hooks:
                hook(path, obj, self.gets[path])
            return RawResponse(200, JSON, json.dumps(obj).encode())
        prefix = path + "/"
        items = [
            {"metadata": o["metadata"]}
            for p, o in sorted(self.objects.items())
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        ]
        if items or path.rsplit("/", 1)[-1] in _COLLECTIONS:
            return RawResponse(200, JSON, json.dumps({"items": items, "metadata": {}}).encode())
        raise api_error("GET", path, 404, status_body(404, "NotFound", f"{path} not found"))

    def _apply(self, path: str, query: dict[str, str], content_type: str, body: bytes) -> RawResponse:
        assert content_type == "application/apply-patch+yaml", content_type
        assert query.get("fieldManager") == "drkit", query
        obj = json.loads(body)
        if path in self.conflicts and query.get("force") != "true":
            message = 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.mode'
            raise api_error("PATCH", path, 409, status_body(409, "Conflict", message))
        self._validate("PATCH", path, obj)
        old = self.objects.get(path)
        generation = int((old or {}).get("metadata", {}).get("generation", 0)) + 1
        obj.setdefault("metadata", {})["generation"] = generation
        if old and "status" in old:
            obj["status"] = old["status"]
        self.objects[path] = obj
        return RawResponse(200 if old else 201, JSON, json.dumps(obj).encode())

    def _create(self, collection: str, body: bytes) -> RawResponse:
        obj = json.loads(body)
        path = f"{collection}/{obj['metadata']['name']}"
        if path in self.objects:
            message = f'{obj["kind"]} "{obj["metadata"]["name"]}" already exists'
            raise api_error("POST", collection, 409, status_body(409, "AlreadyExists", message))
        self._validate("POST", collection, obj)
        obj["metadata"]["generation"] = 1
        self.objects[path] = obj
        return RawResponse(201, JSON, json.dumps(obj).encode())

    def _validate(self, verb: str, path: str, obj: dict[str, Any]) -> None:
        replicas = (obj.get("spec") or {}).get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            name = obj["metadata"]["name"]
            message = (
                f'{obj["kind"]}.apps "{name}" is invalid: [spec.replicas: Invalid value: {replicas}: must be'
                " greater than or equal to 0, spec.template.metadata.labels: Invalid value:"
                " map[string]string(nil): `selector` does not match template `labels`]"
            )
            raise api_error(verb, path, 422, status_body(422, "Invalid", message))


_COLLECTIONS = {"configmaps", "secrets", "deployments", "namespaces", "gadgets", "services"}
