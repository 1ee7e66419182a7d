"""A real node: containerd (with its CRI plugin), runc, the CNI plugins and a kubelet, joined to the
sandbox's control plane. Containers really run here.

What it needs (checked before anything starts, named when missing): root, the kubelet built by
``make testbin``, and Debian's containerd, runc and CNI plugins (installed by hack/system-deps.sh).
Every file of the node (containerd's root and state, the kubelet's root, logs, certificates) lives
under its work directory; containerd gets its own socket and never touches a system containerd.

The knobs this kind of machine needs are in ../shared/REALNODE.md: ``restrict_oom_score_adj`` (the VM
forbids negative oom_score_adj), cgroupfs without per-QoS cgroups (hybrid cgroup v1/v2), no swap or
eviction checks (a shared disk must not evict test pods), and a non-loopback node address.

Images are never pulled: the sandbox imports OCI archives (``make image``) into containerd, and the
pod sandbox image is ``drkit.local/pause:1``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drkit.errors import MissingComponent, SandboxError
from drkit.sandbox import binaries, kubeconfig, process
from drkit.sandbox.netbridge import Bridge
from drkit.sandbox.pki import CertificateAuthority

PAUSE_IMAGE = "drkit.local/pause:1"
CNI_BIN_DIR = Path("/usr/lib/cni")
NODE_LABEL = "drkit.io/node-kind"
STARTUP_TIMEOUT = 120.0
SYSTEM_DEPS_HINT = "install them with `make testbin` (runs hack/system-deps.sh as root)"


def images_dir() -> Path:
    """Where ``make image`` writes its OCI archives: $DRKIT_IMAGES, else the checkout's .testbin/images."""
    if env := os.environ.get("DRKIT_IMAGES"):
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".testbin" / "images"


def default_images() -> list[Path]:
    """The archives ``make image`` built (the pause image among them: a node cannot start a pod
    without it). Raises ``MissingComponent`` when there are none."""
    found = sorted(images_dir().glob("*.tar"))
    if not any("pause" in p.name for p in found):
        raise MissingComponent(
            f"no pause image archive in {images_dir()} (a real node needs {PAUSE_IMAGE})",
            hint="build the images with `make image`",
        )
    return found


def requirements() -> dict[str, Path]:
    """The programs a real node runs; raises ``MissingComponent`` naming what is missing and why."""
    if os.geteuid() != 0:
        raise MissingComponent(
            "real nodes need root (containerd, runc and the CNI plugins create namespaces, cgroups and "
            "the pod network bridge)",
            hint="run as root, or use kwok nodes only (`--nodes`)",
        )
    found = {"kubelet": binaries.find("kubelet")}
    for name in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables"):
        path = _which(name)
        if path is None:
            raise MissingComponent(f"{name} not found (a real node needs it)", hint=SYSTEM_DEPS_HINT)
        found[name] = path
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN_DIR / plugin).is_file():
            raise MissingComponent(f"the CNI plugin {plugin} is not in {CNI_BIN_DIR}", hint=SYSTEM_DEPS_HINT)
    if not Path("/sys/fs/cgroup").is_dir():
        raise MissingComponent("no cgroup file system at /sys/fs/cgroup", hint="a real node needs cgroups")
    return found


def _which(name: str) -> Path | None:
    for d in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin", "/usr/bin"]:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


SOCKET_ROOT = Path("/var/lib/drkit/nodes")


def socket_dir(workdir: Path) -> Path:
    """A short directory for what of a node holds Unix sockets -- containerd's sockets and the
    kubelet's root (pod-resources, plugin registration): a socket path may not be longer than 104
    bytes, and a node's own directory can be deep (``--dir``, pytest's temp dirs). Removed at
    teardown."""
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
    return SOCKET_ROOT / digest


def containerd_config(workdir: Path, cni_conf_dir: Path, runc: Path, sock: Path | None = None) -> str:
    """containerd 1.6's config (version 2): its own root, state and socket; the CRI plugin's knobs."""
    sock = sock or workdir / "containerd.sock"
    return f"""version = 2
root = "{workdir / "root"}"
state = "{workdir / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir}"
"""


