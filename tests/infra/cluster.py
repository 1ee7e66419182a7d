"""pytest fixtures: one local control plane with a kwok node per session (`cluster`), and a fresh
namespace per test (`namespace`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drkit.errors import MissingComponent
from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane
from tests.infra.plugin import missing


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok, one fake node `kwok-node-0`
    (label type=kwok, annotation kwok.x-k8s.io/node=fake). `cluster.kubeconfig` is an admin kubeconfig."""
    try:
        plane = ControlPlane.start(tmp_path_factory.mktemp("cluster"), nodes=1)
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise  # unreachable: missing() skips or fails
    yield plane
    plane.stop()


@pytest.fixture
def namespace(cluster: ControlPlane) -> Iterator[str]:
    """A new namespace with its default service account and root CA ConfigMap; deleted after."""
    created = cluster.api(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "test-"}},
    )
    name: str = created["metadata"]["name"]
    cluster.wait(
        lambda: cluster.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        f"the default service account in namespace {name}",
    )
    # the root CA publisher adds this ConfigMap a moment after the namespace; tests that list a
    # namespace's objects expect it, so wait for it as for the service account (CI once saw it missing)
    cluster.wait(
        lambda: cluster.exists(f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt"),
        f"the kube-root-ca.crt ConfigMap in namespace {name}",
    )
    yield name
    try:
        cluster.api("DELETE", f"/api/v1/namespaces/{name}")
    except http.HTTPStatusError as exc:
        if exc.status != 404:
            raise
