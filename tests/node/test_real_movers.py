"""Volume data through mover Jobs that really run: the drkit image (`make image`) in a namespace that
enforces Pod Security "restricted", against MinIO with Object Lock, on a real node.

An application writes files into a dynamically provisioned claim; `drkit backup run --volume-mover job`
captures them with a backup Job; `drkit restore run` copies the application into another namespace
and a restore Job fills its new claim before the Deployment starts; the restored application serves
the same bytes (checksums of every file, read inside the pods).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.kube.client import KubeClient
from drkit.kube.exec import KubePodExec
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.s3server import S3Server
from tests.node import workloads as w

PASSWORD = "a passphrase for the real mover tests"
SUMS = "cd /data && find . -type f ! -name ready | sort | xargs sha256sum"
# Idempotent: the restored copy finds the data there and only serves it.
APP = (
    "if [ ! -f /data/ready ]; then mkdir -p /data/sub/deeper && head -c 3000000 /dev/urandom > /data/sub/big"
    " && echo hello > /data/a && ln -s a /data/link && echo $HOSTNAME > /data/sub/deeper/who"
    " && touch /data/ready; fi; exec httpd -f -p 8080 -h /data"
)


def deployment(name: str, script: str, uid: int = w.APP_UID) -> dict[str, Any]:
    pod = w.app_pod(name, script, uid=uid)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


def repo_secret(s3: S3Server) -> dict[str, Any]:
    """The mover Secret: the repository as seen from a pod (MinIO on the pod network's gateway), with
    the writer's temporary STS credentials (put with retention, read, list; no delete)."""
    assert s3.writer.session_token is not None
    files = {
        "url": f"s3://{s3.bucket}",
        "password": PASSWORD,
        "s3-endpoint": s3.endpoint,
        "s3-region": s3.region,
        "s3-path-style": "true",
        "aws-access-key-id": s3.writer.access_key,
        "aws-secret-access-key": str(s3.writer.secret_key.reveal()),
        "aws-session-token": str(s3.writer.session_token.reveal()),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "drkit-repo"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()},
    }


class Drkit:
    def __init__(self, cluster: ControlPlane, s3: S3Server) -> None:
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "DRKIT_REPO": f"s3://{s3.bucket}?endpoint={s3.endpoint}&region={s3.region}",
            "DRKIT_PASSWORD": PASSWORD,
            "DRKIT_SCRYPT_N": "1024",
            "AWS_ACCESS_KEY_ID": s3.admin.access_key,
            "AWS_SECRET_ACCESS_KEY": str(s3.admin.secret_key.reveal()),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=self.env, check=False,
            timeout=600,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        done = self.run(*args, "-o", "json")
        assert done.returncode == 0, f"drkit {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout)


def app_pod(cluster: ControlPlane, ns: str, app: str = "web") -> str:
    pods = cluster.api("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}")["items"]
    live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
    assert len(live) == 1, [p["metadata"]["name"] for p in pods]
    name: str = live[0]["metadata"]["name"]
    w.wait_ready(cluster, ns, name)
    return name


def exec_in(cluster: ControlPlane, ns: str, pod: str, script: str) -> str:
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig)
    try:
        done = KubePodExec(kube).exec(ns, pod, "app", ["sh", "-c", script], 60)
    finally:
        kube.close()
    assert done.exit_code == 0, done.stderr
    return done.stdout


def wait_app(cluster: ControlPlane, ns: str) -> str:
    def one_ready() -> bool:
        pods = cluster.api("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dweb")["items"]
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for p in pods
            for c in (p.get("status") or {}).get("conditions", [])
        )

    cluster.wait(one_ready, f"the app in {ns} Ready", timeout=180)
    return app_pod(cluster, ns)


@pytest.fixture
def app_ns(real_cluster: ControlPlane) -> Iterator[str]:
    ns = w.namespace(real_cluster, "app")
    yield ns
    w.delete_namespace(real_cluster, ns)


