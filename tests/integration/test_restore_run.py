"""`drkit restore plan|run` on real control planes (issue 6's "done when", resources part): an app
backed up from the session cluster is restored into a second, empty cluster under a mapped namespace."""

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

from drkit.errors import ExitCode, MissingComponent
from drkit.sandbox.controlplane import ControlPlane
from tests.infra.plugin import missing

APP = """
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, labels: {app: shop}}
  data: {mode: "blue"}
- apiVersion: v1
  kind: Secret
  metadata: {name: db-password}
  stringData: {password: "s3cr3t-restore-value"}
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
- apiVersion: v1
  kind: Service
  metadata: {name: db}
  spec:
    clusterIP: None
    selector: {app: db}
    ports: [{port: 5432}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
  spec:
    replicas: 2
    selector: {matchLabels: {app: shop}}
    template:
      metadata: {labels: {app: shop}}
      spec:
        serviceAccountName: shop
        containers: [{name: web, image: nginx}]
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db}
  spec:
    serviceName: db
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
  subjects: [{kind: ServiceAccount, name: shop, namespace: NAMESPACE}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: viewers}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{kind: ServiceAccount, name: shop, namespace: NAMESPACE}]
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny-all}
  spec: {podSelector: {}, policyTypes: [Ingress]}
"""

FILES = """
- apiVersion: v1
  kind: PersistentVolume
  metadata: {name: NAMESPACE-files}
  spec:
    capacity: {storage: 1Gi}
    accessModes: [ReadWriteOnce]
    storageClassName: ""
    hostPath: {path: /tmp/drkit-files}
    claimRef: {namespace: NAMESPACE, name: files}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {name: files}
  spec:
    accessModes: [ReadWriteOnce]
    storageClassName: ""
    volumeName: NAMESPACE-files
    resources: {requests: {storage: 1Gi}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: files}
  spec:
    replicas: 1
    selector: {matchLabels: {app: files}}
    template:
      metadata: {labels: {app: files}}
      spec:
        containers: [{name: files, image: busybox, volumeMounts: [{name: data, mountPath: /data}]}]
        volumes: [{name: data, persistentVolumeClaim: {claimName: files}}]
"""

COLLECTIONS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Service": "services",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "NetworkPolicy": "networkpolicies",
}


def _path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{COLLECTIONS[kind]}"
    return f"{path}/{name}" if name else path


