"""The certificates of a sandbox cluster: one CA, the API server's serving certificate, a client
certificate per component (Kubernetes reads the user from CN and the groups from O; RBAC's bootstrap
roles know ``system:kube-controller-manager`` and ``system:kube-scheduler``), and the
service-account signing keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drkit.sandbox.pki import (
    KUBE_SERVER_DNS,
    KUBE_SERVER_IPS,
    CertFiles,
    CertificateAuthority,
    KeyPairFiles,
    service_account_keys,
)

ADMIN_USER = "system:admin"
MASTERS = "system:masters"
FRONT_PROXY_USER = "front-proxy-client"
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class ClusterPKI:
    ca: CertFiles
    apiserver: CertFiles
    admin: CertFiles
    controller_manager: CertFiles
    scheduler: CertFiles
    kwok: CertFiles
    service_account: KeyPairFiles
    front_proxy_ca: CertFiles
    front_proxy_client: CertFiles
    kubelet_client: CertFiles  # the API server's identity towards kubelets (exec, logs, proxy)

    @classmethod
    def create(cls, directory: Path, extra_ips: Sequence[str] = ()) -> ClusterPKI:
        """``extra_ips``: more addresses the API server serves on (a real node's pod network gateway)."""
        ca = CertificateAuthority.create("kubernetes")
        # The aggregation layer's own CA: the API server proxies to extension API servers with it.
        front_proxy = CertificateAuthority.create("front-proxy-ca")
        return cls(
            ca=ca.write(directory, "ca"),
            apiserver=ca.issue_server(
                directory,
                "apiserver",
                common_name="kube-apiserver",
                dns_names=KUBE_SERVER_DNS,
                ip_addresses=(*KUBE_SERVER_IPS, *extra_ips),
            ),
            admin=ca.issue_client(directory, "admin", common_name=ADMIN_USER, organizations=[MASTERS]),
            controller_manager=ca.issue_client(
                directory, "controller-manager", common_name="system:kube-controller-manager"
            ),
            scheduler=ca.issue_client(directory, "scheduler", common_name="system:kube-scheduler"),
            # kwok patches node and pod status, renews leases and deletes pods: an admin is simplest.
            kwok=ca.issue_client(
                directory, "kwok", common_name="system:kwok-controller", organizations=[MASTERS]
            ),
            service_account=service_account_keys(directory, "sa"),
            front_proxy_ca=front_proxy.write(directory, "front-proxy-ca"),
            front_proxy_client=front_proxy.issue_client(
                directory, "front-proxy-client", common_name=FRONT_PROXY_USER
            ),
            kubelet_client=ca.issue_client(
                directory,
                "apiserver-kubelet-client",
                common_name=KUBELET_CLIENT_USER,
                organizations=[MASTERS],
            ),
        )

    def authority(self) -> CertificateAuthority:
        """The cluster CA itself (to issue a real node's certificates)."""
        return CertificateAuthority.load(self.ca)
