"""`drkit restore`: restore file trees (and, with the restore issue, resources and etcd)."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.progress import make_progress
from drkit.cli.render import human_bytes
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import ConfigError


@click.group()
def restore() -> None:
    """Restore resources, etcd or volume data from a snapshot."""


@restore.command("path")
@click.argument("source", metavar="SNAPSHOT[:SUBPATH]")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@repo_options
@click.option(
    "--force",
    is_flag=True,
    help="Restore into a directory that is not empty (existing files may be replaced).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@output_option
def restore_path(
    source: str, target: Path, repo: RepoOptions, force: bool, progress: bool | None, output: str
) -> None:
    """Restore SNAPSHOT (an id, a unique prefix or 'latest'), or SUBPATH of it, into TARGET."""
    snapshot, _, subpath = source.partition(":")
    if not snapshot:
        raise ConfigError("no snapshot given before ':'", field="SNAPSHOT")
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty",
            field="TARGET",
            hint="restore into a new or empty directory, or pass --force",
        )
    r = repo.open()
    stats = r.restore_path(snapshot, target, subpath=subpath.strip("/"), progress=make_progress(progress))
    data = {
        "snapshot": r.find_snapshot(snapshot).id,
        "subpath": subpath,
        "target": str(target),
        "files": stats.files,
        "dirs": stats.dirs,
        "symlinks": stats.symlinks,
        "bytes": stats.bytes,
        "packs_read": stats.packs_read,
        "duration_s": round(stats.duration_s, 3),
    }
    text = (
        f"restored {stats.files} files, {stats.dirs} dirs, {stats.symlinks} symlinks, "
        f"{human_bytes(stats.bytes)} into {target} in {stats.duration_s:.1f}s"
    )
    emit(data, output, text=text)
