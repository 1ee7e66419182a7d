"""Finding a snapshot by what a user types: ``latest``, a full id, or a unique prefix (4+ digits).

A snapshot whose manifest exists but cannot be read still answers to its id: addressing it raises
``VerificationFailed`` naming why (exit 13), never "no such snapshot".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.format.model import KIND_DRILL, Snapshot, UnreadableSnapshot

_log = logging.getLogger(__name__)

MIN_PREFIX: Final = 4


def find_snapshot(
    ref: str, snapshots: Sequence[Snapshot], unreadable: Sequence[UnreadableSnapshot]
) -> Snapshot:
    """The snapshot ``ref`` names among ``snapshots`` (oldest first); ``ConfigError`` when none or
    several do, ``VerificationFailed`` when it names an unreadable one."""
    if ref == "latest":  # the newest backup: a drill's record is not one
        backups = [s for s in snapshots if s.kind != KIND_DRILL]
        if unreadable:
            _log.warning(
                "%d snapshots cannot be read and are not considered for 'latest': %s",
                len(unreadable),
                ", ".join(u.id[:8] for u in unreadable),
            )
        if not backups:
            if unreadable:
                raise unreadable_error(unreadable[0])
            raise ConfigError("the repository has no snapshots yet", field="snapshot")
        return backups[-1]
    exact = [s for s in snapshots if s.id == ref]
    if exact:
        return exact[0]
    if len(ref) < MIN_PREFIX:
        raise ConfigError(
            f"snapshot id {ref!r} is too short: give at least {MIN_PREFIX} digits", field="snapshot"
        )
    matches = [s for s in snapshots if s.id.startswith(ref.lower())]
    broken = unreadable_matching(ref, unreadable)
    if len(matches) == 1 and not broken:
        return matches[0]
    if len(matches) + len(broken) > 1:
        ids = [s.short_id for s in matches] + [f"{u.id[:8]} (unreadable)" for u in broken]
        raise ConfigError(f"snapshot id {ref!r} is ambiguous: {', '.join(ids)}", field="snapshot")
    if broken:
        raise unreadable_error(broken[0])
    raise ConfigError(f"no snapshot {ref!r}", field="snapshot", hint="`drkit snapshots` lists them")


def forgettable_id(ref: str, snapshots: Sequence[Snapshot], unreadable: Sequence[UnreadableSnapshot]) -> str:
    """The id of the snapshot ``ref`` names, to forget it: like :func:`find_snapshot`, but an
    unreadable snapshot named by its id (or a unique prefix, not ``latest``) answers too: its
    manifest is the one object drkit knows of it."""
    try:
        return find_snapshot(ref, snapshots, unreadable).id
    except VerificationFailed:
        broken = unreadable_matching(ref, unreadable)
        if ref != "latest" and len(broken) == 1:
            return broken[0].id
        raise


def unreadable_matching(ref: str, unreadable: Sequence[UnreadableSnapshot]) -> list[UnreadableSnapshot]:
    """The unreadable snapshots ``ref`` names (by full id or a prefix of 4+ digits)."""
    ref = ref.lower()
    return [u for u in unreadable if u.id == ref or (len(ref) >= MIN_PREFIX and u.id.startswith(ref))]


def unreadable_error(snapshot: UnreadableSnapshot) -> VerificationFailed:
    """The error for addressing a snapshot whose manifest cannot be read (exit 13), naming why."""
    return VerificationFailed(
        f"snapshot {snapshot.id} exists but cannot be read: {snapshot.message}",
        hint="`drkit verify` checks the whole repository; restore from another snapshot",
    )
