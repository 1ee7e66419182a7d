"""The pure planner: table-driven, no I/O."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from drkit.capture.resources import CapturedObject
from drkit.config.restoreplan import (
    ExistingPolicy,
    FinishedJobs,
    LabelSelector,
    ModifierSettings,
    ScopeSettings,
)
from drkit.restore.model import PHASE_NAMES, ObjectRef, RestorePlan, Verb
from drkit.restore.planner import PlannerOptions, build_plan, prepare
from tests.unit.restore.helpers import SERVER_FIELDS, obj, owned_by


def plan_of(
    objects: list[CapturedObject], existing: set[ObjectRef] | None = None, **options: Any
) -> RestorePlan:
    return build_plan(objects, PlannerOptions(**options), existing or set(), snapshot_id="snap", target="t")


def body(plan: RestorePlan, display: str) -> dict[str, Any]:
    action = next(a for a in plan.actions if a.ref.display() == display)
    assert action.body, f"{display} has no body ({action.verb})"
    result: dict[str, Any] = json.loads(action.body)
    return result


def skipped_reason(plan: RestorePlan, path: str) -> str:
    reasons = dict(plan.skipped)
    assert path in reasons, f"{path} not skipped; skipped: {sorted(reasons)}"
    return reasons[path]


SKIPPED = [
    (
        "replicaset of a deployment",
        obj("ReplicaSet", "web-1", "shop", metadata=owned_by("Deployment", "web")),
        "owned by Deployment/web",
    ),
    (
        "pod of a replicaset",
        obj("Pod", "web-1-x", "shop", metadata=owned_by("ReplicaSet", "web-1")),
        "owned by ReplicaSet/web-1",
    ),
    ("pod of a job", obj("Pod", "j-x", "shop", metadata=owned_by("Job", "j")), "owned by Job/j"),
    (
        "pod of a statefulset",
        obj("Pod", "db-0", "shop", metadata=owned_by("StatefulSet", "db")),
        "StatefulSet/db",
    ),
    ("pod of a daemonset", obj("Pod", "ds-x", "shop", metadata=owned_by("DaemonSet", "ds")), "DaemonSet/ds"),
    (
        "controller revision",
        obj("ControllerRevision", "db-1", "shop", metadata=owned_by("StatefulSet", "db")),
        "StatefulSet/db",
    ),
    (
        "job of a cronjob",
        obj("Job", "nightly-1", "shop", metadata=owned_by("CronJob", "nightly")),
        "CronJob/nightly",
    ),
    (
        "endpointslice of a service",
        obj("EndpointSlice", "web-abc", "shop", metadata=owned_by("Service", "web")),
        "Service/web",
    ),
    ("mirror pod", obj("Pod", "etcd-node1", "shop", metadata=owned_by("Node", "node1")), "mirror pod"),
    ("root ca", obj("ConfigMap", "kube-root-ca.crt", "shop"), "root CA publisher"),
    (
        "sa token secret",
        obj(
            "Secret",
            "default-token-abcde",
            "shop",
            type="kubernetes.io/service-account-token",
            metadata={"annotations": {"kubernetes.io/service-account.name": "default"}},
        ),
        "token controller generated",
    ),
    (
        "completed job",
        obj("Job", "migrate", "shop", status={"conditions": [{"type": "Complete", "status": "True"}]}),
        "a finished Job (completed): restored, it would run again",
    ),
    (
        "failed job",
        obj(
            "Job",
            "migrate",
            "shop",
            status={"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        ),
        "a finished Job (failed (BackoffLimitExceeded))",
    ),
    ("event", obj("Event", "web.1", "shop"), "events are a short-lived log"),
    ("node", obj("Node", "node1"), "nodes belong to the machines"),
    ("kube-system object", obj("ConfigMap", "coredns", "kube-system"), "belongs to the cluster itself"),
    ("kube-public namespace", obj("Namespace", "kube-public"), "belongs to the cluster itself"),
    ("kube-node-lease lease", obj("Lease", "node1", "kube-node-lease"), "belongs to the cluster itself"),
    ("default namespace object", obj("Namespace", "default"), "exists in every cluster"),
    (
        "local apiservice",
        obj("APIService", "v1.apps", spec={"group": "apps", "service": None}),
        "built-in API group",
    ),
    ("system clusterrole", obj("ClusterRole", "system:controller:foo"), "system: RBAC"),
    ("system clusterrolebinding", obj("ClusterRoleBinding", "system:basic-user"), "system: RBAC"),
    (
        "bootstrap clusterrole",
        obj("ClusterRole", "view", metadata={"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}),
        "bootstrap RBAC",
    ),
    ("system priority class", obj("PriorityClass", "system-node-critical"), "built-in priority class"),
    (
        "apf default",
        obj("FlowSchema", "exempt", metadata={"annotations": {"apf.kubernetes.io/autoupdate-spec": "true"}}),
        "priority and fairness",
    ),
    (
        "the kubernetes service",
        obj("Service", "kubernetes", "default", spec={"clusterIP": "10.0.0.1"}),
        "API server's own Service",
    ),
    (
        "managed endpointslice",
        obj(
            "EndpointSlice",
            "x",
            "shop",
            metadata={
                "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
            },
        ),
        "endpointslice-controller.k8s.io",
    ),
]


@pytest.mark.parametrize(("case", "captured", "reason"), SKIPPED, ids=[c[0] for c in SKIPPED])
def test_what_the_cluster_recreates_is_skipped_with_a_reason(
    case: str, captured: CapturedObject, reason: str
) -> None:
    plan = plan_of([captured])
    assert plan.skipped, case
    (path, why), *_ = plan.skipped
    assert reason in why, (case, why)
    assert all(a.source_path != path for a in plan.actions)


RESTORED = [
    ("crd", obj("CustomResourceDefinition", "gadgets.example.com"), "crds", "established"),
    ("namespace", obj("Namespace", "shop"), "namespaces", None),
    ("storage class", obj("StorageClass", "fast"), "storageclasses", None),
    ("user priority class", obj("PriorityClass", "high"), "storageclasses", None),
    ("pv", obj("PersistentVolume", "pv1"), "volumes", None),
    ("pvc", obj("PersistentVolumeClaim", "data", "shop"), "volumes", None),
    ("service account", obj("ServiceAccount", "shop", "shop"), "serviceaccounts", None),
    ("role", obj("Role", "reader", "shop"), "rbac", None),
    ("user clusterrole", obj("ClusterRole", "shop-admin"), "rbac", None),
    ("secret", obj("Secret", "db", "shop", type="Opaque"), "secrets", None),
    ("configmap", obj("ConfigMap", "settings", "shop"), "configmaps", None),
    ("limit range", obj("LimitRange", "limits", "shop"), "limits", None),
    ("quota", obj("ResourceQuota", "quota", "shop"), "limits", None),
    ("service", obj("Service", "web", "shop", spec={"selector": {"app": "web"}}), "services", None),
    ("deployment", obj("Deployment", "web", "shop"), "workloads", "available"),
    ("statefulset", obj("StatefulSet", "db", "shop"), "workloads", "available"),
    ("daemonset", obj("DaemonSet", "agent", "shop"), "workloads", None),
    ("cronjob", obj("CronJob", "nightly", "shop"), "workloads", None),
    ("bare job", obj("Job", "once", "shop"), "workloads", None),
    ("bare pod", obj("Pod", "debug", "shop"), "workloads", None),
    ("network policy", obj("NetworkPolicy", "deny", "shop"), "other", None),
    ("custom resource", obj("Gadget", "g1", "shop"), "other", None),
    (
        "remote apiservice",
        obj(
            "APIService", "v1beta1.metrics.k8s.io", spec={"service": {"name": "metrics", "namespace": "shop"}}
        ),
        "other",
        None,
    ),
    ("hand-written endpoints", obj("Endpoints", "external", "shop"), "other", None),
    (
        "custom-owned object",
        obj("ConfigMap", "gen", "shop", metadata=owned_by("Gadget", "g1")),
        "configmaps",
        None,
    ),
    ("object in default", obj("ConfigMap", "x", "default"), "configmaps", None),
]


@pytest.mark.parametrize(("case", "captured", "phase", "wait"), RESTORED, ids=[c[0] for c in RESTORED])
def test_restored_objects_get_their_phase_and_wait(
    case: str, captured: CapturedObject, phase: str, wait: str | None
) -> None:
    plan = plan_of([captured])
    (action,) = [a for a in plan.actions if a.source_path]
    assert not plan.skipped, (case, plan.skipped)
    assert PHASE_NAMES[action.phase] == phase
    assert action.wait == wait
    assert action.verb is Verb.CREATE
    assert action.ref.name == captured.name
    assert action.source_path.endswith(f"/{captured.name}.json")


def test_waits_can_be_turned_off() -> None:
    plan = plan_of([obj("Deployment", "web", "shop")], waits=False)
    assert all(a.wait is None for a in plan.actions)


def test_order_is_by_phase_then_namespace_group_resource_name_whatever_the_input_order() -> None:
    objects = [
        obj("Deployment", "web", "b"),
        obj("ConfigMap", "z", "a"),
        obj("ConfigMap", "a", "b"),
        obj("Secret", "s", "a", type="Opaque"),
        obj("Namespace", "b"),
        obj("Namespace", "a"),
        obj("CustomResourceDefinition", "gadgets.example.com"),
        obj("Gadget", "g", "a"),
        obj("Service", "web", "a"),
    ]
    plan = plan_of(objects)
    shown = [a.ref.display() for a in plan.actions]
    assert shown == [
        "customresourcedefinitions.apiextensions.k8s.io/gadgets.example.com",
        "namespaces/a",
        "namespaces/b",
        "secrets/s in a",
        "configmaps/z in a",
        "configmaps/a in b",
        "services/web in a",
        "deployments.apps/web in b",
        "gadgets.example.com/g in a",
    ]
    assert [a.phase for a in plan.actions] == sorted(a.phase for a in plan.actions)
    assert plan_of(list(reversed(objects))) == plan


def test_server_populated_fields_and_status_are_removed() -> None:
    captured = obj(
        "Deployment",
        "web",
        "shop",
        metadata={
            "annotations": {
                "deployment.kubernetes.io/revision": "4",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "shop",
            },
            "labels": {"app": "web"},
            "deletionTimestamp": "2026-11-02T00:00:00Z",
        },
        spec={"replicas": 2},
        status={"availableReplicas": 2},
    )
    plan = plan_of([captured])
    doc = body(plan, "deployments.apps/web in shop")
    assert doc["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {"team": "shop"},
    }
    assert "status" not in doc
    assert doc["spec"] == {"replicas": 2}
    kept = body(
        plan_of([captured], include_status=True, keep_last_applied=True), "deployments.apps/web in shop"
    )
    assert kept["status"] == {"availableReplicas": 2}
    assert kept["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "{}"
    for key in SERVER_FIELDS:
        assert key not in kept["metadata"]


SERVICES = [
    (
        "cluster ip",
        {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80}]},
        {"ports": [{"port": 80}]},
        None,
    ),
    (
        "headless",
        {"clusterIP": "None", "clusterIPs": ["None"]},
        {"clusterIP": "None", "clusterIPs": ["None"]},
        None,
    ),
    (
        "load balancer",
        {
            "type": "LoadBalancer",
            "clusterIP": "10.0.0.6",
            "healthCheckNodePort": 31000,
            "ports": [{"port": 80, "nodePort": 30080}],
        },
        {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "node ports 30080",
    ),
]


@pytest.mark.parametrize(("case", "spec", "expected", "note"), SERVICES, ids=[c[0] for c in SERVICES])
def test_service_addresses_are_left_to_the_target(
    case: str, spec: dict[str, Any], expected: dict[str, Any], note: str | None
) -> None:
    plan = plan_of([obj("Service", "web", "shop", spec=spec)])
    assert body(plan, "services/web in shop")["spec"] == expected, case
    reason = plan.actions[-1].reason
    assert (note in reason) if note else ("node ports" not in reason)


def test_a_node_port_the_user_wrote_is_kept() -> None:
    applied = json.dumps({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})
    spec = {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}, {"port": 81, "nodePort": 31234}]}
    captured = obj(
        "Service",
        "web",
        "shop",
        spec=spec,
        metadata={"annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
    )
    doc = body(plan_of([captured]), "services/web in shop")
    assert doc["spec"]["ports"] == [{"port": 80, "nodePort": 30080}, {"port": 81}]


def test_pod_node_name_and_job_uid_selectors_are_removed() -> None:
    pod = obj("Pod", "debug", "shop", spec={"nodeName": "node1", "containers": [{"name": "c"}]})
    job = obj(
        "Job",
        "once",
        "shop",
        spec={
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "old"}},
            "template": {
                "metadata": {
                    "labels": {
                        "batch.kubernetes.io/controller-uid": "old",
                        "job-name": "once",
                        "controller-uid": "old",
                    }
                }
            },
        },
    )
    plan = plan_of([pod, job])
    assert body(plan, "pods/debug in shop")["spec"] == {"containers": [{"name": "c"}]}
    job_spec = body(plan, "jobs.batch/once in shop")["spec"]
    assert "selector" not in job_spec
    assert job_spec["template"]["metadata"]["labels"] == {"job-name": "once"}


def test_claim_keeps_its_volume_only_when_the_volume_is_restored() -> None:
    bound = {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"}
    claim = obj(
        "PersistentVolumeClaim", "data", "shop", metadata={"annotations": bound}, spec={"volumeName": "pv1"}
    )
    volume = obj(
        "PersistentVolume",
        "pv1",
        spec={
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": "shop",
                "name": "data",
                "uid": "old",
                "resourceVersion": "7",
            }
        },
    )
    alone = plan_of([claim])
    doc = body(alone, "persistentvolumeclaims/data in shop")
    assert "volumeName" not in doc["spec"]
    assert "annotations" not in doc["metadata"]
    assert "PersistentVolume pv1 is not restored" in alone.actions[-1].reason

    both = plan_of([claim, volume], namespace_mapping={"shop": "shop2"})
    restored_claim = body(both, "persistentvolumeclaims/data in shop2")
    assert restored_claim["spec"] == {"volumeName": "pv1"}
    assert "annotations" not in restored_claim["metadata"], "a bound claim would be Lost: it binds again"
    assert body(both, "persistentvolumes/pv1")["spec"]["claimRef"] == {
        "kind": "PersistentVolumeClaim",
        "namespace": "shop2",
        "name": "data",
    }


def test_namespace_mapping_moves_objects_and_references() -> None:
    objects = [
        obj("Namespace", "shop", metadata={"labels": {"kubernetes.io/metadata.name": "shop"}}),
        obj("ConfigMap", "settings", "shop"),
        obj(
            "RoleBinding",
            "reader",
            "shop",
            subjects=[
                {"kind": "ServiceAccount", "name": "shop", "namespace": "shop"},
                {"kind": "ServiceAccount", "name": "other", "namespace": "elsewhere"},
                {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
            ],
        ),
        obj(
            "ClusterRoleBinding",
            "shop-admins",
            subjects=[{"kind": "ServiceAccount", "name": "a", "namespace": "shop"}],
        ),
        obj("ConfigMap", "untouched", "other"),
    ]
    plan = plan_of(objects, namespace_mapping={"shop": "shop-restored"})
    names = [a.ref.display() for a in plan.actions]
    assert "namespaces/shop-restored" in names
    assert "namespaces/other" in names  # synthesised: the snapshot held no Namespace object for it
    assert "configmaps/settings in shop-restored" in names
    assert "configmaps/untouched in other" in names
    ns = body(plan, "namespaces/shop-restored")
    assert ns["metadata"] == {
        "name": "shop-restored",
        "labels": {"kubernetes.io/metadata.name": "shop-restored"},
    }
    subjects = body(plan, "rolebindings.rbac.authorization.k8s.io/reader in shop-restored")["subjects"]
    assert [s.get("namespace") for s in subjects] == ["shop-restored", "elsewhere", None]
    crb = body(plan, "clusterrolebindings.rbac.authorization.k8s.io/shop-admins")
    assert crb["subjects"][0]["namespace"] == "shop-restored"
    cm = next(a for a in plan.actions if a.ref.name == "settings")
    assert "namespace shop mapped to shop-restored" in cm.reason


def test_a_namespace_is_synthesised_only_when_missing_and_not_preexisting() -> None:
    plan = plan_of([obj("ConfigMap", "a", "shop"), obj("ConfigMap", "b", "default")])
    synthetic = [a for a in plan.actions if a.ref.resource == "namespaces"]
    assert [(a.ref.name, a.source_path, a.reason) for a in synthetic] == [
        ("shop", "", "needed by the restored objects, not in the snapshot")
    ]
    ns_ref = synthetic[0].ref
    existing = plan_of(
        [obj("ConfigMap", "a", "shop")], existing={ns_ref}, existing_policy=ExistingPolicy.FAIL
    )
    assert [a.verb for a in existing.actions if a.ref == ns_ref] == [Verb.SKIP]


@pytest.mark.parametrize(
    ("policy", "verb", "reason", "has_body"),
    [
        (ExistingPolicy.SKIP, Verb.SKIP, "exists in the target (existingPolicy: skip)", False),
        (ExistingPolicy.UPDATE, Verb.UPDATE, "exists in the target (existingPolicy: update)", True),
        (ExistingPolicy.FAIL, Verb.FAIL, "exists in the target (existingPolicy: fail)", False),
    ],
)
def test_existing_objects_follow_the_policy(
    policy: ExistingPolicy, verb: Verb, reason: str, has_body: bool
) -> None:
    objects = [
        obj("Namespace", "shop"),
        obj("ConfigMap", "settings", "shop"),
        obj("ConfigMap", "new", "shop"),
    ]
    prepared = prepare(objects, PlannerOptions(existing_policy=policy))
    refs = {r for r in prepared.refs() if r.name in ("shop", "settings")}
    plan = prepared.decide(refs, snapshot_id="s", target="t")
    by_name = {a.ref.name: a for a in plan.actions}
    for name in ("shop", "settings"):
        assert by_name[name].verb is verb
        assert by_name[name].reason.startswith(reason)
        assert bool(by_name[name].body) is has_body
    assert by_name["new"].verb is Verb.CREATE
    assert by_name["new"].reason == "not in the target"


def modifier(index: int = 0, **fields: Any) -> ModifierSettings:
    return ModifierSettings(index=index, line=10 + index, **fields)


def test_modifiers_apply_after_mapping_by_kind_name_and_namespace() -> None:
    objects = [
        obj("Deployment", "web", "shop", spec={"replicas": 3}),
        obj("Deployment", "api", "shop", spec={"replicas": 3}),
        obj("Deployment", "web", "other", spec={"replicas": 3}),
        obj("ConfigMap", "web", "shop", data={"a": "1"}),
    ]
    mods = (
        modifier(
            0,
            kinds=("deployment",),
            names=("w*",),
            namespaces=("shop-*",),
            merge_patch={"spec": {"replicas": 1}},
        ),
        modifier(1, kinds=("ConfigMap",), json_patch=({"op": "replace", "path": "/data/a", "value": "2"},)),
    )
    plan = plan_of(objects, namespace_mapping={"shop": "shop-dr"}, modifiers=mods)
    assert body(plan, "deployments.apps/web in shop-dr")["spec"] == {"replicas": 1}
    assert body(plan, "deployments.apps/api in shop-dr")["spec"] == {"replicas": 3}
    assert body(plan, "deployments.apps/web in other")["spec"] == {"replicas": 3}
    assert body(plan, "configmaps/web in shop-dr")["data"] == {"a": "2"}
    web = next(a for a in plan.actions if a.ref.display() == "deployments.apps/web in shop-dr")
    assert "modifier 0 applied" in web.reason


def test_a_modifier_that_does_not_apply_fails_that_object_only() -> None:
    objects = [obj("ConfigMap", "a", "shop", data={}), obj("ConfigMap", "b", "shop", data={"x": "1"})]
    mods = (modifier(0, json_patch=({"op": "remove", "path": "/data/x"},), kinds=("ConfigMap",)),)
    plan = plan_of(objects, modifiers=mods)
    by_name = {a.ref.name: a for a in plan.actions}
    assert by_name["a"].verb is Verb.FAIL
    assert "modifier 0 (line 10) does not apply" in by_name["a"].reason
    assert by_name["b"].verb is Verb.CREATE
    renaming = (modifier(0, merge_patch={"metadata": {"name": "other"}}),)
    renamed = plan_of([obj("ConfigMap", "a", "shop")], modifiers=renaming)
    assert [a.verb for a in renamed.actions if a.ref.name == "a"] == [Verb.FAIL]
    assert "changes the object's identity" in renamed.actions[-1].reason


def test_scope_filters_with_reasons() -> None:
    objects = [
        obj("ConfigMap", "a", "shop", metadata={"labels": {"app": "shop"}}),
        obj("ConfigMap", "b", "shop", metadata={"labels": {"app": "other"}}),
        obj("Secret", "s", "shop", metadata={"labels": {"app": "shop"}}, type="Opaque"),
        obj("ConfigMap", "c", "staging", metadata={"labels": {"app": "shop"}}),
        obj("ConfigMap", "d", "shop-old", metadata={"labels": {"app": "shop"}}),
        obj("Namespace", "shop"),
        obj("Namespace", "staging"),
        obj("StorageClass", "fast"),
    ]
    scope = ScopeSettings(
        include_namespaces=("shop*",),
        exclude_namespaces=("*-old",),
        exclude_resources=("secrets",),
        selector=LabelSelector.parse("app=shop"),
    )
    plan = plan_of(objects, scope=scope)
    assert sorted(a.ref.display() for a in plan.actions) == [
        "configmaps/a in shop",
        "namespaces/shop",
        "storageclasses.storage.k8s.io/fast",
    ]
    assert "labels do not match scope.selector 'app=shop'" in skipped_reason(
        plan, "resources/core/v1/configmaps/shop/b.json"
    )
    assert "secrets is in scope.excludeResources" in skipped_reason(
        plan, "resources/core/v1/secrets/shop/s.json"
    )
    assert "not in scope.includeNamespaces" in skipped_reason(
        plan, "resources/core/v1/configmaps/staging/c.json"
    )
    assert "not in scope.includeNamespaces" in skipped_reason(
        plan, "resources/core/v1/namespaces/_cluster/staging.json"
    )
    assert "in scope.excludeNamespaces" in skipped_reason(
        plan, "resources/core/v1/configmaps/shop-old/d.json"
    )
    no_cluster = plan_of(
        objects,
        scope=ScopeSettings(include_cluster_resources=False, exclude_resources=("secrets",)),
    )
    assert "includeClusterResources is false" in skipped_reason(
        no_cluster, "resources/storage.k8s.io/v1/storageclasses/_cluster/fast.json"
    )
    assert "namespaces/shop" in [a.ref.display() for a in no_cluster.actions]


def test_a_system_namespace_is_restored_only_when_named_exactly() -> None:
    captured = [obj("ConfigMap", "coredns", "kube-system")]
    assert not plan_of(captured, scope=ScopeSettings(include_namespaces=("kube-*",))).actions
    named = plan_of(captured, scope=ScopeSettings(include_namespaces=("kube-system",)))
    assert [a.ref.display() for a in named.actions] == ["configmaps/coredns in kube-system"]


def test_two_objects_for_one_target_keep_the_first() -> None:
    plan = plan_of(
        [obj("ConfigMap", "x", "a"), obj("ConfigMap", "x", "b")], namespace_mapping={"a": "c", "b": "c"}
    )
    assert [a.ref.display() for a in plan.actions if a.ref.resource == "configmaps"] == ["configmaps/x in c"]
    assert "the same target object as resources/core/v1/configmaps/a/x.json" in skipped_reason(
        plan, "resources/core/v1/configmaps/b/x.json"
    )


def test_service_account_token_references_and_owner_references_are_dropped() -> None:
    sa = obj(
        "ServiceAccount", "shop", "shop", secrets=[{"name": "shop-token-abcde"}, {"name": "pull-secret"}]
    )
    owned = obj("ConfigMap", "gen", "shop", metadata=owned_by("Gadget", "g1"))
    plan = plan_of([sa, owned])
    assert body(plan, "serviceaccounts/shop in shop")["secrets"] == [{"name": "pull-secret"}]
    gen = body(plan, "configmaps/gen in shop")
    assert "ownerReferences" not in gen["metadata"]
    assert "ownerReferences dropped (Gadget/g1)" in next(
        a.reason for a in plan.actions if a.ref.name == "gen"
    )


def test_plan_json_never_holds_secret_bodies() -> None:
    secret = obj("Secret", "db", "shop", type="Opaque", data={"password": "c2VjcmV0LXZhbHVl"})
    plan = plan_of([secret, obj("ConfigMap", "c", "shop", data={"k": "v"})])
    text = json.dumps(plan.to_json(bodies=True))
    assert "c2VjcmV0LXZhbHVl" not in text
    assert '"k": "v"' in text
    secret_action = next(a for a in plan.to_json(bodies=True)["actions"] if a["ref"]["resource"] == "secrets")
    assert "body" not in secret_action
    assert len(secret_action["bodySha256"]) == 64
    assert plan.counts() == {"create": 3, "update": 0, "skip": 0, "fail": 0, "not-restored": 0}


def test_objects_that_are_not_json_objects_are_reported() -> None:
    bad = CapturedObject("", "v1", "configmaps", "ConfigMap", "shop", "bad", "1", b"[1, 2]")
    plan = plan_of([bad])
    assert plan.skipped == (("resources/core/v1/configmaps/shop/bad.json", "not a JSON object"),)


def test_hand_written_endpoint_slices_and_endpoints_are_restored() -> None:
    """A Service without a selector has no controller making its endpoints: they are restored."""
    service = obj("Service", "external", "shop", spec={"ports": [{"port": 80}]})
    slice_ = obj(
        "EndpointSlice",
        "external-1",
        "shop",
        metadata={
            "labels": {
                "kubernetes.io/service-name": "external",
                "endpointslice.kubernetes.io/managed-by": "ops",
            }
        },
        addressType="IPv4",
        endpoints=[{"addresses": ["10.1.2.3"]}],
    )
    endpoints = obj("Endpoints", "external", "shop", subsets=[{"addresses": [{"ip": "10.1.2.3"}]}])
    mirrored = obj(
        "EndpointSlice",
        "external-m",
        "shop",
        metadata={
            "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"}
        },
    )
    plan = plan_of([service, slice_, endpoints, mirrored])
    assert body(plan, "endpointslices.discovery.k8s.io/external-1 in shop")["endpoints"] == [
        {"addresses": ["10.1.2.3"]}
    ]
    assert body(plan, "endpoints/external in shop")["subsets"]
    assert skipped_reason(
        plan, "resources/discovery.k8s.io/v1/endpointslices/shop/external-m.json"
    ).startswith("controller-made: maintained by endpointslicemirroring-controller.k8s.io")


def test_a_created_token_secret_is_recreated_without_its_data() -> None:
    token = obj(
        "Secret",
        "ci-token",
        "shop",
        type="kubernetes.io/service-account-token",
        metadata={
            "annotations": {
                "kubernetes.io/service-account.name": "ci",
                "kubernetes.io/service-account.uid": "old-uid",
            }
        },
        data={"token": "c2VjcmV0", "ca.crt": "Y2E=", "namespace": "c2hvcA=="},
    )
    plan = plan_of([token], namespace_mapping={"shop": "shop-copy"})
    secret = body(plan, "secrets/ci-token in shop-copy")
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert "data" not in secret
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "ci"}
    reason = next(a.reason for a in plan.actions if a.ref.name == "ci-token")
    assert "recreated without its data" in reason
    assert "ServiceAccount ci" in reason


def test_finished_jobs_can_be_restored_suspended() -> None:
    done = {
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-01T00:00:00Z"}]
    }
    job = obj("Job", "migrate", "shop", spec={"template": {"spec": {}}}, status=done)
    running = obj("Job", "work", "shop", spec={"template": {"spec": {}}}, status={"active": 1})
    plan = plan_of([job, running], finished_jobs=FinishedJobs.SUSPEND)
    assert body(plan, "jobs.batch/migrate in shop")["spec"]["suspend"] is True
    assert "suspend" not in body(plan, "jobs.batch/work in shop")["spec"]
    reason = next(a.reason for a in plan.actions if a.ref.name == "migrate")
    assert "completed at 2026-11-01T00:00:00Z in the source: restored suspended" in reason
    default = plan_of([job, running])
    assert [a.ref.name for a in default.actions if a.ref.kind == "Job"] == ["work"]


def _crb() -> CapturedObject:
    return obj(
        "ClusterRoleBinding",
        "tenant-reader",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        subjects=[{"kind": "ServiceAccount", "name": "app", "namespace": "tenant"}],
    )


def test_a_mapped_restore_never_changes_an_existing_cluster_binding() -> None:
    """Issue 18.1: a namespace copy with update made the original's ClusterRoleBinding name the copy."""
    crb = _crb()
    original = ObjectRef(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", "", "tenant-reader"
    )
    mapping = {"tenant": "tenant-copy"}
    prepared = prepare(
        [crb], PlannerOptions(namespace_mapping=mapping, existing_policy=ExistingPolicy.UPDATE)
    )
    copy_ref = dataclasses.replace(original, name="tenant-reader-tenant-copy")
    assert copy_ref in prepared.refs()
    plan = prepared.decide({original}, snapshot_id="s", target="t")
    by_name = {a.ref.name: a for a in plan.actions}
    assert by_name["tenant-reader"].verb is Verb.SKIP
    assert "also serves namespace tenant" in by_name["tenant-reader"].reason
    copy = by_name["tenant-reader-tenant-copy"]
    assert copy.verb is Verb.CREATE
    assert json.loads(copy.body)["subjects"] == [
        {"kind": "ServiceAccount", "name": "app", "namespace": "tenant-copy"}
    ]
    assert json.loads(copy.body)["roleRef"]["name"] == "view"
    # with skip: nothing changes, and the plan says the copy's ServiceAccount gets no binding
    skip = prepare([crb], PlannerOptions(namespace_mapping=mapping)).decide(
        {original}, snapshot_id="s", target="t"
    )
    (only,) = skip.actions
    assert only.verb is Verb.SKIP
    assert "ServiceAccount tenant-copy/app of the copy get no binding" in only.reason
    # into a cluster without it: the binding is created under its own name, bound to the copy
    fresh = prepare([crb], PlannerOptions(namespace_mapping=mapping)).decide(
        set(), snapshot_id="s", target="t"
    )
    (created,) = fresh.actions
    assert (created.verb, created.ref.name) == (Verb.CREATE, "tenant-reader")


