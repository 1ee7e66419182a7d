"""Real-node pieces that need no root: addresses of the pod network, the CNI and kubelet configs, the
provisioner's reconcile pass (against a fake API of drkit's own), and the clear refusal without root."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from drkit.errors import MissingComponent
from drkit.sandbox import provisioner, realnode
from drkit.sandbox.netbridge import Bridge


def test_each_sandbox_and_node_gets_its_own_addresses() -> None:
    a, b = Bridge("drkitbr0", 0), Bridge("drkitbr3", 3)
    assert (a.gateway, b.gateway) == ("10.200.0.1", "10.203.0.1")
    assert [a.node_ip(i) for i in range(3)] == ["10.200.0.10", "10.200.0.11", "10.200.0.12"]
    ranges = [a.pod_range(i) for i in range(3)]
    assert ranges[0] == ("10.200.1.1", "10.200.1.254")
    # node and pod ranges never overlap each other, the gateway or the node addresses
    addresses = {a.gateway, *(a.node_ip(i) for i in range(3))}
    for first, last in ranges:
        span = range(int(ipaddress.ip_address(first)), int(ipaddress.ip_address(last)) + 1)
        assert not any(int(ipaddress.ip_address(x)) in span for x in addresses)
    assert ranges[1][0] > ranges[0][1]
    assert a.pod_cidr(1) == "10.200.2.0/24"


def test_the_cni_config_keeps_pods_on_the_machine() -> None:
    conf = Bridge("drkitbr1", 1).cni_conflist(0)
    bridge = conf["plugins"][0]
    assert bridge["bridge"] == "drkitbr1"
    assert bridge["ipMasq"] is False  # no NAT to the outside world
    assert bridge["ipam"]["ranges"][0][0]["gateway"] == "10.201.0.1"
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "loopback"]


def test_kubelet_config_has_the_knobs_this_machine_needs(tmp_path: Path) -> None:
    cfg = realnode.kubelet_config(
        node_ip="10.200.0.10", port=1, healthz_port=2, ca_file=tmp_path / "ca.crt", sock=tmp_path / "c.sock",
        pod_cidr="10.200.1.0/24", serving=(tmp_path / "s.crt", tmp_path / "s.key"),
    )  # fmt: skip
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupsPerQOS"] is False
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["readOnlyPort"] == 0
    assert cfg["imageGCHighThresholdPercent"] == 100  # imported images cannot be pulled again
    assert set(cfg["evictionHard"].values()) == {"0%"}
    text = realnode.containerd_config(tmp_path, tmp_path / "net.d", Path("/usr/sbin/runc"))
    assert "restrict_oom_score_adj = true" in text
    assert f'sandbox_image = "{realnode.PAUSE_IMAGE}"' in text
    assert f'address = "{tmp_path / "containerd.sock"}"' in text


def test_without_root_a_real_node_is_refused_naming_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realnode.os, "geteuid", lambda: 1000)
    with pytest.raises(MissingComponent, match="real nodes need root"):
        realnode.requirements()


def test_without_a_pause_image_the_message_says_make_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRKIT_IMAGES", str(tmp_path))
    (tmp_path / "testapp.oci.tar").write_bytes(b"")
    with pytest.raises(MissingComponent) as missing:
        realnode.default_images()
    assert missing.value.hint == "build the images with `make image`"


class FakeApi:
    """The few API calls the provisioner makes, over dicts."""

    def __init__(self, claims: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> None:
        self.claims, self.volumes = claims, volumes
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        if (method, path) == ("GET", "/api/v1/persistentvolumes"):
            return {"items": self.volumes}
        if (method, path) == ("GET", "/api/v1/persistentvolumeclaims"):
            return {"items": self.claims}
        if (method, path) == ("GET", "/apis/storage.k8s.io/v1/storageclasses"):
            return {"items": [{"metadata": {"name": provisioner.CLASS_NAME}}, {"metadata": {"name": "fast"}}]}
        if (method, path) == ("POST", "/api/v1/persistentvolumes"):
            self.volumes.append(body)
            return body
        if method == "DELETE":
            name = path.rsplit("/", 1)[1]
            self.volumes = [v for v in self.volumes if v["metadata"]["name"] != name]
            return {}
        raise AssertionError(f"unexpected call {method} {path}")


def _claim(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "annotations": annotations},
        "spec": {
            "storageClassName": provisioner.CLASS_NAME,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "2Gi"}},
        },
        "status": {"phase": "Pending"},
    }


def test_provisioner_creates_a_volume_on_the_chosen_node_only_once(tmp_path: Path) -> None:
    chosen = _claim("data", **{provisioner.SELECTED_NODE: "node-1"})
    waiting = _claim("later")  # no pod scheduled yet: no node chosen, nothing to do
    other = _claim("theirs", **{provisioner.SELECTED_NODE: "node-1"})
    other["spec"]["storageClassName"] = "fast"  # a class of this cluster with its own provisioner
    api = FakeApi([chosen, waiting, other], [])
    assert provisioner.reconcile(api, tmp_path) == ["provisioned pvc-uid-data for shop/data"]
    (pv,) = api.volumes
    ref = pv["spec"]["claimRef"]
    assert (ref["kind"], ref["namespace"], ref["name"], ref["uid"]) == (
        "PersistentVolumeClaim",
        "shop",
        "data",
        "uid-data",
    )
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term["values"] == ["node-1"]
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.parent == tmp_path
    assert directory.stat().st_mode & 0o777 == 0o777  # non-root pods write into it
    assert provisioner.reconcile(api, tmp_path) == []  # idempotent


def test_provisioner_deletes_released_volumes_of_its_class_with_their_directory(tmp_path: Path) -> None:
    api = FakeApi([_claim("data", **{provisioner.SELECTED_NODE: "node-0"})], [])
    provisioner.reconcile(api, tmp_path)
    (pv,) = api.volumes
    directory = Path(pv["spec"]["hostPath"]["path"])
    (directory / "file").write_text("x")
    api.claims = []
    pv["status"] = {"phase": "Released"}
    foreign = {
        "metadata": {"name": "keep-me", "annotations": {}},
        "spec": {"persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": str(tmp_path / "keep")}},
        "status": {"phase": "Released"},
    }
    api.volumes.append(foreign)
    assert provisioner.reconcile(api, tmp_path) == [f"deleted {pv['metadata']['name']}"]
    assert not directory.exists()
    assert [v["metadata"]["name"] for v in api.volumes] == ["keep-me"]


def test_a_claim_naming_a_missing_volume_gets_it_where_a_drill_restores_its_data(tmp_path: Path) -> None:
    restored = _claim("data")
    restored["spec"].update(volumeName="shop-data", storageClassName="manual")
    bound_elsewhere = _claim("other")
    bound_elsewhere["spec"]["volumeName"] = "exists"
    api = FakeApi([restored, bound_elsewhere], [{"metadata": {"name": "exists"}, "spec": {}, "status": {}}])
    assert provisioner.reconcile(api, tmp_path) == ["provisioned shop-data for shop/data"]
    pv = api.volumes[-1]
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "shop" / "data")  # DirectoryVolumes' layout
    assert pv["spec"]["storageClassName"] == "manual"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"  # restored data is never deleted
    assert pv["spec"]["claimRef"]["uid"] == "uid-data"
    assert provisioner.reconcile(api, tmp_path) == []


def test_a_restored_claim_of_a_class_the_scratch_cluster_lacks_gets_a_volume_where_its_data_is(
    tmp_path: Path,
) -> None:
    """A drill restores claims without their PV (volumeName dropped) and with the source's class:
    nothing else would bind them in a scratch cluster."""
    lacking = _claim("data")
    lacking["spec"]["storageClassName"] = "manual"
    served = _claim("fast-one")
    served["spec"]["storageClassName"] = "fast"  # a class this cluster has: its provisioner's job
    manual = _claim("static")
    manual["spec"]["storageClassName"] = ""  # explicitly static: the user binds it
    api = FakeApi([lacking, served, manual], [])
    assert provisioner.reconcile(api, tmp_path) == ["provisioned pvc-uid-data for shop/data"]
    (pv,) = api.volumes
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "shop" / "data")
    assert pv["spec"]["storageClassName"] == "manual"
    assert provisioner.reconcile(api, tmp_path) == []


def test_a_deep_node_directory_still_gets_a_socket_path_unix_accepts(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "cluster" / "nodes" / "node-0"
    sock = realnode.socket_dir(deep) / "containerd.sock.ttrpc"
    assert len(str(sock)) < 104
    assert realnode.socket_dir(deep) != realnode.socket_dir(deep.parent / "node-1")  # one per node


def test_teardown_from_the_state_file_kills_a_containerd_started_with_only_its_config(tmp_path: Path) -> None:
    """containerd's command line names its config, not its socket: `sandbox down` (no process handle)
    must still find it; a containerd of another node's directory is left alone."""
    import subprocess
    import sys

    fake = tmp_path / "bin" / "containerd"  # argv[0] names containerd, like the real one
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    sleeper = [str(fake), "-c", "import time; time.sleep(120)"]

    def start(workdir: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*sleeper, "--config", str(workdir / "containerd" / "config.toml")])

    mine, other = start(tmp_path / "n1"), start(tmp_path / "n10")
    try:
        record = {
            "socket": str(tmp_path / "sock" / "containerd.sock"),
            "ctr": "ctr",
            "workdir": str(tmp_path / "n1"),
        }
        realnode.teardown(record)
        assert mine.wait(timeout=10) == -9
        assert other.poll() is None
    finally:
        for p in (mine, other):
            p.kill()
            p.wait()
