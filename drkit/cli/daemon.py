"""`drkit daemon`: run the schedules of a directory on their clocks (docs/daemon.md)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from drkit.cli import logsetup
from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.config.durations import parse_duration
from drkit.config.schedule import Schedule, load_schedules
from drkit.errors import ConfigError

if TYPE_CHECKING:
    from drkit.daemon.events import EventRecorder
    from drkit.daemon.leader import ElectionConfig
    from drkit.daemon.service import Daemon
    from drkit.daemon.statusserver import StatusServer
    from drkit.kube.client import KubeClient

log = logging.getLogger("drkit.cli.daemon")


class Duration(click.ParamType):  # type: ignore[type-arg]
    """``30s``, ``5m``, ``1h30m`` or a number of seconds; converted to float seconds."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return parse_duration(text, param.name if param and param.name else "duration").total_seconds()
        except ConfigError as exc:
            self.fail(exc.message, param, ctx)


DURATION = Duration()


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "drkit" / "daemon"


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


@click.group("daemon", invoke_without_command=True)
@click.option(
    "--schedules",
    "schedules_dir",
    envvar="DRKIT_SCHEDULES",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of schedule files (*.yaml, docs/schedules.md). Required to run or --check.",
)
@click.option("--check", is_flag=True, help="Validate the schedules, print the next run times, and exit.")
@output_option
@click.option(
    "--metrics-addr",
    default="127.0.0.1:9090",
    show_default=True,
    metavar="HOST:PORT",
    help="Serve /metrics, /healthz and /readyz here ('off' to serve nothing).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where run records are kept (default: $XDG_STATE_HOME/drkit/daemon).",
)
@click.option("--lease-namespace", metavar="NS", help="Namespace of the leader-election Lease.")
@click.option("--lease-name", default="drkit-daemon", show_default=True, help="Name of the Lease.")
@click.option("--identity", help="This replica's name in the Lease (default: $POD_NAME, else host-pid).")
@click.option(
    "--lease-duration", type=DURATION, default="15s", show_default=True, help="How long a Lease holds."
)
@click.option(
    "--no-leader-election", is_flag=True, help="Run the schedules without a Lease (one replica only)."
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig for the Lease (default: $KUBECONFIG, ~/.kube/config, or in-cluster).",
)
@click.option("--context", help="Kubeconfig context for the Lease.")
@click.option(
    "--grace-period",
    type=DURATION,
    default="5m",
    show_default=True,
    help="On SIGTERM, how long running jobs may go on.",
)
@click.option(
    "--retries", type=click.IntRange(0, 100), default=3, show_default=True, help="Retries of a failed run."
)
@click.option(
    "--retry-delay",
    type=DURATION,
    default="1m",
    show_default=True,
    help="First retry delay; doubles each time.",
)
@click.option(
    "--retry-max-delay", type=DURATION, default="1h", show_default=True, help="Longest retry delay."
)
@click.option(
    "--misfire-grace",
    type=DURATION,
    default="5m",
    show_default=True,
    help="A run that could not start on time still starts within this.",
)
@click.option(
    "--notify-url", envvar="DRKIT_NOTIFY_URL", metavar="URL", help="POST a JSON report here when a run fails."
)
@click.option(
    "--status-addr",
    default="127.0.0.1:9091",
    show_default=True,
    metavar="HOST:PORT",
    help="Serve the read-only status page here ('off' to serve nothing).",
)
@click.option(
    "--status-token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ask for 'Authorization: Bearer <the file's content>' on the status page.",
)
@click.option(
    "--events/--no-events",
    default=True,
    show_default=True,
    help="Create Kubernetes Events for failed runs on the Lease (or on $POD_NAME's Pod).",
)
@click.pass_context
def daemon(
    ctx: click.Context,
    schedules_dir: Path | None,
    check: bool,
    output: str,
    metrics_addr: str,
    state_dir: Path | None,
    lease_namespace: str | None,
    lease_name: str,
    identity: str | None,
    lease_duration: float,
    no_leader_election: bool,
    kubeconfig: Path | None,
    context: str | None,
    grace_period: float,
    retries: int,
    retry_delay: float,
    retry_max_delay: float,
    misfire_grace: float,
    notify_url: str | None,
    status_addr: str,
    status_token_file: Path | None,
    events: bool,
) -> None:
    """Run the schedules in DIR: backups (then prune), verify and drills on their clocks.

    With --lease-namespace, replicas elect a leader with a coordination.k8s.io Lease and only the
    leader runs schedules; --no-leader-election runs them at once (never run two such replicas).
    SIGTERM stops taking new runs, lets running ones finish within --grace-period, and exits 0.
    `drkit daemon runs` lists the runs recorded in --state-dir.
    """
    if ctx.invoked_subcommand is not None:
        return
    if schedules_dir is None:
        raise click.UsageError("Missing option '--schedules' (or DRKIT_SCHEDULES).")
    if check:
        from drkit.daemon.check import check_directory, next_run_rows

        checked, errors = check_directory(schedules_dir)
        for error in errors:
            click.echo(f"drkit: invalid: {error}", err=True)
            if error.hint:
                click.echo(f"drkit: hint: {error.hint}", err=True)
        if errors:
            raise ConfigError(
                f"{len(errors)} schedule files are invalid (listed above)", file=str(schedules_dir)
            )
        rows = next_run_rows(checked, datetime.now(UTC))
        text = render_table(
            [{**r, "next": ", ".join(r["next"])} for r in rows],
            ["schedule", "job", "cron", "timezone", "next"],
        )
        emit(rows, output, text=f"{len(checked)} schedules valid\n{text}")
        return
    schedules = load_schedules(schedules_dir)
    if not schedules:
        raise ConfigError("no schedule files (*.yaml) in this directory", file=str(schedules_dir))
    if no_leader_election == bool(lease_namespace):
        raise click.UsageError("give --lease-namespace (replicas elect a leader) or --no-leader-election")
    _serve(
        schedules,
        state_dir or _default_state_dir(),
        metrics_addr=metrics_addr,
        lease=(lease_namespace, lease_name, lease_duration) if lease_namespace else None,
        identity=identity or _default_identity(),
        kubeconfig=kubeconfig,
        context=context,
        grace_period=grace_period,
        retries=(retries, retry_delay, retry_max_delay),
        misfire_grace=misfire_grace,
        notify_url=notify_url,
        status=(status_addr, status_token_file),
        events=events,
    )


