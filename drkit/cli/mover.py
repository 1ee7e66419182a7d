"""`drkit mover`: the data mover that runs inside a mover Job (docs/volumes.md).

    drkit mover backup --source /data --repo-config /etc/drkit/repo --path volumes/shop/data \\
        --host pvc:shop/data --tag drkit.io/snapshot=r1a2b3 --result-file /dev/termination-log
    drkit mover restore --snapshot ID --path volumes/shop/data --target /data --repo-config /etc/drkit/repo

The repository settings come from files in ``--repo-config`` (a Secret mounted as a directory), never
from environment variables: ``url`` (required), ``password`` or ``keyfile``, optional ``write-only``
(any content: open with a write-only key slot), ``s3-endpoint``, ``s3-region``, ``s3-ca.pem``,
``s3-path-style`` (true/false), ``aws-access-key-id`` + ``aws-secret-access-key`` (+
``aws-session-token`` for temporary credentials, e.g. STS).

Both commands print one JSON line (their result) on stdout and write it to ``--result-file`` (the
Job's termination message), also when they fail (then with ``error``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from drkit.errors import ConfigError, DrkitError
from drkit.repo.format.model import KIND_VOLUME
from drkit.secret import Secret

_TRUE = ("1", "true", "yes", "on")


def _read(directory: Path, name: str) -> str | None:
    path = directory / name
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", file=str(path)) from None


def open_repo_config(directory: Path) -> Any:
    """The repository ``directory``'s files describe (see the module's docstring)."""
    from drkit.repo.format.keyslots import Credential
    from drkit.repo.repository import Repository
    from drkit.storage.options import S3Options
    from drkit.storage.url import open_store

    if not directory.is_dir():
        raise ConfigError(f"--repo-config {directory} is not a directory", field="repo-config")
    url = _read(directory, "url")
    if not url:
        raise ConfigError("the repository config has no 'url' file", file=str(directory), field="url")
    password = directory / "password"
    keyfile = directory / "keyfile"
    credential = Credential.from_env_and_options(
        password if password.is_file() else None, keyfile if keyfile.is_file() else None, env={}
    )
    access, secret = _read(directory, "aws-access-key-id"), _read(directory, "aws-secret-access-key")
    token = _read(directory, "aws-session-token")
    path_style = _read(directory, "s3-path-style")
    ca = directory / "s3-ca.pem"
    s3 = S3Options(
        endpoint=_read(directory, "s3-endpoint"),
        region=_read(directory, "s3-region"),
        path_style=None if path_style is None else path_style.lower() in _TRUE,
        ca_bundle=ca if ca.is_file() else None,
        access_key=access,
        secret_key=Secret(secret) if secret is not None else None,
        session_token=Secret(token) if token is not None else None,
    )
    store = open_store(url, s3 if s3.set_fields() else None)
    if (directory / "write-only").is_file():
        return Repository.open_writer(store, credential)
    return Repository.open(store, credential)


def _report(result: dict[str, Any], result_file: Path | None) -> None:
    from drkit.capture.movers import result_text

    text = result_text(result)
    click.echo(text)
    if result_file is not None:
        try:
            result_file.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            click.echo(f"drkit: warning: cannot write the result to {result_file}: {exc}", err=True)


_repo_config = click.option(
    "--repo-config",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of repository settings files (a mounted Secret).",
)
_result_file = click.option(
    "--result-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON result here (the Job's /dev/termination-log).",
)
_path = click.option(
    "--path",
    "snap_path",
    default="data",
    show_default=True,
    help="Path of the volume inside the snapshot (volumes/<ns>/<pvc> in Jobs).",
)


@click.group()
def mover() -> None:
    """The data mover run by mover Jobs: copy a volume into or out of the repository."""


@mover.command("backup")
@click.option(
    "--source", required=True, type=click.Path(file_okay=False, path_type=Path), help="Volume mount."
)
@_repo_config
@_path
@click.option("--host", help="Series of the snapshot (pvc:<ns>/<pvc>); its newest is the incremental parent.")
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@_result_file
def mover_backup(
    source: Path,
    repo_config: Path,
    snap_path: str,
    host: str | None,
    tags: tuple[str, ...],
    result_file: Path | None,
) -> None:
    """Back up SOURCE into a new snapshot of kind "volume"."""
    from drkit.repo.engine.backup import unreadable

    started = time.monotonic()
    result: dict[str, Any] = {"op": "backup", "path": snap_path}
    try:
        repo = open_repo_config(repo_config)
        with repo.new_snapshot(kind=KIND_VOLUME, tags=tags, host=host) as snap:
            snap.add_directory(snap_path, source)
        st = snap.snapshot.stats
        result |= {
            "snapshot": snap.snapshot.id,
            "files": st.files,
            "dirs": st.dirs,
            "bytes": st.bytes,
            "newBytes": st.new_bytes,
            "storedBytes": st.stored_bytes,
            "reusedFiles": st.reused_files,
            "skipped": list(st.skipped[:10]),
            "skippedCount": len(st.skipped),
            # data the snapshot lacks: the orchestrator fails the volume on these (docs/volumes.md)
            "unreadable": unreadable(st.skipped)[:5],
            "unreadableCount": len(unreadable(st.skipped)),
            "parent": snap.snapshot.parent,
        }
    except DrkitError as exc:
        result["error"] = str(exc)
        result["durationS"] = round(time.monotonic() - started, 3)
        _report(result, result_file)
        raise
    result["durationS"] = round(time.monotonic() - started, 3)
    _report(result, result_file)


@mover.command("restore")
@click.option("--snapshot", "snapshot_id", required=True, help="The volume snapshot (id or unique prefix).")
@click.option(
    "--target", required=True, type=click.Path(file_okay=False, path_type=Path), help="Volume mount."
)
@_repo_config
@_path
@_result_file
def mover_restore(
    snapshot_id: str, target: Path, repo_config: Path, snap_path: str, result_file: Path | None
) -> None:
    """Restore the volume at --path of SNAPSHOT into TARGET (the new, empty claim)."""
    started = time.monotonic()
    result: dict[str, Any] = {"op": "restore", "snapshot": snapshot_id, "path": snap_path}
    try:
        repo = open_repo_config(repo_config)
        target.mkdir(parents=True, exist_ok=True)
        stats = repo.restore_path(snapshot_id, target, subpath=snap_path)
        result |= {"files": stats.files, "dirs": stats.dirs, "bytes": stats.bytes, "symlinks": stats.symlinks}
    except DrkitError as exc:
        result["error"] = str(exc)
        result["durationS"] = round(time.monotonic() - started, 3)
        _report(result, result_file)
        raise
    result["durationS"] = round(time.monotonic() - started, 3)
    _report(result, result_file)
