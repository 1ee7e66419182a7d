"""The restore planner: a snapshot's objects + a plan's scope, mapping and modifiers + what exists in
the target -> an ordered :class:`~drkit.restore.model.RestorePlan`. Pure: no I/O.

    prepared = prepare(objects, PlannerOptions.from_config(plan_config))
    existing = existing_objects(kube, prepared.refs())           # drkit.restore.applier
    plan = prepared.decide(existing, snapshot_id=snap.id, target="context staging")
    # or, when the existing set is known: build_plan(objects, options, existing, snapshot_id=..., target=...)

Steps per object: scope (namespaces, resources, selector) -> what a cluster recreates by itself
(controller-owned objects, system namespaces and RBAC, token Secrets, ...) -> namespace mapping ->
cleaning of server-populated fields -> references mapped (binding subjects, volume claims) ->
modifiers -> target coordinates -> phase. Every object left out is in ``skipped`` with its reason.
The output is sorted by (phase, namespace, group, resource, name), so the same inputs always give the
same plan.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from drkit.capture.controllermade import endpoints_made_by_controller, is_endpoints_kind, selector_services
from drkit.capture.filters import DEFAULT_SKIP
from drkit.capture.references import BUILTIN_GROUPS, KINDS, needs, provided_by_every_cluster, serves
from drkit.capture.resources import CapturedObject, object_path
from drkit.config.restoreplan import (
    ExistingPolicy,
    FinishedJobs,
    ModifierSettings,
    RestorePlanConfig,
    ScopeSettings,
)
from drkit.restore.clean import (
    TOKEN_SECRET_TYPE,
    CleanOptions,
    clean_object,
    clean_service_account,
    clean_token_secret,
    legacy_token_secret,
)
from drkit.restore.model import (
    PHASE_CONFIGMAPS,
    PHASE_CRDS,
    PHASE_LIMITS,
    PHASE_NAMESPACES,
    PHASE_OTHER,
    PHASE_RBAC,
    PHASE_SECRETS,
    PHASE_SERVICEACCOUNTS,
    PHASE_SERVICES,
    PHASE_STORAGECLASSES,
    PHASE_VOLUMES,
    PHASE_WORKLOADS,
    WAIT_AVAILABLE,
    WAIT_ESTABLISHED,
    Action,
    ObjectRef,
    RestorePlan,
    Verb,
)
from drkit.restore.modifiers import PatchError, apply_modifier, matches
from drkit.restore.select import ObjectScope

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
PREEXISTING_NAMESPACES = ("default", *SYSTEM_NAMESPACES)

RBAC_GROUP = "rbac.authorization.k8s.io"

# (group, resource) -> phase. Anything not named is PHASE_OTHER (custom resources, policies, ...).
PHASES: dict[tuple[str, str], int] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): PHASE_CRDS,
    ("", "namespaces"): PHASE_NAMESPACES,
    ("storage.k8s.io", "storageclasses"): PHASE_STORAGECLASSES,
    ("scheduling.k8s.io", "priorityclasses"): PHASE_STORAGECLASSES,  # pods name them: before workloads
    ("node.k8s.io", "runtimeclasses"): PHASE_STORAGECLASSES,
    ("", "persistentvolumes"): PHASE_VOLUMES,
    ("", "persistentvolumeclaims"): PHASE_VOLUMES,
    ("", "serviceaccounts"): PHASE_SERVICEACCOUNTS,
    (RBAC_GROUP, "roles"): PHASE_RBAC,
    (RBAC_GROUP, "rolebindings"): PHASE_RBAC,
    (RBAC_GROUP, "clusterroles"): PHASE_RBAC,
    (RBAC_GROUP, "clusterrolebindings"): PHASE_RBAC,
    ("", "secrets"): PHASE_SECRETS,
    ("", "configmaps"): PHASE_CONFIGMAPS,
    ("", "limitranges"): PHASE_LIMITS,
    ("", "resourcequotas"): PHASE_LIMITS,
    ("", "services"): PHASE_SERVICES,
    ("apps", "deployments"): PHASE_WORKLOADS,
    ("apps", "statefulsets"): PHASE_WORKLOADS,
    ("apps", "daemonsets"): PHASE_WORKLOADS,
    ("apps", "replicasets"): PHASE_WORKLOADS,
    ("batch", "jobs"): PHASE_WORKLOADS,
    ("batch", "cronjobs"): PHASE_WORKLOADS,
    ("", "pods"): PHASE_WORKLOADS,
    ("", "replicationcontrollers"): PHASE_WORKLOADS,
}

WAITS: dict[tuple[str, str], str] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): WAIT_ESTABLISHED,
    ("apps", "deployments"): WAIT_AVAILABLE,
    ("apps", "statefulsets"): WAIT_AVAILABLE,
}

# Owners (controllers) that recreate what they own: an object they control is left to them.
RECREATING_OWNERS = frozenset(
    {
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "Service",
    }
)

# The capture's default skip list (Endpoints and EndpointSlices are decided per object, as there).
RESOURCE_SKIPS: dict[str, str] = dict(DEFAULT_SKIP)

APF_AUTOUPDATE = "apf.kubernetes.io/autoupdate-spec"

JOBS = ("batch", "jobs")


@dataclass(frozen=True)
class PlannerOptions:
    scope: ScopeSettings = field(default_factory=ScopeSettings)
    namespace_mapping: Mapping[str, str] = field(default_factory=dict)
    modifiers: tuple[ModifierSettings, ...] = ()
    existing_policy: ExistingPolicy = ExistingPolicy.SKIP
    include_status: bool = False
    keep_last_applied: bool = False
    waits: bool = True
    finished_jobs: FinishedJobs = FinishedJobs.SKIP

    @classmethod
    def from_config(cls, config: RestorePlanConfig) -> PlannerOptions:
        return cls(
            scope=config.scope,
            namespace_mapping=dict(config.namespace_mapping),
            modifiers=config.modifiers,
            existing_policy=config.existing_policy,
            include_status=config.include_status,
            keep_last_applied=config.keep_last_applied,
            waits=config.waits.enabled,
            finished_jobs=config.finished_jobs,
        )

    def target_namespace(self, namespace: str) -> str:
        return self.namespace_mapping.get(namespace, namespace)


@dataclass(frozen=True)
class Candidate:
    """An object the plan restores, before the existing objects are known."""

    ref: ObjectRef
    body: bytes
    phase: int
    source_path: str
    wait: str | None
    notes: tuple[str, ...] = ()
    failure: str | None = None  # a modifier did not apply: the object is a failed action
    synthetic: bool = False  # a Namespace the snapshot does not hold but the restored objects need
    shared: Shared | None = None  # cluster-scoped, with references into namespaces the plan maps
    status_body: bytes = b""  # includeStatus: the status to write through /status (custom resources)


@dataclass(frozen=True)
class Shared:
    """A cluster-scoped object whose references into namespaces the plan maps (binding subjects, a
    volume's claim). Where it exists in the target it also serves the source namespaces (the original
    application), so a mapped restore never changes it: a ClusterRoleBinding gets renamed ``copies``
    bound to the mapped subjects; a PersistentVolume (one claim only) is left alone."""

    sources: tuple[str, ...]  # the source namespaces it refers to (mapped by the plan)
    copies: tuple[Candidate, ...] = ()  # renamed copies with the mapped references only
    subjects: tuple[str, ...] = ()  # the mapped subjects, for the reasons (``ServiceAccount ns/name``)


@dataclass(frozen=True)
class PreparedRestore:
    candidates: tuple[Candidate, ...]
    skipped: tuple[tuple[str, str], ...]
    policy: ExistingPolicy = ExistingPolicy.SKIP
    warnings: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()  # cluster-scoped objects referred to and not restored

    def refs(self) -> list[ObjectRef]:
        """The target coordinates to look up (``existing_objects``) before deciding."""
        refs = [c.ref for c in self.candidates]
        refs += [copy.ref for c in self.candidates if c.shared for copy in c.shared.copies]
        refs += [r.ref for r in self.references]
        return refs

    def decide(self, existing: AbstractSet[ObjectRef], *, snapshot_id: str, target: str) -> RestorePlan:
        """The plan, given which of :meth:`refs` already exist in the target."""
        actions: list[Action] = []
        for c in self.candidates:
            if c.shared is not None and c.ref in existing and c.failure is None:
                actions += _decide_shared(c, c.shared, existing, self.policy)
            else:
                actions.append(_decide(c, c.ref in existing, self.policy))
        return RestorePlan(
            snapshot_id=snapshot_id,
            target=target,
            actions=tuple(actions),
            skipped=self.skipped,
            warnings=self.warnings + tuple(r.warning() for r in self.references if r.ref not in existing),
        )


def _decide_shared(
    c: Candidate, shared: Shared, existing: AbstractSet[ObjectRef], policy: ExistingPolicy
) -> list[Action]:
    """The original exists in the target and also serves the source namespaces: never changed."""
    sources = ", ".join(shared.sources)
    subjects = ", ".join(shared.subjects)
    if not shared.copies:  # a PersistentVolume: one claim only, the original's
        text = (
            f"exists in the target and serves the claim in namespace {sources}: a namespace-mapped restore "
            "never takes it (the copy's claim binds to another volume or stays Pending)"
        )
        verb = Verb.FAIL if policy is ExistingPolicy.FAIL else Verb.SKIP
        return [Action(c.ref, verb, text, b"", c.phase, c.source_path)]
    names = ", ".join(copy.ref.name for copy in shared.copies)
    if policy is not ExistingPolicy.UPDATE:
        text = (
            f"exists in the target (existingPolicy: {policy}) and also serves namespace {sources}: "
            f"not changed, so {subjects} of the copy get no binding from it "
            f"(existingPolicy: update creates the renamed copy {names} bound to them)"
        )
        verb = Verb.FAIL if policy is ExistingPolicy.FAIL else Verb.SKIP
        return [Action(c.ref, verb, text, b"", c.phase, c.source_path)]
    out = [
        Action(
            c.ref,
            Verb.SKIP,
            f"exists in the target and also serves namespace {sources}: not changed by a namespace-mapped "
            f"restore; the renamed copy {names} binds {subjects}",
            b"",
            c.phase,
            c.source_path,
        )
    ]
    for copy in shared.copies:
        why = (
            f"a renamed copy of {c.ref.display()} (which also serves namespace {sources}) binding {subjects}"
        )
        verb = Verb.UPDATE if copy.ref in existing else Verb.CREATE
        status = (
            "exists in the target (existingPolicy: update)" if copy.ref in existing else "not in the target"
        )
        out.append(Action(copy.ref, verb, f"{status}; {why}", copy.body, copy.phase, c.source_path))
    return out


def _decide(c: Candidate, exists: bool, policy: ExistingPolicy) -> Action:
    notes = "; ".join(c.notes)

    def reason(text: str) -> str:
        return f"{text}; {notes}" if notes else text

    if c.failure is not None:
        return Action(c.ref, Verb.FAIL, c.failure, b"", c.phase, c.source_path)
    if exists and c.synthetic:
        return Action(c.ref, Verb.SKIP, "exists in the target", b"", c.phase, c.source_path)
    if exists and policy is ExistingPolicy.SKIP:
        return Action(
            c.ref, Verb.SKIP, "exists in the target (existingPolicy: skip)", b"", c.phase, c.source_path
        )
    if exists and policy is ExistingPolicy.FAIL:
        return Action(
            c.ref, Verb.FAIL, "exists in the target (existingPolicy: fail)", b"", c.phase, c.source_path
        )
    verb = Verb.UPDATE if exists else Verb.CREATE
    if exists:
        text = "exists in the target (existingPolicy: update)"
    else:
        text = "needed by the restored objects, not in the snapshot" if c.synthetic else "not in the target"
    if c.status_body:
        text += "; status then written through /status (includeStatus)"
    return Action(c.ref, verb, reason(text), c.body, c.phase, c.source_path, c.wait, c.status_body)


def build_plan(
    objects: Iterable[CapturedObject],
    options: PlannerOptions,
    existing: AbstractSet[ObjectRef],
    *,
    snapshot_id: str,
    target: str,
) -> RestorePlan:
    return prepare(objects, options).decide(existing, snapshot_id=snapshot_id, target=target)


# -- preparation ----------------------------------------------------------------------------------


@dataclass
class _Source:
    obj: CapturedObject
    path: str
    doc: dict[str, Any]


def prepare(objects: Iterable[CapturedObject], options: PlannerOptions) -> PreparedRestore:
    """Scope, skip rules, mapping, cleaning and modifiers for every object; see the module doc."""
    sources: list[_Source] = []
    skipped: list[tuple[str, str]] = []
    for obj in objects:
        path = object_path(obj)
        try:
            doc = json.loads(obj.raw)
        except ValueError:
            skipped.append((path, "not a JSON object"))
            continue
        if not isinstance(doc, dict):
            skipped.append((path, "not a JSON object"))
            continue
        sources.append(_Source(obj, path, doc))
    sources.sort(key=lambda s: s.path)
    services = selector_services(s.doc for s in sources if (s.obj.group, s.obj.resource) == ("", "services"))
    namespace_labels = {
        s.obj.name: _labels(s.doc) for s in sources if (s.obj.group, s.obj.resource) == ("", "namespaces")
    }
    scope = ObjectScope(options.scope, namespace_labels)
    kept: list[_Source] = []
    in_scope: list[_Source] = []
    for source in sources:
        why = _excluded(source, scope, options)
        if why is None:
            in_scope.append(source)
            why = _recreated(source, services) or _finished(source, options)
        if why is None:
            kept.append(source)
        else:
            skipped.append((source.path, why))
    if options.scope.cluster_resources_auto:
        kept = _needed_cluster_objects(kept, skipped)
    restored_pvs = {s.obj.name for s in kept if s.obj.group == "" and s.obj.resource == "persistentvolumes"}
    candidates: dict[ObjectRef, Candidate] = {}
    for source in kept:
        candidate = _candidate(source, options, restored_pvs)
        first = candidates.get(candidate.ref)
        if first is not None:
            skipped.append((source.path, f"the same target object as {first.source_path}"))
            continue
        candidates[candidate.ref] = candidate
    for namespace in sorted({ref.namespace for ref in candidates if ref.namespace}):
        ns_ref = ObjectRef("", "v1", "namespaces", "Namespace", "", namespace)
        if ns_ref not in candidates and namespace not in PREEXISTING_NAMESPACES:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            candidates[ns_ref] = Candidate(ns_ref, _dump(body), PHASE_NAMESPACES, "", None, synthetic=True)
    ordered = sorted(
        candidates.values(),
        key=lambda c: (c.phase, c.ref.namespace, c.ref.group, c.ref.resource, c.ref.name),
    )
    skipped.sort()
    warnings = _scope_warnings(options.scope, in_scope, kept, namespace_labels)
    return PreparedRestore(
        tuple(ordered),
        tuple(skipped),
        options.existing_policy,
        tuple(warnings),
        _references(kept, candidates),
    )


def _needed_cluster_objects(kept: list[_Source], skipped: list[tuple[str, str]]) -> list[_Source]:
    """includeClusterResources: auto: the cluster-scoped objects the restored objects need or that serve
    their namespaces (the reference graph, followed through the cluster-scoped objects it adds)."""
    is_cluster = [not s.obj.namespace and (s.obj.group, s.obj.resource) != ("", "namespaces") for s in kept]
    namespaced = [s for s, c in zip(kept, is_cluster, strict=True) if not c]
    namespaces = {s.obj.namespace for s in namespaced if s.obj.namespace}
    wanted: set[tuple[str, str, str]] = set()
    for s in namespaced:
        wanted |= {n.key for n in needs(s.obj.group, s.obj.resource, s.doc)}
    chosen: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i, (s, cluster) in enumerate(zip(kept, is_cluster, strict=True)):
            if not cluster or i in chosen:
                continue
            key = (s.obj.group, s.obj.resource, s.obj.name)
            if key in wanted or serves(s.obj.group, s.obj.resource, s.doc, namespaces):
                chosen.add(i)
                wanted |= {n.key for n in needs(s.obj.group, s.obj.resource, s.doc)}
                grew = True
    out: list[_Source] = []
    for i, (s, cluster) in enumerate(zip(kept, is_cluster, strict=True)):
        if cluster and i not in chosen:
            skipped.append(
                (
                    s.path,
                    "cluster-scoped, and no restored object needs it (scope.includeClusterResources: auto)",
                )
            )
        else:
            out.append(s)
    return out


def _references(kept: list[_Source], candidates: Mapping[ObjectRef, Candidate]) -> tuple[Reference, ...]:
    """The cluster-scoped objects the restored objects refer to that the plan does not restore: looked
    up in the target, and a warning when it does not have them either."""
    restored = {(r.group, r.resource, r.name) for r in candidates}
    found: dict[tuple[str, str, str], Reference] = {}
    for s in kept:
        for need in sorted(needs(s.obj.group, s.obj.resource, s.doc)):
            if need.key in restored or need.key in found or provided_by_every_cluster(need):
                continue
            if (need.group, need.resource) in (("", "namespaces"), ("", "persistentvolumes")):
                continue  # Namespaces are added; a claim whose volume is not restored binds anew
            version, kind = KINDS.get((need.group, need.resource), ("v1", need.resource))
            ref = ObjectRef(need.group, version, need.resource, kind, "", need.name)
            referrer = f"{s.obj.qualified_resource}/{s.obj.name}" + (
                f" in {s.obj.namespace}" if s.obj.namespace else ""
            )
            found[need.key] = Reference(ref, referrer, need.field)
    return tuple(found[k] for k in sorted(found))


@dataclass(frozen=True)
class Reference:
    """A cluster-scoped object a restored object refers to (``field``) and the plan does not restore."""

    ref: ObjectRef
    referrer: str
    field: str

    def warning(self) -> str:
        effect = _DANGLING_EFFECTS.get(self.ref.resource, "it may not work")
        return (
            f"{self.referrer} refers to {self.ref.kind} {self.ref.name} ({self.field}), which this plan does "
            f"not restore and the target does not have: {effect}"
        )


_DANGLING_EFFECTS = {
    "priorityclasses": "admission refuses its pods until it exists",
    "runtimeclasses": "admission refuses its pods until it exists",
    "storageclasses": "its claims stay Pending until it exists",
    "ingressclasses": "no ingress controller serves it until it exists",
    "clusterroles": "the binding grants nothing until it exists",
    "customresourcedefinitions": "the custom resource cannot be created",
}


def _scope_warnings(
    scope: ScopeSettings,
    in_scope: list[_Source],
    kept: list[_Source],
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """Selectors that chose nothing, and Namespaces restored empty because of the label selector."""
    warnings: list[str] = []
    if scope.namespace_selector is not None and not any(
        scope.namespace_selector.matches(labels) for labels in namespace_labels.values()
    ):
        warnings.append(
            f"scope.namespaceSelector {scope.namespace_selector.text!r} matched no Namespace of the snapshot "
            f"({len(namespace_labels)} Namespace objects): nothing namespaced is restored"
        )
    if scope.selector is None:
        return warnings
    if not any(s.obj.namespace for s in in_scope):
        warnings.append(
            f"scope.selector {scope.selector.text!r} matched no namespaced object: it selects objects by "
            "their own labels; to choose namespaces by their labels, use scope.namespaceSelector"
        )
    with_objects = {s.obj.namespace for s in kept if s.obj.namespace}
    empty = sorted(
        s.obj.name
        for s in kept
        if (s.obj.group, s.obj.resource) == ("", "namespaces") and s.obj.name not in with_objects
    )
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        warnings.append(
            f"{len(empty)} Namespace{'s' if len(empty) != 1 else ''} restored without any of "
            f"{'their' if len(empty) != 1 else 'its'} objects (scope.selector {scope.selector.text!r} "
            f"left them all out; Namespace objects are not filtered by it): {shown}"
        )
    return warnings


def _excluded(source: _Source, scope: ObjectScope, options: PlannerOptions) -> str | None:
    obj = source.obj
    labels = _labels(source.doc)
    why = scope.excluded(obj.group, obj.resource, obj.namespace, obj.name, labels)
    if why is not None:
        return f"out of scope: {why}"
    is_namespace = obj.group == "" and obj.resource == "namespaces"
    namespace = obj.name if is_namespace else obj.namespace
    if namespace in SYSTEM_NAMESPACES and not scope.named_exactly(namespace):
        return (
            f"namespace {namespace} belongs to the cluster itself "
            "(name it in scope.includeNamespaces to restore its objects)"
        )
    if is_namespace and options.target_namespace(obj.name) in PREEXISTING_NAMESPACES:
        return f"namespace {options.target_namespace(obj.name)} exists in every cluster"
    return None


def _recreated(source: _Source, services: set[tuple[str, str]]) -> str | None:
    """Why the target cluster makes this object by itself (or must not get it), else None."""
    qualified = source.obj.qualified_resource
    for pattern, reason in RESOURCE_SKIPS.items():
        if fnmatch.fnmatchcase(qualified, pattern):
            return reason
    return _owned(source.doc) or _cluster_made(source, services) or _system(source)


def finished_job(doc: Mapping[str, Any]) -> str | None:
    """``completed`` or ``failed`` (with when and why) for a Job that has finished, else None."""
    for condition in (doc.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, Mapping) or condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Failed"):
            state = "completed" if kind == "Complete" else "failed"
            when = condition.get("lastTransitionTime")
            why = condition.get("reason") if kind == "Failed" else None
            return state + (f" ({why})" if why else "") + (f" at {when}" if when else "")
    return None


def _finished(source: _Source, options: PlannerOptions) -> str | None:
    """A completed or failed Job is not restored by default: created again, it would run again."""
    if (source.obj.group, source.obj.resource) != JOBS or options.finished_jobs is FinishedJobs.SUSPEND:
        return None
    finished = finished_job(source.doc)
    if finished is None:
        return None
    return (
        f"a finished Job ({finished}): restored, it would run again "
        "(finishedJobs: suspend restores it suspended, as a record)"
    )


def _owned(doc: Mapping[str, Any]) -> str | None:
    owner = _controller(doc)
    if owner is None:
        return None
    kind = str(owner.get("kind", ""))
    name = owner.get("name", "")
    if kind in RECREATING_OWNERS:
        return f"owned by {kind}/{name}, which recreates it"
    if kind == "Node":
        return f"mirror pod of a static pod on node {name}: the kubelet recreates it"
    return None


def _cluster_made(source: _Source, services: set[tuple[str, str]]) -> str | None:
    """Objects controllers of every cluster publish or maintain."""
    obj, doc = source.obj, source.doc
    key = (obj.group, obj.resource)
    where = (obj.namespace, obj.name)
    if key == ("", "configmaps") and obj.name == "kube-root-ca.crt":
        return "published in every namespace by the root CA publisher"
    if key == ("", "secrets") and doc.get("type") == TOKEN_SECRET_TYPE and legacy_token_secret(doc):
        return (
            "a token Secret the token controller generated (<serviceaccount>-token-xxxxx, clusters "
            "before 1.24): the target issues its own tokens"
        )
    if key == ("", "services") and where == ("default", "kubernetes"):
        return "the API server's own Service"
    if is_endpoints_kind(obj.group, obj.resource):
        return endpoints_made_by_controller(obj.group, obj.resource, doc, services)
    if key == ("apiregistration.k8s.io", "apiservices") and not (doc.get("spec") or {}).get("service"):
        return "a built-in API group served by the kube-apiserver itself"
    return None


def _system(source: _Source) -> str | None:
    """RBAC, priorities and flow control the API server itself creates."""
    obj, doc = source.obj, source.doc
    key = (obj.group, obj.resource)
    reason: str | None = None
    if obj.group == RBAC_GROUP and obj.name.startswith("system:"):
        reason = "system: RBAC belongs to the Kubernetes components; the API server maintains it"
    elif obj.group == RBAC_GROUP and _labels(doc).get("kubernetes.io/bootstrapping") == "rbac-defaults":
        reason = "bootstrap RBAC the API server creates and reconciles at start"
    elif obj.group == "flowcontrol.apiserver.k8s.io" and _annotations(doc).get(APF_AUTOUPDATE) == "true":
        reason = "API priority and fairness defaults the API server maintains"
    elif key == ("scheduling.k8s.io", "priorityclasses") and obj.name.startswith("system-"):
        reason = "a built-in priority class"
    elif key == ("networking.k8s.io", "servicecidrs") and obj.name == "kubernetes":
        reason = "the API server's default Service CIDR"
    return reason


def _candidate(source: _Source, options: PlannerOptions, restored_pvs: AbstractSet[str]) -> Candidate:
    obj = source.obj
    doc = source.doc
    key = (obj.group, obj.resource)
    namespace = options.target_namespace(obj.namespace) if obj.namespace else ""
    name = options.target_namespace(obj.name) if key == ("", "namespaces") else obj.name
    finished = finished_job(doc) if key == JOBS else None
    metadata = doc.setdefault("metadata", {})
    metadata["name"] = name
    if namespace:
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    notes = clean_object(
        doc,
        obj.group,
        obj.resource,
        CleanOptions(include_status=options.include_status, keep_last_applied=options.keep_last_applied),
        restored_pvs,
    )
    if key == ("", "serviceaccounts"):
        clean_service_account(doc)
    elif key == ("", "secrets") and doc.get("type") == TOKEN_SECRET_TYPE:
        notes.append(clean_token_secret(doc))
    elif finished is not None:  # restored only with finishedJobs: suspend (else skipped earlier)
        spec = doc.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["suspend"] = True
        notes.append(
            f"{finished} in the source: restored suspended (finishedJobs: suspend), so it does not run again"
        )
    mapped_sources = _map_references(doc, key, options)
    if namespace != obj.namespace:
        notes.insert(0, f"namespace {obj.namespace} mapped to {namespace}")
    elif key == ("", "namespaces") and name != obj.name:
        notes.insert(0, f"namespace {obj.name} mapped to {name}")
    ref = ObjectRef(obj.group, obj.version, obj.resource, obj.kind, namespace, name)
    phase = PHASES.get(key, PHASE_OTHER)
    wait = WAITS.get(key) if options.waits else None
    failure: str | None = None
    for modifier in options.modifiers:
        if not matches(modifier, obj.kind, name, namespace):
            continue
        try:
            patched = apply_modifier(modifier, doc)
        except PatchError as exc:
            failure = f"modifier {modifier.index} (line {modifier.line}) does not apply: {exc}"
            break
        changed = _identity(patched) != _identity(doc)
        if changed:
            failure = f"modifier {modifier.index} (line {modifier.line}) changes the object's identity"
            break
        doc = patched
        notes.append(f"modifier {modifier.index} applied")
    shared = _shared(ref, doc, mapped_sources, options, phase) if mapped_sources else None
    status = _status_body(doc, obj.group, options)
    return Candidate(
        ref, _dump(doc), phase, source.path, wait, tuple(notes), failure, shared=shared, status_body=status
    )


def _status_body(doc: Mapping[str, Any], group: str, options: PlannerOptions) -> bytes:
    """includeStatus, a custom resource with a status: what to apply to its /status subresource."""
    status = doc.get("status")
    if not options.include_status or group in BUILTIN_GROUPS or not isinstance(status, dict):
        return b""
    metadata = doc.get("metadata") or {}
    identity = {k: metadata[k] for k in ("name", "namespace") if metadata.get(k)}
    return _dump(
        {"apiVersion": doc.get("apiVersion"), "kind": doc.get("kind"), "metadata": identity, "status": status}
    )


def _shared(
    ref: ObjectRef, doc: dict[str, Any], sources: list[str], options: PlannerOptions, phase: int
) -> Shared | None:
    """What a cluster-scoped object with references into mapped namespaces becomes where it exists."""
    if ref.resource == "persistentvolumes":
        return Shared(tuple(sources))
    targets = {options.target_namespace(n) for n in sources}
    copies: list[Candidate] = []
    subjects: list[str] = []
    for target_ns in sorted(targets):
        mapped = [
            s for s in doc.get("subjects") or [] if isinstance(s, dict) and s.get("namespace") == target_ns
        ]
        subjects += [f"{s.get('kind')} {target_ns}/{s.get('name')}" for s in mapped]
        name = f"{ref.name}-{target_ns}"[:253]
        copy_doc = json.loads(_dump(doc))
        copy_doc["metadata"]["name"] = name
        copy_doc["subjects"] = mapped
        copy_ref = ObjectRef(ref.group, ref.version, ref.resource, ref.kind, "", name)
        copies.append(Candidate(copy_ref, _dump(copy_doc), phase, "", None))
    return Shared(tuple(sources), tuple(copies), tuple(subjects))


def _identity(doc: Mapping[str, Any]) -> tuple[object, ...]:
    metadata = doc.get("metadata") or {}
    return doc.get("apiVersion"), doc.get("kind"), metadata.get("name"), metadata.get("namespace")


def _map_references(doc: dict[str, Any], key: tuple[str, str], options: PlannerOptions) -> list[str]:
    """Namespaces named inside the object: binding subjects, a volume's claim, a namespace's own label.
    Returns the source namespaces a cluster-scoped object's references were mapped from."""
    mapping = options.namespace_mapping
    mapped: list[str] = []
    if key in ((RBAC_GROUP, "rolebindings"), (RBAC_GROUP, "clusterrolebindings")):
        for subject in doc.get("subjects") or []:
            if isinstance(subject, dict) and subject.get("namespace") in mapping:
                mapped.append(subject["namespace"])
                subject["namespace"] = mapping[subject["namespace"]]
        if key[1] == "rolebindings":
            mapped = []  # namespaced: it lives in the mapped namespace itself
    elif key == ("", "persistentvolumes"):
        claim = (doc.get("spec") or {}).get("claimRef")
        if isinstance(claim, dict) and claim.get("namespace") in mapping:
            mapped.append(claim["namespace"])
            claim["namespace"] = mapping[claim["namespace"]]
    elif key == ("", "namespaces"):
        labels = (doc.get("metadata") or {}).get("labels")
        if isinstance(labels, dict) and "kubernetes.io/metadata.name" in labels:
            labels["kubernetes.io/metadata.name"] = doc["metadata"]["name"]
    return sorted(set(mapped))


def _controller(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for owner in (doc.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(owner, Mapping) and owner.get("controller") is True:
            return owner
    return None


def _labels(doc: Mapping[str, Any]) -> dict[str, str]:
    labels = (doc.get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _annotations(doc: Mapping[str, Any]) -> dict[str, str]:
    annotations = (doc.get("metadata") or {}).get("annotations")
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}


def _dump(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
