"""Turning domain objects into rows and text for the commands' output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a backup loads the model while its key is derived (drkit.cli.repoopts)
    from drkit.repo.format.model import Snapshot, UnreadableSnapshot
    from drkit.storage.base import Leftover


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def duration_text(seconds: float | None) -> str:
    """``42.1s``, ``3m05s``, ``1h02m``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def plural(n: int, noun: str) -> str:
    """``1 volume``, ``2 volumes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def snapshot_row(snap: Snapshot) -> dict[str, Any]:
    st = snap.stats
    return {
        "id": snap.id,
        "short_id": snap.short_id,
        "kind": snap.kind,
        "time": snap.time.isoformat(),
        "host": snap.host,
        "tags": list(snap.tags),
        "paths": list(snap.paths),
        "parent": snap.parent,
        "retain_until": snap.retain_until.isoformat() if snap.retain_until else None,
        "files": st.files,
        "dirs": st.dirs,
        "bytes": st.bytes,
        "new_bytes": st.new_bytes,
        "stored_bytes": st.stored_bytes,
        "duration_s": round(st.duration_s, 3),
        "skipped": list(st.skipped),
        "meta": snap.meta,
    }


def unreadable_row(snap: UnreadableSnapshot) -> dict[str, Any]:
    """An unreadable snapshot in a listing's ``-o json``: its id, object and why, ``unreadable: true``."""
    return {
        "id": snap.id,
        "short_id": snap.id[:8],
        "unreadable": True,
        "object": snap.object,
        "error": snap.message,
    }


def unreadable_lines(snaps: list[UnreadableSnapshot]) -> list[str]:
    """One line per unreadable snapshot, for a listing's table output."""
    return [f"UNREADABLE {s.id[:8]}  {s.object}: {s.message}" for s in snaps]


LEFTOVERS_SHOWN = 10


def leftover_json(item: Leftover) -> dict[str, Any]:
    """A leftover of an interrupted write (temporary file, incomplete multipart upload) for -o json."""
    return {
        "name": item.name,
        "size": item.size,
        "started": item.started.isoformat(),
        "upload_id": item.upload_id,
    }
