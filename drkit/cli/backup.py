"""`drkit backup`: back up a cluster (etcd and API resources) or a file tree."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.progress import make_progress, phase_printer
from drkit.cli.render import human_bytes, plural, snapshot_row
from drkit.cli.repoopts import PendingOpen, RepoOptions, repo_options, with_settings, write_only_option
from drkit.config.limits import MAX_UID
from drkit.errors import PartialFailure

if TYPE_CHECKING:
    from drkit.capture.cluster import ClusterBackupRequest, ClusterBackupResult
    from drkit.capture.volumes import VolumeCapture, VolumeOptions
    from drkit.config.capture import CaptureSettings
    from drkit.etcd import EtcdClient
    from drkit.etcd.early import EarlySnapshot

log = logging.getLogger("drkit.cli.backup")


@click.group()
def backup() -> None:
    """Back up a cluster (etcd, resources, volumes) or a path."""


@backup.command("path")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@repo_options
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option("--host", help="Host name recorded in the snapshot (default: this machine's).")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@write_only_option
@output_option
@audited("backup", "backup path")
def backup_path(
    directory: Path,
    repo: RepoOptions,
    tags: tuple[str, ...],
    host: str | None,
    progress: bool | None,
    write_only: bool,
    output: str,
) -> None:
    """Back up the file tree DIRECTORY into a new snapshot."""
    r = repo.open_for_backup(write_only)
    snap = r.backup_path(directory, tags=tags, host=host, progress=make_progress(progress))
    note(snapshot=snap.id)
    from drkit.repo.engine.backup import unreadable

    st = snap.stats
    row = snapshot_row(snap)
    missing = unreadable(st.skipped)
    row["unreadable"] = missing
    text = (
        f"snapshot {snap.short_id} saved: {st.files} files, {st.dirs} dirs, {human_bytes(st.bytes)} "
        f"({human_bytes(st.new_bytes)} new, {human_bytes(st.stored_bytes)} stored, {st.new_packs} new packs) "
        f"in {st.duration_s:.1f}s"
    )
    if st.skipped:  # each entry says why: a special file, a vanished file, or one that could not be read
        text += "\nskipped: " + ", ".join(st.skipped[:20])
        if len(st.skipped) > 20:
            text += f" and {len(st.skipped) - 20} more"
    emit(row, output, text=text)
    if missing:  # the snapshot lacks data: never a plain success (exit 1, partial)
        raise PartialFailure(
            f"snapshot {snap.short_id} lacks {len(missing)} {'entry' if len(missing) == 1 else 'entries'} "
            f"that could not be read (first: {missing[0]})",
            hint="run drkit as a user that can read them; the snapshot holds everything else",
        )


def _split(values: tuple[str, ...]) -> list[str]:
    return [v for item in values for v in item.split(",") if v.strip()]


@backup.command("run")
@repo_options(required=False)
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take what to capture (and the repository, unless --repo is given) from a schedule file "
    "(docs/schedules.md). Capture options cannot be combined with it; --tag and --host can.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster).",
)
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option("--no-resources", is_flag=True, help="Do not capture API resources (etcd only).")
@click.option("--etcd-endpoints", metavar="URL[,URL...]", help="etcd client URLs; the healthiest is used.")
@click.option(
    "--etcd-cacert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA of etcd's server cert.",
)
@click.option(
    "--etcd-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="etcd client certificate.",
)
@click.option(
    "--etcd-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="etcd client key."
)
@click.option(
    "--etcd-kubeadm", is_flag=True, help="Use kubeadm's /etc/kubernetes/pki/etcd CA and healthcheck client."
)
@click.option("--include-namespaces", multiple=True, metavar="GLOB[,GLOB]", help="Only these namespaces.")
@click.option("--exclude-namespaces", multiple=True, metavar="GLOB[,GLOB]", help="Not these namespaces.")
@click.option(
    "--include-resources",
    multiple=True,
    metavar="RES[,RES]",
    help="Only these resources (deployments.apps, configmaps, globs).",
)
@click.option("--exclude-resources", multiple=True, metavar="RES[,RES]", help="Not these resources.")
@click.option("--selector", "-l", help="Label selector for namespaced objects.")
@click.option(
    "--namespace-selector",
    metavar="SELECTOR",
    help="Only the namespaces whose Namespace objects match this label selector (team=red).",
)
@click.option(
    "--include-cluster-resources",
    type=click.Choice(["auto", "true", "false"]),
    default="auto",
    show_default=True,
    help="auto: the cluster-scoped objects the selected namespaced ones need.",
)
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option("--host", help="Name recorded in the snapshot (default: this machine's).")
@click.option(
    "--volumes",
    "volumes",
    default="none",
    show_default=True,
    metavar="all|none|SELECTOR",
    help="Volume data of the Bound PVCs of the captured namespaces: all, none, or a label selector.",
)
@click.option(
    "--volume-path-map",
    multiple=True,
    metavar="PV_OR_PATTERN=HOSTPATH",
    help="Local mode: where a PV's files are here ({pv}, {namespace}, {pvc} placeholders; "
    "'*=local-path' for the local-path provisioner). Repeatable; first match wins.",
)
@click.option(
    "--volume-mover",
    type=click.Choice(["local", "job"]),
    default="local",
    show_default=True,
    help="local: read the files here; job: a mover Job per PVC in the cluster.",
)
@click.option(
    "--volume-snapshot-class", metavar="NAME", help="Job mode: back up a clone of a CSI VolumeSnapshot."
)
@click.option("--image", "mover_image", metavar="IMAGE", help="Job mode: the drkit image of the mover Jobs.")
@click.option(
    "--mover-secret",
    default="drkit-repo",
    show_default=True,
    help="Job mode: Secret (in each PVC's namespace) with the repository settings as files.",
)
@click.option(
    "--mover-run-as-user", type=click.IntRange(0, MAX_UID), help="Job mode: uid of the mover (default 65532)."
)
@click.option("--mover-fs-group", type=click.IntRange(0, MAX_UID), help="Job mode: fsGroup of the mover pod.")
@click.option(
    "--mover-read-as-root",
    is_flag=True,
    help="Job mode: run as root with only CAP_DAC_READ_SEARCH (reads files of any owner).",
)
@click.option(
    "--node-name",
    envvar="NODE_NAME",
    help="Local mode: the node drkit runs on (default: $NODE_NAME, else the host name).",
)
@click.option("--no-hooks", is_flag=True, help="Do not run the pods' pre/post backup hooks.")
@click.option(
    "--volume-parallel",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    metavar="N",
    help="Job mode: mover Jobs of N claims at a time (claims sharing a hook pod go one after the other).",
)
@click.option(
    "--volume-timeout",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="Job mode: how long one mover Job (or VolumeSnapshot) may take.",
)
@write_only_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A bar and the phases on a terminal (default when stderr is one), the phases as lines on "
    "stderr otherwise; --no-progress: only the log (--log-level info).",
)
@output_option
@audited("backup", "backup run")
def backup_run(
    repo: RepoOptions,
    schedule_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    no_resources: bool,
    etcd_endpoints: str | None,
    etcd_cacert: Path | None,
    etcd_cert: Path | None,
    etcd_key: Path | None,
    etcd_kubeadm: bool,
    include_namespaces: tuple[str, ...],
    exclude_namespaces: tuple[str, ...],
    include_resources: tuple[str, ...],
    exclude_resources: tuple[str, ...],
    selector: str | None,
    namespace_selector: str | None,
    include_cluster_resources: str,
    tags: tuple[str, ...],
    host: str | None,
    volumes: str,
    volume_path_map: tuple[str, ...],
    volume_mover: str,
    volume_snapshot_class: str | None,
    mover_image: str | None,
    mover_secret: str,
    mover_run_as_user: int | None,
    mover_fs_group: int | None,
    mover_read_as_root: bool,
    node_name: str | None,
    no_hooks: bool,
    volume_timeout: str,
    volume_parallel: int,
    write_only: bool,
    progress: bool | None,
    output: str,
) -> None:
    """Back up a cluster: an etcd snapshot (when endpoints are given), its API resources and, with
    --volumes, the data of its PersistentVolumeClaims (docs/volumes.md).

    Everything goes into one snapshot, visible only when all of it is stored. Resource types that
    cannot be listed (forbidden, gone) and volumes that fail are reported one by one and the command
    exits 1 (partial).
    """
    schedule_name: str | None = None
    settings: CaptureSettings | None = None
    if schedule_file is not None:
        repo, request, schedule_name = _scheduled_request(repo, schedule_file, tags, host)
    else:
        if not repo.url:
            raise click.UsageError("give --repo (or DRKIT_REPO), or --schedule with a repository")
        settings = capture_settings(
            kubeconfig=kubeconfig,
            context=context,
            no_resources=no_resources,
            etcd_endpoints=etcd_endpoints,
            etcd_cacert=etcd_cacert,
            etcd_cert=etcd_cert,
            etcd_key=etcd_key,
            etcd_kubeadm=etcd_kubeadm,
            include_namespaces=include_namespaces,
            exclude_namespaces=exclude_namespaces,
            include_resources=include_resources,
            exclude_resources=exclude_resources,
            selector=selector,
            namespace_selector=namespace_selector,
            include_cluster_resources=include_cluster_resources,
            volumes=volumes,
            volume_path_map=volume_path_map,
            volume_mover=volume_mover,
            volume_snapshot_class=volume_snapshot_class,
            mover_image=mover_image,
            mover_secret=mover_secret,
            mover_run_as_user=mover_run_as_user,
            mover_fs_group=mover_fs_group,
            mover_read_as_root=mover_read_as_root,
            no_hooks=no_hooks,
            volume_timeout=volume_timeout,
            volume_parallel=volume_parallel,
        )
    # the key slot opens on a thread (scrypt) and etcd is asked for Status and HashKV on another while
    # the capture and repository modules load
    with repo.opening(write_only) as pending:
        early = _early_etcd(settings)
        with early[1] or nullcontext():
            if settings is not None:
                from drkit.capture.request import request_from_settings

                request = request_from_settings(
                    settings, tags=tags, host=host, node_name=node_name, etcd=early[0]
                )
            result = _capture(pending, request, schedule_name, progress, early[1])
    snap = result.snapshot
    note(snapshot=snap.id)
    st = snap.stats
    data = snapshot_row(snap)
    data["partial"] = result.partial
    lines = [
        f"snapshot {snap.short_id} saved in {result.duration_s:.1f}s: {human_bytes(st.bytes)} "
        f"({human_bytes(st.new_bytes)} new, {human_bytes(st.stored_bytes)} stored)"
    ]
    if result.etcd is not None:
        lines.append(
            f"  etcd: {human_bytes(result.etcd['size'])} at revision {result.etcd['revision']} "
            f"from {result.etcd['endpoint']}, checksum verified"
        )
    if result.resources is not None:
        res = result.resources
        lines.append(f"  resources: {plural(res.objects, 'object')} of {plural(len(res.counts), 'type')}")
        lines += [f"  left out: {n} {why}" for why, n in sorted(res.controller_made.items())]
        lines += [f"  warning: {w}" for w in res.warnings]
        lines += [f"  failed: {e}" for e in res.errors]
        if res.left_out:
            data["leftOut"] = res.left_out
            lines += _left_out_lines(res.left_out)
    if result.volumes is not None:
        data["volumes"] = [o.to_record() for o in result.volumes.outcomes]
        lines += _volume_lines(result.volumes)
    emit(data, output, text="\n".join(lines))
    if result.partial:
        missing, hints = [], []
        if result.resources is not None and result.resources.errors:
            missing.append(plural(len(result.resources.errors), "resource list"))
            hints.append("grant the backup identity list access to those resources, or exclude them")
        if result.volumes is not None and result.volumes.errors:
            missing.append(plural(len(result.volumes.errors), "volume"))
            hints.append("fix what failed for each volume (above), or leave it out (--volumes SELECTOR)")
        raise PartialFailure(
            f"snapshot {snap.short_id} lacks {' and '.join(missing)} (listed above)",
            hint="; ".join(hints) or None,
        )


def _early_etcd(settings: CaptureSettings | None) -> tuple[EtcdClient | None, EarlySnapshot | None]:
    """The etcd client of the command line's ``settings`` and its snapshot's Status and HashKV asked
    on a thread from now on (etcd hashes its key space meanwhile): before the capture and repository
    modules are imported. (None, None) without etcd; a schedule's request is made whole first."""
    if settings is None or settings.etcd is None:
        return None, None
    from drkit.capture.etcdclient import client_of
    from drkit.etcd.early import EarlySnapshot

    client = client_of(settings.etcd)
    assert client is not None
    return client, EarlySnapshot(client.snapshot)


