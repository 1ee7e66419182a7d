"""Option decorators shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from drkit.cli.output import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def output_option(func: F) -> F:
    """``-o/--output table|json|yaml`` for commands that list or describe things."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format: a table for people, json or yaml for scripts.",
    )(func)
