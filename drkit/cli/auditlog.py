"""`drkit audit`: list the repository's audit log (``drkit.cli.audit`` records the commands in it)."""

from __future__ import annotations

from typing import Any

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import VerificationFailed
from drkit.repo.format import audit as audit_log


@click.command("audit")
@repo_options
@click.option(
    "--action", "actions", multiple=True, type=click.Choice(audit_log.ACTIONS), help="Only these actions."
)
@click.option("--last", type=click.IntRange(min=1), help="Only the newest N records.")
@output_option
def audit(repo: RepoOptions, actions: tuple[str, ...], last: int | None, output: str) -> None:
    """List the audit log: who backed up, restored, pruned or changed keys, when, and how it went.

    Every record's signature is checked; records that fail are listed as problems (exit code of a
    failed verification), never as entries.
    """
    r = repo.open()
    found = audit_log.list_records(r)
    chosen = [rec for rec in found.records if not actions or rec.action in actions]
    if last is not None:
        chosen = chosen[-last:]
    data = {
        "records": [rec.to_json() for rec in chosen],
        "problems": [{"key": p.key, "message": p.message} for p in found.problems],
    }
    table = [
        {
            "time": rec.time.strftime("%Y-%m-%d %H:%M:%S"),
            "action": rec.action,
            "command": rec.command,
            "result": rec.result,
            "user": f"{rec.actor.user}@{rec.actor.host}",
            "identity": rec.actor.identity or "",
            "detail": _short(rec.detail),
        }
        for rec in chosen
    ]
    lines = [render_table(table), f"{len(chosen)} records"]
    lines += [f"PROBLEM {p.key}: {p.message}" for p in found.problems]
    emit(data, output, text="\n".join(lines))
    if found.problems:
        raise VerificationFailed(
            f"{len(found.problems)} audit records fail verification (listed above)",
            hint="they were altered or planted; the locked originals, if any, are listed as records",
        )


def _short(detail: Any) -> str:
    text = ", ".join(f"{k}={v}" for k, v in dict(detail).items())
    return text if len(text) <= 80 else text[:77] + "..."
