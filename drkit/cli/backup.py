"""`drkit backup`: back up a file tree (and, with the capture issues, a cluster)."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.progress import make_progress
from drkit.cli.render import human_bytes, snapshot_row
from drkit.cli.repoopts import RepoOptions, repo_options


@click.group()
def backup() -> None:
    """Back up a cluster (etcd, resources, volumes) or a path."""


@backup.command("path")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@repo_options
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option("--host", help="Host name recorded in the snapshot (default: this machine's).")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@output_option
def backup_path(
    directory: Path,
    repo: RepoOptions,
    tags: tuple[str, ...],
    host: str | None,
    progress: bool | None,
    output: str,
) -> None:
    """Back up the file tree DIRECTORY into a new snapshot."""
    r = repo.open()
    snap = r.backup_path(directory, tags=tags, host=host, progress=make_progress(progress))
    st = snap.stats
    row = snapshot_row(snap)
    text = (
        f"snapshot {snap.short_id} saved: {st.files} files, {st.dirs} dirs, {human_bytes(st.bytes)} "
        f"({human_bytes(st.new_bytes)} new, {human_bytes(st.stored_bytes)} stored, {st.new_packs} new packs) "
        f"in {st.duration_s:.1f}s"
    )
    if st.skipped:
        text += "\nskipped (special files): " + ", ".join(st.skipped[:20])
        if len(st.skipped) > 20:
            text += f" and {len(st.skipped) - 20} more"
    emit(row, output, text=text)
