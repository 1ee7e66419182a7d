"""Volume data in `drkit restore run`, on the real control plane (kube-apiserver + controller-manager +
scheduler + kwok):

* local mode through the CLI: a claim backed up with `drkit backup run --volumes all` is restored
  under a mapped namespace; its files land byte-identical in the `--volume-path-map` directory, which
  `restore plan` announced; a second run never writes into the claim it finds; a directory that
  already holds files is refused while the resources are still applied;
* job mode's failures: a missing mover Secret fails only that volume (no Job is created) and keeps
  its hint; a restore Job that times out is not left to fill its claim later; the restore Jobs of
  two claims share one deadline and each failure names its claim and its pod's real cause. Restore
  Jobs that really run (the claim filled before the workloads, the Secret restored first) are tested
  on a real node: tests/node/test_real_movers.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.capture.claims import VolumeSelection
from drkit.capture.cluster import ClusterBackupRequest, backup_cluster
from drkit.capture.filters import CaptureFilter
from drkit.capture.jobclient import CREATE_GRACE_S, KubeMoverCluster
from drkit.capture.localpaths import PathRule
from drkit.capture.movers import MoverSettings
from drkit.capture.stored import stored_objects
from drkit.capture.volumes import VolumeOptions
from drkit.config.restoreplan import load_restore_plan
from drkit.errors import ExitCode
from drkit.kube.client import KubeClient
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.restore.applier import existing_objects
from drkit.restore.fills import FillResult, VolumeFill, fill_volumes, plan_fills
from drkit.restore.jobfill import JobFiller
from drkit.restore.model import ApplyReport
from drkit.restore.planner import PlannerOptions, prepare
from drkit.restore.volumes import apply_with_volumes
from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.integration.claims import Nudge, touch_claim
from tests.treecompare import assert_same_tree, describe_tree, make_sample_tree

PASSWORD = "a passphrase for the restore volume tests"
ENV = {"DRKIT_SCRYPT_N": "1024"}
Json = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------------


def _drkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=full, check=False
    )


def _init_repo(path: Path) -> dict[str, str]:
    env = {"DRKIT_REPO": str(path), "DRKIT_PASSWORD": PASSWORD}
    done = _drkit("repo", "init", env=env)
    assert done.returncode == 0, done.stderr
    return env


def _open(path: Path) -> Repository:
    return Repository.open(LocalStore(path), Credential(passphrase=Secret(PASSWORD)))


def _new_namespace(cluster: ControlPlane) -> str:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "test-"}}
    name: str = cluster.api("POST", "/api/v1/namespaces", body)["metadata"]["name"]
    return name


def _delete(cluster: ControlPlane, path: str) -> None:
    try:
        cluster.api("DELETE", path)
    except http.HTTPStatusError as exc:
        if exc.status != 404:
            raise


def _volume_for(cluster: ControlPlane, namespace: str, pvc: str, host_dir: Path) -> str:
    """A hostPath PV reserved (claimRef) for the claim ``namespace/pvc``, as a provisioner would make."""
    pv = f"pv-{namespace}-{pvc}"
    cluster.api(
        "POST",
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(host_dir), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": pvc},
            },
        },
    )
    # Once the volume controller has seen the PV (it sets the phase), a claim for it binds at once;
    # a claim that came first would wait for the controller's next resync (15 s).
    cluster.wait(
        lambda: (
            (cluster.api("GET", f"/api/v1/persistentvolumes/{pv}").get("status") or {}).get("phase")
            == "Available"
        ),
        f"PersistentVolume {pv} Available",
    )
    return pv


def _claim_path(namespace: str, pvc: str) -> str:
    return f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{pvc}"


def _bound_claim(cluster: ControlPlane, namespace: str, pvc: str, host_dir: Path) -> str:
    """A hostPath PV pre-bound to a new claim; returns the PV's name once the claim is Bound."""
    pv = _volume_for(cluster, namespace, pvc, host_dir)
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": pvc},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": pv,
            },
        },
    )
    path = _claim_path(namespace, pvc)
    nudge = Nudge(lambda: touch_claim(cluster, path))
    cluster.wait(
        lambda: nudge.unless((cluster.api("GET", path).get("status") or {}).get("phase") == "Bound"),
        f"claim {pvc} Bound",
    )
    return pv


