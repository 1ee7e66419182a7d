"""capture_resources over a fake KubeClient: ordering, the AUTO rule, paging, 410 relist, errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from drkit.capture.filters import CaptureFilter
from drkit.capture.resources import CapturedObject, capture_resources, object_path
from drkit.errors import KubernetesError
from drkit.kube.lists import ListPager
from drkit.kube.resource import Resource
from tests.unit.capture.fakekube import FakeKube

NS = Resource("", "v1", "namespaces", "Namespace", False)
CM = Resource("", "v1", "configmaps", "ConfigMap", True)
EVENTS = Resource("", "v1", "events", "Event", True)
PVC = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True)
PV = Resource("", "v1", "persistentvolumes", "PersistentVolume", False)
SC = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False)
CR = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
RB = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True)
CRD = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
WIDGET = Resource("example.com", "v1", "widgets", "Widget", True)
ALL = [NS, CM, EVENTS, PVC, PV, SC, CR, RB, CRD, WIDGET]


def obj(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": "7", "uid": f"uid-{name}"}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra.pop("meta", {}))
    return {"metadata": meta, **extra}


def cluster() -> FakeKube:
    return FakeKube(
        ALL,
        {
            NS: [obj("shop"), obj("other"), obj("kube-system")],
            CM: [obj(f"cm-{i:04d}", "shop", data={"i": str(i)}) for i in range(1203)]
            + [obj("cm-x", "other", meta={"labels": {"app": "x"}})],
            EVENTS: [obj("ev", "shop")],
            PVC: [obj("data", "shop", spec={"volumeName": "pv-1", "storageClassName": "fast"})],
            PV: [obj("pv-1"), obj("pv-2")],
            SC: [obj("fast"), obj("slow")],
            CR: [obj("view"), obj("edit")],
            RB: [obj("rb", "shop", roleRef={"kind": "ClusterRole", "name": "view"})],
            CRD: [obj("widgets.example.com"), obj("gadgets.example.com")],
            WIDGET: [obj("w", "shop", spec={"size": 3})],
        },
    )


def names(objects: list[CapturedObject]) -> set[tuple[str, str, str]]:
    return {(o.qualified_resource, o.namespace, o.name) for o in objects}


def test_auto_takes_exactly_what_the_namespace_needs() -> None:
    fake = cluster()
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    objects = list(capture)
    cluster_objects = {(o.qualified_resource, o.name) for o in objects if not o.namespace}
    assert cluster_objects == {
        ("namespaces", "shop"),
        ("persistentvolumes", "pv-1"),
        ("storageclasses.storage.k8s.io", "fast"),
        ("clusterroles.rbac.authorization.k8s.io", "view"),
        ("customresourcedefinitions.apiextensions.k8s.io", "widgets.example.com"),
    }
    assert {o.namespace for o in objects if o.namespace} == {"shop"}
    cms = [o for o in objects if o.resource == "configmaps"]
    assert len(cms) == len({o.name for o in cms}) == 1203  # three pages of 500, each object once
    # namespaced first, cluster-scoped last: the auto rule needs them all before it lists PVs
    first_cluster = next(i for i, o in enumerate(objects) if not o.namespace)
    assert all(not o.namespace for o in objects[first_cluster:])
    summary = capture.summary
    assert summary.counts["configmaps"] == 1203
    assert summary.objects == len(objects)
    assert summary.bytes == sum(len(o.raw) for o in objects)
    assert "events" in summary.skipped
    assert "default skip list" in summary.skipped["events"]
    assert summary.list_resource_versions["configmaps@shop"] == "1000"
    assert not summary.errors
    assert not summary.partial
    # what auto left out is named: the cluster-scoped objects nothing in the namespace references
    assert {r: sorted(n) for r, n in summary.left_out.items()} == {
        "namespaces": ["kube-system", "other"],
        "persistentvolumes": ["pv-2"],
        "storageclasses.storage.k8s.io": ["slow"],
        "clusterroles.rbac.authorization.k8s.io": ["edit"],
        "customresourcedefinitions.apiextensions.k8s.io": ["gadgets.example.com"],
    }


def test_auto_names_the_objects_of_a_cluster_resource_nothing_references() -> None:
    pc = Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False)
    fake = FakeKube([NS, CM, pc], {NS: [obj("shop")], CM: [obj("c", "shop")], pc: [obj("batch-low")]})
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    objects = list(capture)
    assert "priorityclasses.scheduling.k8s.io" not in {o.qualified_resource for o in objects}
    assert capture.summary.left_out == {"priorityclasses.scheduling.k8s.io": ["batch-low"]}
    assert "auto" in capture.summary.skipped["priorityclasses.scheduling.k8s.io"]


def test_whole_cluster_auto_takes_every_cluster_object_and_raw_is_canonical() -> None:
    objects = list(capture_resources(cluster().as_client(), CaptureFilter.build()))
    assert ("persistentvolumes", "", "pv-2") in names(objects)
    assert ("configmaps", "other", "cm-x") in names(objects)
    assert not any(o.resource == "events" for o in objects)
    widget = next(o for o in objects if o.resource == "widgets")
    assert widget.raw == (
        b'{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"shop",'
        b'"resourceVersion":"7","uid":"uid-w"},"spec":{"size":3}}'
    )
    assert (widget.kind, widget.api_version, widget.resource_version, widget.list_resource_version) == (
        "Widget",
        "example.com/v1",
        "7",
        "1000",
    )
    assert object_path(widget) == "resources/example.com/v1/widgets/shop/w.json"


def test_false_takes_no_cluster_object_and_selector_passes_through() -> None:
    fake = cluster()
    f = CaptureFilter.build(include_cluster_resources="false", label_selector="app=x")
    objects = list(capture_resources(fake.as_client(), f))
    assert names(objects) == {("configmaps", "other", "cm-x")}
    assert all(q.get("labelSelector") == "app=x" for p, q in fake.requests if p not in ("/api", "/apis"))


def test_exclusions() -> None:
    f = CaptureFilter.build(
        exclude_namespaces=["shop"], exclude_resources=["*.example.com", "persistentvolumes"]
    )
    objects = list(capture_resources(cluster().as_client(), f))
    assert not any(o.namespace == "shop" for o in objects)
    assert not any(o.group == "example.com" or o.resource == "persistentvolumes" for o in objects)
    assert ("namespaces", "", "shop") in names(objects)  # whole-cluster auto: the Namespace itself stays


def test_expired_continue_token_relists_without_duplicates() -> None:
    fake = cluster()
    fake.expire_continue_once = True
    pager = ListPager(fake.as_client(), CM, namespace="shop")
    items = list(pager)
    assert len(items) == len({i.name for i in items}) == 1203
    assert pager.relists == 1
    assert pager.resource_version == "1001"  # the relist's
    assert json.loads(items[0].raw)["kind"] == "ConfigMap"


def test_a_forbidden_resource_is_an_error_not_a_gap() -> None:
    fake = cluster()
    fake.forbidden.add("configmaps")
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    objects = list(capture)
    assert not any(o.resource == "configmaps" for o in objects)
    assert any(o.resource == "widgets" for o in objects)
    [error] = capture.summary.errors
    assert error.resource == "configmaps"
    assert error.namespace == "shop"
    assert error.status == 403
    assert "forbidden" in str(error)
    assert "GET /api/v1/namespaces/shop/configmaps" in str(error)
    assert capture.summary.partial


def test_progress_is_called_per_list() -> None:
    calls: list[tuple[str, str | None, int]] = []
    list(
        capture_resources(
            cluster().as_client(),
            CaptureFilter.build(include_namespaces=["shop", "other"]),
            progress=lambda r, ns, n: calls.append((r.qualified, ns, n)),
        )
    )
    assert ("configmaps", "shop", 1203) in calls
    assert ("configmaps", "other", 1) in calls


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "a\x00b"])
def test_object_path_refuses_unsafe_names(bad: str) -> None:
    o = CapturedObject("", "v1", "configmaps", "ConfigMap", "shop", bad, "1", b"{}")
    with pytest.raises(KubernetesError, match="safe path segment"):
        object_path(o)


def test_object_path_layout() -> None:
    ns = CapturedObject("", "v1", "configmaps", "ConfigMap", "shop", "system:x.y", "1", b"{}")
    cl = CapturedObject(
        "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "", "view", "1", b"{}"
    )
    assert object_path(ns) == "resources/core/v1/configmaps/shop/system:x.y.json"
    assert object_path(cl) == "resources/rbac.authorization.k8s.io/v1/clusterroles/_cluster/view.json"


def test_an_unsafe_name_from_the_server_is_reported_and_not_captured() -> None:
    fake = cluster()
    fake.objects[CM].append(obj("..", "shop"))
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    objects = list(capture)
    assert not any(o.name == ".." for o in objects)
    assert any("safe path segment" in e.message for e in capture.summary.errors)


def test_namespace_globs_are_matched_against_the_list_of_namespaces() -> None:
    fake = cluster()
    f = CaptureFilter.build(include_namespaces=["sh*", "oth?r"], exclude_namespaces=["other"])
    objects = list(capture_resources(fake.as_client(), f))
    assert {o.namespace for o in objects if o.namespace} == {"shop"}
    assert ("/api/v1/namespaces", {}) in fake.requests
    assert not any(p.startswith("/api/v1/namespaces/other/") for p, _ in fake.requests)


ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints", True)
SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True)
SERVICES = Resource("", "v1", "services", "Service", True)


def test_hand_written_endpoints_are_kept_and_controller_made_ones_counted() -> None:
    """Endpoints and EndpointSlices are listed after Services (even when discovery lists them first):
    those of a Service without a selector are hand-written and kept; the controllers' are counted."""
    made = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    fake = FakeKube(
        [ENDPOINTS, SLICES, SERVICES],
        {
            ENDPOINTS: [obj("web", "shop"), obj("external", "shop")],
            SLICES: [
                obj("web-abcde", "shop", meta={"labels": {**made, "kubernetes.io/service-name": "web"}}),
                obj("external-1", "shop", meta={"labels": {"kubernetes.io/service-name": "external"}}),
            ],
            SERVICES: [
                obj("web", "shop", spec={"selector": {"app": "web"}}),
                obj("external", "shop", spec={}),
            ],
        },
    )
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    got = names(list(capture))
    assert ("endpoints", "shop", "external") in got
    assert ("endpointslices.discovery.k8s.io", "shop", "external-1") in got
    assert ("endpoints", "shop", "web") not in got
    assert ("endpointslices.discovery.k8s.io", "shop", "web-abcde") not in got
    made_counts = capture.summary.controller_made
    assert sum(made_counts.values()) == 2
    assert any(k.startswith("endpointslices.discovery.k8s.io controller-made") for k in made_counts)
    assert "endpoints" not in capture.summary.skipped


