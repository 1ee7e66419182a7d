"""`drkit backup run` against the real control plane and real etcd (issue 4's "done when")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit import __version__
from drkit.capture.cluster import ETCD_CHUNK_SIZE, ETCD_PATH
from drkit.errors import ExitCode
from drkit.etcd import EtcdClient, EtcdTLS, snapshotfile
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.etcd import EtcdServer
from drkit.sandbox.ports import free_port
from drkit.secret import Secret
from drkit.storage.local import LocalStore

LABELS = {"app": "shop"}

WORKLOAD = """
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
  data: {mode: "blue"}
- apiVersion: v1
  kind: Secret
  metadata: {name: db-password}
  stringData: {password: "s3cr3t-value-never-logged"}
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: shop}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {name: data}
  spec:
    accessModes: [ReadWriteOnce]
    resources: {requests: {storage: 1Gi}}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec:
    selector: {app: shop}
    ports: [{port: 80}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
  spec:
    replicas: 1
    selector: {matchLabels: {app: shop}}
    template:
      metadata: {labels: {app: shop}}
      spec:
        containers: [{name: web, image: nginx}]
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db}
  spec:
    serviceName: web
    replicas: 1
    selector: {matchLabels: {app: db}}
    template:
      metadata: {labels: {app: db}}
      spec:
        containers: [{name: db, image: postgres}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: reader}
  rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: reader}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
  subjects: [{kind: ServiceAccount, name: shop}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: viewers}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{kind: ServiceAccount, name: shop}]
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny-all}
  spec: {podSelector: {}, policyTypes: [Ingress]}