def _capture(
    pending: PendingOpen,
    request: ClusterBackupRequest,
    schedule_name: str | None,
    progress: bool | None,
    early: EarlySnapshot | None,
) -> ClusterBackupResult:
    """Capture ``request`` into the repository ``pending`` opens; etcd is first asked while it opens
    (``early``: already asked; the caller closes it)."""
    from drkit.capture.cluster import backup_cluster, start_etcd

    with _run_lines(schedule_name) as finished:
        etcd_start = early or start_etcd(request)  # etcd's Status and HashKV while the key is derived
        with nullcontext() if early is not None else etcd_start or nullcontext():
            r = pending.repository()
            if request.etcd is not None:  # gRPC's import here, while etcd hashes its key space
                from drkit.etcd.grpcsnapshot import preload

                preload()
            bars = make_progress(progress)
            result = backup_cluster(
                r, request, notify=phase_printer(bars, progress), progress=bars, etcd_start=etcd_start
            )
        finished(result)
    return result


CAPTURE_FLAGS: dict[str, str] = {
    "kubeconfig": "kube.kubeconfig",
    "context": "kube.context",
    "no_resources": "resources.enabled",
    "etcd_endpoints": "etcd.endpoints",
    "etcd_cacert": "etcd.ca_file",
    "etcd_cert": "etcd.cert_file",
    "etcd_key": "etcd.key_file",
    "etcd_kubeadm": "etcd.kubeadm",
    "include_namespaces": "resources.include_namespaces",
    "exclude_namespaces": "resources.exclude_namespaces",
    "include_resources": "resources.include_resources",
    "exclude_resources": "resources.exclude_resources",
    "selector": "resources.selector",
    "namespace_selector": "resources.namespace_selector",
    "include_cluster_resources": "resources.include_cluster_resources",
    "volumes": "volumes.mode",
    "volume_path_map": "volumes.path_map",
    "volume_mover": "volumes.mover",
    "volume_snapshot_class": "volumes.snapshot_class",
    "mover_image": "volumes.image",
    "mover_secret": "volumes.secret",
    "mover_run_as_user": "volumes.run_as_user",
    "mover_fs_group": "volumes.fs_group",
    "mover_read_as_root": "volumes.read_as_root",
    "no_hooks": "volumes.hooks",
    "volume_timeout": "volumes.timeout",
    "volume_parallel": "volumes.parallel",
}
"""The options of ``backup run`` that say what to capture, and the field of
:class:`~drkit.config.capture.CaptureSettings` each sets (a schedule's are ``CAPTURE_KEYS``). With
``--schedule``, the schedule says it: these options cannot be combined with it."""

