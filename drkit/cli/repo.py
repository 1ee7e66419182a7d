"""`drkit repo`: create and inspect repositories; manage key slots."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.config.durations import format_duration, parse_duration
from drkit.config.limits import MIN_LOCK_RETENTION
from drkit.errors import ConfigError
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential, KeySlotInfo, generate_keyfile
from drkit.repo.format.repoconfig import DEFAULT_COMPRESSION, compression_level
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.base import LockMode


@click.group()
def repo() -> None:
    """Create and inspect repositories; manage key slots."""


def write_new_keyfile(path: Path) -> Credential:
    """Write a new random key file (0600; refuses to overwrite) and return it as a credential."""
    data = generate_keyfile()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path} exists; a key file is never overwritten", field="--generate-key-file"
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Credential(keyfile=Secret(data))


def _slot_row(slot: KeySlotInfo, current: str | None) -> dict[str, Any]:
    return {
        "id": slot.slot_id,
        "kind": slot.kind,
        "role": slot.role,
        "label": slot.label,
        "created": slot.created.isoformat(),
        "host": slot.host,
        "user": slot.user,
        "current": slot.slot_id == current,
    }


def _retention(text: str, lock_mode: str | None, no_lock: bool) -> timedelta:
    """The ``--retention`` of ``repo init``, in range: a lock shorter than a day (``0s`` wrote objects
    with no lock at all) is refused unless the repository is explicitly created without locks."""
    if no_lock and lock_mode not in (None, "none"):
        raise ConfigError(f"--no-lock contradicts --lock-mode {lock_mode}", field="--no-lock")
    period = parse_duration(text, "--retention")
    unlocked = no_lock or lock_mode == "none"
    if period < MIN_LOCK_RETENTION and not unlocked:
        shortest = format_duration(MIN_LOCK_RETENTION)
        raise ConfigError(
            f"a retention of {format_duration(period)} is shorter than {shortest}: "
            "objects would be unlocked (or locked for nothing)",
            field="--retention",
            hint=f"give a retention of at least {shortest}, or --no-lock for a repository without locks",
        )
    return period


@repo.command()
@repo_options
@click.option(
    "--lock-mode",
    type=click.Choice(["compliance", "governance", "none"]),
    default=None,
    help="Object Lock mode of every object written (default: compliance where the store supports it). "
    "COMPLIANCE cannot be lifted or shortened by anyone before it expires; GOVERNANCE can be bypassed by an "
    "admin credential (and, on MinIO, shortened by any credential allowed PutObjectRetention).",
)
@click.option(
    "--no-lock",
    is_flag=True,
    help="Create a repository whose objects are not locked at all (the same as --lock-mode none).",
)
@click.option(
    "--retention",
    default="30d",
    show_default=True,
    help="How long each object stays locked (30d, 12w, 1y; from 1d to 100y).",
)
@click.option(
    "--generate-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new random key file here (mode 0600) and make it the first key slot.",
)
@click.option("--label", default="initial", show_default=True, help="Label of the first key slot.")
@click.option(
    "--compression",
    default=DEFAULT_COMPRESSION,
    show_default=True,
    metavar="zstd-N|none",
    help="How writers compress chunks: zstd level 1..19 (1: fastest; chunks that do not shrink are "
    "stored raw either way), or none (the fastest backups, the largest repository).",
)
@output_option
def init(
    repo: RepoOptions,
    lock_mode: str | None,
    no_lock: bool,
    retention: str,
    generate_key_file: Path | None,
    label: str,
    compression: str,
    output: str,
) -> None:
    """Create a new, empty repository."""
    period = _retention(retention, lock_mode, no_lock)
    compression_level(compression)  # checked before anything is created
    store = repo.store()
    if no_lock:
        mode: LockMode | None = None
    elif lock_mode is None:
        mode = LockMode.COMPLIANCE if store.supports_object_lock else None
    else:
        mode = None if lock_mode == "none" else LockMode(lock_mode)
    credential = write_new_keyfile(generate_key_file) if generate_key_file else repo.credential(confirm=True)
    created = Repository.init(
        store, credential, lock_mode=mode, retention=period, label=label, compression=compression
    )
    data = {
        "id": created.config.id,
        "url": repo.shown(),
        "lock_mode": mode.value if mode else "none",
        "retention": format_duration(period),
        "compression": compression,
        "key_slot": created.slot_id,
    }
    text = (
        f"created repository {data['id']} at {data['url']}\n"
        f"  objects locked: {data['lock_mode']} for {data['retention']}; compression {compression}\n"
        f"  key slot {created.slot_id} ({label})"
        + (
            f"; key file written to {generate_key_file} (keep a copy somewhere safe)"
            if generate_key_file
            else ""
        )
    )
    emit(data, output, text=text)


@repo.command()
@repo_options
@output_option
def info(repo: RepoOptions, output: str) -> None:
    """Describe a repository: settings, sizes, key slots."""
    r = repo.open()
    i = r.info()
    data = {
        "id": i.id,
        "url": i.url,
        "format_version": i.version,
        "lock_mode": i.lock_mode.value if i.lock_mode else "none",
        "retention": format_duration(i.retention),
        "snapshots": i.snapshot_count,
        "unreadable_snapshots": len(r.unreadable_snapshots()),
        "packs": i.pack_count,
        "indexes": i.index_count,
        "pack_bytes": i.pack_bytes,
        "key_slots": len(i.key_slots),
        "chunker": i.chunker,
    }
    emit(data, output)


@repo.group()
def key() -> None:
    """Manage the key slots that open the repository's master key."""