def test_a_mapped_restore_never_takes_an_existing_volume() -> None:
    pv = obj("PersistentVolume", "pv-1", spec={"claimRef": {"namespace": "tenant", "name": "data"}})
    ref = ObjectRef("", "v1", "persistentvolumes", "PersistentVolume", "", "pv-1")
    options = PlannerOptions(
        namespace_mapping={"tenant": "tenant-copy"}, existing_policy=ExistingPolicy.UPDATE
    )
    (action,) = prepare([pv], options).decide({ref}, snapshot_id="s", target="t").actions
    assert action.verb is Verb.SKIP
    assert "never takes it" in action.reason


def test_namespace_selector_chooses_namespaces_by_their_labels() -> None:
    red = obj("Namespace", "tenant-a", metadata={"labels": {"team": "red"}})
    blue = obj("Namespace", "tenant-b", metadata={"labels": {"team": "blue"}})
    objects = [
        red,
        blue,
        obj("ConfigMap", "a", "tenant-a"),
        obj("ConfigMap", "b", "tenant-b"),
        obj("ConfigMap", "c", "tenant-c"),
    ]
    plan = plan_of(objects, scope=ScopeSettings(namespace_selector=LabelSelector.parse("team=red")))
    assert {a.ref.display() for a in plan.actions} == {"namespaces/tenant-a", "configmaps/a in tenant-a"}
    assert "do not match scope.namespaceSelector 'team=red'" in skipped_reason(
        plan, "resources/core/v1/configmaps/tenant-b/b.json"
    )
    assert "no Namespace object for tenant-c" in skipped_reason(
        plan, "resources/core/v1/configmaps/tenant-c/c.json"
    )
    assert plan.warnings == ()
    none = plan_of(objects, scope=ScopeSettings(namespace_selector=LabelSelector.parse("team=green")))
    assert any("matched no Namespace of the snapshot" in w for w in none.warnings)


