"""What a cluster backup captures, built from a schedule: the one place a :class:`Schedule` becomes a
:class:`ClusterBackupRequest` (the daemon's jobs use it; ``drkit backup run`` builds the same request
from its options)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from drkit.capture.cluster import ClusterBackupRequest
from drkit.capture.filters import CaptureFilter
from drkit.capture.movers import MoverSettings
from drkit.capture.volumes import PathRule, VolumeOptions, VolumeSelection
from drkit.config.schedule import EtcdSettings, Schedule
from drkit.errors import ConfigError
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
        namespace_selector=res.namespace_selector,
    )


def request_from_schedule(schedule: Schedule, *, host: str | None = None) -> ClusterBackupRequest:
    """The backup ``schedule`` describes. Opens no connection yet, but reads the kubeconfig (a
    ``ConfigError`` for a missing one) and checks etcd's certificate files. The caller closes
    ``request.kube`` when done. Volumes as ``spec.volumes`` says (:func:`volume_options`); the lock as
    ``spec.lock`` says."""
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
        tags=(*schedule.tags, f"schedule={schedule.name}"),  # the status page groups snapshots by it
        host=host,
        volumes=volume_options(schedule),
        lock_mode=schedule.lock.mode,
        lock_period=schedule.lock.period,
        lock_origin=str(schedule.source),
        schedule=schedule.name,
    )


def volume_options(schedule: Schedule) -> VolumeOptions | None:
    """The schedule's ``spec.volumes``: which claims (``all``, ``none`` or a PVC label selector) and
    how (local mode with path maps, or mover Jobs with their image, Secret, snapshot class and
    timeout). A bad path rule names the schedule file and ``spec.volumes.pathMap``."""
    v = schedule.volumes
    selection = VolumeSelection.parse(v.mode)
    if not selection.enabled:
        return None
    rules = []
    for i, text in enumerate(v.path_map):
        try:
            rules.append(PathRule.parse(text))
        except ConfigError as exc:
            message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
            raise ConfigError(
                f"rule {i + 1}: {message}",
                file=str(schedule.source),
                field="spec.volumes.pathMap",
                hint=exc.hint,
            ) from None
    settings = MoverSettings(snapshot_class=v.snapshot_class)
    if v.image:
        settings = replace(settings, image=v.image)
    if v.secret:
        try:
            settings = replace(settings, secret=v.secret)
        except ConfigError as exc:
            raise ConfigError(
                f"{v.secret!r} is not a DNS label",
                file=str(schedule.source),
                field="spec.volumes.moverSecret",
            ) from exc
    options = VolumeOptions(selection=selection, path_rules=tuple(rules), mover=v.mover, settings=settings)
    if v.timeout is not None:
        options = replace(options, job_timeout_s=v.timeout.total_seconds())
    return options
