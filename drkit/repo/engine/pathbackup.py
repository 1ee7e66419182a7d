"""Backing up one directory as a snapshot of kind ``path`` (``drkit backup path``, the volume mover).

The parent is the newest snapshot of the same host and path: files unchanged since it was made are
not read again (when the writer settings allow it and the repository can be read).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from pathlib import Path

from drkit.errors import ConfigError
from drkit.repo.engine.backup import TreeBackup
from drkit.repo.engine.progress import Progress
from drkit.repo.engine.target import SnapshotTarget
from drkit.repo.format.model import KIND_PATH, Snapshot, SnapshotStats


def backup_path(
    target: SnapshotTarget,
    source: Path,
    *,
    tags: Sequence[str] = (),
    host: str | None = None,
    progress: Progress | None = None,
) -> Snapshot:
    """Back up the directory ``source``; the snapshot exists once its manifest is written."""
    started = time.monotonic()
    source = Path(source)
    if not source.is_dir():
        raise ConfigError(f"{source} is not a directory", field="source")
    snapshots = target.known_snapshots()
    host = host or socket.gethostname()
    paths = (str(source.absolute()),)
    parent = next(
        (s for s in reversed(snapshots) if s.kind == KIND_PATH and s.host == host and s.paths == paths),
        None,
    )
    writer = target.blob_writer()
    walker = TreeBackup(writer, target.chunker_params, workers=target.settings.workers, progress=progress)
    parent_trees = None
    if parent is not None and target.settings.use_parent:
        parent_trees = target.parent_trees(parent, parent.tree)
    if progress is not None:
        progress.start("backup", None)
    try:
        result = walker.run(source, parent_trees)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if progress is not None:
            progress.done()
    snap = Snapshot(
        id="",
        time=target.now(),
        host=host,
        tags=tuple(tags),
        paths=paths,
        tree=result.tree,
        root=result.root,
        stats=SnapshotStats(
            files=result.files,
            dirs=result.dirs,
            symlinks=result.symlinks,
            bytes=result.bytes,
            new_bytes=writer.new_bytes,
            stored_bytes=writer.stored_bytes,
            new_packs=len(writer.new_packs),
            reused_files=result.reused_files,
            skipped=tuple(result.skipped),
        ),
        parent=parent.id if parent is not None else None,
    )
    return target.commit_snapshot(snap, writer, result.referenced, started)