APP = """
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
  data: {mode: blue}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: app}
  spec:
    replicas: 1
    selector: {matchLabels: {app: files}}
    template:
      metadata: {labels: {app: files}}
      spec:
        containers: [{name: app, image: busybox, volumeMounts: [{name: data, mountPath: /data}]}]
        volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"""


def _app(cluster: ControlPlane, namespace: str) -> None:
    """A ConfigMap and a Deployment that mounts the claim ``data``."""
    configmap, deployment = yaml.safe_load(APP)
    cluster.api("POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap)
    cluster.api("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)


def _mover_secret(cluster: ControlPlane, namespace: str, repo: Path) -> None:
    """The mover Secret (repository settings as files), as docs/volumes.md says to create it."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "drkit-repo"},
            "type": "Opaque",
            "data": {"url": b64(str(repo)), "password": b64(PASSWORD)},
        },
    )


def _plan_file(  # noqa: PLR0917
    path: Path, repo: Path, cluster: ControlPlane, source: str, target: str, waits: Json | None = None
) -> Path:
    spec: Json = {
        "repository": {"url": str(repo)},
        "snapshot": "latest",
        "target": {"kubeconfig": str(cluster.kubeconfig)},
        "scope": {"includeNamespaces": [source], "includeClusterResources": False},
        "namespaceMapping": {source: target},
        "existingPolicy": "skip",
        "restore": {"resources": True, "volumes": True},
        "waits": waits or {"enabled": False},
    }
    document = {"apiVersion": "drkit.io/v1", "kind": "RestorePlan", "metadata": {"name": "vol"}, "spec": spec}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# -- the kubelet's part ----------------------------------------------------------------------------


# -- local mode through the command line -----------------------------------------------------------


@dataclass(frozen=True)
class Source:
    namespace: str
    data: Path  # the volume's files (its PV's host path)
    repo: Path
    env: dict[str, str]
    snapshot: str
    backup: Json  # `backup run -o json`


@pytest.fixture(scope="module")
def source(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """An app with a claim on a hostPath PV, backed up once by `drkit backup run --volumes all`."""
    tmp = tmp_path_factory.mktemp("restore-volumes")
    namespace = _new_namespace(cluster)
    data = make_sample_tree(tmp / "hostdir")
    pv = _bound_claim(cluster, namespace, "data", data)
    try:
        _app(cluster, namespace)
        env = _init_repo(tmp / "repo")
        done = _drkit(
            "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace,
            "--volumes", "all", "--volume-path-map", f"{pv}={data}", "-o", "json",
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        backup = json.loads(done.stdout)
        yield Source(namespace, data, tmp / "repo", env, backup["id"], backup)
    finally:
        _delete(cluster, f"/api/v1/namespaces/{namespace}")
        _delete(cluster, f"/api/v1/persistentvolumes/{pv}")


def _restore(source: Source, plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _drkit("restore", "run", str(plan), *args, "-o", "json", env=source.env)


def _file_count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_local_mode_restores_the_claims_files_into_the_mapped_directory(
    cluster: ControlPlane, source: Source, tmp_path: Path
) -> None:
    (backed_up,) = source.backup["volumes"]
    assert (backed_up["pvc"], backed_up["status"]) == ("data", "ok")
    target = f"{source.namespace}-dr"
    plan = _plan_file(tmp_path / "plan.yaml", source.repo, cluster, source.namespace, target)
    rule = f"*/*={tmp_path}/restored/{{namespace}}/{{pvc}}"
    try:
        planned = _drkit("restore", "plan", str(plan), "-o", "json", env=source.env)
        assert planned.returncode == 0, planned.stderr
        dry = json.loads(planned.stdout)["volumes"]
        assert dry["mover"] == "local"
        assert [(f["source"], f["target"], f["path"], f["snapshot"]) for f in dry["fills"]] == [
            (
                f"{source.namespace}/data",
                f"{target}/data",
                f"volumes/{source.namespace}/data",
                source.snapshot,
            )
        ]
        assert dry["skipped"] == []

        ran = _restore(source, plan, "--volume-path-map", rule)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        result = json.loads(ran.stdout)
        assert result["report"]["failed"] == 0
        (filled,) = result["volumes"]["results"]
        assert [f["target"] for f in dry["fills"]] == [filled["target"]], "the dry run said what run did"
        restored = tmp_path / "restored" / target / "data"
        assert filled["ok"] is True, filled["message"]
        assert (filled["mode"], filled["snapshot"]) == ("local", source.snapshot)
        assert filled["where"] == f"{restored} (--volume-path-map */*)"
        assert filled["restoredFiles"] == backed_up["files"] == _file_count(source.data)
        assert filled["restoredBytes"] == backed_up["bytes"]
        assert result["volumes"]["skipped"] == []
        assert_same_tree(source.data, restored)

        assert cluster.exists(f"/apis/apps/v1/namespaces/{target}/deployments/app")
        assert cluster.api("GET", f"/api/v1/namespaces/{target}/configmaps/settings")["data"] == {
            "mode": "blue"
        }
        # the PV stays the original's: the new claim binds anew (nothing provisions it here)
        claim = cluster.api("GET", _claim_path(target, "data"))
        assert not claim["spec"].get("volumeName")
    finally:
        _delete(cluster, f"/api/v1/namespaces/{target}")


def test_a_claim_that_exists_is_never_written_again(
    cluster: ControlPlane, source: Source, tmp_path: Path
) -> None:
    target = f"{source.namespace}-again"
    plan = _plan_file(tmp_path / "plan.yaml", source.repo, cluster, source.namespace, target)
    rule = f"*/*={tmp_path}/restored/{{namespace}}/{{pvc}}"
    restored = tmp_path / "restored" / target / "data"
    try:
        first = _restore(source, plan, "--volume-path-map", rule)
        assert first.returncode == 0, first.stdout + first.stderr
        assert [f["ok"] for f in json.loads(first.stdout)["volumes"]["results"]] == [True]
        (restored / "written-after-the-restore.txt").write_text("the app's own data\n")
        before = describe_tree(restored)

        again = _restore(source, plan, "--volume-path-map", rule)
        assert again.returncode == 0, again.stdout + again.stderr
        result = json.loads(again.stdout)
        assert result["counts"]["create"] == 0
        assert result["volumes"]["results"] == []
        (skipped,) = result["volumes"]["skipped"]
        assert skipped["source"] == f"{source.namespace}/data"
        assert "the claim exists in the target (skip)" in skipped["reason"]
        assert describe_tree(restored) == before
    finally:
        _delete(cluster, f"/api/v1/namespaces/{target}")


def test_a_directory_that_holds_files_is_refused_and_its_workload_held_back(
    cluster: ControlPlane, source: Source, tmp_path: Path
) -> None:
    target = f"{source.namespace}-busy"
    plan = _plan_file(tmp_path / "plan.yaml", source.repo, cluster, source.namespace, target)
    busy = tmp_path / "busy" / target / "data"
    busy.mkdir(parents=True)
    (busy / "keep.txt").write_text("not drkit's\n")
    try:
        ran = _restore(source, plan, "--volume-path-map", f"*/*={tmp_path}/busy/{{namespace}}/{{pvc}}")
        assert ran.returncode == ExitCode.PARTIAL, ran.stdout + ran.stderr
        assert "2 of 7 restore steps failed" in ran.stderr  # the volume and the held-back Deployment
        result = json.loads(ran.stdout)
        (filled,) = result["volumes"]["results"]
        assert filled["ok"] is False
        assert f"{busy} is not an empty directory" in filled["message"]
        assert filled["where"].startswith(str(busy))
        assert [p.name for p in busy.iterdir()] == ["keep.txt"]
        assert (busy / "keep.txt").read_text() == "not drkit's\n"
        # the rest was applied, but not the Deployment that mounts the unfilled claim: held back
        (held,) = [r for r in result["report"]["results"] if not r["ok"]]
        assert held["display"] == f"deployments.apps/app in {target}"
        assert held["message"].startswith("held back: it mounts the claim data")
        assert not cluster.exists(f"/apis/apps/v1/namespaces/{target}/deployments/app")
        assert cluster.exists(f"/api/v1/namespaces/{target}/configmaps/settings")
        assert cluster.exists(_claim_path(target, "data"))
    finally:
        _delete(cluster, f"/api/v1/namespaces/{target}")


# -- job mode, in-process ------------------------------------------------------------------------------


def _backup_in_process(kube: KubeClient, repo: Repository, namespace: str, options: VolumeOptions) -> str:
    request = ClusterBackupRequest(
        kube=kube, capture_filter=CaptureFilter.build(include_namespaces=[namespace]), volumes=options
    )
    result = backup_cluster(repo, request)
    assert not result.partial, result.volumes
    return result.snapshot.id


def _restore_in_process(
    kube: KubeClient, repo: Repository, plan_path: Path, filler: JobFiller
) -> tuple[ApplyReport, list[FillResult], Json]:
    """What `drkit restore run` does, with the filler given (so that the test can play the kubelet)."""
    config = load_restore_plan(plan_path)
    (snap,) = [s for s in repo.snapshots() if s.kind == "cluster"]
    objects = list(stored_objects(repo.snapshot_reader(snap.id)))
    prepared = prepare(objects, PlannerOptions.from_config(config))
    plan = prepared.decide(existing_objects(kube, prepared.refs()), snapshot_id=snap.id, target="the test")
    fills = plan_fills(snap.meta.get("volumes"), plan, snap.id)
    report, filled = apply_with_volumes(kube, plan, fills, filler, timeouts=config.waits.seconds())
    return report, filled, dict(snap.meta["volumes"])


def test_job_mode_without_the_mover_secret_fails_only_that_volume(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = tmp_path / "hostdir"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.txt").write_text("a\n")
    source_pv = _bound_claim(cluster, namespace, "data", data)
    _app(cluster, namespace)
    _init_repo(tmp_path / "repo")
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    target = f"{namespace}-nosecret"
    try:
        options = VolumeOptions(VolumeSelection.parse("all"), (PathRule.parse(f"{source_pv}={data}"),))
        _backup_in_process(kube, _open(tmp_path / "repo"), namespace, options)
        plan = _plan_file(tmp_path / "plan.yaml", tmp_path / "repo", cluster, namespace, target)
        report, filled, _meta = _restore_in_process(
            kube,
            _open(tmp_path / "repo"),
            plan,
            JobFiller(kube, MoverSettings(), cluster=KubeMoverCluster(kube, poll_s=0.2), timeout_s=60),
        )
        (result,) = filled
        assert not result.ok
        assert f"needs the Secret drkit-repo in namespace {target}" in result.message
        assert "there is none" in result.message
        assert kube.get_json(f"/apis/batch/v1/namespaces/{target}/jobs")["items"] == []
        assert [r.action.ref.name for r in report.failed] == ["app"]  # held back: it mounts the claim
        assert not cluster.exists(f"/apis/apps/v1/namespaces/{target}/deployments/app")
        assert cluster.exists(f"/api/v1/namespaces/{target}/configmaps/settings")
        assert cluster.exists(_claim_path(target, "data"))
    finally:
        kube.close()
        _delete(cluster, f"/api/v1/namespaces/{target}")
        _delete(cluster, f"/api/v1/persistentvolumes/{source_pv}")


def test_a_failed_volume_keeps_the_errors_hint(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    """The per-volume result is all a user sees of a volume's failure (the command exits 1 with a
    summary): it must carry what to do, as a top-level error does."""
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    try:
        fill = VolumeFill(
            "src/data", namespace, "data", "0" * 64, "volumes/src/data", {"namespace": "src", "pvc": "data"}
        )
        filler = JobFiller(kube, MoverSettings(), cluster=KubeMoverCluster(kube, poll_s=0.2))
        (result,) = fill_volumes([fill], filler)
        assert not result.ok
        assert "there is none" in result.message
        assert "create it with the keys url and password" in json.dumps(result.to_json())
    finally:
        kube.close()


def test_a_restore_job_that_times_out_is_not_left_to_run_later(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """The claim never binds within the timeout (nothing provisions it yet), so the Job's pod cannot be
    scheduled (the scheduler waits for the binding of an immediate claim). drkit reports the volume as
    failed and the restore goes on to the workloads; the Job must not stay and fill the claim later."""
    _mover_secret(cluster, namespace, tmp_path / "repo")
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    try:
        fill = VolumeFill(
            "src/data", namespace, "data", "0" * 64, "volumes/src/data", {"namespace": "src", "pvc": "data"}
        )
        filler = JobFiller(kube, MoverSettings(), cluster=KubeMoverCluster(kube, poll_s=0.2), timeout_s=1)
        (result,) = fill_volumes([fill], filler)
        assert not result.ok
        assert "timed out" in result.message
        assert f"Job {namespace}/drkit-restore-data-" in result.message
        jobs = kube.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
        assert [j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp")] == []
    finally:
        kube.close()


def test_restore_jobs_of_two_claims_share_one_deadline_and_name_each_claim_and_its_cause(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """Two claims that nothing provisions: their restore Jobs run together under one deadline, and each
    failure names its claim, the shared deadline and the real cause the scheduler gives for the pod
    (not a generic timeout, not a hint about something else). Both Jobs are removed."""
    _mover_secret(cluster, namespace, tmp_path / "repo")
    for name in ("data", "logs"):
        cluster.api(
            "POST",
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "manual",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    try:
        fills = [
            VolumeFill(f"src/{n}", namespace, n, "0" * 64, f"volumes/src/{n}", {"namespace": "src", "pvc": n})
            for n in ("data", "logs")
        ]
        filler = JobFiller(kube, MoverSettings(), cluster=KubeMoverCluster(kube, poll_s=0.2), timeout_s=6)
        results = fill_volumes(fills, filler)
        assert [r.ok for r in results] == [False, False]
        for name, result in zip(("data", "logs"), results, strict=True):
            assert f"claim {namespace}/{name}: its restore Job did not finish within" in result.message
            assert "deadline of 6s, shared by the restore Jobs of 2 claims (2 at a time)" in result.message
            assert "not scheduled:" in result.message, result.message
            assert "unbound immediate PersistentVolumeClaims" in result.message
            assert "--volume-timeout" in result.message
        jobs = kube.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
        assert [j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp")] == []
    finally:
        kube.close()


def test_a_restore_job_the_namespace_refuses_fails_fast_with_the_reason(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """A namespace at Pod Security level ``restricted`` refuses the restore Job's pod (it runs as root
    to restore owners): drkit says so within seconds, from the Job controller's FailedCreate events,
    instead of waiting out the Job's timeout, and removes the Job."""
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    kube.send_json(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        content_type="application/merge-patch+json",
    )
    _mover_secret(cluster, namespace, tmp_path / "repo")
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    try:
        fill = VolumeFill(
            "src/data", namespace, "data", "0" * 64, "volumes/src/data", {"namespace": "src", "pvc": "data"}
        )
        filler = JobFiller(kube, MoverSettings(), cluster=KubeMoverCluster(kube, poll_s=0.5), timeout_s=600)
        (result,) = fill_volumes([fill], filler)
        assert not result.ok
        assert f"Job {namespace}/drkit-restore-data-" in result.message
        assert "cannot create its pod" in result.message
        assert "PodSecurity" in result.message
        assert "Pod Security level is 'restricted'" in result.message  # the hint
        assert "timed out" not in result.message  # it did not wait for the Job's timeout (600 s)
        jobs = kube.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
        assert [j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp")] == []

        # restored as the application's user (--mover-run-as-user), the same namespace admits the pod
        # (it then waits for its claim to bind, which nothing does here: the Job times out)
        nonroot = replace(MoverSettings(), restore_as_root=False, run_as_user=1000, run_as_group=1000)
        cluster_view = KubeMoverCluster(kube, poll_s=0.5)
        filler = JobFiller(kube, nonroot, cluster=cluster_view, timeout_s=CREATE_GRACE_S + 4)
        (again,) = fill_volumes([fill], filler)
        assert not again.ok
        assert "timed out" in again.message
        assert "cannot create its pod" not in again.message
        assert "its pod: not scheduled" in again.message  # admitted, then waiting for its claim
    finally:
        kube.close()


def test_in_place_over_a_released_volume_the_plan_says_so_and_rebind_released_restores(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """The namespace is deleted: its claim goes, its Retain PV turns Released and keeps the deleted
    claim's uid. Restored in place, the claim would stay Pending; --rebind-released binds it."""
    namespace = _new_namespace(cluster)
    data = make_sample_tree(tmp_path / "hostdir")
    original = tmp_path / "original"
    shutil.copytree(data, original, symlinks=True)
    pv = _bound_claim(cluster, namespace, "data", data)
    try:
        _app(cluster, namespace)
        env = _init_repo(tmp_path / "repo")
        done = _drkit(
            "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace,
            "--volumes", "all", "--volume-path-map", f"{pv}={data}", "-o", "json",
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        _delete(cluster, f"/api/v1/namespaces/{namespace}")
        cluster.wait(lambda: not cluster.exists(f"/api/v1/namespaces/{namespace}"), "namespace gone", 120)
        cluster.wait(
            lambda: (
                cluster.api("GET", f"/api/v1/persistentvolumes/{pv}")["status"].get("phase") == "Released"
            ),
            f"PV {pv} Released",
        )
        shutil.rmtree(data)  # the volume's files are lost too: the restore brings them back
        data.mkdir()
        plan = _plan_file(tmp_path / "plan.yaml", tmp_path / "repo", cluster, namespace, namespace)
        document = yaml.safe_load(plan.read_text())
        document["spec"]["scope"]["includeClusterResources"] = "auto"  # the PV too: it exists, skipped
        plan.write_text(yaml.safe_dump(document, sort_keys=False))

        planned = _drkit("restore", "plan", str(plan), env=env)
        assert planned.returncode == 0, planned.stderr
        assert (
            f"claim cannot bind: claim {namespace}/data cannot bind: its PersistentVolume {pv} is Released"
            in (planned.stdout)
        )
        assert "hint: restore with --rebind-released" in planned.stdout
        as_json = json.loads(_drkit("restore", "plan", str(plan), "-o", "json", env=env).stdout)
        assert [(v["claim"], v["pv"]) for v in as_json["releasedVolumes"]] == [("data", pv)]

        ran = _drkit("restore", "run", str(plan), "--rebind-released", "-o", "json", env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert f"re-bound PersistentVolume {pv} to the restored claim {namespace}/data" in ran.stderr
        (filled,) = json.loads(ran.stdout)["volumes"]["results"]
        assert filled["ok"] is True, filled["message"]
        assert_same_tree(original, data)
        claim = cluster.api("GET", _claim_path(namespace, "data"))
        assert (claim["status"]["phase"], claim["spec"]["volumeName"]) == ("Bound", pv)
        assert cluster.exists(f"/apis/apps/v1/namespaces/{namespace}/deployments/app")
    finally:
        _delete(cluster, f"/api/v1/namespaces/{namespace}")
        _delete(cluster, f"/api/v1/persistentvolumes/{pv}")
