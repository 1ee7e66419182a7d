"""A local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok with fake nodes, all on loopback, all files under one work directory; optionally real nodes
(containerd + kubelet, :mod:`drkit.sandbox.realnode`) where containers really run.

    cp = ControlPlane.start(workdir, nodes=1)                    # kwok only, loopback only
    cp = ControlPlane.start(workdir, nodes=0, real_nodes=1, images=[...])   # root: real pods
    ...  # KUBECONFIG=cp.kubeconfig
    cp.stop()

With real nodes the API server listens on the pod network's gateway instead of loopback (pods reach
it there, and through the ``kubernetes`` Service), a StorageClass ``drkit-local`` (the default) is
provisioned by :mod:`drkit.sandbox.provisioner`, and ``cp.gateway`` is where other servers that pods
must reach (MinIO) should listen.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from drkit.errors import SandboxError
from drkit.sandbox import binaries, http, kubeconfig, kwok, netbridge, process, provisioner, realnode
from drkit.sandbox.etcd import EtcdServer
from drkit.sandbox.kubecomponents import (
    EtcdClient,
    apiserver_argv,
    controller_manager_argv,
    scheduler_argv,
)
from drkit.sandbox.kubepki import ADMIN_USER, ClusterPKI
from drkit.sandbox.ports import free_port

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
STARTUP_TIMEOUT = 120.0


@dataclass
class Component:
    """A running server of the control plane: where it listens and where it logs."""

    name: str
    process: process.Process
    endpoint: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def record(self) -> dict[str, Any]:
        """What ``drkit sandbox`` keeps in its state file to find the process again."""
        argv = self.process.popen.args
        exe = str(argv[0]) if isinstance(argv, list) and argv else ""
        return {
            "name": self.name,
            "pid": self.pid,
            "exe": exe,
            "endpoint": self.endpoint,
            "log": str(self.process.log_path),
        }


@dataclass
class ControlPlane:
    workdir: Path
    server: str
    kubeconfig: Path
    pki: ClusterPKI
    etcd: EtcdServer
    components: list[Component]
    nodes: list[str] = field(default_factory=list)
    real_nodes: list[realnode.RealNode] = field(default_factory=list)
    bridge: netbridge.Bridge | None = None

    @property
    def gateway(self) -> str | None:
        """The address pods reach this machine at (None without real nodes)."""
        return None if self.bridge is None else self.bridge.gateway

    @classmethod
    def start(
        cls,
        workdir: Path,
        nodes: int = 1,
        *,
        real_nodes: int = 0,
        images: Sequence[Path] = (),
        volume_root: Path | None = None,
        etcd_tls: bool = False,
        taint: bool = False,
        timeout: float = STARTUP_TIMEOUT,
    ) -> ControlPlane:
        """Start everything, create ``nodes`` fake nodes and ``real_nodes`` real ones (with
        ``images`` imported; claims provisioned under ``volume_root``, default ``workdir/volumes``),
        and return once they are Ready and the ``default`` service account
        exists. On failure everything started is stopped again and a ``SandboxError`` names the
        component and ends with its log; a missing binary (or root, for real nodes) raises
        ``MissingComponent`` before anything starts."""
        exes = {name: binaries.find(name) for name in COMPONENTS}
        if real_nodes:
            realnode.requirements()
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        started: list[Component] = []
        extra = _Extra()
        try:
            return cls._start(
                workdir, exes, started, extra, nodes=nodes, real_nodes=real_nodes, images=images,
                volume_root=volume_root or workdir / "volumes", etcd_tls=etcd_tls, taint=taint,
                timeout=timeout,
            )  # fmt: skip
        except BaseException:
            for node in reversed(extra.nodes):
                node.stop()
            for component in reversed(started):
                component.process.stop()
            if extra.bridge is not None:
                extra.bridge.delete()
            raise

    @classmethod
    def _start(
        cls,
        workdir: Path,
        exes: dict[str, Path],
        started: list[Component],
        extra: _Extra,
        *,
        nodes: int,
        real_nodes: int,
        images: Sequence[Path],
        volume_root: Path,
        etcd_tls: bool,
        taint: bool,
        timeout: float,
    ) -> ControlPlane:
        logs = workdir / "logs"
        address = "127.0.0.1"
        if real_nodes:
            extra.bridge = netbridge.Bridge.create()
            address = extra.bridge.gateway
        pki = ClusterPKI.create(workdir / "pki", extra_ips=() if address == "127.0.0.1" else (address,))

        etcd = EtcdServer.start(workdir / "etcd", tls=etcd_tls, timeout=timeout)
        started.append(Component("etcd", etcd.process, etcd.endpoint))
        client = EtcdClient(etcd.endpoint)
        if etcd_tls:
            files = etcd.issue_client(workdir / "pki", "apiserver-etcd-client", "kube-apiserver-etcd-client")
            client = EtcdClient(etcd.endpoint, etcd.ca_file, files.cert, files.key)

        port = free_port()
        server = f"https://{address}:{port}"
        argv = apiserver_argv(
            exes["kube-apiserver"],
            port=port,
            pki=pki,
            etcd=client,
            cert_dir=workdir / "apiserver",
            address=address,
        )
        apiserver = Component(
            "kube-apiserver", process.start("kube-apiserver", argv, logs / "kube-apiserver.log"), server
        )
        started.append(apiserver)
        admin_ctx = http.tls_context(pki.ca.cert, pki.admin.cert, pki.admin.key)
        process.wait_until(
            lambda: _ok(f"{server}/readyz", admin_ctx),
            what=f"kube-apiserver /readyz at {server}",
            process=apiserver.process,
            timeout=timeout,
        )

        admin_kubeconfig = kubeconfig.write(
            workdir / "kubeconfig", server=server, ca_file=pki.ca.cert, user=ADMIN_USER, client=pki.admin
        )
        plane = cls(workdir, server, admin_kubeconfig, pki, etcd, started, bridge=extra.bridge)
        if extra.bridge is not None:
            netbridge.add_service_rule(extra.bridge, port)
        node_names = [f"kwok-node-{i}" for i in range(nodes)]
        for name in node_names:
            plane._create(apiserver, "/api/v1/nodes", kwok.node_manifest(name, taint=taint))
        plane.nodes = node_names

        kcm = _start_controller_manager(workdir, exes["kube-controller-manager"], server, pki)
        started.append(kcm)
        scheduler = _start_scheduler(workdir, exes["kube-scheduler"], server, pki)
        started.append(scheduler)
        kwok_kubeconfig = kubeconfig.write(
            workdir / "kwok.kubeconfig", server=server, ca_file=pki.ca.cert, user="kwok", client=pki.kwok
        )
        kwok_proc = kwok.start(workdir / "kwok", kwok_kubeconfig, logs / "kwok.log")
        started.append(Component("kwok", kwok_proc, ""))

        no_verify = http.tls_context(None)  # their serving certificates are self-signed, on loopback
        for component in (kcm, scheduler):
            process.wait_until(
                _healthz(component, no_verify),
                what=f"{component.name} /healthz at {component.endpoint}",
                process=component.process,
                timeout=timeout,
            )
        process.wait_until(
            plane._nodes_ready, what=f"{nodes} kwok node(s) Ready", process=kwok_proc, timeout=timeout
        )
        process.wait_until(
            lambda: plane.exists("/api/v1/namespaces/default/serviceaccounts/default"),
            what="the default service account (kube-controller-manager)",
            process=kcm.process,
            timeout=timeout,
        )
        if real_nodes and extra.bridge is not None:
            plane._start_real_nodes(real_nodes, images, volume_root, extra, timeout)
        return plane

    def _start_real_nodes(
        self, count: int, images: Sequence[Path], volume_root: Path, extra: _Extra, timeout: float
    ) -> None:
        assert self.bridge is not None
        self._create(self.component("kube-apiserver"), "/apis/storage.k8s.io/v1/storageclasses",
                     provisioner.storage_class())  # fmt: skip
        argv: list[str | Path] = [
            sys.executable, "-m", "drkit.sandbox.provisioner", "--server", self.server,
            "--ca", self.pki.ca.cert, "--cert", self.pki.admin.cert, "--key", self.pki.admin.key,
            "--root", volume_root,
        ]  # fmt: skip
        prov = process.start("provisioner", argv, self.workdir / "logs" / "provisioner.log")
        self.components.append(Component("provisioner", prov, ""))
        ca = self.pki.authority()
        for i in range(count):
            name = f"node-{i}"
            node = realnode.RealNode.start(
                self.workdir / "nodes" / name, name=name, index=i, bridge=self.bridge, server=self.server,
                ca=ca, ca_file=self.pki.ca.cert, images=images,
            )  # fmt: skip
            extra.nodes.append(node)
            self.real_nodes.append(node)
            self.components += [
                Component(f"containerd-{name}", node.containerd, str(node.socket)),
                Component(f"kubelet-{name}", node.kubelet, node.ip),
            ]
        names = {n.name for n in self.real_nodes}

        def ready() -> bool:
            items = self.api("GET", f"/api/v1/nodes?labelSelector={realnode.NODE_LABEL}%3Dreal")["items"]
            return {n["metadata"]["name"] for n in items if kwok.node_ready(n)} >= names

        process.wait_until(
            ready, what=f"{count} real node(s) Ready", process=self.real_nodes[-1].kubelet, timeout=timeout
        )
        self.nodes += sorted(names)

    # --- talking to the API server as the admin -------------------------------------------------

    def admin_context(self) -> ssl.SSLContext:
        return http.tls_context(self.pki.ca.cert, self.pki.admin.cert, self.pki.admin.key)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON call to the API server as ``system:admin``; raises ``http.HTTPStatusError``."""
        return http.call_json(method, f"{self.server}{path}", body=body, context=self.admin_context())

    def exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
        except http.HTTPStatusError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _create(self, apiserver: Component, path: str, body: Any) -> None:
        try:
            self.api("POST", path, body)
        except http.HTTPStatusError as exc:
            if exc.status != 409:
                raise SandboxError(
                    f"kube-apiserver refused POST {path}: {exc}; log {apiserver.process.log_path}:\n"
                    f"{apiserver.process.tail()}"
                ) from exc

    def _nodes_ready(self) -> bool:
        items = self.api("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"]
        ready = {n["metadata"]["name"] for n in items if kwok.node_ready(n)}
        return ready >= set(self.nodes)

    def wait(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll ``ready`` (e.g. built on ``api``); fail with a ``SandboxError`` naming ``what``."""
        process.wait_until(ready, what=what, timeout=timeout, interval=0.2)

    # --- lifecycle --------------------------------------------------------------------------------

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def records(self) -> list[dict[str, Any]]:
        return [c.record() for c in self.components]

    def stop(self) -> None:
        """Stop every component, last started first (a real node: its kubelet, containers and
        containerd, then its mounts); then remove the pod network."""
        for node in reversed(self.real_nodes):
            node.stop()
        for component in reversed(self.components):
            component.process.stop()
        if self.bridge is not None:
            self.bridge.delete()

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class _Extra:
    """What a failed start must also undo: the pod network and real nodes started so far."""

    bridge: netbridge.Bridge | None = None
    nodes: list[realnode.RealNode] = field(default_factory=list)


def _ok(url: str, context: ssl.SSLContext) -> bool:
    status, body = http.call("GET", url, context=context, timeout=3.0)
    return status == 200 and body.strip() == b"ok"


def _healthz(component: Component, context: ssl.SSLContext) -> Callable[[], bool]:
    return lambda: _ok(f"{component.endpoint}/healthz", context)


def _start_controller_manager(workdir: Path, exe: Path, server: str, pki: ClusterPKI) -> Component:
    config = kubeconfig.write(
        workdir / "controller-manager.kubeconfig",
        server=server,
        ca_file=pki.ca.cert,
        user="system:kube-controller-manager",
        client=pki.controller_manager,
    )
    port = free_port()
    argv = controller_manager_argv(
        exe, port=port, kubeconfig=config, pki=pki, cert_dir=workdir / "controller-manager"
    )
    proc = process.start("kube-controller-manager", argv, workdir / "logs" / "kube-controller-manager.log")
    return Component("kube-controller-manager", proc, f"https://127.0.0.1:{port}")


def _start_scheduler(workdir: Path, exe: Path, server: str, pki: ClusterPKI) -> Component:
    config = kubeconfig.write(
        workdir / "scheduler.kubeconfig",
        server=server,
        ca_file=pki.ca.cert,
        user="system:kube-scheduler",
        client=pki.scheduler,
    )
    port = free_port()
    argv = scheduler_argv(exe, port=port, kubeconfig=config, cert_dir=workdir / "scheduler")
    proc = process.start("kube-scheduler", argv, workdir / "logs" / "kube-scheduler.log")
    return Component("kube-scheduler", proc, f"https://127.0.0.1:{port}")
