"""The real node itself: a pod of a locally built image starts, gets a dynamically provisioned claim,
writes to it, answers HTTP through the API server, and the API server execs into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.kube.client import KubeClient
from drkit.kube.exec import KubePodExec
from drkit.sandbox.controlplane import ControlPlane
from tests.node import workloads as w


@pytest.fixture
def ns(real_cluster: ControlPlane) -> Iterator[str]:
    name = w.namespace(real_cluster, "pods")
    yield name
    w.delete_namespace(real_cluster, name)


def test_a_restricted_pod_writes_its_provisioned_claim_and_answers_through_the_api_server(
    real_cluster: ControlPlane, ns: str
) -> None:
    w.claim(real_cluster, ns, "data")
    script = "echo 'hello from a real pod' > /data/index.html && exec httpd -f -p 8080 -h /data"
    w.create(real_cluster, ns, w.app_pod("web", script))
    pod = w.wait_ready(real_cluster, ns, "web")
    assert pod["spec"]["nodeName"] == "node-0"
    assert pod["status"]["podIP"].startswith("10.")

    # HTTP from the pod, through the API server's proxy to the pod's address on the bridge
    body = w.proxy_get(real_cluster, f"/api/v1/namespaces/{ns}/pods/web:8080/proxy/index.html")
    assert body == "hello from a real pod\n"

    # the claim was provisioned on the node the scheduler chose, and the file is really on disk
    claim = real_cluster.api("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "drkit-local"
    pv = real_cluster.api("GET", f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    on_disk = Path(pv["spec"]["hostPath"]["path"]) / "index.html"
    assert on_disk.read_text() == "hello from a real pod\n"
    assert on_disk.stat().st_uid == w.APP_UID  # written by the container's user, not by this test

    # exec: what backup hooks use
    kube = KubeClient.from_kubeconfig(real_cluster.kubeconfig)
    try:
        done = KubePodExec(kube).exec(ns, "web", "app", ["sh", "-c", "id -u; cat /data/index.html >&2"], 30)
    finally:
        kube.close()
    assert (done.exit_code, done.stdout.strip(), done.stderr) == (
        0,
        str(w.APP_UID),
        "hello from a real pod\n",
    )


def test_a_pod_that_breaks_pod_security_is_refused(real_cluster: ControlPlane, ns: str) -> None:
    """The namespaces these tests use really enforce "restricted" (so the mover tests prove something)."""
    pod = w.app_pod("root", "sleep 1", claim_name=None)
    pod["spec"]["securityContext"] = {"runAsUser": 0}
    del pod["spec"]["containers"][0]["securityContext"]
    from drkit.sandbox import http

    with pytest.raises(http.HTTPStatusError) as refused:
        w.create(real_cluster, ns, pod)
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body
