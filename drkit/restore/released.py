"""Claims that cannot bind: a restore in place over Retained, Released PersistentVolumes.

When a namespace is deleted, its claims go and their Retain PersistentVolumes become ``Released``:
they keep ``spec.claimRef`` with the **uid** of the deleted claim. A restore that creates the claim
again (same namespace and name, ``spec.volumeName`` set to that PV) gets a new uid, so the volume
controller never binds it: the claim stays ``Pending`` for ever.

    stuck = find_released(kube, plan)        # which planned claims are in that case (asks the target)
    rebind_released(kube, stuck)             # the fix, on request: drop the stale uid (and only that)

The fix is safe only for a PV whose ``claimRef`` names exactly the claim being restored: it was that
claim's volume, and its data is what the claim had. ``rebind_released`` removes ``claimRef.uid`` and
``claimRef.resourceVersion`` with a JSON patch that first tests the uid it expects, so a PV changed in
between is left alone. The volume controller then binds the PV to the new claim of that name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from drkit.errors import KubernetesError
from drkit.kube.apply import Requester, get
from drkit.kube.errors import KubeAPIError
from drkit.restore.model import RestorePlan, Verb

REBIND_OPTION = "--rebind-released"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class ReleasedVolume:
    """A planned claim whose PersistentVolume is Released with a claimRef to the deleted claim."""

    namespace: str
    claim: str
    pv: str
    stale_uid: str
    resource_version: str = ""  # the claimRef's, removed with the uid when present

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.claim}"

    def cause(self) -> str:
        return (
            f"claim {self.key} cannot bind: its PersistentVolume {self.pv} is Released and its claimRef "
            f"still names the deleted claim (uid {self.stale_uid}), so the claim would stay Pending"
        )

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "claim": self.claim, "pv": self.pv, "staleUid": self.stale_uid}


REBIND_HINT = (
    f"restore with {REBIND_OPTION}: it drops the stale uid from those PVs' claimRef (only PVs whose "
    "claimRef names the very claim being restored), and the volume controller binds each to its new claim"
)


def find_released(kube: Requester, plan: RestorePlan) -> list[ReleasedVolume]:
    """The claims ``plan`` creates whose ``spec.volumeName`` is a Released PV in the target whose
    ``claimRef`` names that claim (namespace and name) with another uid."""
    found: list[ReleasedVolume] = []
    for action in plan.actions:
        ref = action.ref
        if action.verb is not Verb.CREATE or ref.group != "" or ref.resource != "persistentvolumeclaims":
            continue
        try:
            body = json.loads(action.body)
        except ValueError:
            continue
        pv_name = ((body.get("spec") or {}) if isinstance(body, dict) else {}).get("volumeName")
        if not pv_name:
            continue
        try:
            pv = get(kube, f"/api/v1/persistentvolumes/{pv_name}")
        except KubeAPIError:  # e.g. a namespace-bound restore identity may not read PVs: cannot tell
            continue
        if pv is None:
            continue
        claim_ref = (pv.get("spec") or {}).get("claimRef") or {}
        phase = (pv.get("status") or {}).get("phase")
        if (
            phase == "Released"
            and claim_ref.get("namespace") == ref.namespace
            and claim_ref.get("name") == ref.name
            and claim_ref.get("uid")
        ):
            found.append(
                ReleasedVolume(
                    ref.namespace,
                    ref.name,
                    str(pv_name),
                    str(claim_ref["uid"]),
                    str(claim_ref.get("resourceVersion") or ""),
                )
            )
    return found


def rebind_released(kube: Requester, volumes: list[ReleasedVolume]) -> None:
    """Drop the stale ``claimRef.uid`` (and ``resourceVersion``) of each PV, tested first."""
    for v in volumes:
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/spec/claimRef/uid", "value": v.stale_uid},
            {"op": "remove", "path": "/spec/claimRef/uid"},
        ]
        if v.resource_version:
            ops.append({"op": "remove", "path": "/spec/claimRef/resourceVersion"})
        try:
            kube.request(
                "PATCH",
                f"/api/v1/persistentvolumes/{v.pv}",
                body=json.dumps(ops).encode(),
                content_type=JSON_PATCH,
            )
        except KubeAPIError as exc:
            raise KubernetesError(
                f"could not re-bind PersistentVolume {v.pv} to claim {v.key}: {exc}",
                hint="it changed since the plan was made (the test of its claimRef uid failed) or this "
                "identity may not patch PersistentVolumes; nothing else was changed",
            ) from exc