def test_mover_jobs_back_up_and_restore_a_claim_under_pod_security_restricted(
    real_cluster: ControlPlane, real_s3: S3Server, app_ns: str, tmp_path: Path
) -> None:
    cluster, copy_ns = real_cluster, f"{app_ns}-copy"
    w.claim(cluster, app_ns, "data")
    w.create(cluster, app_ns, repo_secret(real_s3))
    cluster.api("POST", f"/apis/apps/v1/namespaces/{app_ns}/deployments", deployment("web", APP))
    pod = wait_app(cluster, app_ns)
    original = exec_in(cluster, app_ns, pod, SUMS)
    assert "./sub/big" in original
    assert "./a" in original

    drkit = Drkit(cluster, real_s3)
    assert drkit.run("repo", "init", "--retention", "1d").returncode == 0
    backup = drkit.json(
        "backup", "run", "--include-namespaces", app_ns, "--volumes", "all", "--volume-mover", "job",
        "--image", w.DRKIT_IMAGE, "--volume-timeout", "5m",
    )  # fmt: skip
    (volume,) = backup["volumes"]
    assert (volume["status"], volume["mode"], volume["error"]) == ("ok", "job", "")
    assert volume["files"] == 4
    assert volume["bytes"] > 3_000_000
    # the Job really ran in the restricted namespace, as uid 65532, from the drkit image
    job = cluster.api("GET", f"/apis/batch/v1/namespaces/{app_ns}/jobs/{volume['job']}")
    assert job["status"].get("succeeded") == 1
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == w.DRKIT_IMAGE
    assert spec["securityContext"]["runAsUser"] == 65532
    assert volume["result"].get("from") != "repository", "the result came from the pod's termination message"

    plan = tmp_path / "copy.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drkit.io/v1",
                "kind": "RestorePlan",
                "metadata": {"name": "copy"},
                "spec": {
                    "snapshot": backup["id"],
                    "target": {"scratch": True},
                    "scope": {"includeNamespaces": [app_ns], "includeClusterResources": False},
                    "namespaceMapping": {app_ns: copy_ns},
                    "existingPolicy": "skip",
                    "restore": {"resources": True, "volumes": True},
                    "volumes": {"mover": "job"},
                },
            }
        )
    )
    try:
        done = drkit.run(
            "restore", "run", str(plan), "--kubeconfig", str(cluster.kubeconfig), "--image", w.DRKIT_IMAGE,
            "--volume-timeout", "5m", "--mover-run-as-user", "65532",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        restored_pod = wait_app(cluster, copy_ns)
        assert exec_in(cluster, copy_ns, restored_pod, SUMS) == original
        assert exec_in(cluster, copy_ns, restored_pod, "readlink /data/link").strip() == "a"
        # and the restored application serves it
        body = w.proxy_get(cluster, f"/api/v1/namespaces/{copy_ns}/pods/{restored_pod}:8080/proxy/a")
        assert body == "hello\n"
    finally:
        w.delete_namespace(cluster, copy_ns)


def _app_with_repo(
    cluster: ControlPlane, s3: S3Server, ns: str, script: str, annotations: dict[str, str] | None = None
) -> tuple[Drkit, str]:
    """A claim, the mover Secret, the Deployment ``web`` running ``script`` (Ready), an initialised
    repository: returns the CLI and the app's pod."""
    w.claim(cluster, ns, "data")
    w.create(cluster, ns, repo_secret(s3))
    app = deployment("web", script)
    if annotations:
        app["spec"]["template"]["metadata"]["annotations"] = annotations
    cluster.api("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", app)
    pod = wait_app(cluster, ns)
    drkit = Drkit(cluster, s3)
    assert drkit.run("repo", "init", "--retention", "1d").returncode == 0
    return drkit, pod


def _job_backup(drkit: Drkit, ns: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return drkit.run(
        "backup", "run", "--include-namespaces", ns, "--volumes", "all", "--volume-mover", "job",
        "--image", w.DRKIT_IMAGE, "--volume-timeout", "5m", "-o", "json", *extra,
    )  # fmt: skip


def _hooked(pre: str, post: str) -> dict[str, str]:
    return {
        "pre.hook.backup.drkit.io/command": json.dumps(["sh", "-c", pre]),
        "post.hook.backup.drkit.io/command": json.dumps(["sh", "-c", post]),
    }


def test_exec_hooks_run_in_the_app_container_around_the_copy(
    real_cluster: ControlPlane, real_s3: S3Server, app_ns: str, tmp_path: Path
) -> None:
    cluster = real_cluster
    # the pre hook leaves a mark in the data (so the copy must contain it) and one outside of it; the
    # post hook appends after the copy (so the copy must not contain it)
    hooks = _hooked(
        "echo pre-$(id -u) >> /data/hooks.log && touch /tmp/pre-ran", "echo post >> /data/hooks.log"
    )
    drkit, pod = _app_with_repo(
        cluster, real_s3, app_ns, "echo base > /data/base && exec httpd -f -p 8080 -h /data", hooks
    )
    done = _job_backup(drkit, app_ns)
    assert done.returncode == 0, done.stderr
    backup = json.loads(done.stdout)
    (volume,) = backup["volumes"]
    assert volume["status"] == "ok", volume["error"]
    assert [(h["phase"], h["ok"], h["container"]) for h in volume["hooks"]] == [
        ("pre", True, "app"),
        ("post", True, "app"),
    ]
    # both ran in the application's container, as its user, in order
    assert exec_in(cluster, app_ns, pod, "cat /data/hooks.log; ls /tmp/pre-ran") == (
        f"pre-{w.APP_UID}\npost\n/tmp/pre-ran\n"
    )
    # and the copy was taken between them
    out = tmp_path / "copy"
    restored = drkit.run("restore", "path", f"{volume['snapshot']}:volumes/{app_ns}/data", str(out))
    assert restored.returncode == 0, restored.stderr
    assert (out / "hooks.log").read_text() == f"pre-{w.APP_UID}\n"
    assert (out / "base").read_text() == "base\n"


def test_a_failing_pre_hook_fails_the_volume_with_its_stderr_and_skips_the_copy(
    real_cluster: ControlPlane, real_s3: S3Server, app_ns: str
) -> None:
    cluster = real_cluster
    hooks = _hooked("echo cannot freeze /data >&2; exit 3", "echo thawed > /tmp/post-ran")
    drkit, pod = _app_with_repo(cluster, real_s3, app_ns, "exec httpd -f -p 8080 -h /data", hooks)
    done = _job_backup(drkit, app_ns)
    assert done.returncode == 1, done.stderr  # partial: the snapshot exists, one volume failed
    (volume,) = json.loads(done.stdout)["volumes"]
    assert volume["status"] != "ok"
    assert "cannot freeze /data" in volume["error"]
    pre, post = volume["hooks"]
    assert (pre["phase"], pre["ok"], pre["exitCode"]) == ("pre", False, 3)
    assert post["phase"] == "post"  # a freeze is always followed by its thaw
    assert exec_in(cluster, app_ns, pod, "cat /tmp/post-ran") == "thawed\n"
    jobs = cluster.api("GET", f"/apis/batch/v1/namespaces/{app_ns}/jobs")["items"]
    assert jobs == [], "no mover Job was created: the copy was skipped"


def test_a_volume_uid_65532_cannot_read_is_captured_as_the_applications_user(
    real_cluster: ControlPlane, real_s3: S3Server, app_ns: str, tmp_path: Path
) -> None:
    """Files the application keeps private (mode 0600, its own uid) are unreadable to the mover's
    default uid 65532: that backup fails the volume and says why; with --mover-run-as-user (the
    application's uid, admitted by "restricted") the same files are captured."""
    cluster = real_cluster
    script = (
        "umask 077 && mkdir -p /data/db && echo secret-rows > /data/db/table; exec httpd -f -p 8080 -h /data"
    )
    assert "0700" not in script  # the directory is private through the umask, as a database's would be
    drkit, pod = _app_with_repo(cluster, real_s3, app_ns, script)
    assert exec_in(cluster, app_ns, pod, "stat -c %a /data/db/table").strip() == "600"

    denied = _job_backup(drkit, app_ns)
    assert denied.returncode == 1, denied.stderr  # partial
    (volume,) = json.loads(denied.stdout)["volumes"]
    assert volume["status"] != "ok"
    assert "entries could not be read" in volume["error"], volume["error"]
    assert "db: cannot list directory: Permission denied" in volume["error"]

    done = _job_backup(drkit, app_ns, "--mover-run-as-user", str(w.APP_UID))
    assert done.returncode == 0, done.stderr
    (volume,) = json.loads(done.stdout)["volumes"]
    assert volume["status"] == "ok", volume["error"]
    out = tmp_path / "copy"
    restored = drkit.run("restore", "path", f"{volume['snapshot']}:volumes/{app_ns}/data", str(out))
    assert restored.returncode == 0, restored.stderr
    assert (out / "db" / "table").read_text() == "secret-rows\n"


def test_the_mover_jobs_of_several_claims_run_at_once_into_one_repository(
    real_cluster: ControlPlane, real_s3: S3Server, app_ns: str, tmp_path: Path
) -> None:
    """Three claims, three backup Jobs that run at the same time (their Jobs' lifetimes overlap),
    each writing its volume snapshot into the same repository; verify then reads every pack, and each
    volume restores with its own bytes."""
    cluster = real_cluster
    names = ("one", "two", "three")
    for name in names:
        w.claim(cluster, app_ns, name)
        script = f"echo {name} > /data/whoami && head -c 200000 /dev/urandom > /data/noise; exec sleep 3600"
        w.create(cluster, app_ns, w.app_pod(f"app-{name}", script, claim_name=name))
    w.create(cluster, app_ns, repo_secret(real_s3))
    for name in names:
        w.wait_ready(cluster, app_ns, f"app-{name}")
    drkit = Drkit(cluster, real_s3)
    assert drkit.run("repo", "init", "--retention", "1d").returncode == 0

    done = _job_backup(drkit, app_ns)
    assert done.returncode == 0, done.stderr
    volumes = json.loads(done.stdout)["volumes"]
    assert [(v["pvc"], v["status"]) for v in volumes] == [(n, "ok") for n in sorted(names)]
    jobs = [cluster.api("GET", f"/apis/batch/v1/namespaces/{app_ns}/jobs/{v['job']}") for v in volumes]
    started = max(j["status"]["startTime"] for j in jobs)
    finished = min(j["status"]["completionTime"] for j in jobs)
    assert started < finished, "the last Job started before the first one finished"
    assert len({v["snapshot"] for v in volumes}) == 3

    verified = drkit.run("verify", "--read-data")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for volume in volumes:
        out = tmp_path / volume["pvc"]
        where = f"{volume['snapshot']}:volumes/{app_ns}/{volume['pvc']}"
        restored = drkit.run("restore", "path", where, str(out))
        assert restored.returncode == 0, restored.stderr
        assert (out / "whoami").read_text() == f"{volume['pvc']}\n"
        assert (out / "noise").stat().st_size == 200000
