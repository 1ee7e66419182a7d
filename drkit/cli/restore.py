"""`drkit restore`: restore file trees (`path`) and API resources by restore plans (`plan`, `run`)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.progress import make_progress
from drkit.cli.render import human_bytes
from drkit.cli.repoopts import RepoOptions, repo_options, with_settings
from drkit.config.limits import MAX_UID
from drkit.errors import ConfigError, PartialFailure
from drkit.repo.engine.restore import RestoreIncomplete

if TYPE_CHECKING:
    from drkit.config.restoreplan import RestorePlanConfig
    from drkit.kube.client import KubeClient
    from drkit.repo.format.model import Snapshot
    from drkit.repo.repository import Repository
    from drkit.restore.fills import Filler, FillPlan, FillResult
    from drkit.restore.model import ApplyReport, RestorePlan
    from drkit.restore.released import ReleasedVolume
    from drkit.restore.volumes import FillOptions


@click.group()
def restore() -> None:
    """Restore resources, etcd or volume data from a snapshot."""


@restore.command("path")
@click.argument("source", metavar="SNAPSHOT[:SUBPATH]")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@repo_options
@click.option(
    "--force",
    is_flag=True,
    help="Restore into a directory that is not empty (existing files may be replaced).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@output_option
@audited("restore", "restore path")
def restore_path(
    source: str, target: Path, repo: RepoOptions, force: bool, progress: bool | None, output: str
) -> None:
    """Restore SNAPSHOT (an id, a unique prefix or 'latest'), or SUBPATH of it, into TARGET."""
    snapshot, _, subpath = source.partition(":")
    if not snapshot:
        raise ConfigError("no snapshot given before ':'", field="SNAPSHOT")
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty",
            field="TARGET",
            hint="restore into a new or empty directory, or pass --force",
        )
    note(snapshot=snapshot, subpath=subpath, target=str(target))
    r = repo.open()
    not_restored: list[str] = []
    failure: RestoreIncomplete | None = None
    try:
        stats = r.restore_path(snapshot, target, subpath=subpath.strip("/"), progress=make_progress(progress))
    except RestoreIncomplete as exc:  # the rest was restored: say what, then fail (exit 13)
        failure, stats, not_restored = exc, exc.stats, exc.not_restored
    data = {
        "ok": failure is None,
        "snapshot": r.find_snapshot(snapshot).id,
        "subpath": subpath,
        "target": str(target),
        "files": stats.files,
        "dirs": stats.dirs,
        "symlinks": stats.symlinks,
        "bytes": stats.bytes,
        "packs_read": stats.packs_read,
        "duration_s": round(stats.duration_s, 3),
        "warnings": list(stats.warnings),
        "not_restored": not_restored,
    }
    text = (
        f"restored {stats.files} files, {stats.dirs} dirs, {stats.symlinks} symlinks, "
        f"{human_bytes(stats.bytes)} into {target} in {stats.duration_s:.1f}s"
    )
    if stats.warnings:
        text += f"\n{len(stats.warnings)} warnings:\n" + "\n".join(f"  {w}" for w in stats.warnings[:50])
        if len(stats.warnings) > 50:
            text += f"\n  ... and {len(stats.warnings) - 50} more (-o json lists all)"
    if not_restored:
        text += f"\nNOT RESTORED ({len(not_restored)} files; nothing left in their place):\n"
        text += "\n".join(f"  {p}" for p in not_restored[:50])
        if len(not_restored) > 50:
            text += f"\n  ... and {len(not_restored) - 50} more (-o json lists all)"
    emit(data, output, text=text)
    if failure is not None:
        raise failure


# -- restore plans ----------------------------------------------------------------------------------


def _plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``restore plan`` and ``restore run`` share."""
    for option in reversed(
        (
            click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False, path_type=Path)),
            click.option(
                "--snapshot",
                "snapshot_ref",
                metavar="REF",
                help="Override the plan's snapshot: latest, an id, latest-before:<RFC 3339>, "
                "schedule:<name>.",
            ),
            repo_options(required=False),
            click.option(
                "--kubeconfig",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Override the plan's target kubeconfig.",
            ),
            click.option("--context", help="Override the plan's target context."),
        )
    ):
        func = option(func)
    return func


VOLUME_FLAGS: dict[str, str] = {
    "volume_mover": "mover",
    "volume_path_map": "path_map",
    "mover_image": "image",
    "mover_secret": "secret",
    "volume_timeout": "timeout",
    "mover_run_as_user": "run_as_user",
    "volume_parallel": "parallel",
}
"""The volume options of ``restore plan|run`` and the field of a plan's ``spec.volumes``
(:class:`~drkit.config.restoreplan.VolumeRestoreSettings`) each overrides. ``--node-name`` is not one:
it says where drkit runs ($NODE_NAME), not what a plan restores."""


