"""Fakes of drkit's own interfaces for drill unit tests: a Kubernetes ``Requester`` over a dict of
objects, a snapshot's files, a clock, scratch clusters and restorers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from drkit.drill.checks import VolumeFiles, resolver
from drkit.drill.result import RestoreSummary
from drkit.drill.runner import RestoreOutcome
from drkit.kube.apply import Requester
from drkit.kube.client import JSON, RawResponse, api_error
from drkit.kube.resource import Resource

RESOURCES = [
    Resource("", "v1", "configmaps", "ConfigMap", True),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "services", "Service", True),
    Resource("", "v1", "namespaces", "Namespace", False),
    Resource("apps", "v1", "deployments", "Deployment", True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True),
    Resource("apps", "v1", "deployments/scale", "Scale", True),
    Resource("example.com", "v1", "widgets", "Widget", True),
]
RESOLVE = resolver(RESOURCES)
PLURALS = {r.resource for r in RESOURCES}


class FakeKube:
    """GET of objects and collections by path; ``answers`` for other paths (the service proxy)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.calls: list[tuple[str, str, dict[str, str] | None]] = []

    def put(self, path: str, obj: dict[str, Any]) -> None:
        self.objects[path] = obj

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
        self.calls.append((verb, path, dict(query) if query else None))
        if path in self.answers:
            status, data = self.answers[path]
            if status >= 400:
                raise api_error(verb, path, status, data)
            return RawResponse(status, "text/plain", data)
        if path in self.objects:
            return RawResponse(200, JSON, json.dumps(self.objects[path]).encode())
        prefix = path + "/"
        items = [
            o
            for p, o in self.objects.items()
            if p.startswith(prefix) and "/" not in p[len(prefix) :] and _selected(o, query)
        ]
        if path.rsplit("/", 1)[-1] in PLURALS:
            return RawResponse(200, JSON, json.dumps({"items": items}).encode())
        raise api_error(verb, path, 404, b'{"kind": "Status", "message": "not found", "reason": "NotFound"}')


def _selected(obj: Mapping[str, Any], query: Mapping[str, str] | None) -> bool:
    if not query or "labelSelector" not in query:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    key, _, value = query["labelSelector"].partition("=")
    return bool(labels.get(key) == value)


class FakeFiles:
    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = dict(files)

    def exists(self, path: str) -> bool:
        return path in self.files

    def read_bytes(self, path: str) -> bytes:
        return self.files[path]


class FakeVolumes:
    def __init__(self, files: Mapping[tuple[str, str, str], bytes]) -> None:
        self.files = dict(files)

    def read_file(self, namespace: str, pvc: str, path: str) -> bytes | None:
        return self.files.get((namespace, pvc, path))


class Clock:
    """Monotonic time that moves only when slept or ticked."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@dataclass
class FakeScratch:
    """A scratch cluster whose ``up`` and ``down`` take fixed times on a :class:`Clock`."""

    clock: Clock
    up_s: float = 10.0
    down_s: float = 2.0
    fail_up: Exception | None = None
    prefix: str = ""
    provider: str = "fake"
    context: str | None = None
    service_proxy: bool = True
    service_proxy_reason: str = ""
    volumes: VolumeFiles | None = None
    kubeconfig: Path | None = None
    id: str = "f00dcafe"
    events: list[str] = field(default_factory=list)

    def up(self) -> Path:
        self.events.append("up")
        self.clock.t += self.up_s
        if self.fail_up is not None:
            raise self.fail_up
        self.kubeconfig = Path("/nonexistent/kubeconfig")
        return self.kubeconfig

    def down(self) -> None:
        self.events.append("down")
        self.clock.t += self.down_s

    def namespace_map(self, namespaces: Sequence[str]) -> dict[str, str]:
        return {ns: f"{self.prefix}{ns}" for ns in namespaces}

    def describe(self) -> dict[str, Any]:
        return {"provider": self.provider, "id": self.id, "server": "https://fake"}

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()


@dataclass
class FakeTarget:
    kube: Requester
    closed: bool = False

    def resolve(self, kind: str, api_version: str | None) -> Resource:
        return RESOLVE(kind, api_version)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeRestorer:
    """Takes ``total_s`` of which ``ready_s`` waiting; remembers the mapping it was given."""

    clock: Clock
    total_s: float = 30.0
    ready_s: float = 12.0
    failures: tuple[str, ...] = ()
    raises: BaseException | None = None
    mappings: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, kube: Requester, namespace_map: Mapping[str, str]) -> RestoreOutcome:
        self.mappings.append(dict(namespace_map))
        self.clock.t += self.total_s
        if self.raises is not None:
            raise self.raises
        return RestoreOutcome(RestoreSummary({"create": 5}, 5, self.failures, 1), self.ready_s)
