"""Commands whose issues have not landed yet: they exist, are listed, and say so with exit code 3."""

from __future__ import annotations

from typing import Any

import click

from drkit.errors import NotImplementedYet

# name -> (help, what will implement it)
PLANNED: dict[str, tuple[str, str]] = {}  # every planned group has landed


def placeholder(name: str) -> click.Command:
    """A group that accepts any arguments and fails with ``NotImplementedYet``."""
    help_text, by = PLANNED[name]

    @click.command(
        name,
        help=f"{help_text}\n\nNot implemented yet (exit code 3).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=True,
    )
    def command(**_: Any) -> None:
        raise NotImplementedYet(f"'drkit {name}' is not implemented yet; it arrives with {by}")

    return command
