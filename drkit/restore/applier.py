"""The applier: a :class:`~drkit.restore.model.RestorePlan` sent to the target's API server.

    existing = existing_objects(kube, [a.ref for a in candidates])   # input of the (pure) planner
    report = apply_plan(kube, plan, timeouts={"deployment": 300})
    report.failed                                                      # [] when everything worked

Rules:

* Actions run in ``phase`` order (CRDs, Namespaces, ..., workloads, everything else), in plan order
  within a phase.
* ``create`` is a server-side apply with field manager ``drkit`` (or a POST with ``create_only``);
  ``update`` is a server-side apply with ``force=true`` (drkit takes over the fields it restores);
  ``skip`` and ``fail`` are recorded and never sent (``fail`` is a failed result: the object exists
  and the plan's policy said so).
* After the CRD phase every applied CRD is waited Established before anything else is sent; after
  the Namespace phase every applied Namespace is waited Active. A custom resource whose type is not
  served yet (404 just after its CRD became Established) is retried until the Established timeout.
* ``before_workloads`` (the volume data of the claims just created) runs once, after everything
  before the workload phase is applied and waited for, and before the first workload is sent.
  ``hold_back`` may then keep a workload (or a later object) from being sent, with a reason: it
  becomes a failed result (a workload whose volume could not be filled must not start on it empty).
* Workload waits (``available``: Deployments, StatefulSets; ``complete``: Jobs) run together at the
  end, when everything is applied: nothing in the plan depends on them and they overlap in time.
* One object's failure never raises: it becomes a failed :class:`ActionResult` with the API server's
  message (a 422 names the fields) and the rest goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from drkit.kube.apply import Requester, create, existing_names, exists, server_side_apply
from drkit.kube.errors import KubeAPIError, KubeNotFound, KubeUnavailable
from drkit.kube.waits import Wait, WaitResult, condition_for, wait_all
from drkit.repo.engine.progress import NullProgress, Progress
from drkit.restore.model import (
    PHASE_NAMES,
    PHASE_WORKLOADS,
    Action,
    ActionResult,
    ApplyReport,
    ObjectRef,
    RestorePlan,
    Verb,
)

DEFAULT_TIMEOUTS: dict[str, float] = {
    "established": 60.0,
    "active": 60.0,
    "available": 300.0,
    "complete": 600.0,
    "default": 300.0,
}
"""Seconds per wait; ``timeouts`` given to :func:`apply_plan` override them by kind
(``deployment``), resource (``statefulsets``), wait name (``available``) or ``default``."""

BLOCKING_WAITS = frozenset({"established", "active"})
TRANSIENT_RETRIES = 3
POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class _Clock:
    now: Callable[[], float]
    sleep: Callable[[float], None]
    interval: float


def apply_plan(
    kube: Requester,
    plan: RestorePlan,
    *,
    timeouts: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    create_only: bool = False,
    interval: float = POLL_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    before_workloads: Callable[[], None] | None = None,
    on_result: Callable[[ActionResult], None] | None = None,
    hold_back: Callable[[Action], str | None] | None = None,
) -> ApplyReport:
    """Apply ``plan`` in phase order with its waits; see the module docstring for the rules."""
    progress = progress or NullProgress()
    tick = _Clock(clock, sleep, interval)
    started = clock()
    results: list[ActionResult] = []
    wait_results: list[ActionResult] = []
    deferred: list[tuple[Action, Wait]] = []
    custom_types: dict[tuple[str, str], _CustomType] = {}  # (group, plural) of the CRDs applied now
    ordered = sorted(enumerate(plan.actions), key=lambda pair: (pair[1].phase, pair[0]))
    pending = [before_workloads] if before_workloads is not None else []
    for phase, members in groupby((a for _, a in ordered), key=lambda a: a.phase):
        if phase >= PHASE_WORKLOADS and pending:
            pending.pop()()
        actions = list(members)
        progress.start(f"apply {PHASE_NAMES.get(phase, str(phase))}", len(actions), "objects")
        blocking: list[tuple[Action, Wait]] = []
        try:
            for action in actions:
                result = _held(action, hold_back) if phase >= PHASE_WORKLOADS else None
                if result is None:
                    result = _apply_one(
                        kube,
                        action,
                        create_only=create_only,
                        custom_types=custom_types,
                        timeouts=timeouts,
                        tick=tick,
                    )
                results.append(result)
                if on_result is not None:
                    on_result(result)
                progress.advance(1)
                if result.ok and action.verb in (Verb.CREATE, Verb.UPDATE) and _is_crd(action.ref):
                    custom_types.update(_served_type(action))
                wait = _wait_of(action, timeouts) if result.ok else None
                if wait is not None:
                    (blocking if _wait_name(action) in BLOCKING_WAITS else deferred).append((action, wait))
        finally:
            progress.done()
        if blocking:
            done = _run_waits(kube, blocking, progress, "wait " + PHASE_NAMES.get(phase, ""), tick)
            wait_results += done
            failed_crds = {r.action.ref.name for r in done if not r.ok and _is_crd(r.action.ref)}
            for served in custom_types.values():
                served.established = served.established and served.crd not in failed_crds
    if pending:
        pending.pop()()
    if deferred:
        wait_results += _run_waits(kube, deferred, progress, "wait workloads", tick)
    return ApplyReport(tuple(results), tuple(wait_results), clock() - started)


def existing_objects(kube: Requester, refs: Iterable[ObjectRef]) -> set[ObjectRef]:
    """The ``refs`` that exist in the target. One GET per object, or one metadata-only list per
    collection when several objects share it. A missing resource type or namespace means absent;
    other errors (forbidden, unavailable) raise: a plan must not be made on a partial view."""
    by_collection: dict[str, list[ObjectRef]] = {}
    for ref in refs:
        by_collection.setdefault(ref.collection_path(), []).append(ref)
    found: set[ObjectRef] = set()
    for collection, members in sorted(by_collection.items()):
        if len(members) == 1:
            if exists(kube, members[0].api_path()):
                found.add(members[0])
            continue
        names = existing_names(kube, collection)
        found.update(r for r in members if r.name in names)
    return found


# --- one action ---------------------------------------------------------------------------------


def _held(action: Action, hold_back: Callable[[Action], str | None] | None) -> ActionResult | None:
    """The failed result of an object ``hold_back`` keeps from being sent, else None."""
    if hold_back is None or action.verb not in (Verb.CREATE, Verb.UPDATE):
        return None
    why = hold_back(action)
    return None if why is None else ActionResult(action, False, f"held back: {why}", 0.0)


def _apply_one(
    kube: Requester,
    action: Action,
    *,
    create_only: bool,
    custom_types: Mapping[tuple[str, str], _CustomType],
    timeouts: Mapping[str, float] | None,
    tick: _Clock,
) -> ActionResult:
    started = tick.now()
    if action.verb is Verb.SKIP:
        return ActionResult(action, True, f"skipped: {action.reason}", 0.0)
    if action.verb is Verb.FAIL:
        return ActionResult(action, False, f"not restored: {action.reason}", 0.0)
    ref = action.ref
    served = custom_types.get((ref.group, ref.resource))
    # A custom resource right after its CRD became Established may still get a 404 for a moment.
    retry_404 = served is not None and served.established
    not_found_until = (
        started + _timeout("established", ref.kind, ref.resource, timeouts) if retry_404 else started
    )
    transient_left = TRANSIENT_RETRIES
    while True:
        try:
            if action.verb is Verb.CREATE and create_only:
                create(kube, ref.collection_path(), action.body)
                done = "created"
            else:
                force = action.verb is Verb.UPDATE
                server_side_apply(kube, ref.api_path(), action.body, force=force)
                done = "updated (server-side apply, forced)" if force else "created (server-side apply)"
            return _write_status(kube, action, done, started, tick)
        except KubeNotFound as exc:
            if tick.now() < not_found_until:
                tick.sleep(tick.interval)
                continue
            why = ""
            if served is not None:
                how = "was applied in this restore" if served.established else "did not become Established"
                why = f" (its CRD {served.crd} {how})"
            return _failed(action, exc, started, tick, why)
        except KubeUnavailable as exc:
            if transient_left > 0:
                transient_left -= 1
                tick.sleep(tick.interval)
                continue
            return _failed(action, exc, started, tick)
        except KubeAPIError as exc:
            return _failed(action, exc, started, tick)


def _write_status(kube: Requester, action: Action, done: str, started: float, tick: _Clock) -> ActionResult:
    """includeStatus: the object exists now; its status goes through the /status subresource (an apply
    of the main resource ignores it). A resource without that subresource kept it with the object."""
    if not action.status_body:
        return ActionResult(action, True, done, tick.now() - started)
    try:
        server_side_apply(kube, action.ref.api_path() + "/status", action.status_body, force=True)
    except KubeNotFound:
        return ActionResult(
            action, True, f"{done}; status kept with the object (no status subresource)", tick.now() - started
        )
    except KubeAPIError as exc:
        text = f"{done}, but writing its status through /status failed: {exc}"
        return ActionResult(action, False, text, tick.now() - started)
    return ActionResult(action, True, f"{done}; status written through /status", tick.now() - started)


def _failed(action: Action, exc: KubeAPIError, started: float, tick: _Clock, why: str = "") -> ActionResult:
    text = f"{action.verb} failed: {exc}{why}"
    if exc.hint:
        text += f" (hint: {exc.hint})"
    return ActionResult(action, False, text, tick.now() - started)


@dataclass
class _CustomType:
    crd: str  # the CRD's name
    established: bool = True  # False once its Established wait failed


def _is_crd(ref: ObjectRef) -> bool:
    return ref.group == "apiextensions.k8s.io" and ref.resource == "customresourcedefinitions"


def _served_type(action: Action) -> dict[tuple[str, str], _CustomType]:
    """The (group, plural) a CRD action serves, from its body."""
    try:
        spec = json.loads(action.body).get("spec") or {}
        return {(str(spec["group"]), str(spec["names"]["plural"])): _CustomType(action.ref.name)}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


# --- waits --------------------------------------------------------------------------------------


def _wait_name(action: Action) -> str | None:
    if _is_crd(action.ref):
        return "established"  # always: its custom resources come next
    if action.ref.group == "" and action.ref.resource == "namespaces":
        return "active"
    return action.wait


def _wait_of(action: Action, timeouts: Mapping[str, float] | None) -> Wait | None:
    if action.verb not in (Verb.CREATE, Verb.UPDATE):
        return None
    name = _wait_name(action)
    if name is None:
        return None
    ref = action.ref
    condition = condition_for(ref.kind, name)
    if condition is None:
        return None
    label = {"established": "Established", "active": "Active", "complete": "Complete"}.get(name, "Available")
    timeout = _timeout(name, ref.kind, ref.resource, timeouts)
    return Wait(f"{ref.display()} {label}", ref.api_path(), condition, timeout)


def _timeout(wait: str, kind: str, resource: str, timeouts: Mapping[str, float] | None) -> float:
    given = {k.lower(): float(v) for k, v in (timeouts or {}).items()}
    for key in (kind.lower(), resource.lower(), wait):
        if key in given:
            return given[key]
    if wait in DEFAULT_TIMEOUTS and "default" not in given:
        return DEFAULT_TIMEOUTS[wait]
    return given.get("default", DEFAULT_TIMEOUTS["default"])


def _run_waits(
    kube: Requester, pairs: Sequence[tuple[Action, Wait]], progress: Progress, phase: str, tick: _Clock
) -> list[ActionResult]:
    progress.start(phase, len(pairs), "objects")
    try:
        found = wait_all(
            kube, [w for _, w in pairs], interval=tick.interval, clock=tick.now, sleep=tick.sleep
        )
        progress.advance(len(found))
    finally:
        progress.done()
    return [_wait_result(action, r) for (action, _), r in zip(pairs, found, strict=True)]


def _wait_result(action: Action, r: WaitResult) -> ActionResult:
    text = f"{r.wait.what}: {r.message}" if r.ok else f"{r.wait.what} not reached: {r.message}"
    return ActionResult(action, r.ok, text, r.waited_s)
