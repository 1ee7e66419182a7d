"""Mover manifests (pure builders) and the mover itself (`drkit mover backup|restore` run as a
subprocess on local paths against a real LocalStore repository)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drkit.capture.movers import (
    DATA_DIR,
    DEFAULT_IMAGE,
    LABEL_PVC,
    LABEL_SNAPSHOT,
    MAX_RESULT_BYTES,
    REPO_CONFIG_DIR,
    MoverSettings,
    MoverTarget,
    backup_job,
    clone_pvc,
    object_name,
    parse_result,
    restore_job,
    restore_pvc,
    result_text,
    volume_snapshot,
)
from drkit.errors import ConfigError, ExitCode, KubernetesError
from tests.treecompare import assert_same_tree, make_sample_tree

RWO = MoverTarget(
    "shop", "data", node="node-3", access_modes=("ReadWriteOnce",), storage_class="fast", capacity="5Gi"
)
RWX = MoverTarget("shop", "shared", node="node-3", access_modes=("ReadWriteMany",), capacity="1Gi")


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def test_backup_job_mounts_the_claim_read_only_pinned_to_its_node() -> None:
    job = backup_job(RWO, MoverSettings(), "r1")
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert spec["restartPolicy"] == "Never"
    assert container["image"] == DEFAULT_IMAGE
    assert container["command"] == ["drkit"]
    args = container["args"]
    assert args[:2] == ["mover", "backup"]
    assert args[args.index("--source") + 1] == DATA_DIR
    assert args[args.index("--repo-config") + 1] == REPO_CONFIG_DIR
    assert args[args.index("--path") + 1] == "volumes/shop/data"
    assert args[args.index("--host") + 1] == "pvc:shop/data"
    assert args[args.index("--tag") + 1] == "drkit.io/snapshot=r1"
    data, repo, _tmp = spec["volumes"]
    assert data == {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}
    assert repo["secret"]["secretName"] == "drkit-repo"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["data"]["readOnly"] is True
    assert mounts["repo"] == {"name": "repo", "mountPath": REPO_CONFIG_DIR, "readOnly": True}
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-3"]}]}]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert job["metadata"]["labels"][LABEL_SNAPSHOT] == "r1"
    assert job["metadata"]["labels"][LABEL_PVC] == "data"
    assert spec["automountServiceAccountToken"] is False


def test_credentials_are_never_in_environment_variables() -> None:
    for job in (backup_job(RWO, MoverSettings(), "r1"), restore_job(RWO, MoverSettings(), "s1")):
        (container,) = pod_spec(job)["containers"]
        assert all("valueFrom" not in e for e in container["env"])
        assert "envFrom" not in container
        assert [e["name"] for e in container["env"]] == ["HOME"]


def test_security_contexts() -> None:
    spec = pod_spec(backup_job(RWO, MoverSettings(fs_group=2000, supplemental_groups=(5,)), "r1"))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["fsGroup"] == 2000
    assert spec["securityContext"]["supplementalGroups"] == [5]
    ctx = spec["containers"][0]["securityContext"]
    assert ctx == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    root = pod_spec(backup_job(RWO, MoverSettings(read_as_root=True), "r1"))
    assert root["securityContext"]["runAsNonRoot"] is False
    assert root["containers"][0]["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["DAC_READ_SEARCH"],
    }
    with pytest.raises(ConfigError, match="runAsNonRoot"):
        MoverSettings(run_as_user=0)
    with pytest.raises(ConfigError, match="DNS label"):
        MoverSettings(secret="Not_A_Name")


def test_shared_volumes_and_clones_are_not_pinned() -> None:
    assert "affinity" not in pod_spec(backup_job(RWX, MoverSettings(), "r1"))
    clone = pod_spec(backup_job(RWO, MoverSettings(), "r1", claim="drkit-clone-x"))
    assert "affinity" not in clone
    assert clone["volumes"][0]["persistentVolumeClaim"]["claimName"] == "drkit-clone-x"


def test_volume_snapshot_and_clone() -> None:
    settings = MoverSettings(snapshot_class="csi-snap")
    vs = volume_snapshot(RWO, settings, "r1")
    assert vs["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert vs["spec"] == {
        "volumeSnapshotClassName": "csi-snap",
        "source": {"persistentVolumeClaimName": "data"},
    }
    clone = clone_pvc(RWO, settings, "r1")
    assert clone["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": vs["metadata"]["name"],
    }
    assert clone["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    assert clone["spec"]["storageClassName"] == "fast"
    with pytest.raises(ConfigError, match="VolumeSnapshotClass"):
        volume_snapshot(RWO, MoverSettings(), "r1")


def test_restore_pvc_and_job() -> None:
    pvc = restore_pvc(RWO, "abc")
    assert pvc["metadata"]["name"] == "data"
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "volumeMode": "Filesystem",
        "storageClassName": "fast",
    }
    job = restore_job(RWO, MoverSettings(), "abc")
    spec = pod_spec(job)
    args = spec["containers"][0]["args"]
    assert args[:2] == ["mover", "restore"]
    assert args[args.index("--snapshot") + 1] == "abc"
    assert args[args.index("--target") + 1] == DATA_DIR
    assert spec["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    assert spec["securityContext"]["runAsUser"] == 0  # owners and modes are restored
    assert "affinity" not in spec
    with pytest.raises(ConfigError, match="capacity"):
        restore_pvc(MoverTarget("a", "b"), "abc")


def test_names_and_labels_fit_kubernetes_limits() -> None:
    long = MoverTarget("n" * 63, "Claim_" + "x" * 250)
    name = object_name("drkit-backup", long, "r1")
    assert len(name) <= 63
    assert name.startswith("drkit-backup-claim-xxx")
    assert object_name("drkit-backup", long, "r2") != name
    labels = backup_job(long, MoverSettings(), "r1")["metadata"]["labels"]
    assert all(len(v) <= 63 for v in labels.values())


def test_results_round_trip_and_stay_under_the_termination_message_limit() -> None:
    result = {"op": "backup", "snapshot": "abc", "files": 3}
    assert parse_result("log line\n" + result_text(result) + "\n") == result
    big = {"op": "backup", "snapshot": "abc", "skipped": ["x" * 100] * 100}
    text = result_text(big)
    assert len(text) <= MAX_RESULT_BYTES
    assert parse_result(text) == {"op": "backup", "snapshot": "abc", "truncated": True}
    with pytest.raises(KubernetesError, match="no mover result"):
        parse_result('{"other": 1}\nplain')


# -- the mover on local paths --------------------------------------------------------------------

PASSWORD = "mover unit test passphrase"


def drkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DRKIT_SCRYPT_N": "1024", **(env or {})},
        check=False,
    )


@pytest.fixture
def repo_config(tmp_path: Path) -> Path:
    done = drkit("repo", "init", env={"DRKIT_REPO": str(tmp_path / "repo"), "DRKIT_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    config = tmp_path / "config"
    config.mkdir()
    (config / "url").write_text(f"{tmp_path / 'repo'}\n")
    (config / "password").write_text(PASSWORD + "\n")
    return config


def test_mover_backup_then_restore_round_trip(repo_config: Path, tmp_path: Path) -> None:
    source = make_sample_tree(tmp_path / "source")
    result_file = tmp_path / "termination-log"
    done = drkit(
        "mover", "backup", "--source", str(source), "--repo-config", str(repo_config),
        "--path", "volumes/shop/data", "--host", "pvc:shop/data", "--tag", "drkit.io/snapshot=r1",
        "--result-file", str(result_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = parse_result(done.stdout)
    assert parse_result(result_file.read_text()) == result
    assert result["op"] == "backup"
    assert result["files"] == sum(1 for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    assert result["newBytes"] > 0
    assert result["parent"] is None

    again = drkit(
        "mover", "backup", "--source", str(source), "--repo-config", str(repo_config),
        "--path", "volumes/shop/data", "--host", "pvc:shop/data",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    second = parse_result(again.stdout)
    assert second["parent"] == result["snapshot"]  # one series per claim: incremental

    target = tmp_path / "target"
    restored = drkit(
        "mover", "restore", "--snapshot", result["snapshot"], "--path", "volumes/shop/data",
        "--target", str(target), "--repo-config", str(repo_config), "--result-file", str(tmp_path / "r2"),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert parse_result(restored.stdout)["files"] == result["files"]
    assert_same_tree(source, target)
    listing = json.loads(
        drkit(
            "snapshots", "-o", "json", env={"DRKIT_REPO": str(tmp_path / "repo"), "DRKIT_PASSWORD": PASSWORD}
        ).stdout
    )
    assert {row.get("kind") for row in listing} == {"volume"}


def test_mover_failures_still_write_a_result(repo_config: Path, tmp_path: Path) -> None:
    (repo_config / "password").write_text("the wrong passphrase\n")
    (tmp_path / "src").mkdir()
    result_file = tmp_path / "termination-log"
    done = drkit(
        "mover", "backup", "--source", str(tmp_path / "src"), "--repo-config", str(repo_config),
        "--result-file", str(result_file),
    )  # fmt: skip
    assert done.returncode == ExitCode.WRONG_KEY
    result = parse_result(result_file.read_text())
    assert result["op"] == "backup"
    assert result["error"]
    missing = drkit(
        "mover", "backup", "--source", str(tmp_path / "src"), "--repo-config", str(tmp_path / "none")
    )
    assert missing.returncode == ExitCode.USAGE
    assert "is not a directory" in missing.stderr


def test_mover_backup_in_write_only_mode_cannot_read_back(repo_config: Path, tmp_path: Path) -> None:
    (repo_config / "write-only").write_text("")
    source = tmp_path / "src"
    source.mkdir()
    (source / "f.txt").write_text("written by a mover that cannot read")
    args = ("--source", str(source), "--repo-config", str(repo_config), "--host", "pvc:a/b")
    first = drkit("mover", "backup", *args)
    assert first.returncode == 0, first.stderr
    result = parse_result(first.stdout)
    assert (result["files"], result["parent"]) == (1, None)
    second = parse_result(drkit("mover", "backup", *args).stdout)
    assert second["parent"] is None  # a write-only mover cannot open its previous snapshot
    restore = drkit(
        "mover", "restore", "--snapshot", result["snapshot"], "--target", str(tmp_path / "t"),
        "--repo-config", str(repo_config),
    )  # fmt: skip
    assert restore.returncode != 0
    assert parse_result(restore.stdout)["error"]
    (repo_config / "write-only").unlink()  # with a readable key the snapshot is there
    back = drkit(
        "mover", "restore", "--snapshot", result["snapshot"], "--target", str(tmp_path / "t"),
        "--repo-config", str(repo_config),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "t" / "f.txt").read_text() == "written by a mover that cannot read"
