"""`drkit drill`: rehearsed restores into scratch clusters (`run`) and the record of past drills."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.render import unreadable_lines, unreadable_row
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import ConfigError, DrillFailed, VerificationFailed

if TYPE_CHECKING:
    from drkit.drill.result import DrillResult

PROVIDER_CHOICES = ("local", "kind", "kubeconfig", "etcd")


@click.group()
def drill() -> None:
    """Run rehearsed restores into scratch clusters and report RTO/RPO."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) becomes KeyboardInterrupt, so the scratch cluster is torn down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@drill.command("run")
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--provider",
    type=click.Choice(PROVIDER_CHOICES),
    default="local",
    show_default=True,
    help="Scratch cluster: local (built binaries + kwok), kind (Docker), kubeconfig (an existing cluster, "
    "prefixed namespaces), etcd (the snapshot's etcd restored, an API server booted on it).",
)
@click.option("--keep", is_flag=True, help="Leave the scratch cluster running (its kubeconfig is printed).")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write drill-<id>.json, .xml (JUnit), .md and .html here.",
)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write the JUnit XML report here."
)
@click.option(
    "--snapshot",
    "snapshot_ref",
    metavar="REF",
    help="Override the plan's snapshot: latest, an id, latest-before:<RFC 3339>, schedule:<name>.",
)
@repo_options(required=False)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    help="kubeconfig provider: the existing cluster (default: the plan's target, else $KUBECONFIG).",
)
@click.option(
    "--context", help="kubeconfig provider: the context (default: the plan's, else the current one)."
)
@click.option("--kind-image", metavar="IMAGE", help="kind provider: the node image (default: kind's).")
@click.option(
    "--real-nodes",
    type=click.IntRange(0, 8),
    default=0,
    help="local provider: real nodes (containerd + kubelet; root and `make image`) instead of kwok, so "
    "the restored application runs and httpProbe checks ask it.",
)
@click.option(
    "--store/--no-store", default=True, show_default=True, help="Record the result in the repository."
)
@output_option
@audited("drill", "drill run")
def drill_run(
    plan_file: Path,
    provider: str,
    keep: bool,
    report_dir: Path | None,
    junit: Path | None,
    snapshot_ref: str | None,
    repo: RepoOptions,
    kubeconfig: Path | None,
    context: str | None,
    kind_image: str | None,
    real_nodes: int,
    store: bool,
    output: str,
) -> None:
    """Restore PLAN.yaml's snapshot into a new scratch cluster, run the plan's checks, measure RTO and
    RPO, write reports and tear the cluster down. Exits 14 when the drill fails (a check failed, the
    restore failed, or the cluster did not start)."""
    from drkit.cli.restore import repo_for_plan
    from drkit.config.restoreplan import SnapshotSelector, load_restore_plan
    from drkit.drill.providers import make_provider
    from drkit.drill.report import write_reports
    from drkit.drill.runner import run_drill
    from drkit.drill.service import drill_request
    from drkit.drill.store import store_result

    config = load_restore_plan(plan_file)
    selector = None
    if snapshot_ref is not None:
        try:
            selector = SnapshotSelector.parse(snapshot_ref)
        except ValueError as exc:
            raise ConfigError(str(exc), field="--snapshot") from None
    options: dict[str, Any] = {}
    if provider == "kubeconfig":
        options = {
            "kubeconfig": kubeconfig or config.target.kubeconfig,
            "context": context or config.target.context,
        }
    elif provider == "kind" and kind_image:
        options = {"image": kind_image}
    if real_nodes:
        if provider != "local":
            raise ConfigError("--real-nodes is an option of the local provider", field="--real-nodes")
        options = {"real_nodes": real_nodes}
    scratch = make_provider(provider, **options)
    r = repo_for_plan(repo, config).open()

    def phase(name: str) -> None:
        click.echo(f"drill {scratch_id}: {name}", err=True)

    scratch_id = getattr(scratch, "id", "")
    request = drill_request(config, r, scratch, selector=selector, keep=keep, on_phase=phase)
    with _sigterm_interrupts():
        result = run_drill(request)
    written = write_reports(result, report_dir) if report_dir is not None else []
    if junit is not None:
        from drkit.drill.report import junit_xml

        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(junit_xml(result), encoding="utf-8")
        written.append(junit)
    record = store_result(r, result).id if store else None
    note(plan=result.plan, drill=result.id, snapshot=result.snapshot_id, provider=provider, record=record)
    data = {**result.to_json(), "record": record, "reports": [str(p) for p in written]}
    text = _text(result, record, written, scratch.kubeconfig if keep else None)
    emit(data, output, text=text)
    if not result.ok:
        failed = [c.spec.name for c in result.failed_checks]
        why = result.error or f"{len(failed)} check(s) failed: {', '.join(failed)}"
        raise DrillFailed(f"drill {result.id} of plan {result.plan} failed: {why}")