"""

KIND_PATHS = {
    "ConfigMap": "core/v1/configmaps",
    "Secret": "core/v1/secrets",
    "ServiceAccount": "core/v1/serviceaccounts",
    "PersistentVolumeClaim": "core/v1/persistentvolumeclaims",
    "Service": "core/v1/services",
    "Deployment": "apps/v1/deployments",
    "StatefulSet": "apps/v1/statefulsets",
    "Role": "rbac.authorization.k8s.io/v1/roles",
    "RoleBinding": "rbac.authorization.k8s.io/v1/rolebindings",
    "NetworkPolicy": "networking.k8s.io/v1/networkpolicies",
}


def _collection(obj: dict[str, Any], namespace: str) -> str:
    group_version = obj["apiVersion"]
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{base}/namespaces/{namespace}/{KIND_PATHS[obj['kind']].rsplit('/', 1)[1]}"


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
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
        },
    }


def _wait(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "DRKIT_REPO": str(tmp / "repo"),
            "DRKIT_PASSWORD": "a passphrase for the backup run test",
            "DRKIT_SCRYPT_N": "1024",
        }
        assert self.run("repo", "init").returncode == 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=self.env, check=False
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def shop(cluster: ControlPlane, namespace: str) -> Iterator[str]:
    group = f"{namespace}.drkit.test"
    cluster.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group))
    name = f"gadgets.{group}"

    def established() -> bool:
        crd = cluster.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        return any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        )

    _wait(established, f"CRD {name} Established")
    for obj in yaml.safe_load(WORKLOAD):
        cluster.api("POST", _collection(obj, namespace), obj)
    gadget = {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 3}}
    cluster.api("POST", f"/apis/{group}/v1/namespaces/{namespace}/gadgets", gadget)
    yield group
    # the cluster is shared by the session: leave no cluster-scoped type behind for other tests
    cluster.api("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")


def test_backup_run_captures_every_kind_and_etcd_and_dedups_the_second_run(
    cluster: ControlPlane, namespace: str, shop: str, tmp_path: Path
) -> None:
    drkit = Drkit(tmp_path)
    common = ("backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace)
    first = drkit.run("--log-level", "info", *common, "--etcd-endpoints", cluster.etcd.endpoint, "-o", "json")
    assert first.returncode == 0, first.stderr
    snap = json.loads(first.stdout)
    assert "s3cr3t-value-never-logged" not in first.stdout + first.stderr

    paths = {row["path"] for row in drkit.json("snapshot", "ls", snap["id"])}
    for kind, where in KIND_PATHS.items():
        name = {"Secret": "db-password", "ConfigMap": "settings", "PersistentVolumeClaim": "data"}.get(kind)
        expected = name or ("deny-all" if kind == "NetworkPolicy" else None)
        prefix = f"resources/{where}/{namespace}/"
        found = [p for p in paths if p.startswith(prefix)]
        assert found, f"no {kind} captured under {prefix}"
        if expected:
            assert f"{prefix}{expected}.json" in paths
    assert f"resources/{shop}/v1/gadgets/{namespace}/g1.json" in paths
    assert (
        f"resources/apiextensions.k8s.io/v1/customresourcedefinitions/_cluster/gadgets.{shop}.json" in paths
    )
    assert f"resources/core/v1/namespaces/_cluster/{namespace}.json" in paths
    assert (
        "resources/rbac.authorization.k8s.io/v1/clusterroles/_cluster/view.json" in paths
    )  # auto: bound role
    assert "etcd/snapshot.db" in paths
    assert not any("/events/" in p or "/nodes/" in p for p in paths)
    etcd_meta = snap["meta"]["etcd"]
    # The API server writes to etcd all the time: the revision is exact only when nothing was written
    # during the stream, else None with the bracket kept (drkit.etcd.snapshot).
    assert 0 < etcd_meta["revision_min"] <= etcd_meta["revision_max"]
    assert etcd_meta["revision"] in (None, etcd_meta["revision_min"])
    assert snap["meta"]["resources"]["errors"] == []

    cm = cluster.api("GET", f"/api/v1/namespaces/{namespace}/configmaps/settings")
    cm["data"]["mode"] = "green"
    cluster.api("PUT", f"/api/v1/namespaces/{namespace}/configmaps/settings", cm)
    ran = drkit.run(*common, "-o", "json")  # stderr is no terminal: the phases as lines
    assert ran.returncode == 0, ran.stderr
    second = json.loads(ran.stdout)
    assert "drkit: resources: " in ran.stderr
    assert "\x1b[" not in ran.stderr  # no bars drawn into a pipe
    assert "\r" not in ran.stderr
    first_resources = snap["meta"]["resources"]["bytes"]
    assert second["meta"]["resources"]["objects"] == snap["meta"]["resources"]["objects"]
    # one changed object, its directory trees and the object list: a small fraction of the capture
    assert second["new_bytes"] < first_resources / 2, (second["new_bytes"], first_resources)

    export = tmp_path / "velero.tar.gz"
    assert drkit.run("snapshot", "export", "latest", "-f", str(export)).returncode == 0
    import tarfile

    with tarfile.open(export) as tar:
        member = tar.extractfile(f"resources/configmaps/namespaces/{namespace}/settings.json")
        assert member is not None
        assert json.loads(member.read())["data"]["mode"] == "green"


def test_etcd_over_tls_restores_with_etcdutl_and_hashkv_matches(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    for i in range(50):  # ~5 MiB of values: the database spans several fixed-size chunks
        client_put(etcd_tls, f"/registry/configmaps/default/cm-{i}", f"value {i} " + "x" * 100_000)
    drkit = Drkit(tmp_path)
    snap = drkit.json(
        "backup",
        "run",
        "--no-resources",
        "--etcd-endpoints",
        etcd_tls.endpoint,
        "--etcd-cacert",
        str(etcd_tls.ca_file),
        "--etcd-cert",
        str(etcd_tls.cert_file),
        "--etcd-key",
        str(etcd_tls.key_file),
    )
    record = snap["meta"]["etcd"]
    restored_dir = tmp_path / "from-repo"
    assert drkit.run("restore", "path", f"{snap['id']}:etcd", str(restored_dir)).returncode == 0
    db = restored_dir / "snapshot.db"
    assert db.stat().st_size == record["stored_size"]
    # cut at fixed offsets (the page-wise dedup of docs/performance.md), not with FastCDC
    reader = Repository.open(
        LocalStore(tmp_path / "repo"), Credential(passphrase=Secret(drkit.env["DRKIT_PASSWORD"]))
    )
    sizes = [len(c) for c in reader.snapshot_reader(snap["id"]).stream(ETCD_PATH)]
    assert len(sizes) > 3
    assert set(sizes[:-1]) == {ETCD_CHUNK_SIZE}
    data_dir = tmp_path / "restored-data"
    peer = f"http://127.0.0.1:{free_port()}"
    snapshotfile.restore(
        db,
        data_dir,
        name="etcd",
        initial_cluster=f"etcd={peer}",
        initial_advertise_peer_urls=peer,
        etcdutl=_etcdutl(),
    )
    restored = EtcdServer.start(tmp_path / "restored", tls=True, name="etcd", data_dir=data_dir)
    try:
        proof = EtcdClient([restored.endpoint], _tls_for(restored)).verify_restored(record["hash_kv"])
        assert proof.hash == record["hash_kv"]["hash"]
    finally:
        restored.stop()


def _etcdutl() -> Path:
    from drkit.sandbox.binaries import find

    return find("etcdutl")


def _tls_for(server: EtcdServer) -> EtcdTLS:
    return EtcdTLS(ca_file=server.ca_file, cert_file=server.cert_file, key_file=server.key_file)


def client_put(server: EtcdServer, key: str, value: str) -> None:
    import base64

    from drkit.sandbox import http

    body = {
        "key": base64.b64encode(key.encode()).decode(),
        "value": base64.b64encode(value.encode()).decode(),
    }
    http.call_json(
        "POST",
        f"{server.endpoint}/v3/kv/put",
        body=body,
        context=http.tls_context(server.ca_file, server.cert_file, server.key_file),
    )


def test_bad_input_names_what_failed(cluster: ControlPlane, etcd_tls: EtcdServer, tmp_path: Path) -> None:
    drkit = Drkit(tmp_path)
    unreachable = drkit.run("backup", "run", "--no-resources", "--etcd-endpoints", "http://127.0.0.1:9")
    assert unreachable.returncode == ExitCode.ETCD
    assert "127.0.0.1:9" in unreachable.stderr

    no_cert = drkit.run(
        "backup",
        "run",
        "--no-resources",
        "--etcd-endpoints",
        etcd_tls.endpoint,
        "--etcd-cacert",
        str(etcd_tls.ca_file),
    )
    assert no_cert.returncode == ExitCode.ETCD
    assert etcd_tls.endpoint.split("//")[1] in no_cert.stderr

    no_context = drkit.run("backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--context", "nope")
    assert no_context.returncode == ExitCode.USAGE
    assert "nope" in no_context.stderr
    assert str(cluster.kubeconfig) in no_context.stderr
    assert drkit.json("snapshots") == [], "a failed backup must leave no snapshot"


def test_backup_run_from_a_schedule_file(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-schedule"}, "data": {"k": "v"}},
    )
    drkit = Drkit(tmp_path)  # DRKIT_REPO points at tmp/repo; the schedule names another repository
    scheduled_repo = tmp_path / "scheduled-repo"
    env_repo = {**drkit.env, "DRKIT_REPO": str(scheduled_repo)}
    assert (
        subprocess.run(
            [sys.executable, "-m", "drkit", "repo", "init"], env=env_repo, capture_output=True, check=False
        ).returncode
        == 0
    )
    schedule = tmp_path / "schedules" / "ns.yaml"
    schedule.parent.mkdir()
    schedule.write_text(
        f"""apiVersion: drkit.io/v1
