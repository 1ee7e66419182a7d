"""pytest fixtures: one sandbox control plane with a real node per session (`real_cluster`), MinIO
where its pods reach it (`real_s3`), and a fresh namespace on it per test (`real_namespace`).

A real node needs root, the kubelet (`make testbin`), containerd/runc/CNI (hack/system-deps.sh) and
the images (`make image`): without them the tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drkit.errors import MissingComponent
from drkit.sandbox import minio, realnode
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.s3server import S3Server
from tests.infra.plugin import missing
from tests.infra.s3 import bucket_name


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + controller-manager + scheduler and one real node `node-0`
    (containerd + kubelet) with drkit's images imported; no kwok node, so every pod really runs."""
    try:
        images = realnode.default_images()
        plane = ControlPlane.start(
            tmp_path_factory.mktemp("real-cluster"), nodes=0, real_nodes=1, images=images
        )
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin` and `make image` as root")
        raise  # unreachable: missing() skips or fails
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def real_s3_server(
    real_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """MinIO listening on the pod network's gateway: the same endpoint for this process and for pods."""
    assert real_cluster.gateway is not None
    try:
        server = minio.start(tmp_path_factory.mktemp("real-s3"), host=real_cluster.gateway)
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise
    yield server
    server.stop()


@pytest.fixture
def real_s3(real_s3_server: S3Server, request: pytest.FixtureRequest) -> S3Server:
    """The session's MinIO with ``bucket`` set to a new Object Lock bucket for this test."""
    import dataclasses

    name = bucket_name(request.node.name)
    real_s3_server.create_bucket(name, object_lock=True)
    return dataclasses.replace(real_s3_server, bucket=name)
