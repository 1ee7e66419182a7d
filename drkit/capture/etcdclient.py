"""The etcd client a capture's settings describe (endpoints, TLS files or kubeadm's layout).

Apart from :mod:`drkit.capture.request` so that ``drkit backup run`` can make it, and ask etcd for
the snapshot's Status and HashKV (:mod:`drkit.etcd.early`), before the capture and repository
modules are imported: etcd computes HashKV over the whole key space meanwhile (~0.25 s for 300 MiB).
"""

from __future__ import annotations

from pathlib import Path

from drkit.config.capture import EtcdSettings
from drkit.etcd import EtcdClient, EtcdTLS


def etcd_client(
    endpoints: list[str] | tuple[str, ...],
    *,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    kubeadm: bool = False,
) -> EtcdClient:
    """An etcd client for ``endpoints``: TLS when certificates (or kubeadm's layout) are given. The
    files are checked here (``ConfigError`` naming a missing one)."""
    tls: EtcdTLS | None = None
    if kubeadm:
        tls = EtcdTLS.kubeadm()
    elif ca_file or cert_file or key_file:
        tls = EtcdTLS(ca_file=ca_file, cert_file=cert_file, key_file=key_file)
    if tls is not None:
        tls.check()
    return EtcdClient(list(endpoints), tls)


def client_of(settings: EtcdSettings | None) -> EtcdClient | None:
    """The client of ``settings`` (None without etcd)."""
    if settings is None:
        return None
    return etcd_client(
        settings.endpoints,
        ca_file=settings.ca_file,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        kubeadm=settings.kubeadm,
    )
