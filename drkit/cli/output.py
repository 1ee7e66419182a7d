"""Rendering of command results: a table for people, JSON or YAML for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "yaml")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "(none)"
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def emit(data: Any, fmt: str, *, columns: Sequence[str] | None = None, text: str | None = None) -> None:
    """Print ``data`` as ``fmt``. For ``table``, ``text`` (if given) is printed instead of a table."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    elif fmt == "yaml":
        import yaml  # only for -o yaml: ~15 ms of imports every other command would pay

        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    elif text is not None:
        click.echo(text)
    elif isinstance(data, list):
        click.echo(render_table(data, columns))
    elif isinstance(data, Mapping):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{str(key).ljust(width)}  {_cell(value)}")
    else:
        click.echo(str(data))
