"""The applier and drkit.kube.apply on the real control plane (kube-apiserver + kwok): a small plan in
order (a CRD and its custom resource, a ConfigMap, a Deployment that becomes Available on kwok), an
invalid object reported with its field, a re-apply that changes nothing, existing_objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from drkit.kube.apply import KubeInvalid, object_path, server_side_apply
from drkit.kube.client import KubeClient
from drkit.restore.applier import apply_plan, existing_objects
from drkit.restore.model import (
    PHASE_CONFIGMAPS,
    PHASE_CRDS,
    PHASE_NAMESPACES,
    PHASE_OTHER,
    PHASE_WORKLOADS,
    Action,
    ObjectRef,
    RestorePlan,
    Verb,
)
from drkit.sandbox.controlplane import ControlPlane


@pytest.fixture
def kube(cluster: ControlPlane) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def group(cluster: ControlPlane, namespace: str) -> Iterator[str]:
    """A CRD group of this test's own; its CRD is deleted afterwards."""
    name = f"{namespace}.drkit.test"
    yield name
    if cluster.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{name}"):
        cluster.api("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{name}")


def _action(
    ref: ObjectRef, phase: int, obj: dict[str, Any], verb: Verb = Verb.CREATE, wait: str | None = None
) -> Action:
    meta = {
        "name": ref.name,
        **({"namespace": ref.namespace} if ref.namespace else {}),
        **obj.pop("metadata", {}),
    }
    doc = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta, **obj}
    return Action(
        ref, verb, "restore test", json.dumps(doc).encode(), phase, f"resources/{ref.name}.json", wait
    )


def _plan(namespace: str, group: str, extra_ns: str) -> list[Action]:
    crd = ObjectRef(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "",
        f"gadgets.{group}",
    )
    crd_spec = {
        "group": group,
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    }
    labels = {"app": "web"}
    deployment = {
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        }
    }
    return [
        # deliberately out of order: the applier sorts by phase
        _action(
            ObjectRef(group, "v1", "gadgets", "Gadget", namespace, "g1"), PHASE_OTHER, {"spec": {"size": 3}}
        ),
        _action(
            ObjectRef("apps", "v1", "deployments", "Deployment", namespace, "web"),
            PHASE_WORKLOADS,
            deployment,
            wait="available",
        ),
        _action(
            ObjectRef("", "v1", "configmaps", "ConfigMap", extra_ns, "settings"),
            PHASE_CONFIGMAPS,
            {"data": {"mode": "blue"}},
        ),
        _action(ObjectRef("", "v1", "namespaces", "Namespace", "", extra_ns), PHASE_NAMESPACES, {}),
        _action(crd, PHASE_CRDS, {"spec": crd_spec}, wait="established"),
    ]


