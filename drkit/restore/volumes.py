"""Volume data in a restore: every claim the plan creates is filled from the snapshot before the
workloads that mount it are applied.

    fills = plan_fills(snapshot.meta.get("volumes"), plan, snapshot.id)   # pure: which claim, which data
    filler = make_filler(fill_options(config), repo, kube)                # LocalFiller or JobFiller
    report, results = apply_with_volumes(kube, plan, fills, filler)       # fills before the workloads

This module holds how a restore is asked to fill (:class:`FillOptions` from the plan's
``spec.volumes`` and the command line, :func:`make_filler`, :func:`planned_where` for a dry run) and
when the fills run in the apply (:func:`apply_with_volumes`), and it holds back a workload that
mounts a claim that could not be filled: started on an empty volume, an application may initialise
fresh data there. The rest lives next to it (docs/volumes.md, "Restore"):

* :mod:`drkit.restore.fills`: which claims are filled from which data (pure), and the fill loop;
* :mod:`drkit.restore.localfill`: local mode, into a directory on this machine (must be empty);
* :mod:`drkit.restore.jobfill`: job mode, a restore Job per claim, the Jobs of independent claims
  a few at a time under one deadline; :mod:`drkit.restore.restorejob`: one restore Job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from drkit.capture.localpaths import PathRule
from drkit.capture.movers import MoverSettings
from drkit.config.restoreplan import RestorePlanConfig
from drkit.errors import ConfigError
from drkit.kube.apply import Requester
from drkit.kube.client import KubeClient
from drkit.repo.engine.progress import Progress
from drkit.repo.repository import Repository
from drkit.restore.applier import apply_plan
from drkit.restore.fills import Filler, FillPlan, FillResult, VolumeFill, fill_volumes
from drkit.restore.jobfill import RESTORE_JOBS_AT_ONCE, JobFiller
from drkit.restore.localfill import LocalFiller, claim_rule_dir
from drkit.restore.model import Action, ActionResult, ApplyReport, RestorePlan, Verb
from drkit.restore.released import REBIND_HINT

Json = dict[str, Any]


def planned_where(fill: VolumeFill, options: FillOptions) -> str:
    """Where a dry run says ``fill`` would go (no cluster is asked)."""
    if options.mover == "job":
        settings = options.settings
        return f"restore Job in {fill.namespace} (Secret {settings.secret}, image {settings.image})"
    known = claim_rule_dir(fill, options.path_rules)
    if known is not None:
        return f"{known[0]} ({known[1]})"
    return "the directory of the PersistentVolume the claim binds to (known once it is Bound)"


# -- how, from a plan and the command line ------------------------------------------------------


@dataclass(frozen=True)
class FillOptions:
    mover: str = "local"
    path_rules: tuple[PathRule, ...] = ()
    settings: MoverSettings = field(default_factory=MoverSettings)
    timeout_s: float = 3600.0
    node_name: str | None = None
    parallel: int = RESTORE_JOBS_AT_ONCE  # job mode: restore Jobs of that many claims at a time


def fill_options(
    config: RestorePlanConfig,
    *,
    mover: str | None = None,
    path_map: Sequence[str] = (),
    image: str | None = None,
    secret: str | None = None,
    timeout_s: float | None = None,
    node_name: str | None = None,
    run_as_user: int | None = None,
    parallel: int | None = None,
) -> FillOptions:
    """The plan's ``spec.volumes``, overridden by the command line (whose ``path_map`` rules come
    first). A bad rule in the plan names the plan's file, line and field."""
    v = config.volumes
    rules: list[PathRule] = [PathRule.parse(text) for text in path_map]
    for i, text in enumerate(v.path_map):
        try:
            rules.append(PathRule.parse(text))
        except ConfigError as exc:
            raise config.error("spec.volumes.pathMap", f"rule {i + 1}: {_bare(exc)}", exc.hint) from None
    settings = MoverSettings()
    if image or v.image:
        settings = replace(settings, image=image or v.image or settings.image)
    if secret or v.secret:
        try:
            settings = replace(settings, secret=secret or v.secret or settings.secret)
        except ConfigError as exc:
            if secret:
                raise
            raise config.error("spec.volumes.moverSecret", _bare(exc), exc.hint) from None
    uid = run_as_user if run_as_user is not None else v.run_as_user
    if uid is not None:
        if uid <= 0:
            raise ConfigError("a restore as non-root needs a user id above 0", field="--mover-run-as-user")
        # restore as the application's user: no root, no capabilities (Pod Security "restricted")
        settings = replace(settings, restore_as_root=False, run_as_user=uid, run_as_group=uid)
    timeout = timeout_s if timeout_s is not None else (v.timeout.total_seconds() if v.timeout else 3600.0)
    at_once = parallel or v.parallel or RESTORE_JOBS_AT_ONCE
    return FillOptions(mover or v.mover or "local", tuple(rules), settings, timeout, node_name, at_once)


