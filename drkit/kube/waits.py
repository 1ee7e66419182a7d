"""Waiting for objects to become ready: a CRD Established, a Namespace Active, a Deployment Available,
a StatefulSet ready, a Job complete.

A wait polls ``GET`` of the object every ``interval`` seconds until its condition holds, it can
never hold (a Job that failed, a Namespace being deleted), or ``timeout`` passes. A timeout is a
result, not an exception: :class:`WaitResult` says what was last seen. Several waits run together
with :func:`wait_all` (one poll round for all of them per interval).

    [result] = wait_all(kube, [Wait("web available", object_path("apps", "v1", "deployments", "shop",
                                    "web"), deployment_available, 300)])
    result.ok, result.message   # False, "1 of 2 replicas available (observedGeneration 2 of 2)"
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drkit.kube.apply import Requester, get
from drkit.kube.errors import KubeAPIError

DEFAULT_INTERVAL = 1.0


@dataclass(frozen=True)
class Check:
    """One look at an object: ``done`` (the condition holds), ``final`` (it never will), and why."""

    done: bool
    message: str
    final: bool = False


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type"):
            out[str(c["type"])] = c
    return out


def _true(obj: Mapping[str, Any], kind: str) -> bool:
    return str(_conditions(obj).get(kind, {}).get("status")) == "True"


def _said(obj: Mapping[str, Any], kind: str) -> str:
    c = _conditions(obj).get(kind)
    if not c:
        return ""
    return f"{kind}={c.get('status')}" + (
        f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") else ""
    )


def _generation(obj: Mapping[str, Any]) -> tuple[int, int]:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return int(status.get("observedGeneration") or 0), int(meta.get("generation") or 0)


def crd_established(obj: Mapping[str, Any]) -> Check:
    if _true(obj, "Established"):
        return Check(True, "Established")
    if str(_conditions(obj).get("NamesAccepted", {}).get("status")) == "False":
        return Check(False, _said(obj, "NamesAccepted"), final=True)
    return Check(False, _said(obj, "Established") or "not Established yet")


def namespace_active(obj: Mapping[str, Any]) -> Check:
    phase = str((obj.get("status") or {}).get("phase") or "")
    if phase == "Active":
        return Check(True, "Active")
    if phase == "Terminating":
        return Check(False, "Terminating: the namespace is being deleted", final=True)
    return Check(False, f"phase {phase or 'unknown'}")


def deployment_available(obj: Mapping[str, Any]) -> Check:
    """Rolled out: the controller saw this generation, every replica is updated and available."""
    observed, generation = _generation(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    available = int(status.get("availableReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    what = (
        f"{available} of {want} replicas available, {updated} updated"
        f" (observedGeneration {observed} of {generation})"
    )
    if str(_conditions(obj).get("Progressing", {}).get("reason")) == "ProgressDeadlineExceeded":
        return Check(False, f"{what}; {_said(obj, 'Progressing')}", final=True)
    done = observed >= generation and available == want and updated >= want
    if done and want > 0 and "Available" in _conditions(obj):
        done = _true(obj, "Available")
    return Check(done, what)


def statefulset_ready(obj: Mapping[str, Any]) -> Check:
    observed, generation = _generation(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas", ready) or 0)
    what = (
        f"{ready} of {want} replicas ready, {available} available"
        f" (observedGeneration {observed} of {generation})"
    )
    return Check(observed >= generation and ready == want and available >= want, what)


def job_complete(obj: Mapping[str, Any]) -> Check:
    status = obj.get("status") or {}
    counts = f"{int(status.get('succeeded') or 0)} succeeded, {int(status.get('failed') or 0)} failed"
    if _true(obj, "Complete"):
        return Check(True, f"Complete ({counts})")
    if _true(obj, "Failed"):
        return Check(False, f"{_said(obj, 'Failed')}; {counts}", final=True)
    return Check(False, counts)


CONDITIONS: dict[str, Callable[[Mapping[str, Any]], Check]] = {
    "established": crd_established,
    "active": namespace_active,
    "available": deployment_available,
    "ready": statefulset_ready,
    "complete": job_complete,
}
"""The conditions by name. ``available`` of a StatefulSet is :func:`statefulset_ready`: use
:func:`condition_for` to choose by kind."""

_BY_KIND: dict[str, Callable[[Mapping[str, Any]], Check]] = {
    "customresourcedefinition": crd_established,
    "namespace": namespace_active,
    "deployment": deployment_available,
    "statefulset": statefulset_ready,
    "job": job_complete,
}


def condition_for(kind: str, wait: str | None = None) -> Callable[[Mapping[str, Any]], Check] | None:
    """The condition that means ``wait`` for an object of ``kind`` (a StatefulSet is "available" when
    its replicas are ready); with ``wait=None``, the natural one of the kind; None if there is none."""
    by_kind = _BY_KIND.get(kind.lower())
    if wait is None:
        return by_kind
    named = CONDITIONS.get(wait)
    if named is None:
        return None
    if wait in ("available", "ready") and by_kind in (deployment_available, statefulset_ready):
        return by_kind
    return named


@dataclass(frozen=True)
class Wait:
    """What to wait for: ``condition`` holding for the object at ``path``, within ``timeout`` seconds."""

    what: str  # for messages: "deployments/web in shop Available"
    path: str
    condition: Callable[[Mapping[str, Any]], Check]
    timeout: float


@dataclass(frozen=True)
class WaitResult:
    wait: Wait
    ok: bool
    timed_out: bool
    message: str  # what was last seen
    waited_s: float
    status: Mapping[str, Any]  # the object's last observed status ({} if it was never seen)
    polls: int


def wait_all(
    kube: Requester,
    waits: Sequence[Wait],
    *,
    interval: float = DEFAULT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WaitResult]:
    """Poll every wait until it is done, can never be done, or its own timeout passed; the results in
    the order of ``waits``. Errors of single GETs (e.g. the API server briefly unavailable) are kept as
    the last seen message and polled again; they never raise."""
    started = clock()
    results: dict[int, WaitResult] = {}
    last: dict[int, tuple[str, Mapping[str, Any]]] = {}
    polls: dict[int, int] = dict.fromkeys(range(len(waits)), 0)
    while True:
        for i, w in enumerate(waits):
            if i in results:
                continue
            check, status = _look(kube, w)
            polls[i] += 1
            last[i] = (check.message, status)
            now = clock() - started
            if check.done or check.final:
                results[i] = WaitResult(w, check.done, False, check.message, now, status, polls[i])
            elif now >= w.timeout:
                message = f"timed out after {w.timeout:g}s: {check.message}"
                results[i] = WaitResult(w, False, True, message, now, status, polls[i])
        if len(results) == len(waits):
            return [results[i] for i in range(len(waits))]
        pending = [w.timeout for i, w in enumerate(waits) if i not in results]
        left = min(pending) - (clock() - started)
        sleep(max(0.0, min(interval, left)))


def _look(kube: Requester, w: Wait) -> tuple[Check, Mapping[str, Any]]:
    try:
        obj = get(kube, w.path)
    except KubeAPIError as exc:
        return Check(False, f"cannot read it: {exc}"), {}
    if obj is None:
        return Check(False, "not found"), {}
    status = obj.get("status") or {}
    return w.condition(obj), status if isinstance(status, Mapping) else {}
