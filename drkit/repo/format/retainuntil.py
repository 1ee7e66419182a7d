"""Retain-until times for objects a snapshot needs (Object Lock), rounded to a granule.

Every object a snapshot references must stay locked at least as long as the snapshot's own
manifest: ``now + retention``. Rounding that time up to a granule (a tenth of the retention period,
at most one day) lets packs written or extended within one granule share a retain-until, so an
unchanged pack is extended at most once per granule instead of at every backup.

A handle may write with a stricter lock than the repository's own (:func:`stricter_lock`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drkit.errors import ConfigError
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


def stricter_lock(
    base: LockMode | None, retention: timedelta, mode: LockMode | None, period: timedelta | None
) -> tuple[LockMode | None, timedelta]:
    """The lock mode and period to write with instead of the repository's ``base`` and ``retention``
    (a schedule's ``spec.lock``): only as strict or stricter, ``ConfigError`` otherwise. COMPLIANCE
    may replace GOVERNANCE, never the reverse; a repository without Object Lock cannot be given one."""
    if mode is not None and base is None:
        raise ConfigError(
            f"lock mode {mode.value}: this repository was created without Object Lock",
            field="lock.mode",
            hint="lock it from the start: drkit repo init --lock-mode compliance",
        )
    if mode is LockMode.GOVERNANCE and base is LockMode.COMPLIANCE:
        raise ConfigError(
            "lock mode governance is weaker than the repository's compliance: refused",
            field="lock.mode",
            hint="leave the mode out to use the repository's",
        )
    if period is not None:
        if period <= timedelta(0):
            raise ConfigError("the lock period must be longer than 0", field="lock.period")
        if (mode or base) is None:
            raise ConfigError(
                "a lock period needs Object Lock, and this repository was created without it",
                field="lock.period",
            )
    return (mode or base, period if period is not None else retention)