def test_a_namespace_selector_chooses_namespaces_by_their_labels() -> None:
    fake = FakeKube(
        [NS, CM],
        {
            NS: [obj("tenant-a", meta={"labels": {"team": "red"}}), obj("tenant-b")],
            CM: [obj("a", "tenant-a"), obj("b", "tenant-b")],
        },
    )
    capture = capture_resources(fake.as_client(), CaptureFilter.build(namespace_selector="team=red"))
    assert names(list(capture)) == {("configmaps", "tenant-a", "a"), ("namespaces", "", "tenant-a")}
    assert capture.summary.warnings == []
    nothing = capture_resources(fake.as_client(), CaptureFilter.build(namespace_selector="team=green"))
    assert names(list(nothing)) == set()
    assert nothing.summary.warnings == [
        "the namespace selector 'team=green' matched no namespace: no namespaced object is captured"
    ]
    by_labels = capture_resources(fake.as_client(), CaptureFilter.build(label_selector="team=red"))
    list(by_labels)
    assert "matched no namespaced object" in by_labels.summary.warnings[0]
    assert "--namespace-selector" in by_labels.summary.warnings[0]


CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob", True)
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True)
INGRESS_CLASSES = Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False)
PRIORITY_CLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False)
CRB = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False)
WEBHOOKS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    False,
)


