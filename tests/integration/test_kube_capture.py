"""drkit.kube and drkit.capture.resources against the real control plane (kube-apiserver + kwok).

One module-scoped namespace holds a ConfigMap, a Secret, a Deployment (with its ReplicaSet and Pod), a
Service, a custom resource of a CRD made for this module, and 520 more ConfigMaps (two pages of 500)."""

from __future__ import annotations

import base64
import io
import json
import secrets
import tarfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.capture.filters import CaptureFilter
from drkit.capture.resources import CapturedObject, capture_resources, object_path
from drkit.capture.velero import VeleroMetadata, write_velero_tar
from drkit.errors import ConfigError
from drkit.kube.client import KubeClient
from drkit.kube.discovery import discover
from drkit.kube.errors import KubeForbidden, KubeNotFound
from drkit.kube.lists import ListPager, canonical_json
from drkit.kube.resource import Resource
from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane

MANY = 520


@dataclass(frozen=True)
class World:
    namespace: str
    group: str  # the CRD's group, unique to this module
    crd_name: str
    kube: KubeClient


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
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
        },
    }


def _established(cluster: ControlPlane, name: str) -> bool:
    crd = cluster.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


@pytest.fixture(scope="module")
def world(cluster: ControlPlane) -> Iterator[World]:
    ns = cluster.api(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "cap-"}},
    )["metadata"]["name"]
    group = f"t{secrets.token_hex(4)}.drkit.example"
    crd_name = f"widgets.{group}"
    cluster.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group))
    base = f"/api/v1/namespaces/{ns}"
    try:
        cluster.wait(lambda: _established(cluster, crd_name), f"CRD {crd_name} Established")
        cluster.api(
            "POST", f"{base}/configmaps", {"metadata": {"name": "settings"}, "data": {"colour": "blue"}}
        )
        cluster.api("POST", f"{base}/secrets", {"metadata": {"name": "token"}, "stringData": {"k": "v"}})
        cluster.api(
            "POST",
            f"{base}/services",
            {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        )
        cluster.api(
            "POST",
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                    },
                },
            },
        )
        cluster.wait(  # the custom resource can be created once its endpoint is served
            lambda: _try_create(cluster, f"/apis/{group}/v1/namespaces/{ns}/widgets", _widget(group)),
            "the first Widget",
        )

        def make(i: int) -> None:
            body = {
                "metadata": {"name": f"many-{i:04d}", "labels": {"parity": "even" if i % 2 == 0 else "odd"}}
            }
            cluster.api("POST", f"{base}/configmaps", {**body, "data": {"i": str(i)}})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(MANY)))
        # let the controllers finish (ReplicaSet, Pod) so the namespace holds still while it is captured
        cluster.wait(lambda: len(cluster.api("GET", f"{base}/pods")["items"]) == 1, "the Deployment's Pod")
        kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
        yield World(ns, group, crd_name, kube)
        kube.close()
    finally:
        cluster.api("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd_name}")
        cluster.api("DELETE", f"/api/v1/namespaces/{ns}")


def _widget(group: str) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "gizmo"}, "spec": {"size": 3}}


def _try_create(cluster: ControlPlane, path: str, body: Any) -> bool:
    try:
        cluster.api("POST", path, body)
    except http.HTTPStatusError as exc:
        if exc.status == 409:
            return True
        if exc.status == 404:
            return False
        raise
    return True


def _capture(kube: KubeClient, f: CaptureFilter) -> tuple[list[CapturedObject], Any]:
    capture = capture_resources(kube, f)
    return list(capture), capture.summary


def test_discovery_sees_deployments_and_the_crd(world: World) -> None:
    found = discover(world.kube)
    assert found.aggregated  # Kubernetes 1.35 serves aggregated discovery
    assert found.find("apps", "deployments") == Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    )
    widget = found.find(world.group, "widgets")
    assert widget is not None
    assert (widget.version, widget.kind, widget.namespaced) == ("v1", "Widget", True)
    assert found.find("", "nodes") is not None
    namespaces = found.find("", "namespaces")
    assert namespaces is not None
    assert not namespaces.namespaced
    assert not any("/" in r.resource for r in found.resources)  # no subresources (pods/log, .../status)
    assert all("list" in r.verbs for r in found.resources)
    assert not found.failures
    classic = discover(world.kube, aggregated=False)
    assert not classic.aggregated
    assert set(classic.resources) == set(found.resources)