_CAPTURE_OPTIONS = tuple(CAPTURE_FLAGS)


def capture_settings(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    no_resources: bool = False,
    etcd_endpoints: str | None = None,
    etcd_cacert: Path | None = None,
    etcd_cert: Path | None = None,
    etcd_key: Path | None = None,
    etcd_kubeadm: bool = False,
    include_namespaces: tuple[str, ...] = (),
    exclude_namespaces: tuple[str, ...] = (),
    include_resources: tuple[str, ...] = (),
    exclude_resources: tuple[str, ...] = (),
    selector: str | None = None,
    namespace_selector: str | None = None,
    include_cluster_resources: str = "auto",
    volumes: str = "none",
    volume_path_map: tuple[str, ...] = (),
    volume_mover: str = "local",
    volume_snapshot_class: str | None = None,
    mover_image: str | None = None,
    mover_secret: str = "drkit-repo",  # noqa: S107 - a Secret's name, not a password
    mover_run_as_user: int | None = None,
    mover_fs_group: int | None = None,
    mover_read_as_root: bool = False,
    no_hooks: bool = False,
    volume_timeout: str = "1h",
    volume_parallel: int = 4,
) -> CaptureSettings:
    """The options of ``backup run`` (see ``CAPTURE_FLAGS``) as the request model a schedule fills too."""
    from drkit.config.capture import (
        CaptureSettings,
        EtcdSettings,
        KubeSettings,
        ResourceSettings,
        VolumeSettings,
    )
    from drkit.config.durations import parse_duration
    from drkit.etcd.config import endpoints_from  # not the client's modules: they load during scrypt

    if volume_path_map or volume_snapshot_class:
        from drkit.capture.claims import VolumeSelection  # with the hooks and movers (~15 ms)

        if not VolumeSelection.parse(volumes).enabled:
            raise click.UsageError(
                "--volume-path-map/--volume-snapshot-class need --volumes all or a selector"
            )
    etcd: EtcdSettings | None = None
    if etcd_endpoints:
        etcd = EtcdSettings(
            endpoints=tuple(endpoints_from(etcd_endpoints)),
            ca_file=etcd_cacert,
            cert_file=etcd_cert,
            key_file=etcd_key,
            kubeadm=etcd_kubeadm,
        )
    elif etcd_cacert or etcd_cert or etcd_key or etcd_kubeadm:
        raise click.UsageError("etcd certificates given without --etcd-endpoints")
    return CaptureSettings(
        kube=KubeSettings(kubeconfig=kubeconfig, context=context),
        etcd=etcd,
        resources=ResourceSettings(
            enabled=not no_resources,
            include_namespaces=tuple(_split(include_namespaces)),
            exclude_namespaces=tuple(_split(exclude_namespaces)),
            include_resources=tuple(_split(include_resources)),
            exclude_resources=tuple(_split(exclude_resources)),
            selector=selector,
            include_cluster_resources=include_cluster_resources,
            namespace_selector=namespace_selector,
        ),
        volumes=VolumeSettings(
            mode=volumes,
            mover=volume_mover,
            path_map=volume_path_map,
            snapshot_class=volume_snapshot_class,
            image=mover_image,
            secret=mover_secret,
            timeout=parse_duration(volume_timeout, "volume-timeout"),
            run_as_user=mover_run_as_user,
            fs_group=mover_fs_group,
            read_as_root=mover_read_as_root,
            hooks=not no_hooks,
            parallel=volume_parallel,
        ),
    )


