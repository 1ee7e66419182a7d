"""What a cluster backup captures, built from a schedule: the one place a :class:`Schedule` becomes a
:class:`ClusterBackupRequest` (the daemon's jobs use it; ``drkit backup run`` builds the same request
from its options)."""

from __future__ import annotations

from pathlib import Path

from drkit.capture.cluster import ClusterBackupRequest
from drkit.capture.filters import CaptureFilter
from drkit.capture.volumes import VolumeOptions, VolumeSelection
from drkit.config.schedule import EtcdSettings, Schedule
from drkit.etcd import EtcdClient, EtcdTLS
from drkit.kube.client import KubeClient


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


def _etcd(settings: EtcdSettings | None) -> EtcdClient | None:
    if settings is None:
        return None
    return etcd_client(
        settings.endpoints,
        ca_file=settings.ca_file,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        kubeadm=settings.kubeadm,
    )


def capture_filter(schedule: Schedule) -> CaptureFilter:
    res = schedule.resources
    return CaptureFilter.build(
        include_namespaces=res.include_namespaces,
        exclude_namespaces=res.exclude_namespaces,
        include_resources=res.include_resources,
        exclude_resources=res.exclude_resources,
        label_selector=res.selector,
        include_cluster_resources=res.include_cluster_resources,
    )


def request_from_schedule(schedule: Schedule, *, host: str | None = None) -> ClusterBackupRequest:
    """The backup ``schedule`` describes. Opens no connection yet, but reads the kubeconfig (a
    ``ConfigError`` for a missing one) and checks etcd's certificate files. The caller closes
    ``request.kube`` when done. Volumes (``spec.volumes.mode``) are read in local mode: hostPath and
    local PVs on this node (docs/volumes.md); path maps and mover Jobs are command-line options."""
    etcd = _etcd(schedule.etcd)
    kube = (
        KubeClient.from_kubeconfig(schedule.kube.kubeconfig, schedule.kube.context)
        if schedule.resources.enabled
        else None
    )
    return ClusterBackupRequest(
        etcd=etcd,
        kube=kube,
        capture_filter=capture_filter(schedule),
        tags=schedule.tags,
        host=host,
        volumes=volume_options(schedule),
        lock_mode=schedule.lock.mode,
        lock_period=schedule.lock.period,
        lock_origin=str(schedule.source),
    )


def volume_options(schedule: Schedule) -> VolumeOptions | None:
    """The schedule's volume selection (``all``, ``none`` or a PVC label selector), local mode."""
    selection = VolumeSelection.parse(schedule.volumes.mode)
    return VolumeOptions(selection=selection) if selection.enabled else None
