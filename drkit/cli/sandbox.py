"""`drkit sandbox`: a local control plane (and MinIO) to try drkit without a cluster."""

from __future__ import annotations

import click

from drkit.errors import NotImplementedYet


@click.group()
def sandbox() -> None:
    """Start, inspect and stop a local sandbox cluster."""


@sandbox.command()
def up() -> None:
    """Start the sandbox."""
    raise NotImplementedYet("sandbox up is being built")