def kubelet_config(
    *, node_ip: str, port: int, healthz_port: int, ca_file: Path, sock: Path, pod_cidr: str,
    serving: tuple[Path, Path],
) -> dict[str, Any]:  # fmt: skip
    """The KubeletConfiguration of a sandbox node."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        # Only clients with a certificate of the cluster CA (the API server's kubelet client) get in.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{sock}",
        "resolvConf": "",
        "podCIDR": pod_cidr,
        "maxPods": 110,
        "serializeImagePulls": False,
        # Imported images cannot be pulled again: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A shared disk must not evict test pods.
        "evictionHard": {
            "memory.available": "0%",
            "nodefs.available": "0%",
            "nodefs.inodesFree": "0%",
            "imagefs.available": "0%",
        },
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
    }


@dataclass
class RealNode:
    name: str
    index: int
    ip: str
    workdir: Path
    containerd: process.Process
    kubelet: process.Process
    ctr: Path

    @property
    def socket(self) -> Path:
        return socket_dir(self.workdir) / "containerd.sock"

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        name: str,
        index: int,
        bridge: Bridge,
        server: str,
        ca: CertificateAuthority,
        ca_file: Path,
        images: Sequence[Path] = (),
        labels: dict[str, str] | None = None,
    ) -> RealNode:
        """Start containerd and the kubelet of node ``name``; import ``images``. Returns once the
        kubelet runs (the caller waits for the Node to be Ready, which needs the API server's view)."""
        exes = requirements()
        workdir.mkdir(parents=True, exist_ok=True)
        logs = workdir / "logs"
        ip = bridge.add_node(index)

        cni_dir = workdir / "cni" / "net.d"
        cni_dir.mkdir(parents=True, exist_ok=True)
        conflist = bridge.cni_conflist(index)
        conflist["plugins"][0]["ipam"]["dataDir"] = str(workdir / "cni" / "ipam")
        (cni_dir / "10-drkit.conflist").write_text(json.dumps(conflist, indent=2))
        cdir = workdir / "containerd"
        cdir.mkdir(parents=True, exist_ok=True)
        config = cdir / "config.toml"
        sock = socket_dir(workdir) / "containerd.sock"
        sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        config.write_text(containerd_config(cdir, cni_dir, exes["runc"], sock))
        env = {"PATH": f"{exes['containerd-shim-runc-v2'].parent}:{os.environ.get('PATH', '')}"}
        containerd = process.start(
            f"containerd-{name}", [exes["containerd"], "--config", config], logs / "containerd.log", env=env
        )
        node = cls(name, index, ip, workdir, containerd, containerd, exes["ctr"])
        try:
            process.wait_until(
                lambda: node.socket.is_socket() and node._ctr("version").returncode == 0,
                what=f"containerd of node {name} at {node.socket}",
                process=containerd,
                timeout=STARTUP_TIMEOUT,
            )
            for image in images:
                node.import_image(image)
            node.kubelet = node._start_kubelet(exes["kubelet"], server, ca, ca_file, bridge, labels or {})
        except BaseException:
            node.stop()
            raise
        return node

    def _start_kubelet(  # noqa: PLR0917 - all of it is what a kubelet needs
        self,
        exe: Path,
        server: str,
        ca: CertificateAuthority,
        ca_file: Path,
        bridge: Bridge,
        labels: dict[str, str],
    ) -> process.Process:
        from drkit.sandbox.ports import free_port

        kdir = self.workdir / "kubelet"
        pki = kdir / "pki"
        client = ca.issue_client(
            pki, "kubelet-client", common_name=f"system:node:{self.name}", organizations=["system:nodes"]
        )
        serving = ca.issue_server(
            pki, "kubelet-serving", common_name=self.name, dns_names=(self.name,), ip_addresses=(self.ip,)
        )
        user = f"system:node:{self.name}"
        config_path = kubeconfig.write(
            kdir / "kubeconfig", server=server, ca_file=ca_file, user=user, client=client
        )
        cfg = kubelet_config(
            node_ip=self.ip,
            port=free_port(),
            healthz_port=free_port(),
            ca_file=ca_file,
            sock=self.socket,
            pod_cidr=bridge.pod_cidr(self.index),
            serving=(serving.cert, serving.key),
        )
        (kdir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        all_labels = {NODE_LABEL: "real", **labels}
        argv: list[str | Path] = [
            exe,
            f"--config={kdir / 'config.yaml'}",
            f"--kubeconfig={config_path}",
            f"--root-dir={socket_dir(self.workdir) / 'kubelet'}",
            f"--cert-dir={pki}",
            f"--node-ip={self.ip}",
            f"--hostname-override={self.name}",
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(all_labels.items())),
            "--v=1",
        ]
        proc = process.start(f"kubelet-{self.name}", argv, self.workdir / "logs" / "kubelet.log")
        healthz = f"http://127.0.0.1:{cfg['healthzPort']}/healthz"
        from drkit.sandbox import http

        process.wait_until(
            lambda: http.call("GET", healthz, timeout=2.0)[0] == 200,
            what=f"the kubelet of node {self.name} ({healthz})",
            process=proc,
            timeout=STARTUP_TIMEOUT,
        )
        return proc

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.ctr), "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def import_image(self, archive: Path) -> None:
        """Import an OCI archive into the node's containerd (the kubelet's image store)."""
        if not archive.is_file():
            raise MissingComponent(f"image archive {archive} not found", hint="build it with `make image`")
        done = self._ctr("images", "import", str(archive))  # unpacked for the default snapshotter
        if done.returncode != 0:
            raise SandboxError(f"importing {archive} into node {self.name} failed: {done.stderr.strip()}")

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ip": self.ip,
            "workdir": str(self.workdir),
            "socket": str(self.socket),
            "ctr": str(self.ctr),
        }

    def stop(self) -> None:
        """Stop the kubelet, every container, containerd and its shims; unmount what they mounted."""
        if self.kubelet is not self.containerd:
            self.kubelet.stop()
        teardown(self.record(), containerd=self.containerd)


