"""The sandbox's state file, kwok's fake nodes and stages, and the components' command lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from drkit.sandbox import kwok
from drkit.sandbox.kubecomponents import EtcdClient, apiserver_argv, controller_manager_argv, scheduler_argv
from drkit.sandbox.kubepki import ClusterPKI
from drkit.sandbox.state import ComponentState, S3State, SandboxState, running_exe


def test_state_round_trips(tmp_path: Path) -> None:
    state = SandboxState(
        directory=str(tmp_path),
        kubeconfig=str(tmp_path / "cluster" / "kubeconfig"),
        server="https://127.0.0.1:6443",
        nodes=["kwok-node-0"],
        components=[ComponentState("etcd", 123, "/bin/etcd", "http://127.0.0.1:2379", "etcd.log")],
        s3=S3State("http://127.0.0.1:9000", "us-east-1", "drkit", str(tmp_path / "s3-credentials.json")),
        started_at="2026-01-01T00:00:00+00:00",
    )
    state.save()
    assert SandboxState.load(tmp_path) == state


def test_no_state_file_is_none(tmp_path: Path) -> None:
    assert SandboxState.load(tmp_path) is None


def test_a_pid_counts_only_while_it_runs_the_recorded_executable() -> None:
    me = running_exe(os.getpid())
    assert Path(me).resolve() == Path(sys.executable).resolve()
    assert ComponentState("self", os.getpid(), me).alive()
    assert not ComponentState("reused", os.getpid(), "/usr/local/bin/etcd").alive()
    assert not ComponentState("unknown", os.getpid(), "").alive()


def test_kwok_node_is_annotated_labelled_and_sized() -> None:
    node = kwok.node_manifest("kwok-node-0")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["metadata"]["labels"]["type"] == "kwok"
    assert node["status"]["allocatable"] == {"cpu": "32", "memory": "256Gi", "pods": "110"}
    assert "taints" not in node["spec"]
    tainted = kwok.node_manifest("kwok-node-1", taint=True)
    assert tainted["spec"]["taints"] == [
        {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
    ]


def test_kwok_config_holds_node_and_pod_stages(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(kwok.write_config(tmp_path / "kwok.yaml").read_text()))
    assert {d["kind"] for d in docs} == {"Stage"}
    kinds = sorted(d["spec"]["resourceRef"]["kind"] for d in docs)
    assert kinds == ["Node", "Pod", "Pod", "Pod"]
    deleting = [d for d in docs if d["spec"]["next"].get("delete")]
    assert [d["spec"]["resourceRef"]["kind"] for d in deleting] == ["Pod"]


def test_node_ready_reads_the_ready_condition() -> None:
    assert kwok.node_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not kwok.node_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not kwok.node_ready({})


def test_components_listen_on_loopback_with_rbac(tmp_path: Path) -> None:
    pki = ClusterPKI.create(tmp_path / "pki")
    exe = Path("/bin/true")
    api = apiserver_argv(exe, port=6443, pki=pki, etcd=EtcdClient("http://127.0.0.1:2379"), cert_dir=tmp_path)
    assert "--bind-address=127.0.0.1" in api
    assert "--secure-port=6443" in api
    assert "--authorization-mode=Node,RBAC" in api
    assert "--service-cluster-ip-range=10.0.0.0/24" in api
    assert not [a for a in api if a.startswith(("--insecure", "--etcd-cafile"))]
    kubeconfig = tmp_path / "kc"
    kcm = controller_manager_argv(exe, port=10257, kubeconfig=kubeconfig, pki=pki, cert_dir=tmp_path)
    sched = scheduler_argv(exe, port=10259, kubeconfig=kubeconfig, cert_dir=tmp_path)
    for argv in (kcm, sched):
        assert "--bind-address=127.0.0.1" in argv
        assert "--leader-elect=false" in argv
    assert "--use-service-account-credentials=true" in kcm
    assert f"--service-account-private-key-file={pki.service_account.private}" in kcm


def test_apiserver_uses_etcd_client_certificates(tmp_path: Path) -> None:
    pki = ClusterPKI.create(tmp_path / "pki")
    etcd = EtcdClient("https://127.0.0.1:2379", tmp_path / "ca.crt", tmp_path / "c.crt", tmp_path / "c.key")
    api = apiserver_argv(Path("/bin/true"), port=6443, pki=pki, etcd=etcd, cert_dir=tmp_path)
    assert f"--etcd-cafile={tmp_path / 'ca.crt'}" in api
    assert f"--etcd-certfile={tmp_path / 'c.crt'}" in api
    assert f"--etcd-keyfile={tmp_path / 'c.key'}" in api