def _wait(check: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


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


def _available(plane: ControlPlane, path: str) -> bool:
    status = plane.api("GET", path).get("status") or {}
    return any(c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions") or [])


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "repo"
        self.env = {
            **os.environ,
            "DRKIT_PASSWORD": "a passphrase for the restore run test",
            "DRKIT_SCRYPT_N": "1024",
        }
        self.env.pop("DRKIT_REPO", None)
        assert self.run("repo", "init", "--repo", str(self.repo)).returncode == 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=self.env, check=False
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "-o", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A second, empty control plane: the restore target."""
    try:
        plane = ControlPlane.start(tmp_path_factory.mktemp("second-cluster"), nodes=1)
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise
    yield plane
    plane.stop()


@pytest.fixture
def app(cluster: ControlPlane, namespace: str) -> Iterator[str]:
    """The multi-kind app in ``namespace``, running (Deployment Available: its ReplicaSet and Pods exist)."""
    group = f"{namespace}.drkit.test"
    cluster.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group))

    def established() -> bool:
        crd = cluster.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}")
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    _wait(established, "the CRD Established")
    for obj in yaml.safe_load(APP.replace("NAMESPACE", namespace)):
        cluster.api("POST", _path(obj["apiVersion"], obj["kind"], namespace), obj)
    gadget = {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 3}}
    cluster.api("POST", f"/apis/{group}/v1/namespaces/{namespace}/gadgets", gadget)
    for obj in yaml.safe_load(FILES.replace("NAMESPACE", namespace)):
        if obj["kind"] == "PersistentVolume":
            cluster.api("POST", "/api/v1/persistentvolumes", obj)
        else:
            cluster.api("POST", _path(obj["apiVersion"], obj["kind"], namespace), obj)
    for name in ("web", "files"):
        _wait(lambda name=name: _available(cluster, _path("apps/v1", "Deployment", namespace, name)), name)
    yield group
    cluster.api("DELETE", f"/api/v1/persistentvolumes/{namespace}-files")


def _plan_file(
    tmp: Path, drkit: Drkit, target: ControlPlane, source_ns: str, target_ns: str, **extra: Any
) -> Path:
    spec: dict[str, Any] = {
        "repository": {"url": str(drkit.repo)},
        "snapshot": "latest",
        "target": {"kubeconfig": str(target.kubeconfig)},
        "scope": {"includeNamespaces": [source_ns]},
        "namespaceMapping": {source_ns: target_ns},
        "existingPolicy": "skip",
        "waits": {"timeouts": {"Deployment": "120s", "StatefulSet": "120s"}},
        **extra,
    }
    document = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "shop"},
        "spec": spec,
    }
    path = tmp / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _actions(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["verb"], a["display"], a["bodySha256"]) for a in data["actions"]]


def test_restore_into_a_second_cluster_with_a_namespace_mapping(
    cluster: ControlPlane, second_cluster: ControlPlane, namespace: str, app: str, tmp_path: Path
) -> None:
    drkit = Drkit(tmp_path)
    backup = drkit.json(
        "backup", "run", "--repo", str(drkit.repo), "--kubeconfig", str(cluster.kubeconfig),
        "--include-namespaces", namespace,
    )  # fmt: skip
    assert backup["meta"]["resources"]["errors"] == []
    target_ns = f"{namespace}-restored"
    plan_path = _plan_file(tmp_path, drkit, second_cluster, namespace, target_ns)

    planned = drkit.json("restore", "plan", str(plan_path))
    assert planned["snapshot"] == backup["id"]
    verbs = {a["display"]: a["verb"] for a in planned["actions"]}
    assert verbs[f"namespaces/{target_ns}"] == "create"
    assert verbs[f"customresourcedefinitions.apiextensions.k8s.io/gadgets.{app}"] == "create"
    assert verbs[f"gadgets.{app}/g1 in {target_ns}"] == "create"
    for kind, collection in COLLECTIONS.items():
        name = {"Secret": "db-password", "PersistentVolumeClaim": "data", "NetworkPolicy": "deny-all"}.get(
            kind, {"ConfigMap": "settings", "ServiceAccount": "shop", "Role": "reader"}.get(kind, "")
        )
        if name:
            group = (
                ""
                if kind in ("ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim")
                else (".rbac.authorization.k8s.io" if kind == "Role" else ".networking.k8s.io")
            )
            assert verbs[f"{collection}{group}/{name} in {target_ns}"] == "create", kind
    assert verbs[f"deployments.apps/web in {target_ns}"] == "create"
    assert verbs[f"statefulsets.apps/db in {target_ns}"] == "create"
    # what the cluster makes by itself is not restored, each with its reason
    reasons = {s["sourcePath"]: s["reason"] for s in planned["skipped"]}
    replica_sets = [p for p in reasons if "/replicasets/" in p]
    pods = [p for p in reasons if "/core/v1/pods/" in p]
    assert replica_sets, "the Deployment's ReplicaSet was captured and must be skipped"
    assert len(pods) >= 3, "two web pods and one db pod"
    assert all("owned by" in reasons[p] for p in replica_sets + pods)
    assert "root CA" in reasons[f"resources/core/v1/configmaps/{namespace}/kube-root-ca.crt.json"]
    assert "bootstrap" in reasons["resources/rbac.authorization.k8s.io/v1/clusterroles/_cluster/view.json"]
    table = drkit.run("restore", "plan", str(plan_path))
    assert table.returncode == 0, table.stderr
    assert "s3cr3t" not in table.stdout
    assert "s3cr3t" not in json.dumps(planned)
    assert f"secrets/db-password in {target_ns}" in table.stdout

    ran = drkit.run("restore", "run", str(plan_path), "-o", "json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert "s3cr3t" not in ran.stdout + ran.stderr
    assert _actions(result) == _actions(planned), "the dry-run plan is what run applied"
    report = result["report"]
    assert report["failed"] == 0, [r for r in report["results"] + report["waits"] if not r["ok"]]
    applied = [(r["verb"], r["display"]) for r in report["results"]]
    assert applied == [(a["verb"], a["display"]) for a in planned["actions"]]
    waited = {w["display"] for w in report["waits"]}
    assert f"deployments.apps/web in {target_ns}" in waited
    assert f"deployments.apps/files in {target_ns}" in waited
    assert verbs[f"persistentvolumes/{namespace}-files"] == "create"

    # every object is in the second cluster, in the mapped namespace
    t = second_cluster
    for obj in yaml.safe_load(APP):
        name = obj["metadata"]["name"]
        assert t.exists(_path(obj["apiVersion"], obj["kind"], target_ns, name)), (obj["kind"], name)
    secret = t.api("GET", _path("v1", "Secret", target_ns, "db-password"))
    source_secret = cluster.api("GET", _path("v1", "Secret", namespace, "db-password"))
    assert secret["data"] == source_secret["data"]
    binding = t.api("GET", _path("rbac.authorization.k8s.io/v1", "RoleBinding", target_ns, "reader"))
    assert binding["subjects"][0]["namespace"] == target_ns
    service = t.api("GET", _path("v1", "Service", target_ns, "web"))
    source_service = cluster.api("GET", _path("v1", "Service", namespace, "web"))
    assert service["spec"]["clusterIP"] not in ("", "None")
    assert service["metadata"]["uid"] != source_service["metadata"]["uid"]
    assert t.api("GET", _path("v1", "Service", target_ns, "db"))["spec"]["clusterIP"] == "None"
    assert t.exists(f"/apis/{app}/v1/namespaces/{target_ns}/gadgets/g1")
    assert _available(t, _path("apps/v1", "Deployment", target_ns, "web"))
    # the bound claim came back with its volume (claimRef mapped), and the Deployment mounting it runs
    assert _available(t, _path("apps/v1", "Deployment", target_ns, "files"))
    volume = t.api("GET", f"/api/v1/persistentvolumes/{namespace}-files")
    assert volume["spec"]["claimRef"]["namespace"] == target_ns
    claim = _path("v1", "PersistentVolumeClaim", target_ns, "files")
    _wait(lambda: t.api("GET", claim)["status"].get("phase") == "Bound", "the restored claim Bound")
    # the restored Deployment made its own ReplicaSet (the captured one was not restored)
    replica_sets_now = t.api("GET", f"/apis/apps/v1/namespaces/{target_ns}/replicasets")["items"]
    owners = sorted(rs["metadata"]["ownerReferences"][0]["name"] for rs in replica_sets_now)
    assert owners == ["files", "web"]

    # a second restore with existingPolicy skip changes nothing
    again = drkit.json("restore", "run", str(plan_path))
    assert again["counts"]["create"] == 0, [a for a in again["actions"] if a["verb"] == "create"]
    assert again["counts"]["update"] == 0
    assert again["counts"]["skip"] == len(again["actions"])
    assert all("exists in the target" in a["reason"] for a in again["actions"])
    assert again["report"]["failed"] == 0
    assert t.api("GET", _path("v1", "ConfigMap", target_ns, "settings"))["data"] == {"mode": "blue"}
    # both runs are in the audit log (the dry run is not: it changed nothing)
    records = [
        r
        for r in drkit.json("audit", "--repo", str(drkit.repo), "--action", "restore")["records"]
        if r["command"] == "restore run"
    ]
    assert [r["result"] for r in records] == ["ok", "ok"]
    assert records[0]["detail"]["snapshot"] == result["snapshot"]
    assert records[0]["detail"]["failed"] == 0


def test_update_policy_and_modifiers_on_the_same_cluster(
    cluster: ControlPlane, namespace: str, app: str, tmp_path: Path
) -> None:
    """Mapped into a new namespace of the source cluster itself; a merge patch changes replicas; an
    update run puts back a changed ConfigMap."""
    drkit = Drkit(tmp_path)
    drkit.json("backup", "run", "--repo", str(drkit.repo), "--kubeconfig", str(cluster.kubeconfig),
               "--include-namespaces", namespace)  # fmt: skip
    target_ns = f"{namespace}-copy"
    modifiers = [
        {"kinds": ["Deployment"], "names": "web", "mergePatch": {"spec": {"replicas": 1}}},
        {"kinds": ["ConfigMap"], "jsonPatch": [{"op": "add", "path": "/data/copied", "value": "yes"}]},
    ]
    # the copy's claim names a volume bound to the original: the copy of `files` cannot start; not waited
    # Into the source cluster itself: its cluster-scoped objects stay as they are (an `update` of the PV
    # would point its claimRef at the copy).
    no_waits = {
        "waits": {"enabled": False},
        "scope": {"includeNamespaces": [namespace], "includeClusterResources": False},
    }
    plan_path = _plan_file(tmp_path, drkit, cluster, namespace, target_ns, modifiers=modifiers, **no_waits)
    try:
        first = drkit.json("restore", "run", str(plan_path))
        assert first["report"]["failed"] == 0
        deployment = cluster.api("GET", _path("apps/v1", "Deployment", target_ns, "web"))
        assert deployment["spec"]["replicas"] == 1
        settings = _path("v1", "ConfigMap", target_ns, "settings")
        assert cluster.api("GET", settings)["data"] == {"mode": "blue", "copied": "yes"}
        # the source is untouched
        assert cluster.api("GET", _path("apps/v1", "Deployment", namespace, "web"))["spec"]["replicas"] == 2

        changed = cluster.api("GET", settings)
        changed["data"]["mode"] = "red"
        cluster.api("PUT", settings, changed)
        update_plan = _plan_file(
            tmp_path,
            drkit,
            cluster,
            namespace,
            target_ns,
            modifiers=modifiers,
            existingPolicy="update",
            **no_waits,
        )
        second = drkit.json("restore", "run", str(update_plan))
        verbs = {a["display"]: a["verb"] for a in second["actions"]}
        assert verbs[f"configmaps/settings in {target_ns}"] == "update"
        assert second["report"]["failed"] == 0
        assert cluster.api("GET", settings)["data"] == {"mode": "blue", "copied": "yes"}

        failing = _plan_file(
            tmp_path, drkit, cluster, namespace, target_ns, existingPolicy="fail", **no_waits
        )
        refused = drkit.run("restore", "run", str(failing), "-o", "json")
        assert refused.returncode == ExitCode.PARTIAL, refused.stderr
        data = json.loads(refused.stdout)
        assert data["counts"]["fail"] > 0
        assert data["counts"]["create"] == 0
        assert "exists in the target (existingPolicy: fail)" in refused.stdout
    finally:
        cluster.api("DELETE", f"/api/v1/namespaces/{target_ns}")


def test_bad_plans_name_file_line_and_field(cluster: ControlPlane, tmp_path: Path) -> None:
    drkit = Drkit(tmp_path)
    plan = tmp_path / "typo.yaml"
    plan.write_text(
        "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata: {name: typo}\nspec:\n"
        f"  repository: {{url: {drkit.repo}}}\n  existingPolicy: skip\n  namespaceMaping: {{a: b}}\n"
    )
    typo = drkit.run("restore", "plan", str(plan))
    assert typo.returncode == ExitCode.USAGE
    assert (
        f"{plan}:7: spec.namespaceMaping: unknown field 'namespaceMaping'; did you mean 'namespaceMapping'?"
        in (typo.stderr)
    )

    no_such = tmp_path / "snapshot.yaml"
    no_such.write_text(
        "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata: {name: snap}\nspec:\n"
        f"  repository: {{url: {drkit.repo}}}\n  target: {{kubeconfig: {cluster.kubeconfig}}}\n"
        "  snapshot: deadbeef\n"
    )
    missing_snapshot = drkit.run("restore", "plan", str(no_such))
    assert missing_snapshot.returncode == ExitCode.USAGE
    assert f"{no_such}:7: spec.snapshot: no snapshot 'deadbeef'" in missing_snapshot.stderr

    bad_ref = drkit.run("restore", "run", str(no_such), "--snapshot", "yesterday")
    assert bad_ref.returncode == ExitCode.USAGE
    assert "--snapshot" in bad_ref.stderr
    assert "yesterday" in bad_ref.stderr