def test_a_small_plan_applies_in_order_waits_and_reapplies_idempotently(
    cluster: ControlPlane, kube: KubeClient, namespace: str, group: str
) -> None:
    extra_ns = f"{namespace}-x"
    actions = _plan(namespace, group, extra_ns)
    try:
        report = apply_plan(
            kube, RestorePlan("snap", "test", tuple(actions), ()), timeouts={"deployment": 120}
        )
        assert report.failed == [], [r.message for r in report.failed]
        kinds = [r.action.ref.kind for r in report.results]
        assert kinds == ["CustomResourceDefinition", "Namespace", "ConfigMap", "Deployment", "Gadget"]
        waits = {r.action.ref.kind: r for r in report.waits}
        assert set(waits) == {"CustomResourceDefinition", "Namespace", "Deployment"}
        assert "2 of 2 replicas available" in waits["Deployment"].message

        deploy = cluster.api("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        assert deploy["status"]["availableReplicas"] == 2
        managers = {m["manager"]: m["operation"] for m in deploy["metadata"]["managedFields"]}
        assert managers["drkit"] == "Apply"
        gadget = cluster.api("GET", f"/apis/{group}/v1/namespaces/{namespace}/gadgets/g1")
        assert gadget["spec"] == {"size": 3}
        assert cluster.api("GET", f"/api/v1/namespaces/{extra_ns}/configmaps/settings")["data"] == {
            "mode": "blue"
        }
        versions = {
            a.ref: cluster.api("GET", a.ref.api_path())["metadata"]["resourceVersion"] for a in actions
        }

        refs = [a.ref for a in actions]
        missing = ObjectRef("", "v1", "configmaps", "ConfigMap", namespace, "never-made")
        assert existing_objects(kube, [*refs, missing]) == set(refs)

        # the planner would now say "update" (policy update): same bodies, forced; nothing changes
        again = tuple(
            Action(a.ref, Verb.UPDATE, "exists", a.body, a.phase, a.source_path, a.wait) for a in actions
        )
        second = apply_plan(kube, RestorePlan("snap", "test", again, ()))
        assert second.failed == []
        after = {a.ref: cluster.api("GET", a.ref.api_path())["metadata"]["resourceVersion"] for a in actions}
        # kube-apiserver 1.35 stores a Namespace created by apply without managedFields (observed); the
        # next apply records them once. Every other object is left alone: SSA writes nothing when
        # nothing changes.
        changed = {ref.kind for ref in after if after[ref] != versions[ref]}
        assert changed <= {"Namespace"}, changed
        third = apply_plan(kube, RestorePlan("snap", "test", again, ()))
        assert third.failed == []
        final = {a.ref: cluster.api("GET", a.ref.api_path())["metadata"]["resourceVersion"] for a in actions}
        assert final == after, "a re-apply of the same objects must not write anything"
    finally:
        cluster.api("DELETE", f"/api/v1/namespaces/{extra_ns}")


def test_an_invalid_object_is_a_failed_result_naming_the_field_and_the_rest_is_applied(
    cluster: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    bad = _action(
        ObjectRef("apps", "v1", "deployments", "Deployment", namespace, "broken"),
        PHASE_WORKLOADS,
        {
            "spec": {
                "replicas": -1,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            }
        },
        wait="available",
    )
    good = _action(
        ObjectRef("", "v1", "configmaps", "ConfigMap", namespace, "fine"), PHASE_OTHER, {"data": {"k": "v"}}
    )
    report = apply_plan(kube, RestorePlan("snap", "test", (bad, good), ()))
    [failed] = report.failed
    assert failed.action is bad
    assert "spec.replicas" in failed.message
    assert "HTTP 422" in failed.message
    assert report.waits == ()
    assert cluster.exists(f"/api/v1/namespaces/{namespace}/configmaps/fine")

    with pytest.raises(KubeInvalid) as exc:
        server_side_apply(kube, object_path("apps", "v1", "deployments", namespace, "broken"), bad.body)
    assert "spec.replicas" in exc.value.fields
    # the causes come from the Status' structured details.causes, not from the message text
    structured = {f for f, _reason, _msg in exc.value.status_causes}
    assert "spec.replicas" in structured
    (replicas,) = [c for c in exc.value.causes if c.field == "spec.replicas"]
    assert replicas.reason == "Invalid value"
    assert replicas.message.startswith("spec.replicas: Invalid value: -1")


def test_objects_of_a_missing_crd_or_namespace_fail_with_not_found(kube: KubeClient, namespace: str) -> None:
    orphan = _action(
        ObjectRef("", "v1", "configmaps", "ConfigMap", f"{namespace}-absent", "c"), PHASE_CONFIGMAPS, {}
    )
    unknown = _action(
        ObjectRef("nowhere.drkit.test", "v1", "things", "Thing", namespace, "t"), PHASE_OTHER, {}
    )
    report = apply_plan(kube, RestorePlan("snap", "test", (orphan, unknown), ()))
    first, second = report.failed
    assert "HTTP 404" in first.message
    assert f"{namespace}-absent" in first.message
    assert "HTTP 404" in second.message
