"""Kubernetes Events for what an operator must see: failed runs, and a job that passed after failing.

Events go on one stable object, so that ``kubectl get events`` and event exporters find them across
pod restarts: the daemon's leader-election Lease (``coordination.k8s.io/v1``), else its own Pod
(``$POD_NAME`` in ``$POD_NAMESPACE``). Each is a ``core/v1`` Event created in that object's namespace
(RBAC: ``create`` on ``events`` there, nothing more: an Event is never updated or deleted).

Reasons: ``BackupFailed``, ``BackupPartial``, ``PruneFailed``, ``VerifyFailed``, ``DrillFailed``
(Warning) and ``BackupRecovered``, ``VerifyRecovered``, ``DrillPassed`` (Normal, the first success
after a failure). Messages are the run's described error (URLs without credentials, ``Secret``
values masked), at most 1024 characters.

Events are sent from a background thread; one that cannot be created is logged as a warning and
never fails a run.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger("drkit.daemon.events")

COMPONENT = "drkit-daemon"
REPORTING_CONTROLLER = "drkit.io/daemon"
MAX_MESSAGE = 1024
NORMAL = "Normal"
WARNING = "Warning"


class JsonAPI(Protocol):
    """What the recorder needs of a Kubernetes client (``drkit.kube.client.KubeClient`` has it)."""

    def get_json(self, path: str) -> Any: ...

    def send_json(self, verb: str, path: str, body: Any) -> Any: ...


@dataclass(frozen=True)
class EventTarget:
    """The object Events are about: ``api_version``, ``kind``, ``namespace``, ``name``."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def lease(cls, namespace: str, name: str) -> EventTarget:
        return cls("coordination.k8s.io/v1", "Lease", namespace, name)

    @classmethod
    def pod(cls, namespace: str, name: str) -> EventTarget:
        return cls("v1", "Pod", namespace, name)

    @property
    def path(self) -> str:
        if self.api_version == "v1":
            return f"/api/v1/namespaces/{self.namespace}/{self.kind.lower()}s/{self.name}"
        return f"/apis/{self.api_version}/namespaces/{self.namespace}/{self.kind.lower()}s/{self.name}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventSink(Protocol):
    def emit(self, type_: str, reason: str, message: str) -> None: ...


class EventRecorder:
    """Creates Events about ``target`` as ``identity`` (the replica's name)."""

    def __init__(self, api: JsonAPI, target: EventTarget, identity: str) -> None:
        self.api = api
        self.target = target
        self.identity = identity
        self._uid: str | None = None
        self._lock = threading.Lock()

    def _involved(self) -> dict[str, Any]:
        t = self.target
        ref: dict[str, Any] = {"apiVersion": t.api_version, "kind": t.kind, "namespace": t.namespace}
        ref["name"] = t.name
        if self._uid is None:
            try:  # the uid lets `kubectl describe` find the events; without it they still list
                self._uid = str(self.api.get_json(t.path)["metadata"]["uid"])
            except Exception as exc:  # noqa: BLE001 - best effort
                log.debug("no uid for %s/%s: %s", t.kind, t.name, exc)
        if self._uid:
            ref["uid"] = self._uid
        return ref

    def event(self, type_: str, reason: str, message: str) -> dict[str, Any]:
        """The Event object (core/v1) for ``reason``."""
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        now = _now()
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.target.name}.{time.time_ns():x}{secrets.token_hex(2)}",
                "namespace": self.target.namespace,
                "labels": {"app.kubernetes.io/name": "drkit"},
            },
            "involvedObject": self._involved(),
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT, "host": self.identity},
            "reportingComponent": REPORTING_CONTROLLER,
            "reportingInstance": self.identity,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

    def send(self, type_: str, reason: str, message: str) -> dict[str, Any]:
        """Create the Event now (raises what the client raises)."""
        with self._lock:
            body = self.event(type_, reason, message)
        path = f"/api/v1/namespaces/{self.target.namespace}/events"
        answer: dict[str, Any] = self.api.send_json("POST", path, body)
        return answer

    def emit(self, type_: str, reason: str, message: str) -> None:
        """Create the Event in a background thread; a failure is logged, never raised."""

        def work() -> None:
            try:
                self.send(type_, reason, message)
            except Exception as exc:  # noqa: BLE001 - an Event never fails a run
                log.warning(
                    "event %s not created on %s/%s: %s", reason, self.target.kind, self.target.name, exc
                )

        threading.Thread(target=work, name="drkit-event", daemon=True).start()


_FAILED = {"backup": "BackupFailed", "verify": "VerifyFailed", "drill": "DrillFailed"}
_RECOVERED = {"backup": "BackupRecovered", "verify": "VerifyRecovered", "drill": "DrillPassed"}


def failed_reason(job: str) -> str:
    return _FAILED[job]


def recovered_reason(job: str) -> str:
    return _RECOVERED[job]
