"""`drkit validate FILE...`: check schedules and restore plans (drill checks included) offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.drill.checks import message_of
from drkit.drill.validate import Validated, validate_file
from drkit.errors import ConfigError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option
def validate(files: tuple[Path, ...], output: str) -> None:
    """Check schedules and restore plans without a repository or a cluster.

    Each FILE is read as the kind its `kind:` names (Schedule or RestorePlan); a plan's drill checks
    are checked too. Every file is checked; the first problem of each is printed as file:line: field:
    message. Exits 2 when any file is invalid.
    """
    results = [validate_file(f) for f in files]
    bad = [r for r in results if not r.ok]
    if output == "table":
        for r in results:
            if r.ok:
                click.echo(f"ok       {r.file}  {r.kind} {r.name!r}: {r.detail}")
            else:
                click.echo(f"invalid  {r.file}")
        for r in bad:
            assert r.error is not None
            click.echo(f"drkit: error: {r.error}", err=True)
            if r.error.hint:
                click.echo(f"drkit: hint: {r.error.hint}", err=True)
    else:
        emit([_row(r) for r in results], output)
    if bad:
        raise ConfigError(f"{len(bad)} of {len(results)} files invalid")  # exit 2


def _row(r: Validated) -> dict[str, Any]:
    row: dict[str, Any] = {"file": r.file, "valid": r.ok, "kind": r.kind, "name": r.name}
    if r.ok:
        row["detail"] = r.detail
    else:
        err: ConfigError = r.error  # type: ignore[assignment]
        row["error"] = {
            "line": err.line,
            "field": err.field,
            "message": message_of(err),
            "hint": err.hint,
        }
    return row
