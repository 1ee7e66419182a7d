"""Command lines of kube-apiserver, kube-controller-manager and kube-scheduler, loopback only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drkit.sandbox.kubepki import FRONT_PROXY_USER, ClusterPKI

SERVICE_CIDR = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class EtcdClient:
    """How the API server reaches etcd (the TLS files are None for a plain etcd)."""

    endpoint: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def apiserver_argv(
    exe: Path, *, port: int, pki: ClusterPKI, etcd: EtcdClient, cert_dir: Path, address: str = "127.0.0.1"
) -> list[str]:
    """``address``: loopback, or a real node's pod network gateway (pods must reach the server)."""
    argv = [
        str(exe),
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--client-ca-file={pki.ca.cert}",
        f"--etcd-servers={etcd.endpoint}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account.public}",
        f"--service-account-signing-key-file={pki.service_account.private}",
        "--allow-privileged=true",
        f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_USER}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
        f"--proxy-client-key-file={pki.front_proxy_client.key}",
        # exec, logs and port-forward go to a real node's kubelet at its address, as this client
        f"--kubelet-client-certificate={pki.kubelet_client.cert}",
        f"--kubelet-client-key={pki.kubelet_client.key}",
        "--kubelet-preferred-address-types=InternalIP",
        # The "kubernetes" Endpoints may not name a loopback address: do not reconcile it.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1",
    ]
    if etcd.ca_file and etcd.cert_file and etcd.key_file:
        argv += [
            f"--etcd-cafile={etcd.ca_file}",
            f"--etcd-certfile={etcd.cert_file}",
            f"--etcd-keyfile={etcd.key_file}",
        ]
    return argv


def controller_manager_argv(
    exe: Path, *, port: int, kubeconfig: Path, pki: ClusterPKI, cert_dir: Path
) -> list[str]:
    return [
        str(exe),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--root-ca-file={pki.ca.cert}",
        f"--service-account-private-key-file={pki.service_account.private}",
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_argv(exe: Path, *, port: int, kubeconfig: Path, cert_dir: Path) -> list[str]:
    return [
        str(exe),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]