def _serve(
    schedules: list[Schedule],
    state_dir: Path,
    *,
    metrics_addr: str,
    lease: tuple[str, str, float] | None,
    identity: str,
    kubeconfig: Path | None,
    context: str | None,
    grace_period: float,
    retries: tuple[int, float, float],
    misfire_grace: float,
    notify_url: str | None,
    status: tuple[str, Path | None],
    events: bool,
) -> None:
    from drkit.daemon import runcontext
    from drkit.daemon.leader import KubeLeaseAPI, LeaderElector
    from drkit.daemon.metrics import HealthServer, Metrics
    from drkit.daemon.retry import RetryPolicy
    from drkit.daemon.service import Daemon, DaemonSettings
    from drkit.daemon.webhook import Webhook

    logsetup.command_default("info")  # one line per run start and end unless --log-level says otherwise
    runcontext.install(logging.getLogger().handlers)
    settings = DaemonSettings(
        state_dir=state_dir,
        identity=identity,
        grace_period=grace_period,
        misfire_grace=misfire_grace,
        retry=RetryPolicy(retries=retries[0], delay=retries[1], max_delay=retries[2]),
    )
    metrics = Metrics()
    webhook = Webhook(notify_url) if notify_url else None
    kube, config, recorder = _kube_and_events(lease, events, identity, kubeconfig, context)
    service = Daemon(
        [s for s in schedules if isinstance(s, Schedule)],
        settings,
        metrics=metrics,
        webhook=webhook,
        events=recorder,
    )
    elector: LeaderElector | None = None
    if lease is not None:
        assert kube is not None
        assert config is not None
        namespace, name, _ = lease
        elector = LeaderElector(
            KubeLeaseAPI(kube, namespace, name),
            config,
            on_started=service.start_leading,
            on_stopped=service.stop_leading,
        )
    server: HealthServer | None = None
    if metrics_addr.lower() not in ("off", "none", ""):
        server = HealthServer(metrics_addr, metrics, lambda: service.ready)
        server.start()
        log.info("serving /metrics, /healthz, /readyz on port %d", server.port)
    page = _status_server(status[0], status[1], service)

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start(elector)
    log.info(
        "daemon %s started: %d schedules, state in %s, %s",
        identity,
        len(service.schedules),
        state_dir,
        f"lease {lease[0]}/{lease[1]}" if lease else "no leader election",
    )
    while not stop.wait(1.0):
        pass
    log.info("signal %d: stopping (grace period %.0fs)", received[0] if received else 0, grace_period)
    cut = service.shutdown()
    if server is not None:
        server.stop()
    if page is not None:
        page.stop()
    log.info("daemon stopped (%d runs cut off)", len(cut))
    if cut:  # their threads still run: leave without waiting for them (the repository stays valid)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@daemon.command("runs")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The daemon's --state-dir (default: $XDG_STATE_HOME/drkit/daemon).",
)
@click.option("--schedule", help="Only the runs of this schedule.")
@click.option("--job", type=click.Choice(["backup", "verify", "drill"]), help="Only runs of this job.")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True, help="The newest N runs.")
@output_option
def runs(state_dir: Path | None, schedule: str | None, job: str | None, last: int, output: str) -> None:
    """List the daemon's recent runs (from runs.jsonl): outcome, duration, snapshot, error."""
    from drkit.cli.render import duration_text
    from drkit.daemon.history import recent_runs

    found = recent_runs(state_dir or _default_state_dir(), last=last, schedule=schedule, job=job)
    table = [
        {
            "start": r.start.strftime("%Y-%m-%d %H:%M:%S") if r.start else "",
            "schedule": r.schedule,
            "job": r.job,
            "attempt": r.attempt,
            "result": r.result,
            "duration": duration_text(r.duration_s),
            "snapshot": (r.snapshot_id or "")[:8],
            "error": _short(r.error or ""),
        }
        for r in found
    ]
    emit([r.to_json() for r in found], output, text=f"{render_table(table)}\n{len(found)} runs")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _kube_and_events(
    lease: tuple[str, str, float] | None,
    events: bool,
    identity: str,
    kubeconfig: Path | None,
    context: str | None,
) -> tuple[KubeClient | None, ElectionConfig | None, EventRecorder | None]:
    """The client and election settings for the Lease, and the recorder of Events: on the Lease,
    else (no election) on the Pod named by $POD_NAME/$POD_NAMESPACE, else none."""
    from drkit.daemon.events import EventRecorder, EventTarget
    from drkit.daemon.leader import ElectionConfig
    from drkit.kube.client import KubeClient

    kube: KubeClient | None = None
    config: ElectionConfig | None = None
    target: EventTarget | None = None
    if lease is not None:
        config = ElectionConfig.for_duration(lease[0], lease[1], identity, lease[2])
        kube = KubeClient.from_kubeconfig(kubeconfig, context, timeout=max(1.0, config.retry_period * 2))
        target = EventTarget.lease(lease[0], lease[1])
    elif events and os.environ.get("POD_NAME") and os.environ.get("POD_NAMESPACE"):
        kube = KubeClient.from_kubeconfig(kubeconfig, context, timeout=10.0)
        target = EventTarget.pod(os.environ["POD_NAMESPACE"], os.environ["POD_NAME"])
    if not events:
        return kube, config, None
    if kube is None or target is None:
        log.info("no Kubernetes Events: no Lease and no $POD_NAME/$POD_NAMESPACE to put them on")
        return kube, config, None
    log.info("Kubernetes Events on %s %s/%s", target.kind, target.namespace, target.name)
    return kube, config, EventRecorder(kube, target, identity)