def _bare(exc: ConfigError) -> str:
    return exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message


def make_filler(options: FillOptions, repo: Repository, kube: KubeClient) -> Filler:
    if options.mover == "job":
        return JobFiller(kube, options.settings, timeout_s=options.timeout_s, parallel=options.parallel)
    return LocalFiller(repo, kube, options.path_rules, node_name=options.node_name)


def apply_with_volumes(
    kube: Requester,
    plan: RestorePlan,
    fills: FillPlan | None,
    filler: Filler | None,
    *,
    timeouts: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    unbindable: Mapping[str, str] | None = None,
) -> tuple[ApplyReport, list[FillResult]]:
    """Apply ``plan``; with ``fills``, fill the claims it created after everything but the workloads
    is applied (so the mover Secret and the claims exist) and before the first workload.
    ``unbindable`` (``ns/pvc`` -> why) names claims known not to bind: they fail at once with that
    reason instead of waiting out a timeout (see ``drkit.restore.released``)."""
    filled: list[FillResult] = []
    stuck = dict(unbindable or {})

    def before_workloads() -> None:
        if fills is not None and filler is not None:
            created = _created_claims(applied)
            todo = [f for f in fills.fills if (f.namespace, f.pvc) in created and f.key not in stuck]
            filled.extend(
                FillResult(f, filler.mode, message=f"{stuck[f.key]} (hint: {REBIND_HINT})")
                for f in fills.fills
                if (f.namespace, f.pvc) in created and f.key in stuck
            )
            filled.extend(fill_volumes(todo, filler, progress=progress))
            filled.extend(
                FillResult(f, filler.mode, message=f"not filled: the claim {f.key} was not created")
                for f in fills.fills
                if (f.namespace, f.pvc) not in created
            )

    def hold_back(action: Action) -> str | None:
        unfilled = sorted(r.fill.pvc for r in filled if not r.ok and r.fill.namespace == action.ref.namespace)
        mounts = _claims_mounted(action)
        for claim in unfilled:
            if claim in mounts or _claimed_by_template(action, claim):
                return (
                    f"it mounts the claim {claim}, whose data could not be restored (see volumes); "
                    "it would start on an empty volume. Apply it once the data is in place."
                )
        return None

    applied: list[ActionResult] = []
    report = apply_plan(
        kube,
        plan,
        timeouts=timeouts,
        progress=progress,
        before_workloads=before_workloads,
        on_result=applied.append,
        hold_back=hold_back,
    )
    return report, filled


def _claims_mounted(action: Action) -> list[str]:
    """The claim names the pod template of a workload (or a Pod) mounts."""
    try:
        obj = json.loads(action.body) if action.body else {}
    except ValueError:
        return []
    spec = obj.get("spec") if isinstance(obj, dict) else None
    if not isinstance(spec, dict):
        return []
    if action.ref.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    elif action.ref.kind != "Pod":
        spec = (spec.get("template") or {}).get("spec") or {}
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    return [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in (volumes if isinstance(volumes, list) else [])
        if isinstance(v, dict)
        and isinstance(v.get("persistentVolumeClaim"), dict)
        and v["persistentVolumeClaim"].get("claimName")
    ]


def _claimed_by_template(action: Action, claim: str) -> bool:
    """Whether ``claim`` is one the StatefulSet of ``action`` makes from its ``volumeClaimTemplates``:
    ``<template>-<statefulset>-<ordinal>``, for any ordinal (a scaled-down set keeps its claims)."""
    if action.ref.kind != "StatefulSet":
        return False
    try:
        obj = json.loads(action.body) if action.body else {}
    except ValueError:
        return False
    spec = obj.get("spec") if isinstance(obj, dict) else None
    templates = spec.get("volumeClaimTemplates") if isinstance(spec, dict) else None
    for template in templates if isinstance(templates, list) else []:
        name = (template.get("metadata") or {}).get("name") if isinstance(template, dict) else None
        prefix = f"{name}-{action.ref.name}-"
        if name and claim.startswith(prefix) and claim[len(prefix) :].isdigit():
            return True
    return False


def _created_claims(results: Sequence[ActionResult]) -> set[tuple[str, str]]:
    return {
        (r.action.ref.namespace, r.action.ref.name)
        for r in results
        if r.ok
        and r.action.verb is Verb.CREATE
        and r.action.ref.group == ""
        and r.action.ref.resource == "persistentvolumeclaims"
    }
