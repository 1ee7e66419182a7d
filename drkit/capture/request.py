"""What a cluster backup captures: the one place a :class:`CaptureSettings` becomes a
:class:`ClusterBackupRequest`. Both front ends fill the same settings: ``drkit backup run`` from its
options, a schedule from its file (the daemon's jobs and ``backup run --schedule``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from drkit.capture.claims import VolumeSelection
from drkit.capture.cluster import ClusterBackupRequest
from drkit.capture.etcdclient import client_of
from drkit.capture.filters import CaptureFilter
from drkit.capture.localpaths import PathRule
from drkit.capture.movers import MoverSettings
from drkit.config.capture import CaptureSettings, VolumeSettings
from drkit.errors import ConfigError

if TYPE_CHECKING:  # schedules (pydantic models, cron) cost ~0.5 s to import: not for backup run
    from drkit.capture.volumes import VolumeOptions  # with the file tree engine: only for volumes
    from drkit.config.schedule import Schedule
    from drkit.etcd import EtcdClient


def capture_filter(settings: Schedule | CaptureSettings) -> CaptureFilter:
    """Which API objects ``settings`` (a schedule's, or the command line's) select."""
    res = settings.resources
    return CaptureFilter.build(
        include_namespaces=res.include_namespaces,
        exclude_namespaces=res.exclude_namespaces,
        include_resources=res.include_resources,
        exclude_resources=res.exclude_resources,
        label_selector=res.selector,
        include_cluster_resources=res.include_cluster_resources,
        namespace_selector=res.namespace_selector,
    )


def request_from_settings(
    settings: CaptureSettings,
    *,
    tags: tuple[str, ...] = (),
    host: str | None = None,
    node_name: str | None = None,
    file: str | None = None,
    etcd: EtcdClient | None = None,
) -> ClusterBackupRequest:
    """The request for what ``settings`` say to capture, whichever front end filled them (the command
    line or a schedule). Opens no connection yet, but reads the kubeconfig (a ``ConfigError`` for a
    missing one) and checks etcd's certificate files. The caller closes ``request.kube``. ``file``:
    the schedule the settings come from, named in errors about ``spec.volumes``. ``etcd``: the
    client already made for ``settings.etcd`` (:func:`~drkit.capture.etcdclient.client_of`)."""
    if etcd is None:
        etcd = client_of(settings.etcd)
    kube = None
    if settings.resources.enabled:
        from drkit.kube.client import KubeClient  # only then: ~0.5 s of imports an etcd-only backup skips

        kube = KubeClient.from_kubeconfig(settings.kube.kubeconfig, settings.kube.context)
    return ClusterBackupRequest(
        etcd=etcd,
        kube=kube,
        capture_filter=capture_filter(settings),
        tags=tags,
        host=host,
        volumes=volume_options(settings.volumes, file=file, node_name=node_name),
    )


def request_from_schedule(schedule: Schedule, *, host: str | None = None) -> ClusterBackupRequest:
    """The backup ``schedule`` describes (:func:`request_from_settings` of its ``spec``), tagged with
    its name and locked as ``spec.lock`` says."""
    request = request_from_settings(
        schedule.capture,
        tags=(*schedule.tags, f"schedule={schedule.name}"),  # the status page groups snapshots by it
        host=host,
        file=str(schedule.source),
    )
    return replace(
        request,
        lock_mode=schedule.lock.mode,
        lock_period=schedule.lock.period,
        lock_origin=str(schedule.source),
        schedule=schedule.name,
    )


def volume_options(
    v: VolumeSettings, *, file: str | None = None, node_name: str | None = None
) -> VolumeOptions | None:
    """``spec.volumes`` (or the command line's volume options): which claims (``all``, ``none`` or a
    PVC label selector) and how (local mode with path maps, or mover Jobs with their image, Secret,
    user, snapshot class and timeout). With ``file``, a bad path rule or Secret name names that file
    and the ``spec.volumes`` field; without, the option."""
    selection = VolumeSelection.parse(v.mode)
    if not selection.enabled:
        return None
    from drkit.capture.volumes import VolumeOptions

    rules = []
    for i, text in enumerate(v.path_map):
        try:
            rules.append(PathRule.parse(text))
        except ConfigError as exc:
            if file is None:
                raise
            message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
            raise ConfigError(
                f"rule {i + 1}: {message}", file=file, field="spec.volumes.pathMap", hint=exc.hint
            ) from None
    settings = MoverSettings(snapshot_class=v.snapshot_class, read_as_root=v.read_as_root)
    if v.image:
        settings = replace(settings, image=v.image)
    if v.secret:
        try:
            settings = replace(settings, secret=v.secret)
        except ConfigError as exc:
            if file is None:
                raise
            raise ConfigError(
                f"{v.secret!r} is not a DNS label", file=file, field="spec.volumes.moverSecret"
            ) from exc
    if v.run_as_user is not None:
        settings = replace(settings, run_as_user=v.run_as_user, run_as_group=v.run_as_user)
    if v.fs_group is not None:
        settings = replace(settings, fs_group=v.fs_group)
    options = VolumeOptions(
        selection=selection,
        path_rules=tuple(rules),
        mover=v.mover,
        settings=settings,
        run_hooks=v.hooks,
        parallel=v.parallel,
    )
    if v.timeout is not None:
        options = replace(options, job_timeout_s=v.timeout.total_seconds())
    return replace(options, node_name=node_name) if node_name else options
