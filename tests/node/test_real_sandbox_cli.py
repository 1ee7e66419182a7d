"""`drkit sandbox up --real-nodes 1`: what `status -o json` tells (node kinds, the S3 endpoint as pods
see it), that a pod reaches MinIO there, and that `down` leaves nothing behind: no process, no mount,
no bridge, no iptables rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane
from tests.node import workloads as w

READY = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + "/minio/health/ready", timeout=10).status)
"""


def _drkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drkit", *args], capture_output=True, text=True, check=False,
                          timeout=600, env=dict(os.environ))  # fmt: skip


def _processes_under(directory: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(directory).encode() in (proc / "cmdline").read_bytes():
                    found.append(proc.name)
            except OSError:
                continue
    return found


def _netns() -> set[str]:
    named = Path("/run/netns")
    return {p.name for p in named.iterdir()} if named.is_dir() else set()


def test_sandbox_up_with_a_real_node_tells_where_pods_reach_s3_and_down_cleans_up(
    real_cluster: ControlPlane, tmp_path: Path
) -> None:
    del real_cluster  # only to share the session's requirements check (root, kubelet, images)
    directory = tmp_path / "sandbox"
    netns_before = _netns()
    up = _drkit("sandbox", "up", "--dir", str(directory), "--real-nodes", "1", "--nodes", "0")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "0 kwok node(s), 1 real node(s)" in up.stdout
    try:
        status = _drkit("sandbox", "status", "--dir", str(directory), "-o", "json")
        doc: dict[str, Any] = json.loads(status.stdout)
        assert doc["node_kinds"] == {"real": ["node-0"], "kwok": []}
        assert doc["up"] is True
        endpoint = doc["s3"]["endpoint_in_cluster"]
        assert endpoint == doc["s3"]["endpoint"]
        assert endpoint.startswith("http://10.2")  # the pod network's gateway, not loopback
        state = json.loads((directory / "sandbox.json").read_text())
        bridge, socket = state["bridge"]["name"], Path(state["real_nodes"][0]["socket"])
        assert socket.is_socket()
        assert Path("/sys/class/net", bridge).exists()

        # a pod of that sandbox reaches MinIO at the endpoint status gave
        plane_kubeconfig = Path(doc["kubeconfig"])
        env_cluster = _Api(doc["server"], plane_kubeconfig.parent / "pki")
        ns = "reach-s3"
        env_cluster.call(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
        pod = w.app_pod("reach", "", claim_name=None, once=True)
        container = pod["spec"]["containers"][0]
        container.update(
            image=w.DRKIT_IMAGE,
            imagePullPolicy="Never",
            command=["/opt/drkit/bin/python", "-c", READY, endpoint],
        )
        env_cluster.wait_sa(ns)
        env_cluster.call("POST", f"/api/v1/namespaces/{ns}/pods", pod)
        env_cluster.wait_done(ns, "reach")
        assert env_cluster.log(ns, "reach").strip() == "200"
        # a pod still running at `down`: its container is killed, and its network namespace must go too
        sleeper = w.app_pod("sleeper", "", claim_name=None, once=True)
        sleeper["spec"]["containers"][0].update(
            image=w.DRKIT_IMAGE,
            imagePullPolicy="Never",
            command=["/opt/drkit/bin/python", "-c", "import time; time.sleep(900)"],
        )
        env_cluster.call("POST", f"/api/v1/namespaces/{ns}/pods", sleeper)
        env_cluster.wait_phase(ns, "sleeper", {"Running"})
    finally:
        down = _drkit("sandbox", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "Stopped kubelet-node-0" in down.stdout
    assert not Path("/sys/class/net", bridge).exists()
    rules = subprocess.run(
        ["iptables", "-t", "nat", "-S", "PREROUTING"], capture_output=True, text=True, check=False
    )
    assert f"drkit-sandbox-{bridge}" not in rules.stdout
    assert [
        line for line in Path("/proc/self/mounts").read_text().splitlines() if str(directory) in line
    ] == []
    assert _processes_under(directory) == []
    assert _processes_under(socket.parent) == []  # containerd and its shims
    assert not socket.parent.exists()
    # the pod's network namespace (made by the CNI plugins, named cni-...) is gone with its node
    assert {n for n in _netns() - netns_before if n.startswith("cni-")} == set()


class _Api:
    """The admin of a detached sandbox, from its PKI files (the sandbox's own ControlPlane object lives
    in the `up` process)."""

    def __init__(self, server: str, pki: Path) -> None:
        self.server = server
        self.context = http.tls_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return http.call_json(method, f"{self.server}{path}", body=body, context=self.context, timeout=10)

    def _until(self, ready: Any, what: str, timeout: float = 120) -> None:
        from drkit.sandbox.process import wait_until

        wait_until(ready, what=what, timeout=timeout, interval=0.5)

    def wait_sa(self, ns: str) -> None:
        self._until(lambda: bool(self.call("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")), "sa")

    def wait_done(self, ns: str, pod: str) -> None:
        self.wait_phase(ns, pod, {"Succeeded", "Failed"})

    def wait_phase(self, ns: str, pod: str, phases: set[str]) -> None:
        def reached() -> bool:
            phase = (self.call("GET", f"/api/v1/namespaces/{ns}/pods/{pod}").get("status") or {}).get("phase")
            return phase in phases

        self._until(reached, f"pod {ns}/{pod} {'/'.join(sorted(phases))}")

    def log(self, ns: str, pod: str) -> str:
        _, body = http.call(
            "GET", f"{self.server}/api/v1/namespaces/{ns}/pods/{pod}/log", context=self.context
        )
        return body.decode()