kind: Schedule
metadata: {{name: ns-backup}}
spec:
  cron: "0 3 * * *"
  repository: {{url: ../scheduled-repo}}
  kube: {{kubeconfig: {cluster.kubeconfig}}}
  resources: {{includeNamespaces: [{namespace}]}}
  etcd: {{endpoints: ["{cluster.etcd.endpoint}"]}}
  tags: [scheduled]
"""
    )
    snap = drkit.json("backup", "run", "--schedule", str(schedule), "--tag", "extra")
    assert snap["tags"] == [
        "scheduled",
        "schedule=ns-backup",
        "extra",
    ]  # schedule=: the status page groups by it
    etcd_meta = snap["meta"]["etcd"]
    # The API server writes to etcd all the time: the revision is exact only when nothing was written
    # during the stream, else None with the bracket kept (drkit.etcd.snapshot).
    assert 0 < etcd_meta["revision_min"] <= etcd_meta["revision_max"]
    assert etcd_meta["revision"] in (None, etcd_meta["revision_min"])
    assert snap["meta"]["drkit"] == {"capture": 1, "version": __version__, "schedule": "ns-backup"}
    shown = subprocess.run(
        [sys.executable, "-m", "drkit", "snapshot", "show", "latest"],
        env=env_repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Schedule: ns-backup" in shown.stdout
    assert "etcd:" in shown.stdout
    assert "HashKV:" in shown.stdout
    if etcd_meta["revision"] is not None:
        assert f"Revision: {etcd_meta['revision']}" in shown.stdout
    else:  # inexact (see above): the bracket it was taken in
        assert (
            f"Revision: between {etcd_meta['revision_min']} and {etcd_meta['revision_max']}" in shown.stdout
        )
    assert "  configmaps " in shown.stdout
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "drkit",
            "snapshot",
            "ls",
            "latest",
            "resources/core/v1/configmaps",
            "-o",
            "json",
        ],
        env=env_repo,
        capture_output=True,
        text=True,
        check=True,
    )
    paths = {row["path"] for row in json.loads(listed.stdout)}
    assert f"resources/core/v1/configmaps/{namespace}/from-schedule.json" in paths
    assert drkit.json("snapshots") == [], "the schedule's repository was used, not DRKIT_REPO"

    clash = drkit.run("backup", "run", "--schedule", str(schedule), "--include-namespaces", "other")
    assert clash.returncode == ExitCode.USAGE
    assert "--include-namespaces cannot be combined with --schedule" in clash.stderr