def test_capture_of_one_namespace_is_exactly_its_objects(world: World, cluster: ControlPlane) -> None:
    ns = world.namespace
    objects, summary = _capture(world.kube, CaptureFilter.build(include_namespaces=[ns]))
    assert not summary.errors
    namespaced = [o for o in objects if o.namespace]
    assert {o.namespace for o in namespaced} == {ns}
    # auto: only what the namespaced objects need (their CRD, their Namespace)
    assert {(o.qualified_resource, o.name) for o in objects if not o.namespace} == {
        ("customresourcedefinitions.apiextensions.k8s.io", world.crd_name),
        ("namespaces", ns),
    }
    # every included namespaced resource, compared with the API's own lists of the namespace
    found = discover(world.kube)
    for resource in (r for r in found.resources if r.namespaced and r.qualified not in summary.skipped):
        expected = {i["metadata"]["name"] for i in cluster.api("GET", resource.path(ns))["items"]}
        got = [o.name for o in namespaced if (o.group, o.resource) == (resource.group, resource.resource)]
        if resource.qualified in ("endpoints", "endpointslices.discovery.k8s.io"):
            # those a controller makes are left out one by one, and counted (controllermade.py)
            made = sum(
                n for why, n in summary.controller_made.items() if why.startswith(f"{resource.qualified} ")
            )
            assert set(got) <= expected, resource.qualified
            assert len(expected) - len(got) == made, (resource.qualified, summary.controller_made)
            continue
        assert sorted(got) == sorted(expected), resource.qualified
    cms = [o.name for o in namespaced if o.resource == "configmaps"]
    assert len(cms) == len(set(cms)) == MANY + 2  # settings, kube-root-ca.crt
    kinds = {o.kind for o in namespaced}
    assert {
        "ConfigMap",
        "Secret",
        "Deployment",
        "ReplicaSet",
        "Pod",
        "Service",
        "ServiceAccount",
        "Widget",
    } <= kinds
    assert not kinds & {"Event", "Endpoints", "EndpointSlice", "Lease"}
    assert summary.counts["configmaps"] == MANY + 2
    assert int(summary.list_resource_versions[f"configmaps@{ns}"]) > 0
    paths = [object_path(o) for o in objects]
    assert len(set(paths)) == len(paths)
    assert f"resources/{world.group}/v1/widgets/{ns}/gizmo.json" in paths
    assert f"resources/core/v1/namespaces/_cluster/{ns}.json" in paths


def test_raw_json_equals_what_the_api_returns(world: World, cluster: ControlPlane) -> None:
    objects, _ = _capture(world.kube, CaptureFilter.build(include_namespaces=[world.namespace]))
    for kind, path in (
        ("ConfigMap", f"/api/v1/namespaces/{world.namespace}/configmaps/settings"),
        ("Widget", f"/apis/{world.group}/v1/namespaces/{world.namespace}/widgets/gizmo"),
    ):
        [captured] = [o for o in objects if o.kind == kind and o.name == path.rsplit("/", 1)[1]]
        direct = cluster.api("GET", path)
        assert captured.raw == canonical_json(direct)
        assert captured.resource_version == direct["metadata"]["resourceVersion"]
        assert json.loads(captured.raw)["apiVersion"] == direct["apiVersion"]


def test_excluded_resources_are_absent(world: World) -> None:
    f = CaptureFilter.build(
        include_namespaces=[world.namespace], exclude_resources=["secrets", f"*.{world.group}"]
    )
    objects, summary = _capture(world.kube, f)
    assert not any(o.kind in ("Secret", "Widget") for o in objects)
    assert not any(o.resource == "customresourcedefinitions" for o in objects)  # no custom resource needs it
    assert any(o.kind == "ConfigMap" for o in objects)
    assert "excluded" in summary.skipped["secrets"]


def test_events_and_nodes_are_never_captured_by_default(world: World, cluster: ControlPlane) -> None:
    assert cluster.api("GET", "/api/v1/nodes")["items"]  # there is something to skip
    objects, summary = _capture(world.kube, CaptureFilter.build())
    kinds = {o.kind for o in objects}
    assert "Node" not in kinds
    assert "Event" not in kinds
    assert {"events", "events.events.k8s.io", "nodes", "leases.coordination.k8s.io"} <= set(summary.skipped)
    # whole cluster + auto: every cluster-scoped object, e.g. the built-in ClusterRoles
    assert any(o.kind == "ClusterRole" and o.name == "cluster-admin" for o in objects)
    assert any(o.kind == "Namespace" and o.name == world.namespace for o in objects)


def test_paging_and_label_selector(world: World) -> None:
    configmaps = discover(world.kube).find("", "configmaps")
    assert configmaps is not None
    pager = ListPager(world.kube, configmaps, namespace=world.namespace)
    names = [i.name for i in pager]
    assert len(names) == len(set(names)) == MANY + 2
    assert pager.pages == 2
    assert pager.relists == 0
    f = CaptureFilter.build(include_namespaces=[world.namespace], label_selector="parity=even")
    objects, _ = _capture(world.kube, f)
    assert sorted(o.name for o in objects if o.namespace) == [f"many-{i:04d}" for i in range(0, MANY, 2)]


