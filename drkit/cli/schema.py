"""`drkit schema schedule|restore-plan`: print the JSON Schema of a file format."""

from __future__ import annotations

import click

from drkit.config.schemas import DOCUMENTS, json_schema_text


@click.command()
@click.argument("kind", type=click.Choice(sorted(DOCUMENTS)))
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND's files (schedules/*.yaml, restore-plans/*.yaml) on stdout.

    Editors validate with it (the copies in docs/schemas/ are the same); `drkit validate` checks what
    a schema cannot (cron expressions, time zones, repository URLs, selectors).
    """
    click.echo(json_schema_text(kind), nl=False)
