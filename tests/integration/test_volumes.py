"""Volume data on the real control plane (kube-apiserver + controller-manager + scheduler + kwok):

* `drkit backup run --volumes all --volume-path-map ...` (local mode) end to end: a hostPath PV bound to
  a claim, its files byte-identical in the snapshot, per-volume stats in meta, a second run that reads
  only the changed file;
* the mover manifests (Job, clone PVC, restore PVC and Job) accepted by the API server's validation;
* the Job orchestration itself (mover Jobs that really run, backup and restore) is tested on a real
  node: tests/node/test_real_movers.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from drkit.capture.jobclient import KubeMoverCluster
from drkit.capture.movers import (
    MoverSettings,
    MoverTarget,
    backup_job,
    clone_pvc,
    restore_job,
    restore_pvc,
)
from drkit.errors import ExitCode
from drkit.kube.client import KubeClient
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import PARENT_MARGIN_NS, Repository
from drkit.sandbox.controlplane import ControlPlane
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.integration.claims import Nudge, touch_claim
from tests.treecompare import assert_same_tree, make_sample_tree

PASSWORD = "a passphrase for the volume tests"
ENV = {"DRKIT_SCRYPT_N": "1024"}


def _drkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV, **(env or {})},
        check=False,
    )


def _init_repo(path: Path) -> dict[str, str]:
    env = {"DRKIT_REPO": str(path), "DRKIT_PASSWORD": PASSWORD}
    done = _drkit("repo", "init", env=env)
    assert done.returncode == 0, done.stderr
    return env


def _open(path: Path) -> Repository:
    return Repository.open(LocalStore(path), Credential(passphrase=Secret(PASSWORD)))


def _volume_for(cluster: ControlPlane, namespace: str, pvc: str, host_dir: Path, mode: str) -> str:
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
                "accessModes": [mode],
                "storageClassName": "manual",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(host_dir), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": pvc},
            },
        },
    )
    return pv


def _bound_claim(
    cluster: ControlPlane, namespace: str, pvc: str, host_dir: Path, *, mode: str = "ReadWriteOnce"
) -> str:
    """A hostPath PV pre-bound to a new claim; returns the PV's name once the claim is Bound."""
    pv = _volume_for(cluster, namespace, pvc, host_dir, mode)
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": pvc, "labels": {"backup": "yes"}},
            "spec": {
                "accessModes": [mode],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": pv,
            },
        },
    )
    path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{pvc}"
    nudge = Nudge(lambda: touch_claim(cluster, path))  # else a bind may wait for the 15 s resync
    cluster.wait(
        lambda: nudge.unless((cluster.api("GET", path).get("status") or {}).get("phase") == "Bound"),
        f"claim {pvc} Bound",
    )
    return pv


def _pod_using(cluster: ControlPlane, namespace: str, pvc: str) -> str:
    """A pod mounting the claim; kwok makes it Running on its fake node. Returns the node's name."""
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"app-{pvc}"},
            "spec": {
                "containers": [
                    {"name": "app", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}
                ],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": pvc}}],
                "tolerations": [{"operator": "Exists"}],
            },
        },
    )
    path = f"/api/v1/namespaces/{namespace}/pods/app-{pvc}"
    cluster.wait(
        lambda: (cluster.api("GET", path).get("status") or {}).get("phase") == "Running", "app pod Running"
    )
    node: str = cluster.api("GET", path)["spec"]["nodeName"]
    return node


def _pending_claim(cluster: ControlPlane, namespace: str, name: str) -> None:
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "nothing-provisions-this",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )


def test_backup_run_with_local_volumes_is_byte_identical_and_incremental(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = make_sample_tree(tmp_path / "hostdir")
    pv = _bound_claim(cluster, namespace, "data", data)
    node = _pod_using(cluster, namespace, "data")
    _pending_claim(cluster, namespace, "waiting")
    env = _init_repo(tmp_path / "repo")
    args = (
        "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace,
        "--volumes", "all", "--volume-path-map", f"{pv}={data}", "-o", "json",
    )  # fmt: skip

    # A file is skipped as unchanged only if its ctime is older than the parent's start by more than
    # PARENT_MARGIN_NS (clock granularity): let that much time pass after the tree was written.
    newest = max(p.lstat().st_ctime_ns for p in [data, *data.rglob("*")])
    ready_at = newest + PARENT_MARGIN_NS + 1_000_000_000
    while time.time_ns() < ready_at:
        time.sleep(0.1)
    first = _drkit(*args, env=env)
    assert first.returncode == 0, first.stderr
    row = json.loads(first.stdout)
    assert [v["pvc"] for v in row["volumes"]] == ["data"]

    repo = _open(tmp_path / "repo")
    snap = repo.find_snapshot(row["id"])
    meta = snap.meta["volumes"]
    assert meta["selection"] == "all"
    assert meta["skipped"] == {f"{namespace}/waiting": "not Bound (phase Pending)"}
    (vol,) = meta["volumes"]
    assert (vol["namespace"], vol["pvc"], vol["pv"], vol["status"]) == (namespace, "data", pv, "ok")
    assert (vol["node"], vol["nodeSource"], vol["accessModes"]) == (node, "pod", ["ReadWriteOnce"])
    assert vol["path"] == f"volumes/{namespace}/data"
    total = sum(p.stat().st_size for p in data.rglob("*") if p.is_file() and not p.is_symlink())
    files = sum(1 for p in data.rglob("*") if p.is_file() and not p.is_symlink())
    assert vol["bytes"] == total
    assert vol["files"] == files
    assert vol["newBytes"] > 3 * 1024 * 1024  # the random file, at least, was new
    assert vol["durationS"] >= 0

    restored = tmp_path / "restored"
    repo.restore_path(snap.id, restored, subpath=f"volumes/{namespace}/data")
    assert_same_tree(data, restored)
    # the API objects of the claim are in the same snapshot
    reader = repo.snapshot_reader(snap.id)
    pvc_obj = json.loads(reader.read_bytes(f"resources/core/v1/persistentvolumeclaims/{namespace}/data.json"))
    assert pvc_obj["spec"]["volumeName"] == pv

    (data / "small.txt").write_text("hello drkit, changed\n")
    second = _drkit(*args, env=env)
    assert second.returncode == 0, second.stderr
    repo2 = _open(tmp_path / "repo")
    (vol2,) = repo2.find_snapshot(json.loads(second.stdout)["id"]).meta["volumes"]["volumes"]
    assert vol2["files"] == files
    assert vol2["reusedFiles"] == files - 1  # only the changed file was read
    assert vol2["newBytes"] < 64 * 1024  # its chunk and a few trees
    restored2 = tmp_path / "restored2"
    repo2.restore_path(json.loads(second.stdout)["id"], restored2, subpath=f"volumes/{namespace}/data")
    assert_same_tree(data, restored2)


def test_backup_run_reports_an_unmapped_volume_as_partial(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = tmp_path / "vol"
    data.mkdir()
    (data / "f.txt").write_text("x")
    _bound_claim(cluster, namespace, "mapped", data)
    _bound_claim(cluster, namespace, "lost", tmp_path / "not-there")
    priority = f"{namespace}-unused"  # a PriorityClass nothing in the namespace references
    cluster.api(
        "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", {"metadata": {"name": priority}, "value": 7}
    )
    env = _init_repo(tmp_path / "repo")
    done = _drkit(
        "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace,
        "--volumes", "backup=yes", "--volume-path-map", f"{namespace}/mapped={data}",
        "--node-name", "elsewhere",
        env=env,
    )  # fmt: skip
    cluster.api("DELETE", f"/apis/scheduling.k8s.io/v1/priorityclasses/{priority}")
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    assert f"{namespace}/mapped: 1 file," in done.stdout
    assert f"{namespace}/lost: FAILED" in done.stdout
    # true counts, plurals, and a hint about the failure at hand only (no resource list failed)
    assert "volumes: 1 captured, 1 failed, 0 skipped" in done.stdout
    assert "lacks 1 volume (listed above)" in done.stderr
    assert "list access" not in done.stderr
    assert "hint: fix what failed for each volume" in done.stderr
    # auto says which cluster-scoped objects it left out
    left_out = done.stdout.split("left out (cluster-scoped", 1)[1]
    assert "priorityclasses.scheduling.k8s.io: " in left_out
    assert priority in left_out
    snaps = _open(tmp_path / "repo").snapshots()
    (snap,) = snaps
    by_pvc = {v["pvc"]: v for v in snap.meta["volumes"]["volumes"]}
    assert by_pvc["mapped"]["status"] == "ok"
    assert by_pvc["lost"]["status"] == "failed"
    assert "not a directory" in by_pvc["lost"]["error"]


def test_mover_manifests_are_accepted_by_the_api_server(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    _bound_claim(cluster, namespace, "data", tmp_path / "d")
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    movers = KubeMoverCluster(kube)
    settings = MoverSettings(snapshot_class="csi-snapclass", fs_group=2000, active_deadline_seconds=600)
    target = MoverTarget(namespace, "data", node=cluster.nodes[0], access_modes=("ReadWriteOnce",),
                         storage_class="manual", capacity="1Gi")  # fmt: skip
    for manifest in (
        backup_job(target, settings, "r1"),
        clone_pvc(target, settings, "r1"),
        backup_job(target, settings, "r1", claim=clone_pvc(target, settings, "r1")["metadata"]["name"]),
        backup_job(target, MoverSettings(read_as_root=True), "r2"),
        restore_pvc(
            MoverTarget(
                namespace, "restored", access_modes=("ReadWriteOnce",), storage_class="manual", capacity="1Gi"
            ),
            "abc123",
        ),
        restore_job(MoverTarget(namespace, "restored"), settings, "abc123"),
    ):
        created = movers.create(manifest)
        assert created["metadata"]["name"] == manifest["metadata"]["name"]
        if manifest["kind"] == "Job":  # what the server stored is what was built (no field dropped)
            sent, kept = manifest["spec"]["template"]["spec"], created["spec"]["template"]["spec"]
            assert kept["containers"][0]["args"] == sent["containers"][0]["args"]
            assert kept["securityContext"] == sent["securityContext"]
            assert kept["volumes"][0] == sent["volumes"][0]
            assert created["spec"]["backoffLimit"] == 0
    kube.close()
