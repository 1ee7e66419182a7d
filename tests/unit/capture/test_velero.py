"""The Velero export, read back with tarfile."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime

import pytest

from drkit.capture.resources import CapturedObject
from drkit.capture.velero import VeleroMetadata, velero_paths, write_velero_tar
from drkit.errors import KubernetesError

CM = CapturedObject("", "v1", "configmaps", "ConfigMap", "shop", "settings", "5", b'{"kind":"ConfigMap"}')
DEPLOY = CapturedObject(
    "apps", "v1", "deployments", "Deployment", "shop", "web", "6", b'{"kind":"Deployment"}'
)
PV = CapturedObject("", "v1", "persistentvolumes", "PersistentVolume", "", "pv-1", "7", b'{"kind":"PV"}')
CRD = CapturedObject(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    "",
    "widgets.example.com",
    "8",
    b'{"kind":"CustomResourceDefinition"}',
)
WHEN = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_layout_and_content() -> None:
    out = io.BytesIO()
    stats = write_velero_tar([CM, DEPLOY, PV, CRD, CM], out, VeleroMetadata(created=WHEN))
    assert (stats.objects, stats.members) == (4, 9)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        content = {name: tar.extractfile(m).read() for name, m in members.items()}  # type: ignore[union-attr]
    assert set(content) == {
        "metadata/version",
        "resources/configmaps/namespaces/shop/settings.json",
        "resources/configmaps/v1-preferredversion/namespaces/shop/settings.json",
        "resources/deployments.apps/namespaces/shop/web.json",
        "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
        "resources/persistentvolumes/cluster/pv-1.json",
        "resources/persistentvolumes/v1-preferredversion/cluster/pv-1.json",
        "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json",
        "resources/customresourcedefinitions.apiextensions.k8s.io/v1-preferredversion/cluster/widgets.example.com.json",
    }
    assert content["metadata/version"] == b"1.1.0"
    assert content["resources/deployments.apps/namespaces/shop/web.json"] == DEPLOY.raw
    assert content["resources/persistentvolumes/v1-preferredversion/cluster/pv-1.json"] == PV.raw
    assert all(m.isreg() and m.mtime == int(WHEN.timestamp()) for m in members.values())


def test_same_input_same_bytes() -> None:
    a, b = io.BytesIO(), io.BytesIO()
    write_velero_tar([CM, PV], a, VeleroMetadata(created=WHEN))
    write_velero_tar([CM, PV], b, VeleroMetadata(created=WHEN))
    assert a.getvalue() == b.getvalue()


def test_empty_export_still_has_its_version() -> None:
    out = io.BytesIO()
    write_velero_tar([], out, VeleroMetadata(created=WHEN))
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        assert tar.getnames() == ["metadata/version"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "a/b"])
def test_unsafe_names_never_reach_the_tar(name: str) -> None:
    bad = CapturedObject("", "v1", "configmaps", "ConfigMap", "shop", name, "1", b"{}")
    with pytest.raises(KubernetesError):
        velero_paths(bad)