def _status_server(address: str, token_file: Path | None, service: Daemon) -> StatusServer | None:
    """The read-only status page of the schedules' repositories (docs/daemon.md, "Status page"). A port
    that cannot be bound is logged and the daemon goes on without the page."""
    from drkit.daemon.statuspage import collect, render
    from drkit.daemon.statusserver import StatusServer
    from drkit.repo.opening import open_repository
    from drkit.repo.repository import Repository
    from drkit.secret import Secret

    if address.lower() in ("off", "none", ""):
        return None
    token = None
    if token_file is not None:
        text = token_file.read_text().strip()
        if not text:
            raise ConfigError("the status token file is empty", file=str(token_file))
        token = Secret(text)
    opened: dict[str, Repository] = {}

    def page() -> str:
        repos: list[tuple[str, Repository]] = []
        for schedule in service.schedules.values():
            url = schedule.repository.url
            if url not in opened:
                opened[url] = open_repository(schedule.repository)
            if all(u != url for u, _ in repos):
                repos.append((url, opened[url]))
        return render(
            collect(
                repos,
                list(service.schedules.values()),
                runs=service.runs.finished_runs(),
                next_run=service.next_backup,
            )
        )

    try:
        server = StatusServer(address, page, token=token)
    except ConfigError as exc:
        log.error("no status page: %s", exc)  # noqa: TRY400 - the daemon goes on without it
        return None
    server.start()
    log.info("serving the status page on port %d%s", server.port, " (bearer token)" if token else "")
    return server
