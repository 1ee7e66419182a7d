"""Retention: which snapshots a policy keeps, and why. A pure function: no I/O, no clock.

The rules follow restic's ``forget`` semantics (documented in ``docs/retention.md``):

- Snapshots are ordered newest first (ties on time broken by id, ascending), so the result never
  depends on the order of the input.
- ``last N`` keeps the N newest snapshots.
- ``hourly/daily/weekly/monthly/yearly N`` walk the snapshots newest first and keep the newest
  snapshot of each calendar bucket (hour, day, ISO week, month, year, in ``tz``, UTC by default)
  until N buckets have been kept. Only buckets that contain a snapshot count. ``-1``
  (:data:`UNLIMITED`) means every bucket.
- If a bucket rule still has count left when it reaches the oldest snapshot, that snapshot is kept
  too, marked ``oldest`` (restic >= 0.17): a young repository keeps its first backup.
- ``within D`` keeps every snapshot newer than ``D`` before the newest snapshot (not before ``now``:
  if backups stop, ``within`` alone never lets the last good snapshots age out).
- ``keep_tags`` keeps every snapshot carrying at least one of the tags.
- A snapshot newer than ``now`` is kept with the reason ``in the future`` and takes no part in the
  other rules (a clock-skewed or forged snapshot must not push real ones out of their buckets).
- A snapshot is kept if any rule keeps it; its decision lists every rule that did.

An empty policy keeps everything (reason ``no policy``): forgetting every snapshot is never the
result of a missing option. A caller that wants to be told instead (``prune`` with no ``--keep-*``
option) passes ``refuse_empty=True`` and gets a :class:`~drkit.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol, TypeVar

from drkit.config.durations import format_duration, parse_duration
from drkit.config.limits import MAX_KEEP_COUNT
from drkit.errors import ConfigError
from drkit.repo.format.model import Snapshot

UNLIMITED = -1
"""A count that keeps every bucket (restic's ``unlimited``)."""

_COUNT_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


class SnapshotLike(Protocol):
    """What retention needs to know about a snapshot. ``time`` must be timezone-aware."""

    @property
    def id(self) -> str: ...

    @property
    def time(self) -> datetime: ...

    @property
    def tags(self) -> Sequence[str]: ...


S = TypeVar("S", bound=SnapshotLike)


@dataclass(frozen=True)
class Policy:
    """Which snapshots to keep. Counts are ``>= 0`` or :data:`UNLIMITED`; zero disables a rule."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    keep_tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in _COUNT_RULES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
                raise ConfigError(
                    f"expected a count >= 0 or 'unlimited', got {value!r}",
                    field=f"keep-{name}",
                )
            if value > MAX_KEEP_COUNT:
                raise ConfigError(
                    f"a count must be at most {MAX_KEEP_COUNT}, got {value}",
                    field=f"keep-{name}",
                    hint="write 'unlimited' to keep every one",
                )
        if self.within is not None and self.within < timedelta(0):
            raise ConfigError(f"a duration cannot be negative: {self.within}", field="keep-within")
        tags = self.keep_tags
        if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
            raise ConfigError(f"expected a set of non-empty tags, got {tags!r}", field="keep-tag")
        object.__setattr__(self, "keep_tags", frozenset(tags))

    def is_empty(self) -> bool:
        """True when no rule is set: such a policy would keep nothing if applied literally."""
        return (
            all(getattr(self, name) == 0 for name in _COUNT_RULES) and not self.within and not self.keep_tags
        )


@dataclass(frozen=True)
class Decision:
    """The verdict on one snapshot. ``reasons`` is empty exactly when ``keep`` is false."""

    snapshot_id: str
    keep: bool
    reasons: tuple[str, ...]


def _hour(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:00")


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _week(t: datetime) -> str:
    iso = t.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _month(t: datetime) -> str:
    return t.strftime("%Y-%m")


def _year(t: datetime) -> str:
    return f"{t.year:04d}"


_BUCKETS: tuple[tuple[str, Callable[[datetime], str]], ...] = (
    ("hourly", _hour),
    ("daily", _day),
    ("weekly", _week),
    ("monthly", _month),
    ("yearly", _year),
)


def _ordered(snapshots: Sequence[SnapshotLike]) -> list[SnapshotLike]:
    seen: set[str] = set()
    for snap in snapshots:
        if snap.id in seen:
            raise ValueError(f"snapshot id {snap.id!r} appears twice")
        seen.add(snap.id)
        if snap.time.tzinfo is None or snap.time.utcoffset() is None:
            raise ValueError(f"snapshot {snap.id} has a naive timestamp {snap.time.isoformat()}")
    by_id = sorted(snapshots, key=lambda s: s.id)
    return sorted(by_id, key=lambda s: s.time, reverse=True)  # stable: equal times stay by id


def apply_policy(
    snapshots: Sequence[SnapshotLike],
    policy: Policy,
    now: datetime,
    *,
    tz: tzinfo = UTC,
    refuse_empty: bool = False,
) -> tuple[list[str], list[str], dict[str, Decision]]:
    """Apply ``policy`` to ``snapshots`` as of ``now``.

    Returns the ids to keep (newest first), the ids to remove (newest first) and a decision for
    every snapshot (in the same newest-first order). Calendar buckets are computed in ``tz``.
    An empty policy keeps everything, unless ``refuse_empty`` is set: then it raises
    :class:`~drkit.errors.ConfigError`. Naive datetimes and duplicate ids raise ``ValueError``
    (programming errors: snapshots always carry an aware time and a unique id).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    if policy.is_empty() and refuse_empty:
        raise ConfigError(
            "an empty policy would remove every snapshot",
            field="policy",
            hint="give at least one rule: --keep-last, --keep-daily, --keep-within, --keep-tag, ...",
        )
    ordered = _ordered(snapshots)
    reasons: dict[str, list[str]] = {s.id: [] for s in ordered}

    if policy.is_empty():
        for snap in ordered:
            reasons[snap.id].append("no policy")
    else:
        present = [s for s in ordered if s.time <= now]
        for snap in ordered:
            if snap.time > now:
                reasons[snap.id].append("in the future")
        _apply_rules(present, policy, tz, reasons)

    decisions = {sid: Decision(sid, bool(why), tuple(why)) for sid, why in reasons.items()}
    keep = [sid for sid, d in decisions.items() if d.keep]
    remove = [sid for sid, d in decisions.items() if not d.keep]
    return keep, remove, decisions


def _apply_rules(
    present: list[SnapshotLike], policy: Policy, tz: tzinfo, reasons: dict[str, list[str]]
) -> None:
    """Evaluate every rule over ``present`` (newest first, none in the future)."""
    if not present:
        return
    oldest = len(present) - 1
    cutoff = present[0].time - policy.within if policy.within else None
    within_label = format_duration(policy.within) if policy.within else ""

    last_total = "all" if policy.last == UNLIMITED else str(policy.last)
    buckets = [(name, key, getattr(policy, name)) for name, key in _BUCKETS]
    left = {name: count for name, _, count in buckets}
    previous: dict[str, str | None] = {name: None for name, _, _ in buckets}

    for nr, snap in enumerate(present):
        why = reasons[snap.id]
        why.extend(f"tag {tag}" for tag in sorted(policy.keep_tags.intersection(snap.tags)))
        if cutoff is not None and snap.time > cutoff:
            why.append(f"within {within_label}")
        if policy.last == UNLIMITED or nr < policy.last:
            why.append(f"last {nr + 1}/{last_total}")
        local = snap.time.astimezone(tz)
        for name, key, _count in buckets:
            if left[name] == 0:
                continue
            label = key(local)
            if label != previous[name]:
                why.append(f"{name} {label}")
            elif nr == oldest:
                why.append(f"oldest {name} {label}")
            else:
                continue
            previous[name] = label
            if left[name] > 0:
                left[name] -= 1


def _count(value: int | str | None, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("unlimited", "all"):
            return UNLIMITED
        if not text.isascii() or not text.isdigit():
            raise ConfigError(f"expected a count or 'unlimited', got {value!r}", field=f"keep-{name}")
        if len(text.lstrip("0")) > len(
            str(MAX_KEEP_COUNT)
        ):  # int() of thousands of digits is slow, then refused
            raise ConfigError(
                f"a count must be at most {MAX_KEEP_COUNT}, got {value!r}", field=f"keep-{name}"
            )
        return int(text)
    return value


def policy_from_options(
    *,
    keep_last: int | str | None = None,
    keep_hourly: int | str | None = None,
    keep_daily: int | str | None = None,
    keep_weekly: int | str | None = None,
    keep_monthly: int | str | None = None,
    keep_yearly: int | str | None = None,
    keep_within: str | int | timedelta | None = None,
    keep_tags: Iterable[str] = (),
) -> Policy:
    """Build a :class:`Policy` from option values as a CLI or a settings file gives them.

    Counts are ints or strings (``"7"``, ``"unlimited"``); ``None`` means "not given". ``keep_within``
    is a duration (``"30d"``, see :mod:`drkit.config.durations`). Bad values raise
    :class:`~drkit.errors.ConfigError` naming the option.
    """
    if isinstance(keep_within, timedelta) or keep_within is None:
        within = keep_within
    else:
        within = parse_duration(keep_within, "keep-within")
    if isinstance(keep_tags, str):
        raise ConfigError(f"expected a list of tags, got the string {keep_tags!r}", field="keep-tag")
    return Policy(
        last=_count(keep_last, "last"),
        hourly=_count(keep_hourly, "hourly"),
        daily=_count(keep_daily, "daily"),
        weekly=_count(keep_weekly, "weekly"),
        monthly=_count(keep_monthly, "monthly"),
        yearly=_count(keep_yearly, "yearly"),
        within=within or None,
        keep_tags=frozenset(keep_tags),
    )


def describe(policy: Policy) -> str:
    """One line for people, e.g. ``keep the last 3, 7 daily, 4 weekly; all within 30d of the newest``."""
    if policy.is_empty():
        return "keep everything (no policy)"
    clauses: list[str] = []
    counts: list[str] = []
    if policy.last:
        counts.append("all snapshots" if policy.last == UNLIMITED else f"the last {policy.last}")
    for name, _ in _BUCKETS:
        value = getattr(policy, name)
        if value:
            counts.append(f"all {name}" if value == UNLIMITED else f"{value} {name}")
    if counts:
        clauses.append(", ".join(counts))
    if policy.within:
        clauses.append(f"all within {format_duration(policy.within)} of the newest")
    if policy.keep_tags:
        clauses.append("all tagged " + " or ".join(sorted(policy.keep_tags)))
    return "keep " + "; ".join(clauses)


def apply_grouped(
    snapshots: Sequence[S],
    policy: Policy,
    now: datetime,
    *,
    group: Callable[[S], Hashable],
    references: Callable[[S], Iterable[str]] = lambda _s: (),
    tz: tzinfo = UTC,
) -> tuple[list[str], list[str], dict[str, Decision]]:
    """Apply ``policy`` to each group of snapshots on its own (as restic groups by host and paths), so
    that one series cannot push another out; then keep every snapshot a kept one ``references``
    (e.g. the volume snapshots a cluster snapshot names), with the reason ``referenced by <id>``."""
    groups: dict[Hashable, list[S]] = {}
    for snap in snapshots:
        groups.setdefault(group(snap), []).append(snap)
    decisions: dict[str, Decision] = {}
    for members in groups.values():
        decisions.update(apply_policy(members, policy, now, tz=tz)[2])
    by_id = {s.id: s for s in snapshots}
    pending = [sid for sid, d in decisions.items() if d.keep]
    while pending:
        holder = pending.pop()
        for ref in references(by_id[holder]):
            d = decisions.get(ref)
            if d is not None and not d.keep:
                decisions[ref] = Decision(ref, True, (*d.reasons, f"referenced by {holder[:8]}"))
                pending.append(ref)
    ordered = [s.id for s in _ordered(snapshots)]
    keep = [sid for sid in ordered if decisions[sid].keep]
    remove = [sid for sid in ordered if not decisions[sid].keep]
    return keep, remove, {sid: decisions[sid] for sid in ordered}


def apply_to_series(
    snapshots: Sequence[Snapshot], policy: Policy, now: datetime
) -> tuple[list[str], list[str], dict[str, Decision]]:
    """What ``policy`` keeps and removes of a repository's snapshots, with reasons: the policy applies
    to each series on its own (same kind, host and paths: a cluster's backups, one volume's, one
    directory's), and a kept snapshot keeps the snapshots it references (a cluster snapshot's
    job-mode volume snapshots, :func:`referenced_snapshots`)."""
    return apply_grouped(
        snapshots, policy, now, group=lambda s: (s.kind, s.host, s.paths), references=referenced_snapshots
    )


def referenced_snapshots(snap: Snapshot) -> list[str]:
    """Snapshot ids a snapshot's meta names (``volumes[].snapshot`` of a cluster backup in job mode)."""
    volumes = snap.meta.get("volumes") if isinstance(snap.meta, dict) else None
    if isinstance(volumes, dict):  # the meta.volumes record of a cluster backup (docs/volumes.md)
        volumes = volumes.get("volumes")
    if not isinstance(volumes, list):
        return []
    return [
        v["snapshot"]
        for v in volumes
        if isinstance(v, dict) and isinstance(v.get("snapshot"), str) and v["snapshot"]
    ]
