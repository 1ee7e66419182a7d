"""`drkit prune`: apply a retention policy, then delete what is unreferenced and unlocked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.render import human_bytes, leftover_json
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import PartialFailure
from drkit.repo.engine.retention import describe, policy_from_options


@click.command()
@repo_options
@click.option(
    "--keep-last", default=None, metavar="N", help="Keep the N newest snapshots ('unlimited' for all)."
)
@click.option(
    "--keep-hourly", default=None, metavar="N", help="Keep the newest snapshot of each of the last N hours."
)
@click.option("--keep-daily", default=None, metavar="N", help="... of each of the last N days.")
@click.option("--keep-weekly", default=None, metavar="N", help="... of each of the last N ISO weeks.")
@click.option("--keep-monthly", default=None, metavar="N", help="... of each of the last N months.")
@click.option("--keep-yearly", default=None, metavar="N", help="... of each of the last N years.")
@click.option(
    "--keep-within",
    default=None,
    metavar="DURATION",
    help="Keep every snapshot within DURATION of the newest.",
)
@click.option(
    "--keep-tag", "keep_tags", multiple=True, help="Keep every snapshot with this tag (repeatable)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be removed and deleted; change nothing.")
@output_option
@audited("prune", "prune")
def prune(
    repo: RepoOptions,
    keep_last: str | None,
    keep_hourly: str | None,
    keep_daily: str | None,
    keep_weekly: str | None,
    keep_monthly: str | None,
    keep_yearly: str | None,
    keep_within: str | None,
    keep_tags: tuple[str, ...],
    dry_run: bool,
    output: str,
) -> None:
    """Forget snapshots the policy does not keep, then delete objects no snapshot needs.

    Locked objects (Object Lock retention) are never deleted: the report says when each becomes free.
    With no --keep-* option, no snapshot is forgotten; only unreferenced objects go.
    """
    policy = policy_from_options(
        keep_last=keep_last,
        keep_hourly=keep_hourly,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        keep_yearly=keep_yearly,
        keep_within=keep_within,
        keep_tags=list(keep_tags),
    )
    r = repo.open()
    now = datetime.now(UTC)
    snaps = r.snapshots()
    keep, _remove, decisions = r.retention(policy, now)
    result = r.prune(keep if not policy.is_empty() else None, dry_run=dry_run, now=now)
    note(
        dry_run=dry_run,
        deleted_snapshots=len(result.deleted_snapshots),
        deleted_packs=len(result.deleted_packs),
    )
    by_id = {s.id: s for s in snaps}
    decision_rows: list[dict[str, Any]] = [
        {
            "id": sid,
            "time": by_id[sid].time.isoformat(),
            "keep": d.keep,
            "reasons": list(d.reasons),
        }
        for sid, d in decisions.items()
    ]
    data = {
        "dry_run": dry_run,
        "policy": describe(policy),
        "snapshots": decision_rows,
        "deleted_snapshots": list(result.deleted_snapshots),
        "deleted_packs": list(result.deleted_packs),
        "deleted_indexes": list(result.deleted_indexes),
        "freed_bytes": result.freed_bytes,
        "locked": [
            {"object": o.key, "retain_until": o.retain_until.isoformat() if o.retain_until else None}
            for o in result.locked
        ],
        "next_free": result.next_free.isoformat() if result.next_free else None,
    }
    verb = "would delete" if dry_run else "deleted"
    table = [
        {
            "id": row["id"][:8],
            "time": by_id[row["id"]].time.strftime("%Y-%m-%d %H:%M"),
            "action": "keep" if row["keep"] else "remove",
            "reasons": "; ".join(row["reasons"]),
        }
        for row in decision_rows
    ]
    lines = [f"policy: {describe(policy)}", render_table(table)]
    lines.append(
        f"{verb} {len(result.deleted_snapshots)} snapshots, {len(result.deleted_packs)} packs, "
        f"{len(result.deleted_indexes)} indexes ({human_bytes(result.freed_bytes)})"
    )
    if result.locked:
        when = result.next_free.strftime("%Y-%m-%d %H:%M UTC") if result.next_free else "unknown"
        lines.append(
            f"{len(result.locked)} unreferenced objects are still locked; the first becomes free at {when}"
        )
    if result.denied:
        lines.append(f"{len(result.denied)} objects could not be deleted: this credential may not delete")
    data["denied"] = list(result.denied)
    data["leftovers_removed"] = [leftover_json(item) for item in result.discarded_leftovers]
    data["leftovers_kept_young"] = [leftover_json(item) for item in result.young_leftovers]
    data["notes"] = list(result.notes)
    if result.discarded_leftovers:
        size = human_bytes(sum(item.size for item in result.discarded_leftovers))
        lines.append(
            f"{'would remove' if dry_run else 'removed'} {len(result.discarded_leftovers)} leftovers of "
            f"interrupted writes ({size})"
        )
    if result.young_leftovers:
        lines.append(
            f"kept {len(result.young_leftovers)} leftovers younger than 1 hour "
            "(a running backup may own them)"
        )
    lines += [f"note: {n}" for n in result.notes]
    emit(data, output, text="\n".join(lines))
    if result.denied:
        raise PartialFailure(
            f"prune deleted what it could, but the store refused to delete {len(result.denied)} objects "
            f"(first: {result.denied[0]})",
            hint="run prune with the pruner credential (docs/security.md); a writer credential cannot delete",
        )