@contextmanager
def _run_lines(schedule: str | None) -> Iterator[Callable[[ClusterBackupResult], None]]:
    """Log the run's start and end lines, as the daemon does (docs/daemon.md, "Logs"): the CronJob
    form runs ``--log-level=info --log-format=json backup run`` and gets the same fields."""
    from drkit.daemon.records import new_run_id
    from drkit.daemon.retry import describe
    from drkit.daemon.runlines import finish_line, hint_of, start_line

    run_id = new_run_id()
    message, extra = start_line("backup", schedule, run_id, 1)
    log.info("%s", message, extra=extra)
    started = time.monotonic()
    results: list[ClusterBackupResult] = []
    try:
        yield results.append
    except BaseException as exc:
        error = describe(exc) if isinstance(exc, Exception) else "interrupted"
        message, extra = finish_line(
            "backup",
            schedule,
            run_id,
            attempt=1,
            outcome="failed",
            duration_s=time.monotonic() - started,
            error=error,
            hint=hint_of(exc),
        )
        log.error("%s", message, extra=extra)  # noqa: TRY400 - the CLI's handler prints the error once more
        raise
    result = results[0]
    snap = result.snapshot
    message, extra = finish_line(
        "backup",
        schedule,
        run_id,
        attempt=1,
        outcome="partial" if result.partial else "success",
        duration_s=time.monotonic() - started,
        snapshot_id=snap.id,
        details={"bytes": snap.stats.bytes, "new_bytes": snap.stats.new_bytes},
    )
    log.log(logging.WARNING if result.partial else logging.INFO, "%s", message, extra=extra)


