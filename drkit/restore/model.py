"""The restore data model shared by the planner (pure) and the applier (talks to the API server).

    plan = build_plan(objects, options, existing)      # drkit.restore.planner: RestorePlan
    report = apply_plan(kube, plan, timeouts=...)      # drkit.restore.applier: ApplyReport

A ``RestorePlan`` is an ordered tuple of ``Action``s (phase, then a stable key) plus what was not
restored and why. Bodies are the cleaned, mapped and patched JSON to apply. ``to_json`` never
includes the body of a Secret.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"
    FAIL = "fail"  # the object exists in the target and the policy is ``fail``


# Ordering buckets: CRDs first (waited Established), then what later objects refer to.
PHASE_CRDS = 0
PHASE_NAMESPACES = 1
PHASE_STORAGECLASSES = 2
PHASE_VOLUMES = 3
PHASE_SERVICEACCOUNTS = 4
PHASE_RBAC = 5
PHASE_SECRETS = 6
PHASE_CONFIGMAPS = 7
PHASE_LIMITS = 8
PHASE_SERVICES = 9
PHASE_WORKLOADS = 10
PHASE_OTHER = 11

PHASE_NAMES: dict[int, str] = {
    PHASE_CRDS: "crds",
    PHASE_NAMESPACES: "namespaces",
    PHASE_STORAGECLASSES: "storageclasses",
    PHASE_VOLUMES: "volumes",
    PHASE_SERVICEACCOUNTS: "serviceaccounts",
    PHASE_RBAC: "rbac",
    PHASE_SECRETS: "secrets",
    PHASE_CONFIGMAPS: "configmaps",
    PHASE_LIMITS: "limits",
    PHASE_SERVICES: "services",
    PHASE_WORKLOADS: "workloads",
    PHASE_OTHER: "other",
}

WAIT_ESTABLISHED = "established"
WAIT_AVAILABLE = "available"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An object's coordinates in the target (after namespace mapping). ``namespace`` is "" for a
    cluster-scoped object; ``group`` is "" for the core API group."""

    group: str
    version: str
    resource: str
    kind: str
    namespace: str
    name: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def collection_path(self) -> str:
        """The URL path of the object's collection (where a POST would go)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespace:
            base = f"{base}/namespaces/{self.namespace}"
        return f"{base}/{self.resource}"

    def api_path(self) -> str:
        """``/api/v1/namespaces/ns/configmaps/x`` or ``/apis/g/v/namespaces/ns/res/x``; cluster-scoped
        objects have no namespace segment."""
        return f"{self.collection_path()}/{self.name}"

    def display(self) -> str:
        """``deployments.apps/web in shop`` or ``namespaces/shop`` for a cluster-scoped object."""
        text = f"{self.qualified_resource}/{self.name}"
        return f"{text} in {self.namespace}" if self.namespace else text

    def to_json(self) -> dict[str, str]:
        return {
            "group": self.group,
            "version": self.version,
            "resource": self.resource,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


def is_secret(ref: ObjectRef) -> bool:
    return ref.group == "" and ref.resource == "secrets"


@dataclass(frozen=True)
class Action:
    ref: ObjectRef
    verb: Verb
    reason: str
    body: bytes  # the cleaned, mapped, patched JSON to apply (b"" for SKIP)
    phase: int  # ordering bucket, see PHASE_*
    source_path: str  # where it came from in the snapshot
    wait: str | None = None  # "established" (CRD), "available" (Deployment/StatefulSet), None
    status_body: bytes = b""  # includeStatus, custom resources: written through /status once it exists

    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest() if self.body else ""

    def to_json(self, *, bodies: bool = False) -> dict[str, Any]:
        """The action for machines. With ``bodies``, the object to apply is included, except for
        Secrets (only their digest, as for every object)."""
        out: dict[str, Any] = {
            "ref": self.ref.to_json(),
            "display": self.ref.display(),
            "verb": str(self.verb),
            "reason": self.reason,
            "phase": self.phase,
            "phaseName": PHASE_NAMES.get(self.phase, str(self.phase)),
            "sourcePath": self.source_path,
            "wait": self.wait,
            "bodySha256": self.body_sha256(),
            "writesStatus": bool(self.status_body),
        }
        if bodies and self.body and not is_secret(self.ref):
            out["body"] = json.loads(self.body)
        return out


@dataclass(frozen=True)
class RestorePlan:
    snapshot_id: str
    target: str
    actions: tuple[Action, ...]
    skipped: tuple[tuple[str, str], ...]  # (source path, why not restored)
    warnings: tuple[str, ...] = ()  # what the plan will not do that a reader may expect (selectors, ...)

    def counts(self) -> dict[str, int]:
        """How many actions of each verb, plus ``not-restored`` for the skipped snapshot objects."""
        out = {str(v): 0 for v in Verb}
        for a in self.actions:
            out[str(a.verb)] += 1
        out["not-restored"] = len(self.skipped)
        return out

    def to_json(self, *, bodies: bool = False) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot_id,
            "target": self.target,
            "counts": self.counts(),
            "actions": [a.to_json(bodies=bodies) for a in self.actions],
            "skipped": [{"sourcePath": p, "reason": r} for p, r in self.skipped],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ActionResult:
    action: Action
    ok: bool
    message: str
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.action.ref.to_json(),
            "display": self.action.ref.display(),
            "verb": str(self.action.verb),
            "ok": self.ok,
            "message": self.message,
            "durationS": round(self.duration_s, 6),
        }


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ActionResult, ...]
    waits: tuple[ActionResult, ...]
    duration_s: float

    @property
    def failed(self) -> list[ActionResult]:
        return [r for r in (*self.results, *self.waits) if not r.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "durationS": round(self.duration_s, 6),
            "results": [r.to_json() for r in self.results],
            "waits": [r.to_json() for r in self.waits],
            "failed": len(self.failed),
        }
