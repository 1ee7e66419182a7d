"""`drkit snapshots`: list the snapshots of a repository."""

from __future__ import annotations

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.render import human_bytes, snapshot_row, unreadable_lines, unreadable_row
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import VerificationFailed
from drkit.repo.format.model import SNAPSHOT_KINDS


@click.command()
@repo_options
@click.option("--tag", "tags", multiple=True, help="Only snapshots with this tag (repeatable: any of them).")
@click.option("--host", help="Only snapshots of this host.")
@click.option("--kind", type=click.Choice(SNAPSHOT_KINDS), help="Only snapshots of this kind.")
@output_option
def snapshots(
    repo: RepoOptions, tags: tuple[str, ...], host: str | None, kind: str | None, output: str
) -> None:
    """List the snapshots in a repository, oldest first.

    A snapshot whose manifest exists but cannot be read is listed as unreadable (whatever the filters:
    they cannot be applied to it), and the command exits 13.
    """
    r = repo.open()
    chosen = [
        s
        for s in r.snapshots()
        if (not tags or set(tags) & set(s.tags))
        and (host is None or s.host == host)
        and (kind is None or s.kind == kind)
    ]
    rows = [snapshot_row(s) for s in chosen]
    table = [
        {
            "id": s.short_id,
            "time": s.time.strftime("%Y-%m-%d %H:%M:%S"),
            "kind": s.kind,
            "host": s.host,
            "tags": ",".join(s.tags),
            "paths": ",".join(s.paths),
            "size": human_bytes(s.stats.bytes),
            "locked until": s.retain_until.strftime("%Y-%m-%d") if s.retain_until else "",
        }
        for s in chosen
    ]
    unreadable = r.unreadable_snapshots()
    text = render_table(table) + f"\n{len(rows)} snapshots"
    if unreadable:
        text += "\n" + "\n".join(unreadable_lines(unreadable))
        text += f"\n{len(unreadable)} snapshots cannot be read"
    emit(rows + [unreadable_row(u) for u in unreadable], output, text=text)
    if unreadable:
        first = unreadable[0]
        raise VerificationFailed(
            f"{len(unreadable)} snapshots exist but cannot be read (first: {first.object}: {first.message})",
            hint="`drkit verify` checks the whole repository",
        )