def _scheduled_request(
    repo: RepoOptions, path: Path, tags: tuple[str, ...], host: str | None
) -> tuple[RepoOptions, ClusterBackupRequest, str]:
    """The repository and the request a schedule file describes (``drkit backup run --schedule``)."""
    from click.core import ParameterSource

    from drkit.capture.request import request_from_schedule
    from drkit.config.schedule import load_schedule

    ctx = click.get_current_context()
    clashing = [
        "--" + name.replace("_", "-")
        for name in _CAPTURE_OPTIONS
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    ]
    if clashing:
        raise click.UsageError(
            f"{', '.join(clashing)} cannot be combined with --schedule: edit {path} instead"
        )
    schedule = load_schedule(path)
    request = request_from_schedule(schedule, host=host)
    return (
        with_settings(repo, schedule.repository),
        dataclasses.replace(request, tags=(*request.tags, *(t for t in tags if t not in request.tags))),
        schedule.name,
    )


def _volume_options(
    volumes: str,
    path_map: tuple[str, ...],
    mover: str,
    snapshot_class: str | None,
    image: str | None,
    secret: str,
    run_as_user: int | None,
    fs_group: int | None,
    read_as_root: bool,
    node_name: str | None,
    no_hooks: bool,
    timeout: str = "1h",
) -> VolumeOptions | None:
    """The volume options of ``backup run`` as the capture takes them (through :func:`capture_settings`,
    as a schedule's ``spec.volumes``)."""
    from drkit.capture.request import volume_options

    settings = capture_settings(
        volumes=volumes,
        volume_path_map=path_map,
        volume_mover=mover,
        volume_snapshot_class=snapshot_class,
        mover_image=image,
        mover_secret=secret,
        mover_run_as_user=run_as_user,
        mover_fs_group=fs_group,
        mover_read_as_root=read_as_root,
        no_hooks=no_hooks,
        volume_timeout=timeout,
    )
    return volume_options(settings.volumes, node_name=node_name)