def test_auto_follows_the_reference_graph() -> None:
    """Issue 18.3: the PriorityClass a CronJob uses, the IngressClass an Ingress uses, the
    ClusterRoleBinding of a ServiceAccount of the namespace (and its ClusterRole, listed before it by
    discovery), a webhook backed by a Service there: all captured with the namespace; others not."""
    pod = {"spec": {"template": {"spec": {"priorityClassName": "nightly", "containers": []}}}}
    fake = FakeKube(
        [NS, CR, PRIORITY_CLASSES, INGRESS_CLASSES, CRB, WEBHOOKS, CRONJOBS, INGRESSES],
        {
            NS: [obj("shop"), obj("other")],
            CR: [obj("reader"), obj("unrelated")],
            PRIORITY_CLASSES: [obj("nightly"), obj("urgent")],
            INGRESS_CLASSES: [obj("public"), obj("internal")],
            CRB: [
                obj(
                    "shop-reader",
                    roleRef={"kind": "ClusterRole", "name": "reader"},
                    subjects=[{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}],
                ),
                obj(
                    "other-reader",
                    roleRef={"kind": "ClusterRole", "name": "unrelated"},
                    subjects=[{"kind": "ServiceAccount", "name": "app", "namespace": "other"}],
                ),
            ],
            WEBHOOKS: [
                obj(
                    "shop-hook",
                    webhooks=[{"clientConfig": {"service": {"namespace": "shop", "name": "hook"}}}],
                ),
                obj(
                    "other-hook",
                    webhooks=[{"clientConfig": {"service": {"namespace": "other", "name": "h"}}}],
                ),
            ],
            CRONJOBS: [obj("report", "shop", spec={"jobTemplate": pod})],
            INGRESSES: [obj("web", "shop", spec={"ingressClassName": "public"})],
        },
    )
    capture = capture_resources(fake.as_client(), CaptureFilter.build(include_namespaces=["shop"]))
    cluster_objects = {(o.qualified_resource, o.name) for o in capture if not o.namespace}
    assert cluster_objects == {
        ("namespaces", "shop"),
        ("priorityclasses.scheduling.k8s.io", "nightly"),
        ("ingressclasses.networking.k8s.io", "public"),
        ("clusterrolebindings.rbac.authorization.k8s.io", "shop-reader"),
        ("clusterroles.rbac.authorization.k8s.io", "reader"),
        ("validatingwebhookconfigurations.admissionregistration.k8s.io", "shop-hook"),
    }


def test_the_next_page_is_asked_for_while_the_current_one_is_consumed() -> None:
    """The API server prepares page n+1 while drkit stores page n (they overlap on two cores)."""
    fake = cluster()
    pager = iter(ListPager(fake.as_client(), CM, namespace="shop", limit=500))
    first = next(pager)  # one item of page 1 taken; 499 still to come

    def asked(token: str) -> bool:
        return any(q.get("continue") == token for _p, q in list(fake.requests))

    for _ in range(500):  # the request runs on another thread: give it up to 5 s to be sent
        if asked("500"):
            break
        time.sleep(0.01)
    assert asked("500")
    assert not asked("1000")  # one page ahead, no more: memory stays one page per list
    rest = list(pager)
    assert [first.name, *(i.name for i in rest)] == [f"cm-{i:04d}" for i in range(1203)]