NETNS_DIRS = (Path("/var/run/netns"), Path("/run/netns"))


def teardown(record: dict[str, Any], *, containerd: process.Process | None = None) -> None:
    """Everything a node leaves behind once its kubelet is stopped: containers (killed through
    containerd while it still runs), containerd, its shims, and mounts under the node's directory.
    ``record`` is :meth:`RealNode.record` (``drkit sandbox down`` has only the state file)."""
    socket = record["socket"]
    ctr = [record["ctr"], "--address", socket, "--namespace", "k8s.io"]
    netns: set[Path] = set()
    if Path(socket).is_socket():
        netns = _pod_network_namespaces(ctr)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            tasks = subprocess.run(
                [*ctr, "tasks", "ls", "-q"], capture_output=True, text=True, timeout=20, check=False
            )
            for task in tasks.stdout.split():
                subprocess.run([*ctr, "tasks", "kill", "-a", "-s", "SIGKILL", task], capture_output=True,
                               timeout=20, check=False)  # fmt: skip
    if containerd is not None:
        containerd.stop()
    _kill_matching(socket, str(Path(record["workdir"]) / "containerd" / "config.toml"))
    _unmount_under(Path(record["workdir"]))
    for path in sorted(netns):  # containerd removes these when it removes a pod; killed, it cannot
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        path.unlink(missing_ok=True)
    short = Path(socket).parent
    if short.parent == SOCKET_ROOT:
        _unmount_under(short)
        shutil.rmtree(short, ignore_errors=True)


def _pod_network_namespaces(ctr: list[str]) -> set[Path]:
    """The named network namespaces (``/var/run/netns/cni-...``) the node's containers run in, from
    their OCI specs: the CNI plugins make one per pod and only a pod's removal unmounts it."""
    found: set[Path] = set()
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        ids = subprocess.run([*ctr, "containers", "ls", "-q"], capture_output=True, text=True, timeout=20,
                             check=False).stdout.split()  # fmt: skip
        for cid in ids:
            info = subprocess.run([*ctr, "containers", "info", cid], capture_output=True, text=True,
                                  timeout=20, check=False)  # fmt: skip
            try:
                spec = json.loads(info.stdout).get("Spec") or {}
            except (ValueError, AttributeError):
                continue
            for ns in (spec.get("linux") or {}).get("namespaces") or []:
                path = Path(str(ns.get("path") or ""))
                if ns.get("type") == "network" and path.parent in NETNS_DIRS and path.name.startswith("cni-"):
                    found.add(path)
    return found


def _kill_matching(socket: str, config: str) -> None:
    """SIGKILL the node's containerd and its shims: a containerd process (by its first argument) whose
    command line names the node's ``socket`` (the shims) or its ``config`` file (containerd itself,
    started with ``--config`` only, so ``drkit sandbox down`` finds it from the state file alone)."""
    wanted = (socket.encode(), config.encode())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"containerd" in a for a in argv[:1]) and any(w in a for a in argv for w in wanted):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)
    time.sleep(0.2)


def _unmount_under(directory: Path) -> None:
    """Lazily unmount every mount point below ``directory`` (deepest first)."""
    prefix = str(directory.resolve()) + "/"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