def test_a_selector_that_matches_no_namespaced_object_is_a_warning() -> None:
    """Issue 18.7: scope.selector team=red matched the objects' own labels: twelve empty namespaces."""
    objects = [
        obj("Namespace", "tenant-a", metadata={"labels": {"team": "red"}}),
        obj("ConfigMap", "a", "tenant-a"),
    ]
    plan = plan_of(objects, scope=ScopeSettings(selector=LabelSelector.parse("team=red")))
    assert any("matched no namespaced object" in w and "scope.namespaceSelector" in w for w in plan.warnings)
    assert any("1 Namespace restored without any of its objects" in w for w in plan.warnings)
    assert plan.to_json()["warnings"] == list(plan.warnings)


def test_include_status_plans_a_status_write_for_custom_resources_only() -> None:
    gadget = obj("Gadget", "g1", "shop", spec={"size": 3}, status={"phase": "Ready"})
    deployment = obj("Deployment", "web", "shop", spec={"replicas": 1}, status={"replicas": 1})
    plan = plan_of([gadget, deployment], include_status=True)
    by_kind = {a.ref.kind: a for a in plan.actions if a.ref.kind in ("Gadget", "Deployment")}
    written = json.loads(by_kind["Gadget"].status_body)
    assert written == {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": "shop"},
        "status": {"phase": "Ready"},
    }
    assert "status then written through /status" in by_kind["Gadget"].reason
    assert by_kind["Deployment"].status_body == b""  # its controller in the target writes it
    assert plan_of([gadget]).actions[-1].status_body == b""  # not without includeStatus


