"""`drkit restore etcd` on real etcd, etcdutl and kube-apiserver (issue 6): an etcd snapshot restored by
drkit boots a kube-apiserver that serves the backed-up objects; the revision is bumped and marked
compacted; the HashKV proof is made on a throw-away copy; failures have their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drkit.capture.cluster import ETCD_PATH
from drkit.errors import ConfigError, ExitCode
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.restore.etcd import EtcdRestoreRequest, parse_initial_cluster, start_command
from drkit.sandbox import binaries, http, process
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.etcd import EtcdServer
from drkit.sandbox.kubecomponents import EtcdClient, apiserver_argv
from drkit.sandbox.ports import free_port
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.infra.plugin import missing

PASSWORD = "a passphrase for the etcd restore test"
BUMP = 1_000_000_000


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "repo"
        self.env = {
            **os.environ,
            "DRKIT_REPO": str(self.repo),
            "DRKIT_PASSWORD": PASSWORD,
            "DRKIT_SCRYPT_N": "1024",
        }
        init = self.run("repo", "init")
        assert init.returncode == 0, init.stderr

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=self.env, check=False
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def open(self) -> Repository:
        return Repository.open(LocalStore(self.repo), Credential(passphrase=Secret(PASSWORD)))


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    try:
        return {name: str(binaries.find(name)) for name in ("etcd", "etcdutl", "kube-apiserver")}
    except Exception as exc:  # MissingComponent
        missing(str(exc))
        raise


def _peer() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _restore_args(snapshot: str, data_dir: Path, tools: dict[str, str], name: str = "restored") -> list[str]:
    peer = _peer()
    return [
        "restore",
        "etcd",
        snapshot,
        "--data-dir",
        str(data_dir),
        "--name",
        name,
        "--initial-cluster",
        f"{name}={peer}",
        "--initial-advertise-peer-urls",
        peer,
        "--etcdutl",
        tools["etcdutl"],
        "--etcd",
        tools["etcd"],
    ]


@pytest.fixture
def backed_up(cluster: ControlPlane, namespace: str, tmp_path: Path) -> tuple[Drkit, dict[str, Any]]:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": {"app": "shop"}},
        "data": {"mode": "blue", "restored": "from etcd"},
    }
    cluster.api("POST", f"/api/v1/namespaces/{namespace}/configmaps", cm)
    drkit = Drkit(tmp_path)
    snap = drkit.json("backup", "run", "--no-resources", "--etcd-endpoints", cluster.etcd.endpoint)
    return drkit, snap


def test_restored_etcd_boots_a_kube_apiserver_that_serves_the_backed_up_objects(
    cluster: ControlPlane,
    namespace: str,
    backed_up: tuple[Drkit, dict[str, Any]],
    tools: dict[str, str],
    tmp_path: Path,
) -> None:
    drkit, snap = backed_up
    record = snap["meta"]["etcd"]
    old_cm = cluster.api("GET", f"/api/v1/namespaces/{namespace}/configmaps/settings")
    data_dir = tmp_path / "restored" / "etcd-data"
    result = drkit.json(*_restore_args(snap["id"], data_dir, tools))

    assert result["snapshot"] == snap["id"]
    assert result["verification"]["verified"] is True, result["verification"]
    assert result["verification"]["hash"] == record["hash_kv"]["hash"]
    assert result["verification"]["compactRevision"] == record["hash_kv"]["compact_revision"]
    assert record["revision_min"] <= result["snapshotRevision"] <= record["revision_max"]
    assert result["restoredRevision"] == result["snapshotRevision"] + BUMP
    assert result["initialClusterToken"].startswith("drkit-")
    assert result["command"][:3] == [tools["etcd"], "--name=restored", f"--data-dir={data_dir.absolute()}"]
    assert any("encryption" in r for r in result["reminders"])
    assert any("service-account" in r for r in result["reminders"])
    # the private temporary file and the verification copy are gone: only the data directory is left
    assert sorted(p.name for p in data_dir.parent.iterdir()) == ["etcd-data"]
    assert (data_dir / "member" / "snap" / "db").is_file()

    etcd = EtcdServer.start(tmp_path / "etcd-run", name="restored", data_dir=data_dir)
    apiserver: process.Process | None = None
    try:
        status = http.call_json("POST", f"{etcd.endpoint}/v3/maintenance/status", body={})
        assert int(status["header"]["revision"]) == result["restoredRevision"]

        port = free_port()
        server = f"https://127.0.0.1:{port}"
        argv = apiserver_argv(
            Path(tools["kube-apiserver"]),
            port=port,
            pki=cluster.pki,  # the original cluster's CA and service-account keys travel with etcd
            etcd=EtcdClient(etcd.endpoint),
            cert_dir=tmp_path / "apiserver",
        )
        apiserver = process.start("kube-apiserver (restored)", argv, tmp_path / "kube-apiserver.log")
        admin = http.tls_context(cluster.pki.ca.cert, cluster.pki.admin.cert, cluster.pki.admin.key)

        def ready() -> bool:
            code, body = http.call("GET", f"{server}/readyz", context=admin, timeout=3.0)
            return code == 200 and body.strip() == b"ok"

        process.wait_until(ready, what=f"restored kube-apiserver at {server}", process=apiserver, timeout=120)

        got = http.call_json(
            "GET", f"{server}/api/v1/namespaces/{namespace}/configmaps/settings", context=admin
        )
        assert got["data"] == {"mode": "blue", "restored": "from etcd"}
        assert got["metadata"]["uid"] == old_cm["metadata"]["uid"]  # the very object, not a copy
        listed = http.call_json("GET", f"{server}/api/v1/namespaces/{namespace}/configmaps", context=admin)
        assert int(listed["metadata"]["resourceVersion"]) >= BUMP  # resourceVersions never go backwards
        # below the bump everything is compacted: a client's old resourceVersion is refused, not reused
        with pytest.raises(http.HTTPStatusError) as gone:
            http.call_json(
                "GET",
                f"{server}/api/v1/namespaces/{namespace}/configmaps?resourceVersion="
                f"{old_cm['metadata']['resourceVersion']}&resourceVersionMatch=Exact",
                context=admin,
            )
        assert gone.value.status == 410
    finally:
        if apiserver is not None:
            apiserver.stop()
        etcd.stop()


def test_a_hashkv_mismatch_is_exit_13_and_leaves_no_data_dir(
    backed_up: tuple[Drkit, dict[str, Any]], tools: dict[str, str], tmp_path: Path
) -> None:
    drkit, snap = backed_up
    repo = drkit.open()
    reader = repo.snapshot_reader(snap["id"])
    meta = json.loads(json.dumps(reader.meta))
    meta["etcd"]["hash_kv"]["hash"] = (int(meta["etcd"]["hash_kv"]["hash"]) + 1) % 2**32
    with repo.new_snapshot(kind="cluster", tags=("tampered",)) as writer:
        writer.add_stream(ETCD_PATH, reader.stream(ETCD_PATH))
        writer.set_meta(meta)
    assert writer.snapshot is not None
    data_dir = tmp_path / "bad" / "data"
    failed = drkit.run(*_restore_args(writer.snapshot.id, data_dir, tools))
    assert failed.returncode == ExitCode.VERIFICATION_FAILED, failed.stderr
    assert "differs from the snapshot" in failed.stderr
    assert not data_dir.exists()
    assert list(data_dir.parent.iterdir()) == []  # no temporary file or verification copy left

    # without verification the same snapshot restores (the trailer and the recorded sha256 still hold)
    unverified = drkit.json(*_restore_args(writer.snapshot.id, data_dir, tools), "--no-verify")
    assert unverified["verification"] == {
        "verified": False,
        "detail": "not verified: --no-verify",
        "hash": None,
        "hashRevision": None,
        "compactRevision": None,
        "etcdVersion": "",
    }
    assert (data_dir / "member" / "wal").is_dir()


def test_errors_have_their_exit_codes(
    backed_up: tuple[Drkit, dict[str, Any]], tools: dict[str, str], tmp_path: Path
) -> None:
    drkit, snap = backed_up
    broken = tmp_path / "etcdutl-broken"
    broken.write_text("#!/bin/sh\necho 'Error: this etcdutl is broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    args = _restore_args(snap["id"], tmp_path / "d1", tools)
    args[args.index("--etcdutl") + 1] = str(broken)
    failed = drkit.run(*args)
    assert failed.returncode == ExitCode.ETCD, failed.stderr
    assert "this etcdutl is broken" in failed.stderr

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "member").mkdir()
    not_empty = drkit.run(*_restore_args(snap["id"], occupied, tools))
    assert not_empty.returncode == ExitCode.USAGE
    assert "is not an empty directory" in not_empty.stderr

    wrong_name = _restore_args(snap["id"], tmp_path / "d2", tools, name="a")
    wrong_name[wrong_name.index("--name") + 1] = "b"
    assert drkit.run(*wrong_name).returncode == ExitCode.USAGE

    files = tmp_path / "tree"
    files.mkdir()
    (files / "f").write_text("x")
    path_snap = drkit.json("backup", "path", str(files))
    no_etcd = drkit.run(*_restore_args(path_snap["id"], tmp_path / "d3", tools))
    assert no_etcd.returncode == ExitCode.USAGE
    assert "no etcd/snapshot.db" in no_etcd.stderr
    assert not any((tmp_path / d).exists() for d in ("d1", "d2", "d3"))


def test_initial_cluster_and_start_command() -> None:
    assert parse_initial_cluster("a=https://10.0.0.1:2380,b=https://10.0.0.2:2380") == {
        "a": ["https://10.0.0.1:2380"],
        "b": ["https://10.0.0.2:2380"],
    }
    for bad in ("a", "a=", "=https://h:1", "a=ftp://h:1", "a=https://h"):
        with pytest.raises(ConfigError, match="--initial-cluster"):
            parse_initial_cluster(bad)
    request = EtcdRestoreRequest(
        data_dir=Path("/var/lib/etcd"),
        name="cp-1",
        initial_cluster="cp-1=https://10.0.0.11:2380",
        initial_advertise_peer_urls="https://10.0.0.11:2380",
    )
    argv = start_command(request, Path("/var/lib/etcd"), "tok")
    assert "--listen-client-urls=https://10.0.0.11:2379" in argv
    assert "--initial-cluster-token=tok" in argv
    assert "--cert-file=/etc/kubernetes/pki/etcd/server.crt" in argv
    assert "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key" in argv


def test_an_empty_etcd_restores_and_verifies(tools: dict[str, str], tmp_path: Path) -> None:
    """etcdutl reports revision 0 for a database without keys; etcd itself is at revision 1."""
    empty = EtcdServer.start(tmp_path / "empty-etcd")
    try:
        drkit = Drkit(tmp_path)
        snap = drkit.json("backup", "run", "--no-resources", "--etcd-endpoints", empty.endpoint)
    finally:
        empty.stop()
    assert snap["meta"]["etcd"]["revision"] == 1
    result = drkit.json(*_restore_args(snap["id"], tmp_path / "data", tools), "--bump-revision", "1000")
    assert result["verification"]["verified"] is True
    assert result["snapshotRevision"] == 0
    assert result["restoredRevision"] == 1000