def test_velero_export_of_a_real_capture(world: World) -> None:
    objects, _ = _capture(world.kube, CaptureFilter.build(include_namespaces=[world.namespace]))
    out = io.BytesIO()
    stats = write_velero_tar(objects, out, VeleroMetadata(created=datetime.now(UTC)))
    assert stats.objects == len(objects)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        member = tar.extractfile(f"resources/deployments.apps/namespaces/{world.namespace}/web.json")
        assert member is not None
        assert json.loads(member.read())["kind"] == "Deployment"
        assert (
            f"resources/widgets.{world.group}/v1-preferredversion/namespaces/{world.namespace}/gizmo.json"
            in tar.getnames()
        )


def _token_kubeconfig(cluster: ControlPlane, ns: str, tmp_path: Path) -> Path:
    base = f"/api/v1/namespaces/{ns}"
    cluster.api("POST", f"{base}/serviceaccounts", {"metadata": {"name": "reader"}})
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    cluster.api(
        "POST",
        f"{rbac}/roles",
        {
            "metadata": {"name": "cm-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    cluster.api(
        "POST",
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "cm-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
    )
    token = cluster.api(
        "POST",
        f"{base}/serviceaccounts/reader/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )["status"]["token"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(cluster.pki.ca.cert.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "reader", "user": {"token": token}}],
        "contexts": [{"name": "reader", "context": {"cluster": "c", "user": "reader"}}],
        "current-context": "reader",
    }
    path = tmp_path / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_forbidden_resource_is_reported_per_item(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    cluster.api("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "visible"}})
    kube = KubeClient.from_kubeconfig(_token_kubeconfig(cluster, namespace, tmp_path), "reader")
    with kube:
        capture = capture_resources(kube, CaptureFilter.build(include_namespaces=[namespace]))
        objects = list(capture)
        assert {o.name for o in objects} == {"visible", "kube-root-ca.crt"}
        errors = {e.resource: e for e in capture.summary.errors}
        assert errors["secrets"].status == 403
        assert errors["secrets"].namespace == namespace
        assert 'cannot list resource "secrets"' in errors["secrets"].message
        assert errors["namespaces"].status == 403  # the auto rule wanted the Namespace object
        assert capture.summary.partial
        with pytest.raises(KubeForbidden, match=r"GET /api/v1/secrets denied: HTTP 403") as denied:
            kube.get_json("/api/v1/secrets")
        assert denied.value.status == 403
        assert 'cannot list resource "secrets"' in denied.value.api_message
        with pytest.raises(KubeNotFound):
            kube.get_json(f"/api/v1/namespaces/{namespace}/configmaps/absent")


def test_kubeconfig_errors_name_what_is_wrong(cluster: ControlPlane, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no context 'prod' in the kubeconfig \(it has: drkit-sandbox\)"
    ) as exc:
        KubeClient.from_kubeconfig(cluster.kubeconfig, "prod")
    assert str(cluster.kubeconfig) in str(exc.value)
    with pytest.raises(ConfigError, match="kubeconfig file not found"):
        KubeClient.from_kubeconfig(tmp_path / "absent", None)
    with KubeClient.from_kubeconfig(cluster.kubeconfig, "drkit-sandbox") as kube:
        assert kube.server == cluster.server
        assert kube.context == "drkit-sandbox"


def test_a_failing_aggregated_api_is_reported_not_fatal(world: World, cluster: ControlPlane) -> None:
    """An APIService whose backend does not exist: its group is reported, every other group discovered.
    (Runs last in this module: the APIService is cluster-wide while it exists.)"""
    name = f"v1.broken-{secrets.token_hex(3)}.drkit.example"
    group = name.removeprefix("v1.")
    cluster.api(
        "POST",
        "/apis/apiregistration.k8s.io/v1/apiservices",
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "version": "v1",
                "groupPriorityMinimum": 1000,
                "versionPriority": 15,
                "insecureSkipTLSVerify": True,
                "service": {"namespace": "default", "name": "nothing-here", "port": 443},
            },
        },
    )
    try:
        for aggregated in (True, False):
            cluster.wait(
                _reports(world.kube, group, aggregated),
                f"discovery (aggregated={aggregated}) to report {group}",
            )
            found = discover(world.kube, aggregated=aggregated)
            assert found.find("apps", "deployments") is not None
            assert found.find(world.group, "widgets") is not None
        capture = capture_resources(world.kube, CaptureFilter.build(include_namespaces=[world.namespace]))
        objects = list(capture)
        assert any(o.kind == "Widget" for o in objects)
        assert [e.resource for e in capture.summary.errors] == [f"{group}/v1"]
        assert "discovery" in capture.summary.errors[0].message
    finally:
        cluster.api("DELETE", f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")


def _reports(kube: KubeClient, group: str, aggregated: bool) -> Callable[[], bool]:
    return lambda: any(
        f.group_version == f"{group}/v1" for f in discover(kube, aggregated=aggregated).failures
    )