def _volume_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How volume data is restored (plans with ``restore.volumes: true``); they override ``spec.volumes``."""
    for option in reversed(
        (
            click.option(
                "--volume-mover",
                type=click.Choice(["local", "job"]),
                help="local: restore into directories here (--volume-path-map, or the PV's host path); "
                "job: a restore Job per claim. Default: the plan's spec.volumes.mover, else local.",
            ),
            click.option(
                "--volume-path-map",
                multiple=True,
                metavar="PATTERN=DIR",
                help="Local mode: where a restored claim's files go ('NS/PVC' or PV-name patterns; "
                "{pv}, {namespace}, {pvc} placeholders). Repeatable; first match wins; before the plan's.",
            ),
            click.option("--image", "mover_image", metavar="IMAGE", help="Job mode: the drkit image."),
            click.option(
                "--mover-secret",
                metavar="NAME",
                help="Job mode: Secret (in each claim's namespace) with the repository settings as files "
                "(default drkit-repo).",
            ),
            click.option(
                "--volume-timeout",
                metavar="DURATION",
                help="Job mode: how long the restore Jobs may take, all together: one deadline for every "
                "claim's Job (they run --volume-parallel at a time; default: the plan's, else 1h).",
            ),
            click.option(
                "--volume-parallel",
                type=click.IntRange(1, 32),
                metavar="N",
                help="Job mode: the restore Jobs of N claims at a time (default: the plan's, else 4).",
            ),
            click.option(
                "--mover-run-as-user",
                type=click.IntRange(1, MAX_UID),
                metavar="UID",
                help="Job mode: restore as this non-root user (the application's) instead of root: owners "
                "are not restored, and a namespace at Pod Security 'restricted' admits the Job.",
            ),
            click.option(
                "--node-name",
                envvar="NODE_NAME",
                help="Local mode: the node drkit runs on (a PV's host path is used only there).",
            ),
        )
    ):
        func = option(func)
    return func


@restore.command("plan")
@_plan_options
@_volume_options
@output_option
def restore_plan(
    plan_file: Path,
    snapshot_ref: str | None,
    repo: RepoOptions,
    kubeconfig: Path | None,
    context: str | None,
    output: str,
    **volume_options: Any,
) -> None:
    """Show what restoring PLAN.yaml would create, update and skip, and why (nothing is changed).

    The same as `drkit restore run PLAN.yaml --dry-run` (with the same volume options: the plan
    says where each volume's data would go). Secret contents are never printed.
    """
    _run(
        plan_file,
        snapshot_ref,
        repo,
        kubeconfig,
        context,
        output,
        dry_run=True,
        progress=None,
        volume_args=_volume_args(**volume_options),
    )


def _volume_args(
    volume_mover: str | None,
    volume_path_map: tuple[str, ...],
    mover_image: str | None,
    mover_secret: str | None,
    volume_timeout: str | None,
    node_name: str | None,
    mover_run_as_user: int | None = None,
    volume_parallel: int | None = None,
) -> dict[str, Any]:
    """The volume options as :func:`drkit.restore.volumes.fill_options` takes them."""
    from drkit.config.durations import parse_duration

    timeout_s = parse_duration(volume_timeout, "volume-timeout").total_seconds() if volume_timeout else None
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError("a timeout must be longer than 0", field="--volume-timeout")
    return {
        "mover": volume_mover,
        "path_map": volume_path_map,
        "image": mover_image,
        "secret": mover_secret,
        "timeout_s": timeout_s,
        "node_name": node_name,
        "run_as_user": mover_run_as_user,
        "parallel": volume_parallel,
    }


@restore.command("run")
@_plan_options
@_volume_options
@click.option("--dry-run", is_flag=True, help="Only show the plan (as `drkit restore plan`).")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@click.option(
    "--rebind-released",
    is_flag=True,
    help="In place over Retain volumes: a Released PersistentVolume whose claimRef names the very claim "
    "being restored loses the deleted claim's uid, so that it binds to the restored claim.",
)
@output_option
@audited("restore", "restore run")
def restore_run(
    plan_file: Path,
    snapshot_ref: str | None,
    repo: RepoOptions,
    kubeconfig: Path | None,
    context: str | None,
    volume_mover: str | None,
    volume_path_map: tuple[str, ...],
    mover_image: str | None,
    mover_secret: str | None,
    volume_timeout: str | None,
    node_name: str | None,
    mover_run_as_user: int | None,
    volume_parallel: int | None,
    dry_run: bool,
    progress: bool | None,
    rebind_released: bool,
    output: str,
) -> None:
    """Restore the API resources of a snapshot as PLAN.yaml says: plan, then server-side apply in order,
    with waits. With `restore.volumes: true`, the claims it creates are filled with their data before
    the workloads are applied. Prints each object's and volume's result and a summary; exits 1 if any
    failed."""
    volume_args = _volume_args(
        volume_mover,
        volume_path_map,
        mover_image,
        mover_secret,
        volume_timeout,
        node_name,
        mover_run_as_user,
        volume_parallel,
    )
    _run(
        plan_file,
        snapshot_ref,
        repo,
        kubeconfig,
        context,
        output,
        dry_run=dry_run,
        progress=progress,
        volume_args=volume_args,
        rebind=rebind_released,
    )


def _run(
    plan_file: Path,
    snapshot_ref: str | None,
    repo: RepoOptions,
    kubeconfig: Path | None,
    context: str | None,
    output: str,
    *,
    dry_run: bool,
    progress: bool | None,
    volume_args: Mapping[str, Any] | None = None,
    rebind: bool = False,
) -> None:
    from drkit.capture.stored import stored_objects
    from drkit.config.restoreplan import load_restore_plan
    from drkit.restore.planner import PlannerOptions, prepare
    from drkit.restore.released import find_released

    started = time.monotonic()
    config = load_restore_plan(plan_file)
    if not config.restore.resources:
        raise config.error(
            "spec.restore", "the plan restores no resources; `drkit restore run` has nothing to do"
        )
    if not dry_run:
        _refuse_unsupported(config)
    r = repo_for_plan(repo, config).open()
    snap = _choose(config, snapshot_ref, r)
    kube = _target(config, kubeconfig, context)
    if kube is None and not dry_run:
        raise config.error(
            "spec.target",
            "the target is a scratch cluster, which `drkit drill` creates",
            "give --kubeconfig/--context to restore into an existing cluster, or use --dry-run",
        )
    objects = list(stored_objects(r.snapshot_reader(snap.id)))
    prepared = prepare(objects, PlannerOptions.from_config(config))
    if kube is None:
        plan = prepared.decide(set(), snapshot_id=snap.id, target="scratch (a new, empty cluster)")
    else:
        from drkit.restore.applier import existing_objects

        target = f"context {kube.context} at {kube.server}" if kube.context else kube.server
        plan = prepared.decide(existing_objects(kube, prepared.refs()), snapshot_id=snap.id, target=target)
    header = (
        f"plan {config.name}: snapshot {snap.short_id} ({snap.time:%Y-%m-%d %H:%M:%S} UTC) -> {plan.target}"
    )
    fills = None
    options: FillOptions | None = None
    if config.restore.volumes:
        from drkit.restore.fills import plan_fills
        from drkit.restore.volumes import fill_options

        options = fill_options(config, **(volume_args or {}))
        fills = plan_fills(snap.meta.get("volumes"), plan, snap.id)
    released = find_released(kube, plan) if kube is not None else []
    released_lines = _released_lines(released, rebind=rebind)
    if dry_run or kube is None:  # a scratch target can only be planned
        data = {"plan": config.name, **plan.to_json(), "releasedVolumes": [v.to_json() for v in released]}
        if fills is not None and options is not None:
            from drkit.restore.volumes import planned_where

            planned = fills.to_json()
            for row, fill in zip(planned["fills"], fills.fills, strict=True):
                row["where"] = planned_where(fill, options)
            data["volumes"] = {"mover": options.mover, **planned}
        emit(data, output, text="\n".join([_plan_text(header, plan, fills, options), *released_lines]))
        return
    from drkit.restore.volumes import make_filler

    note(plan=config.name, snapshot=snap.id, target=plan.target)
    unbindable = _settle_released(kube, released, released_lines, rebind=rebind)
    filler = make_filler(options, r, kube) if options is not None else None
    _apply(kube, config, plan, header, (fills, filler), output, progress, started, unbindable)


def _released_lines(released: Sequence[ReleasedVolume], *, rebind: bool) -> list[str]:
    """What the plan says about claims that cannot bind (Released PVs with a stale claimRef uid)."""
    from drkit.restore.released import REBIND_HINT

    lines = [f"claim cannot bind: {v.cause()}" for v in released]
    if released:
        lines.append("  --rebind-released re-binds them" if rebind else f"  hint: {REBIND_HINT}")
    return lines


def _settle_released(
    kube: KubeClient, released: Sequence[ReleasedVolume], lines: Sequence[str], *, rebind: bool
) -> dict[str, str]:
    """With --rebind-released, re-bind the Released PVs first; else warn and return the claims that
    cannot bind (``ns/pvc`` -> why), which then fail at once instead of waiting out a timeout."""
    from drkit.restore.released import rebind_released

    if not released:
        return {}
    if rebind:
        rebind_released(kube, list(released))
        note(rebound=[v.pv for v in released])
        for v in released:
            click.echo(f"re-bound PersistentVolume {v.pv} to the restored claim {v.key}", err=True)
        return {}
    for line in lines:
        click.echo(f"drkit: warning: {line.strip()}", err=True)
    return {v.key: v.cause() for v in released}


def _choose(config: RestorePlanConfig, snapshot_ref: str | None, r: Repository) -> Snapshot:
    """The plan's snapshot, or the one ``--snapshot`` names; errors name the plan's field or the option."""
    from drkit.config.restoreplan import SnapshotSelector
    from drkit.restore.select import choose_snapshot

    selector = config.snapshot
    if snapshot_ref is not None:
        try:
            selector = SnapshotSelector.parse(snapshot_ref)
        except ValueError as exc:
            raise ConfigError(str(exc), field="--snapshot") from None
    unreadable = r.unreadable_snapshots()
    if unreadable and selector.id is None:
        logging.getLogger(__name__).warning(
            "%d snapshots cannot be read and are not considered: %s",
            len(unreadable),
            ", ".join(u.id[:8] for u in unreadable),
        )
    try:
        return choose_snapshot(r.snapshots(), selector, unreadable=unreadable)
    except ConfigError as exc:
        if snapshot_ref is not None:
            raise ConfigError(bare(exc), field="--snapshot", hint=exc.hint) from None
        raise config.error("spec.snapshot", bare(exc), exc.hint) from None


def _apply(
    kube: KubeClient,
    config: RestorePlanConfig,
    plan: RestorePlan,
    header: str,
    volumes: tuple[FillPlan | None, Filler | None],
    output: str,
    progress: bool | None,
    started: float,
    unbindable: Mapping[str, str] | None = None,
) -> None:
    from drkit.restore.volumes import apply_with_volumes

    fills, filler = volumes
    report, filled = apply_with_volumes(
        kube,
        plan,
        fills,
        filler,
        timeouts=config.waits.seconds(),
        progress=make_progress(progress),
        unbindable=unbindable,
    )
    total_s = time.monotonic() - started
    data = {"plan": config.name, **plan.to_json(), "report": report.to_json(), "durationS": round(total_s, 3)}
    if fills is not None:
        data["volumes"] = {
            "mover": filler.mode if filler is not None else None,
            "results": [f.to_json() for f in filled],
            "skipped": fills.to_json()["skipped"],
        }
    emit(data, output, text=_report_text(header, plan, report, fills, filled, total_s=total_s))
    failed_volumes = [f for f in filled if not f.ok]
    note(applied=len(report.results) - len(report.failed), failed=len(report.failed) + len(failed_volumes))
    if report.failed or failed_volumes:
        steps = len(report.results) + len(report.waits) + len(filled)
        raise PartialFailure(
            f"{len(report.failed) + len(failed_volumes)} of {steps} restore steps failed (listed above)"
        )


def bare(exc: ConfigError) -> str:
    """The message of ``exc`` without its ``field: `` prefix."""
    prefix = f"{exc.field}: " if exc.field else ""
    return exc.message[len(prefix) :] if prefix and exc.message.startswith(prefix) else exc.message


def _refuse_unsupported(config: RestorePlanConfig) -> None:
    if config.restore.etcd:
        raise config.error(
            "spec.restore.etcd",
            "`drkit restore run` restores API resources into a running cluster, not etcd",
            "restore etcd with `drkit restore etcd` (a new data directory), then set etcd: false here",
        )


def repo_for_plan(repo: RepoOptions, config: RestorePlanConfig) -> RepoOptions:
    """Command line first, then the plan's repository, then the environment (DRKIT_REPO, ...)."""
    settings = config.repository
    if settings is None:
        if not repo.url:
            raise config.error(
                "spec.repository", "no repository: the plan names none and --repo is not given"
            )
        return repo
    return with_settings(repo, settings)


def _target(config: RestorePlanConfig, kubeconfig: Path | None, context: str | None) -> KubeClient | None:
    """The target's client; ``None`` for a scratch target (a cluster a drill creates) not overridden."""
    from drkit.kube.client import KubeClient

    target = config.target
    if kubeconfig is None and context is None and target.scratch:
        return None
    return KubeClient.from_kubeconfig(
        kubeconfig if kubeconfig is not None else target.kubeconfig,
        context if context is not None else target.context,
    )


def _summary(plan: RestorePlan) -> str:
    c = plan.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, {c['skip']} to skip, {c['fail']} failing; "
        f"{c['not-restored']} snapshot objects not restored"
    )