def _text(result: DrillResult, record: str | None, written: list[Path], kept: Path | None) -> str:
    from drkit.drill.report import markdown

    text = markdown(result).rstrip()
    if record:
        text += f"\n\nrecorded in the repository as drill snapshot {record[:8]}"
    if written:
        text += "\nreports: " + ", ".join(str(p) for p in written)
    if kept is not None:
        text += f"\nscratch cluster kept: KUBECONFIG={kept}"
        pids = result.cluster.get("pids")
        if pids:
            text += f"\nstop it with: kill {' '.join(str(p) for p in pids)}"
            text += f"; then remove {result.cluster.get('workdir')}"
    return text


@drill.command("report")
@repo_options
@click.option("--plan", "plan_name", metavar="NAME", help="Only drills of this plan.")
@click.option("--last", type=click.IntRange(min=1), help="Only the last N drills.")
@output_option
def drill_report(repo: RepoOptions, plan_name: str | None, last: int | None, output: str) -> None:
    """List past drills recorded in the repository, and the newest backup proven restorable."""
    from drkit.drill.report import duration
    from drkit.drill.store import drill_records, newest_proven

    opened = repo.open()
    records = drill_records(opened.snapshots())
    unreadable = opened.unreadable_snapshots()
    if plan_name:
        records = [r for r in records if r.summary.get("plan") == plan_name]
    proven = newest_proven(records)
    if last:
        records = records[-last:]
    rows = [
        {
            "record": r.snapshot.short_id,
            "finished": f"{r.finished:%Y-%m-%d %H:%M:%S}",
            "plan": r.summary.get("plan", ""),
            "provider": r.summary.get("provider", ""),
            "snapshot": r.restored_snapshot[:8],
            "result": "passed" if r.ok else "FAILED",
            "rto": duration(float(r.summary.get("rtoS", 0.0))),
            "rpo": duration(float(r.summary.get("rpoS", 0.0))),
            "failed": ",".join(r.summary.get("failedChecks") or []) or (r.summary.get("error") or ""),
        }
        for r in records
    ]
    proven_json = None
    line = "no drill has passed yet: no backup is proven restorable"
    if proven is not None:
        proven_json = {
            "snapshot": proven.restored_snapshot,
            "snapshotTime": proven.summary.get("snapshotTime"),
            "drill": proven.snapshot.id,
            "finished": proven.finished.isoformat(),
        }
        line = (
            f"newest backup proven restorable: snapshot {proven.restored_snapshot[:8]} taken "
            f"{proven.summary.get('snapshotTime')} (drill {proven.snapshot.short_id} passed at "
            f"{proven.finished:%Y-%m-%d %H:%M:%S})"
        )
    data = {
        "drills": [r.to_json() for r in records],
        "newestProven": proven_json,
        "unreadable": [unreadable_row(u) for u in unreadable],
    }
    text = render_table(rows) + "\n" + line
    if unreadable:  # a drill record among them would be missing from the list above
        text += "\n" + "\n".join(unreadable_lines(unreadable))
    emit(data, output, text=text)
    if unreadable:
        raise VerificationFailed(
            f"{len(unreadable)} snapshots cannot be read, so drill records may be missing "
            f"(first: {unreadable[0].object}: {unreadable[0].message})",
            hint="`drkit verify` checks the whole repository",
        )
