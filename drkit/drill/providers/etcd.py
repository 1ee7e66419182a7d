"""``etcd``: the snapshot's etcd database restored into a fresh etcd, and a kube-apiserver booted on it.

    up():  drkit.restore.etcd.restore_etcd (checksum, revision and the recorded HashKV proven on a
           throw-away member, then etcdutl restore with a revision bump) -> etcd on loopback on the
           restored data directory -> kube-apiserver with a new PKI -> admin kubeconfig
    down(): both stopped, the temp dir removed

Nothing is applied afterwards: the restore *is* the cluster coming up (the drill's ``restore`` phase
is empty and the etcd restore is timed in ``cluster-up``). The checks then read what the restored
API server serves. There are no controllers or nodes: workloads keep the status they had in the
snapshot, and ``httpProbe`` is skipped. ``describe()`` carries the HashKV verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drkit.drill.providers.base import ScratchBase, deferred_interrupts, new_workdir, remove_tree
from drkit.errors import ConfigError
from drkit.repo.engine.snapshotreader import SnapshotReader
from drkit.restore.etcd import EtcdRestoreRequest, EtcdRestoreResult, restore_etcd
from drkit.sandbox import binaries, http, kubeconfig, process
from drkit.sandbox.etcd import EtcdServer
from drkit.sandbox.kubecomponents import EtcdClient, apiserver_argv
from drkit.sandbox.kubepki import ADMIN_USER, ClusterPKI
from drkit.sandbox.ports import free_port

STARTUP_TIMEOUT = 120.0
MEMBER = "drill"


class EtcdScratch(ScratchBase):
    provider = "etcd"
    service_proxy = False
    service_proxy_reason = "an API server on a restored etcd has no nodes: a Service proxy has no endpoint"

    def __init__(self, *, temp_root: Path | None = None, timeout: float = STARTUP_TIMEOUT) -> None:
        super().__init__()
        self.temp_root = temp_root
        self.timeout = timeout
        self.reader: SnapshotReader | None = None
        self.workdir: Path | None = None
        self.etcd: EtcdServer | None = None
        self.apiserver: process.Process | None = None
        self.server = ""
        self.restored: EtcdRestoreResult | None = None

    def use_snapshot(self, reader: SnapshotReader) -> None:
        """The snapshot whose etcd database becomes the scratch cluster (before ``up``)."""
        self.reader = reader

    def _up(self) -> Path:
        if self.reader is None:
            raise ConfigError("the etcd provider needs a snapshot: call use_snapshot(reader) before up()")
        exes = {name: binaries.find(name) for name in ("etcd", "etcdutl", "kube-apiserver")}
        with deferred_interrupts():  # the dir and its path, never one without the other
            self.workdir = new_workdir(self.id, self.temp_root)
        peer = f"http://127.0.0.1:{free_port()}"
        data_dir = self.workdir / "etcd-data"
        self.restored = restore_etcd(
            self.reader,
            EtcdRestoreRequest(
                data_dir=data_dir,
                name=MEMBER,
                initial_cluster=f"{MEMBER}={peer}",
                initial_advertise_peer_urls=peer,
                verify=True,
                etcdutl=str(exes["etcdutl"]),
                etcd=str(exes["etcd"]),
            ),
        )
        self.etcd = EtcdServer.start(
            self.workdir / "etcd", name=MEMBER, data_dir=data_dir, timeout=self.timeout
        )
        pki = ClusterPKI.create(self.workdir / "pki")
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        argv = apiserver_argv(
            exes["kube-apiserver"],
            port=port,
            pki=pki,
            etcd=EtcdClient(self.etcd.endpoint),
            cert_dir=self.workdir / "apiserver",
        )
        self.apiserver = process.start("kube-apiserver", argv, self.workdir / "logs" / "kube-apiserver.log")
        admin = http.tls_context(pki.ca.cert, pki.admin.cert, pki.admin.key)

        def ready() -> bool:
            status, body = http.call("GET", f"{self.server}/readyz", context=admin, timeout=3.0)
            return status == 200 and body.strip() == b"ok"

        process.wait_until(
            ready, what=f"kube-apiserver on the restored etcd at {self.server}", process=self.apiserver,
            timeout=self.timeout,
        )  # fmt: skip
        return kubeconfig.write(
            self.workdir / "kubeconfig",
            server=self.server,
            ca_file=pki.ca.cert,
            user=ADMIN_USER,
            client=pki.admin,
        )

    def _down(self) -> None:
        try:
            if self.apiserver is not None:
                self.apiserver.stop()
        finally:
            try:
                if self.etcd is not None:
                    self.etcd.stop()
            finally:
                remove_tree(self.workdir)

    def pids(self) -> list[int]:
        return [p.pid for p in (self.apiserver, self.etcd) if p is not None]

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), "server": self.server}
        if self.workdir is not None:  # what --keep leaves running, and where
            out["workdir"] = str(self.workdir)
            out["pids"] = self.pids()
        if self.restored is not None:
            v = self.restored.verification
            out["etcd"] = {
                "snapshotRevision": self.restored.snapshot_revision,
                "restoredRevision": self.restored.snapshot_revision + self.restored.bump_revision,
                "hashKVVerified": v.verified,
                "verification": v.detail,
            }
        return out
