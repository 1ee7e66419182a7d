"""`drkit forget SNAPSHOT...`: remove chosen snapshots, as `prune` removes what a policy does not keep."""

from __future__ import annotations

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.render import plural
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import PartialFailure
from drkit.repo.format.layout import name_of_key


@click.command()
@click.argument("snapshots", nargs=-1, required=True, metavar="SNAPSHOT...")
@repo_options
@click.option("--dry-run", is_flag=True, help="Show which snapshots would be forgotten; change nothing.")
@output_option
@audited("forget", "forget")
def forget(snapshots: tuple[str, ...], repo: RepoOptions, dry_run: bool, output: str) -> None:
    """Forget SNAPSHOT... (ids, unique prefixes or 'latest'): delete their manifests.

    A snapshot whose manifest is still under Object Lock is not forgotten: the report says until when
    (exit 1). The data the forgotten snapshots alone used stays until `drkit prune` deletes what no
    snapshot needs. Recorded in the audit log (not with --dry-run).
    """
    r = repo.open()
    result = r.forget(list(snapshots), dry_run=dry_run)
    locked = {name_of_key(key): until for key, until in result.locked}
    denied = [name_of_key(key) for key in result.denied]
    note(forgotten=[s[:8] for s in result.deleted], locked=[s[:8] for s in locked], denied=len(denied))
    data = {
        "dry_run": dry_run,
        "forgotten": list(result.deleted),
        "locked": [
            {"id": sid, "retain_until": until.isoformat() if until else None} for sid, until in locked.items()
        ],
        "denied": denied,
    }
    verb = "would forget" if dry_run else "forgot"
    lines = [f"{verb} {sid[:8]}" for sid in result.deleted]
    lines += [
        f"locked {sid[:8]}: under Object Lock until {until.strftime('%Y-%m-%d %H:%M UTC') if until else '?'}"
        for sid, until in locked.items()
    ]
    lines += [f"denied {sid[:8]}: this credential may not delete it" for sid in denied]
    lines.append(
        f"{verb} {plural(len(result.deleted), 'snapshot')}; `drkit prune` frees the data no snapshot needs"
    )
    emit(data, output, text="\n".join(lines))
    if locked or denied:
        hints = []
        if locked:
            hints.append("a locked snapshot can be forgotten once its retention has passed")
        if denied:
            hints.append("forget with the pruner credential (docs/security.md)")
        raise PartialFailure(
            f"{plural(len(locked) + len(denied), 'snapshot')} not forgotten (listed above)",
            hint="; ".join(hints),
        )
