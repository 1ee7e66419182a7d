"""deploy/ with the built image on a real node: the CronJob form backs up the cluster as its own
ServiceAccount into MinIO (writer credentials), what that account may not do is refused to a real pod
holding its token, and the daemon Deployment with two replicas elects one leader and serves /metrics
to another pod. The manifests are rendered with `kubectl kustomize` and changed only where a user
must (image, repository, credentials, schedules)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from drkit.errors import SandboxError
from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.s3server import S3Server
from tests.integration.test_deploy_rbac import apply, documents, find, kubectl, render
from tests.node import workloads as w

NS = "drkit"
PASSWORD = "a passphrase for the deploy test"


def _secret(name: str, files: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()},
    }


def _use_image(pod_spec: dict[str, Any]) -> None:
    for c in pod_spec["containers"]:
        c["image"], c["imagePullPolicy"] = w.DRKIT_IMAGE, "Never"


def _repo_url(s3: S3Server) -> str:
    return f"s3://{s3.bucket}?endpoint={s3.endpoint}&region={s3.region}"


def _host_drkit(cluster: ControlPlane, s3: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "DRKIT_REPO": _repo_url(s3),
        "DRKIT_PASSWORD": PASSWORD,
        "DRKIT_SCRYPT_N": "1024",
        "AWS_ACCESS_KEY_ID": s3.admin.access_key,
        "AWS_SECRET_ACCESS_KEY": str(s3.admin.secret_key.reveal()),
    }
    return subprocess.run([sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=env,
                          check=False, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def deployed(real_cluster: ControlPlane, real_s3_server: S3Server) -> Iterator[S3Server]:
    """deploy/base applied (Namespace, accounts, RBAC, schedules, daemon scaled to 0 until configured),
    the Secrets a user creates, and an initialised repository in a new bucket."""
    import dataclasses

    from tests.infra.s3 import bucket_name

    s3 = dataclasses.replace(real_s3_server, bucket=bucket_name("deploy"))
    real_s3_server.create_bucket(s3.bucket, object_lock=True)
    assert _host_drkit(real_cluster, s3, "repo", "init", "--retention", "1d").returncode == 0
    docs = documents(render("deploy/base"))
    find(docs, "Deployment", "drkit")["spec"]["replicas"] = 0
    rendered = yaml.safe_dump_all(docs)
    namespace = yaml.safe_dump(find(docs, "Namespace", NS))
    assert apply(real_cluster, namespace, dry_run=False).returncode == 0
    done = apply(real_cluster, rendered, dry_run=False)
    assert done.returncode == 0, done.stderr
    writer = s3.writer
    credentials = (
        "[default]\n"
        f"aws_access_key_id = {writer.access_key}\n"
        f"aws_secret_access_key = {writer.secret_key.reveal()!s}\n"
        f"aws_session_token = {writer.session_token.reveal() if writer.session_token else ''!s}\n"
    )
    for secret in (
        _secret("drkit-repository", {"password": PASSWORD}),
        _secret("drkit-s3", {"credentials": credentials, "config": f"[default]\nregion = {s3.region}\n"}),
    ):
        real_cluster.api("POST", f"/api/v1/namespaces/{NS}/secrets", secret)
    yield s3
    kubectl(
        real_cluster.kubeconfig, "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=rendered
    )


def _wait_job(cluster: ControlPlane, name: str, timeout: float = 300) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def finished() -> bool:
        seen.update(cluster.api("GET", f"/apis/batch/v1/namespaces/{NS}/jobs/{name}"))
        conditions = (seen.get("status") or {}).get("conditions") or []
        return any(c["type"] in {"Complete", "Failed"} and c["status"] == "True" for c in conditions)

    cluster.wait(finished, f"Job {NS}/{name} finished", timeout=timeout)
    return seen


def _logs(cluster: ControlPlane, pod: str, container: str | None = None) -> str:
    suffix = f"?container={container}" if container else ""
    _, body = http.call(
        "GET",
        f"{cluster.server}/api/v1/namespaces/{NS}/pods/{pod}/log{suffix}",
        context=cluster.admin_context(),
    )
    return body.decode(errors="replace")


def _job_pod(cluster: ControlPlane, job: str) -> str:
    pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=job-name%3D{job}")["items"]
    assert pods, f"no pod of Job {job}"
    name: str = pods[-1]["metadata"]["name"]
    return name


def test_the_cronjob_backs_up_the_cluster_as_its_own_service_account(
    real_cluster: ControlPlane, deployed: S3Server
) -> None:
    cron = find(documents(render("deploy/overlays/cronjob")), "CronJob", "drkit-backup")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    _use_image(template["spec"])
    env = template["spec"]["containers"][0]["env"]
    for e in env:  # the two values the manifest marks CHANGE
        if e["name"] == "DRKIT_REPO":
            e["value"] = _repo_url(deployed)
    template["spec"]["containers"][0]["env"] = [e for e in env if e["name"] != "DRKIT_BACKUP_RUN_S3_ENDPOINT"]
    cluster = real_cluster
    cluster.api("POST", f"/apis/batch/v1/namespaces/{NS}/cronjobs", cron)
    # what `kubectl create job --from=cronjob/drkit-backup` does
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "drkit-backup-now",
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
        },
        "spec": {**cron["spec"]["jobTemplate"]["spec"], "backoffLimit": 0},
    }
    cluster.api("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job)
    status = _wait_job(cluster, "drkit-backup-now")
    pod = _job_pod(cluster, "drkit-backup-now")
    logs = _logs(cluster, pod)
    assert status["status"].get("succeeded") == 1, logs
    spec = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods/{pod}")["spec"]
    assert spec["serviceAccountName"] == "drkit-backup"
    assert spec["securityContext"]["runAsUser"] == 65532
    # --log-format=json: the log lines (stderr) are JSON objects beside the summary (stdout), and no
    # secret is in any of them
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert [e["msg"] for e in lines if e.get("job") == "backup"][:1] == ["backup started"], logs
    assert any(e.get("outcome") == "success" and e.get("snapshot_id") for e in lines), logs
    assert PASSWORD not in logs
    assert str(deployed.writer.secret_key.reveal()) not in logs

    listed = _host_drkit(cluster, deployed, "snapshots", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    (snap,) = [s for s in json.loads(listed.stdout) if "cronjob" in s.get("tags", [])]
    assert snap["kind"] == "cluster"


PROBE = """
import json, os, ssl, urllib.request, urllib.error
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
token = open(sa + "/token").read()
out = {}
for name, method, path, body in [
    ("list namespaces", "GET", "/api/v1/namespaces", None),
    ("delete a configmap", "DELETE", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", None),
    ("create a pod", "POST", "/api/v1/namespaces/default/pods",
     {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
      "spec": {"containers": [{"name": "x", "image": "x"}]}}),
    ("create a token", "POST", "/api/v1/namespaces/drkit/serviceaccounts/drkit-restore/token",
     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(host + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        out[name] = urllib.request.urlopen(req, context=ctx, timeout=10).status
    except urllib.error.HTTPError as e:
        out[name] = e.code
print(json.dumps(out))
"""


def test_a_real_pod_with_the_backup_token_cannot_write(
    real_cluster: ControlPlane, deployed: S3Server
) -> None:
    """Least privilege proven from inside: the daemon's pod spec, its ServiceAccount and projected
    token, the in-cluster address of the API server; reads work, writes and escalations get 403."""
    daemon = find(documents(render("deploy/base")), "Deployment", "drkit")
    spec = daemon["spec"]["template"]["spec"]
    _use_image(spec)
    container = spec["containers"][0]
    container["command"] = ["/opt/drkit/bin/python", "-c", PROBE]
    container.pop("args", None)
    container.pop("livenessProbe", None)
    container.pop("readinessProbe", None)
    spec["restartPolicy"] = "Never"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe-backup-token"}, "spec": spec}
    real_cluster.api("POST", f"/api/v1/namespaces/{NS}/pods", pod)
    w.wait_phase(real_cluster, NS, "probe-backup-token", {"Succeeded", "Failed"}, timeout=120)
    logs = _logs(real_cluster, "probe-backup-token")
    answers = json.loads(logs.strip().splitlines()[-1])
    assert answers == {
        "list namespaces": 200,
        "delete a configmap": 403,
        "create a pod": 403,
        "create a token": 403,
    }


READ_METRICS = """
import sys, urllib.request
for arg in sys.argv[1:]:
    name, ip = arg.split("=")
    print("== " + name)
    print(urllib.request.urlopen("http://%s:9090/metrics" % ip, timeout=10).read().decode())
"""


def test_the_daemon_with_two_replicas_elects_one_leader_and_serves_metrics_to_another_pod(
    real_cluster: ControlPlane, deployed: S3Server
) -> None:
    cluster = real_cluster
    schedules = find(documents(render("deploy/base")), "ConfigMap", "drkit-schedules")
    nightly = yaml.safe_load(schedules["data"]["nightly.yaml"])
    nightly["spec"]["repository"]["url"] = f"s3://{deployed.bucket}"
    nightly["spec"]["repository"]["s3"] = {
        "endpoint": deployed.endpoint,
        "region": deployed.region,
        "pathStyle": True,
    }
    nightly["spec"]["lock"] = {"mode": "governance", "period": "1d"}
    schedules["data"] = {"nightly.yaml": yaml.safe_dump(nightly)}
    cluster.api("PUT", f"/api/v1/namespaces/{NS}/configmaps/drkit-schedules", schedules)
    daemon = cluster.api("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/drkit")
    _use_image(daemon["spec"]["template"]["spec"])
    daemon["spec"]["replicas"] = 2
    cluster.api("PUT", f"/apis/apps/v1/namespaces/{NS}/deployments/drkit", daemon)

    selector = "app.kubernetes.io%2Fcomponent%3Ddaemon"

    def both_ready() -> bool:
        pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")["items"]
        ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in (p.get("status") or {}).get("conditions", []))]  # fmt: skip
        return len(ready) == 2

    try:
        cluster.wait(
            both_ready, "two daemon replicas Ready (readiness: schedules loaded, election running)", 180
        )
    except SandboxError:
        pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")["items"]
        raise AssertionError("\n".join(_logs(cluster, p["metadata"]["name"])[-2000:] for p in pods)) from None
    pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")["items"]
    names = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}

    def leader() -> str:
        lease = cluster.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/drkit-daemon")
        holder: str = lease["spec"].get("holderIdentity") or ""
        return holder

    cluster.wait(lambda: leader() in names, "a daemon replica holding the Lease", timeout=60)
    # another pod (the test application, in its own namespace) reads each replica's /metrics
    reader_ns = w.namespace(cluster, "metrics-reader")
    try:
        reader = w.app_pod("reader", "", claim_name=None, once=True)
        container = reader["spec"]["containers"][0]
        container["image"], container["imagePullPolicy"] = w.DRKIT_IMAGE, "Never"
        container["command"] = [
            "/opt/drkit/bin/python",
            "-c",
            READ_METRICS,
            *(f"{n}={ip}" for n, ip in names.items()),
        ]
        w.create(cluster, reader_ns, reader)
        w.wait_phase(cluster, reader_ns, "reader", {"Succeeded", "Failed"}, timeout=120)
        _, body = http.call("GET", f"{cluster.server}/api/v1/namespaces/{reader_ns}/pods/reader/log",
                            context=cluster.admin_context())  # fmt: skip
    finally:
        w.delete_namespace(cluster, reader_ns)
    text = body.decode()
    gauges = {}
    for part in text.split("== ")[1:]:
        name, _, metrics = part.partition("\n")
        values = [line for line in metrics.splitlines() if line.startswith("drkit_leader")]
        assert values, f"no drkit_leader in {name}'s /metrics: {metrics[:300]}"
        gauges[name.strip()] = float(values[0].split()[-1])
    assert sorted(gauges.values()) == [0.0, 1.0], gauges
    assert gauges[leader()] == 1.0