LEFT_OUT_SHOWN = 5


def _left_out_lines(left_out: dict[str, list[str]]) -> list[str]:
    """What ``--include-cluster-resources auto`` did not capture: cluster-scoped objects that nothing in
    the selected namespaces references."""
    lines = [
        "  left out (cluster-scoped, nothing selected references them; --include-cluster-resources true):"
    ]
    for resource, names in sorted(left_out.items()):
        shown = ", ".join(names[:LEFT_OUT_SHOWN])
        more = f" and {len(names) - LEFT_OUT_SHOWN} more" if len(names) > LEFT_OUT_SHOWN else ""
        lines.append(f"    {resource}: {shown}{more}")
    return lines


def _volume_lines(capture: VolumeCapture) -> list[str]:
    failed = len(capture.errors)
    lines = [
        f"  volumes: {len(capture.outcomes) - failed} captured, {failed} failed, "
        f"{len(capture.skipped)} skipped (run {capture.run})"
    ]
    for o in capture.outcomes:
        key = o.volume.key
        if o.ok:
            extra = f" -> volume snapshot {o.snapshot[:8]}" if o.snapshot else ""
            lines.append(
                f"    {key}: {plural(o.files, 'file')}, {human_bytes(o.bytes)} "
                f"({human_bytes(o.new_bytes)} new) in {o.duration_s:.1f}s{extra}"
            )
        else:
            lines.append(f"    {key}: FAILED: {o.error}")
        lines += [
            f"      hook {r.hook.phase} {r.hook.where}: {'ok' if r.ok else r.error}" for r in o.hooks.results
        ]
    lines += [f"    {key}: skipped: {why}" for key, why in sorted(capture.skipped.items())]
    return lines