@key.command("list")
@repo_options
@output_option
def key_list(repo: RepoOptions, output: str) -> None:
    """List key slots (no secrets: ids, kinds, labels)."""
    r = repo.open()
    rows = [_slot_row(s, r.slot_id) for s in KeyRing(r.store).list()]
    emit(rows, output, columns=["id", "kind", "role", "label", "created", "user", "current"])


@key.command("add")
@repo_options
@click.option("--label", required=True, help="What this slot is for (a person, a CI job, a vault).")
@click.option(
    "--new-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The new slot opens with the passphrase in this file.",
)
@click.option(
    "--new-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The new slot opens with this existing key file.",
)
@click.option(
    "--generate-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new random key file here (0600) for the new slot.",
)
@click.option(
    "--writer",
    is_flag=True,
    help="A write-only slot: it can back up (with --write-only) but opens no data, so a compromised "
    "cluster holding it cannot read past backups.",
)
@output_option
@audited("key-change", "repo key add")
def key_add(
    repo: RepoOptions,
    label: str,
    new_password_file: Path | None,
    new_key_file: Path | None,
    generate_key_file: Path | None,
    writer: bool,
    output: str,
) -> None:
    """Add a key slot (rotation: add the new one, then remove the old one)."""
    given = [o for o in (new_password_file, new_key_file, generate_key_file) if o is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --new-password-file, --new-key-file, --generate-key-file")
    r = repo.open()
    if generate_key_file is not None:
        new = write_new_keyfile(generate_key_file)
    else:
        new = Credential.from_env_and_options(new_password_file, new_key_file, env={})
    ring = KeyRing(r.store)
    slot = ring.add_writer(r.key.writer_key(), new, label) if writer else ring.add(r.key, new, label)
    note(added=slot.slot_id, label=label)
    emit(_slot_row(slot, r.slot_id), output, text=f"added key slot {slot.slot_id} ({slot.kind}, {label})")


@key.command("remove")
@repo_options
@click.argument("slot")
@click.option("--force", is_flag=True, help="Also remove the slot this command was opened with.")
@click.option("--dry-run", is_flag=True, help="Say which slot would be removed; remove nothing.")
@output_option
@audited("key-change", "repo key remove")
def key_remove(repo: RepoOptions, slot: str, force: bool, dry_run: bool, output: str) -> None:
    """Remove key slot SLOT (an id or unique prefix). The last master slot is never removed."""
    r = repo.open()
    ring = KeyRing(r.store)
    full = ring.resolve(slot)
    note(removed=full, dry_run=dry_run)
    info_ = next((s for s in ring.list() if s.slot_id == full), None)
    if dry_run:
        emit({"would_remove": full, "dry_run": True}, output, text=f"would remove key slot {full} (dry run)")
        return
    ring.remove(full, current_slot=r.slot_id, force=force)
    label = f" ({info_.label})" if info_ else ""
    emit({"removed": full, "dry_run": False}, output, text=f"removed key slot {full}{label}")