def test_include_cluster_resources_auto_and_dangling_references() -> None:
    """Issue 18.3: restore `auto` takes the cluster-scoped objects the restored ones need (by the same
    reference graph as the capture); the plan warns about references it will not satisfy."""
    template = {"template": {"spec": {"priorityClassName": "nightly", "containers": []}}}
    objects = [
        obj("CronJob", "report", "shop", spec={"jobTemplate": {"spec": template}}),
        obj("PriorityClass", "nightly", value=10),
        obj("PriorityClass", "urgent", value=20),
        obj(
            "ClusterRoleBinding",
            "shop-reader",
            roleRef={"kind": "ClusterRole", "name": "reader"},
            subjects=[{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}],
        ),
        obj("ClusterRole", "reader", rules=[]),
        obj("ClusterRole", "other", rules=[]),
        obj("Deployment", "web", "shop", spec={"template": {"spec": {"priorityClassName": "gone"}}}),
    ]
    scope = ScopeSettings(cluster_resources_auto=True)
    prepared = prepare(objects, PlannerOptions(scope=scope))
    restored = {a.ref.display() for a in prepared.decide(set(), snapshot_id="s", target="t").actions}
    assert {
        "priorityclasses.scheduling.k8s.io/nightly",
        "clusterrolebindings.rbac.authorization.k8s.io/shop-reader",
        "clusterroles.rbac.authorization.k8s.io/reader",
    } <= restored
    assert "priorityclasses.scheduling.k8s.io/urgent" not in restored
    assert "no restored object needs it" in skipped_reason(
        prepare(objects, PlannerOptions(scope=scope)).decide(set(), snapshot_id="s", target="t"),
        "resources/rbac.authorization.k8s.io/v1/clusterroles/_cluster/other.json",
    )
    gone = ObjectRef("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", "", "gone")
    assert gone in prepared.refs()
    (warning,) = prepared.decide(set(), snapshot_id="s", target="t").warnings
    assert warning == (
        "deployments.apps/web in shop refers to PriorityClass gone (priorityClassName), which this plan does "
        "not restore and the target does not have: admission refuses its pods until it exists"
    )
    assert prepared.decide({gone}, snapshot_id="s", target="t").warnings == ()
