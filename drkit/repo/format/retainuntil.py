"""Retain-until times for objects a snapshot needs (Object Lock), rounded to a granule.

Every object a snapshot references must stay locked at least as long as the snapshot's own
manifest: ``now + retention``. Rounding that time up to a granule (a tenth of the retention period,
at most one day) lets packs written or extended within one granule share a retain-until, so an
unchanged pack is extended at most once per granule instead of at every backup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drkit.storage.base import LockMode, Retention

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_GRANULE = timedelta(days=1)


def granule(retention: timedelta) -> timedelta:
    g = min(_MAX_GRANULE, retention / 10)
    return timedelta(seconds=int(g.total_seconds()))


def lock_until(now: datetime, retention: timedelta) -> datetime:
    """``now + retention`` rounded up to the granule (never earlier than ``now + retention``)."""
    target = now.astimezone(UTC) + retention
    g = granule(retention)
    if g <= timedelta(0):
        return target.replace(microsecond=0) + (timedelta(seconds=1) if target.microsecond else timedelta(0))
    steps = -(-(target - _EPOCH) // g)
    return _EPOCH + steps * g


def retention_at(mode: LockMode | None, retention: timedelta, now: datetime) -> Retention | None:
    """The Retention to put a new object with, or ``None`` when the repository does not lock."""
    if mode is None or retention <= timedelta(0):
        return None
    return Retention(mode, lock_until(now, retention))
