"""The local control plane: workloads are scheduled onto the kwok node and reach Running."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config

from drkit.sandbox import binaries, http
from drkit.sandbox.controlplane import COMPONENTS, ControlPlane
from tests.infra.plugin import missing

PAUSE = "registry.k8s.io/pause:3.10"


class Kube:
    """The official client from the fixture's kubeconfig; answers as plain JSON-like dicts."""

    def __init__(self, cluster: ControlPlane) -> None:
        self.api_client: Any = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)

    def plain(self, obj: object) -> Any:
        return self.api_client.sanitize_for_serialization(obj)


def _wait(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_node_is_ready_and_fake(cluster: ControlPlane) -> None:
    kube = Kube(cluster)
    node = kube.plain(kube.core.read_node(cluster.nodes[0]))
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["metadata"]["labels"]["type"] == "kwok"
    ready = [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready == ["True"]
    assert node["status"]["allocatable"]["pods"] == "110"


def test_kubeconfig_is_private_admin(cluster: ControlPlane) -> None:
    assert cluster.kubeconfig == cluster.workdir / "kubeconfig"
    assert cluster.kubeconfig.stat().st_mode & 0o077 == 0
    kube = Kube(cluster)
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="*", resource="*")
        )
    )
    answer = kube.plain(client.AuthorizationV1Api(kube.api_client).create_self_subject_access_review(review))
    assert answer["status"]["allowed"] is True


def _pod_spec() -> client.V1PodSpec:
    return client.V1PodSpec(
        containers=[client.V1Container(name="app", image=PAUSE)],
        node_selector={"type": "kwok"},
        tolerations=[client.V1Toleration(key="kwok.x-k8s.io/node", operator="Exists", effect="NoSchedule")],
    )


def test_deployment_runs_on_kwok_node(cluster: ControlPlane, namespace: str) -> None:
    kube = Kube(cluster)
    labels = {"app": "web"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=_pod_spec()),
        ),
    )
    kube.apps.create_namespaced_deployment(namespace, deployment)

    def available() -> bool:
        status = kube.plain(kube.apps.read_namespaced_deployment_status("web", namespace))["status"]
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return conditions.get("Available") == "True" and status.get("availableReplicas") == 2

    _wait("deployment web to be Available with 2 replicas", available)
    pods = kube.plain(kube.core.list_namespaced_pod(namespace, label_selector="app=web"))["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
    for pod in pods:
        assert pod["spec"]["nodeName"] == cluster.nodes[0]
        assert pod["status"]["podIP"]
        assert [c["ready"] for c in pod["status"]["containerStatuses"]] == [True]


def test_deleted_pods_go_away(cluster: ControlPlane, namespace: str) -> None:
    kube = Kube(cluster)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="once"), spec=_pod_spec())
    kube.core.create_namespaced_pod(namespace, pod)

    def phase() -> str:
        return str(kube.plain(kube.core.read_namespaced_pod("once", namespace))["status"].get("phase"))

    _wait("pod once to run", lambda: phase() == "Running")
    kube.core.delete_namespaced_pod("once", namespace)

    def names() -> list[str]:
        return [p["metadata"]["name"] for p in kube.plain(kube.core.list_namespaced_pod(namespace))["items"]]

    _wait("pod once to be deleted", lambda: names() == [])
    assert names() == []


def test_control_plane_on_tls_etcd(tmp_path: Path) -> None:
    """With `etcd_tls=True` the API server stores through client certificates, like kubeadm's."""
    if not binaries.have(*COMPONENTS):
        missing(f"the control plane binaries ({', '.join(COMPONENTS)})")
    with ControlPlane.start(tmp_path, nodes=0, etcd_tls=True) as plane:
        assert plane.etcd.endpoint.startswith("https://")
        plane.api(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "stored"}, "data": {"k": "v"}},
        )
        key = base64.b64encode(b"/registry/configmaps/default/stored").decode()
        doc = http.call_json(
            "POST",
            f"{plane.etcd.endpoint}/v3/kv/range",
            body={"key": key},
            context=plane.etcd.client_context(),
        )
        assert doc["count"] == "1"
    assert not any(c.process.alive() for c in plane.components)