def _volume_plan_lines(fills: FillPlan | None, options: FillOptions | None) -> list[str]:
    if fills is None:
        return []
    from drkit.restore.volumes import planned_where

    lines = [f"volume data ({len(fills.fills)} claims to fill before the workloads):"]
    for f in fills.fills:
        files = f" ({f.record.get('files')} files)" if f.record.get("files") is not None else ""
        lines.append(f"  {f.key}: from {f.path} of snapshot {f.snapshot_id[:8]}{files}")
        if options is not None:
            lines.append(f"    into {planned_where(f, options)}")
    lines += [f"  {source}: not restored: {why}" for source, why in fills.skipped]
    return lines


LIST_SKIPPED_UP_TO = 20


def _not_restored_lines(plan: RestorePlan) -> list[str]:
    """Each snapshot object not restored and why; many of them (a whole cluster's snapshot restored in
    part) are counted by reason instead (``-o json`` lists each)."""
    if not plan.skipped:
        return []
    if len(plan.skipped) <= LIST_SKIPPED_UP_TO:
        return [f"not restored ({len(plan.skipped)}):", *(f"  {p}: {why}" for p, why in plan.skipped)]
    reasons = Counter(why for _, why in plan.skipped)
    lines = [f"not restored ({len(plan.skipped)}, by reason; -o json lists each):"]
    lines += [f"  {n:>5}  {why}" for why, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    return lines


def _warning_lines(plan: RestorePlan) -> list[str]:
    return [f"warning: {w}" for w in plan.warnings]


def _plan_text(
    header: str, plan: RestorePlan, fills: FillPlan | None = None, options: FillOptions | None = None
) -> str:
    from drkit.cli.output import render_table
    from drkit.restore.model import PHASE_NAMES

    rows = [
        {
            "phase": PHASE_NAMES.get(a.phase, str(a.phase)),
            "verb": str(a.verb),
            "object": a.ref.display(),
            "reason": a.reason,
        }
        for a in plan.actions
    ]
    lines = [header, render_table(rows, ["phase", "verb", "object", "reason"])]
    lines += _not_restored_lines(plan)
    lines += _volume_plan_lines(fills, options)
    lines += _warning_lines(plan)
    lines.append(_summary(plan))
    return "\n".join(lines)


def seconds(value: float) -> str:
    """``0.04s``, ``1.15s``, ``12.3s``: short runs keep their hundredths (never a 0.0s for a real run)."""
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"


def _report_text(
    header: str,
    plan: RestorePlan,
    report: ApplyReport,
    fills: FillPlan | None = None,
    filled: Sequence[FillResult] = (),
    *,
    total_s: float | None = None,
) -> str:
    from drkit.cli.output import render_table

    rows = [
        {
            "verb": str(r.action.verb),
            "result": "ok" if r.ok else "FAILED",
            "object": r.action.ref.display(),
            "message": r.message,
        }
        for r in report.results
    ]
    lines = [header, render_table(rows, ["verb", "result", "object", "message"])]
    if report.waits:
        waits = [{"result": "ok" if w.ok else "FAILED", "wait": w.message} for w in report.waits]
        lines += ["waits:", render_table(waits, ["result", "wait"])]
    if fills is not None:
        rows = [
            {"result": "ok" if f.ok else "FAILED", "volume": f.fill.key, "message": f.message} for f in filled
        ]
        lines += ["volumes:", render_table(rows, ["result", "volume", "message"])] if rows else []
        lines += [f"  {source}: not restored: {why}" for source, why in fills.skipped]
    lines += _warning_lines(plan)
    done = {
        v: sum(1 for r in report.results if r.ok and str(r.action.verb) == v) for v in ("create", "update")
    }
    lines.append(
        f"restored in {seconds(report.duration_s if total_s is None else total_s)} "
        f"(applying and waiting {seconds(report.duration_s)}): "
        f"{done['create']} created, {done['update']} updated, "
        f"{plan.counts()['skip']} skipped, {len(report.failed)} failed; "
        f"{len(plan.skipped)} snapshot objects not restored"
    )
    return "\n".join(lines)
