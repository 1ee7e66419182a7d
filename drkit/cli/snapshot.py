"""`drkit snapshot`: look inside one snapshot; export it for other tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.repoopts import RepoOptions, repo_options


@click.group()
def snapshot() -> None:
    """Look inside one snapshot, or export it (e.g. for Velero)."""


@snapshot.command("show")
@click.argument("ref", metavar="SNAPSHOT")
@repo_options
@output_option
def show(ref: str, repo: RepoOptions, output: str) -> None:
    """Describe SNAPSHOT (an id, a unique prefix or 'latest'): what was captured (etcd revision and
    HashKV, resources by type, each volume), its lock, parent, who wrote it, and its verification and
    drills. -o json/yaml give the same page for scripts."""
    from drkit.cli.describe import describe_text
    from drkit.drill.describe import describe_snapshot

    page = describe_snapshot(repo.open(), ref)
    emit(page, output, text=describe_text(page))


@snapshot.command("ls")
@click.argument("ref", metavar="SNAPSHOT")
@click.argument("prefix", default="")
@repo_options
@output_option
def ls(ref: str, prefix: str, repo: RepoOptions, output: str) -> None:
    """List the entries of SNAPSHOT under PREFIX (a directory inside it)."""
    reader = repo.open().snapshot_reader(ref)
    rows: list[dict[str, Any]] = [
        {"path": e.path, "type": str(e.type), "size": e.size, "mode": f"{e.mode:o}"}
        for e in reader.list(prefix)
    ]
    emit(rows, output, text=render_table(rows, ["type", "mode", "size", "path"]))


@snapshot.command("export")
@click.argument("ref", metavar="SNAPSHOT")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["velero-tar"]),
    default="velero-tar",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--file",
    "-f",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the archive ('-' for stdout). An existing file is not overwritten.",
)
@repo_options
def export(ref: str, fmt: str, out: Path, repo: RepoOptions) -> None:
    """Export the resources of cluster SNAPSHOT in Velero's backup layout (a .tar.gz)."""
    from drkit.capture.stored import stored_objects
    from drkit.capture.velero import VeleroMetadata, write_velero_tar
    from drkit.errors import ConfigError

    reader = repo.open().snapshot_reader(ref)
    meta = VeleroMetadata(created=reader.snapshot.time)
    if str(out) == "-":
        stats = write_velero_tar(stored_objects(reader), sys.stdout.buffer, meta)
    else:
        if out.exists():
            raise ConfigError(f"{out} exists; choose another file", field="--file")
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("xb") as f:
                stats = write_velero_tar(stored_objects(reader), f, meta)
            partial.rename(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    click.echo(f"exported {stats.objects} objects of snapshot {reader.snapshot.short_id} as {fmt}", err=True)
