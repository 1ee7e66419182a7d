"""Retention: golden tables (computed by hand, in retention_cases/) and the rules around them."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from drkit.errors import ConfigError
from drkit.repo.engine.retention import (
    UNLIMITED,
    Decision,
    Policy,
    apply_policy,
    describe,
    policy_from_options,
)

CASES = Path(__file__).parent / "retention_cases"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Snap:
    id: str
    time: datetime
    tags: Sequence[str] = ()


def _tz(value: str | None) -> tzinfo:
    if value is None or value == "UTC":
        return UTC
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", value)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return ZoneInfo(value)


def _snapshots(raw: dict[str, Any]) -> list[Snap]:
    snaps = []
    for sid, value in raw.items():
        assert isinstance(sid, str), f"quote the id {sid!r} in the case file"
        if isinstance(value, dict):
            snaps.append(Snap(sid, value["time"], tuple(value.get("tags", ()))))
        else:
            snaps.append(Snap(sid, value))
    for snap in snaps:
        assert isinstance(snap.time, datetime), snap
        assert snap.time.tzinfo is not None, f"give {snap.id} a time zone in the case file"
    return snaps


def _policy(raw: dict[str, Any]) -> Policy:
    options = {f"keep_{key}": value for key, value in raw.items()}
    return policy_from_options(**options)


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    snaps = _snapshots(case["snapshots"])
    expected_keep: dict[str, list[str]] = case["keep"]
    expected_remove: list[str] = case["remove"]
    assert sorted([*expected_keep, *expected_remove]) == sorted(s.id for s in snaps), "case is incomplete"

    keep, remove, decisions = apply_policy(
        snaps, _policy(case["policy"]), case["now"], tz=_tz(case.get("tz"))
    )

    assert keep == list(expected_keep)
    assert remove == expected_remove
    assert {sid: list(d.reasons) for sid, d in decisions.items() if d.keep} == expected_keep
    for sid in expected_remove:
        assert decisions[sid] == Decision(sid, False, ())
    # Decisions come newest first, the order keep and remove are merged from.
    order = list(decisions)
    assert [sid for sid in order if sid in expected_keep] == keep
    assert [sid for sid in order if sid not in expected_keep] == remove


def test_there_are_many_golden_cases() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 20


def _daily_series(days: int, start: datetime = datetime(2024, 1, 1, 3, tzinfo=UTC)) -> list[Snap]:
    return [Snap(f"s{i:04d}", start + timedelta(days=i)) for i in range(days)]


def test_input_order_does_not_matter() -> None:
    snaps = _daily_series(400)
    policy = Policy(last=3, daily=7, weekly=5, monthly=12, yearly=2, within=timedelta(days=10))
    now = datetime(2025, 3, 1, tzinfo=UTC)
    expected = apply_policy(snaps, policy, now)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = snaps[:]
        rng.shuffle(shuffled)
        assert apply_policy(shuffled, policy, now) == expected


def test_restic_documented_combination_on_daily_backups() -> None:
    # restic doc: daily backups, --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75
    # keeps 7 dailies, weeklies (some already among the dailies), monthlies, then yearlies.
    # Here: daily 03:00 UTC backups from 2024-01-01 to 2025-02-03 (400 days).
    snaps = _daily_series(400)
    policy = Policy(daily=7, weekly=5, monthly=12, yearly=75)
    keep, remove, decisions = apply_policy(snaps, policy, datetime(2025, 3, 1, tzinfo=UTC))
    by_rule: dict[str, int] = {}
    for d in decisions.values():
        for reason in d.reasons:
            rule = reason.split()[0]
            by_rule[rule] = by_rule.get(rule, 0) + 1
    # Newest is Monday 2025-02-03 (2025-W06). Dailies: 2025-01-28 .. 02-03 (Sunday 02-02, W05, among them).
    assert by_rule["daily"] == 7
    assert by_rule["weekly"] == 5
    weeklies = [sid for sid, d in decisions.items() if any(r.startswith("weekly") for r in d.reasons)]
    assert [decisions[s].reasons for s in weeklies][-1] == ("weekly 2025-W02",)
    assert by_rule["monthly"] == 12  # 2025-02 .. 2024-03
    assert by_rule["yearly"] == 2  # 2025, 2024 (its newest, 2024-12-31)
    assert by_rule["oldest"] == 1  # 75 yearlies are not used up: 2024-01-01 is kept as oldest yearly
    assert decisions["s0000"].reasons == ("oldest yearly 2024",)
    # Weeklies W06 and W05 are among the dailies, and so are monthlies 2025-02 and 2025-01; yearly
    # 2025 is the newest snapshot and yearly 2024 is monthly 2024-12. So: 7 dailies + 3 more weeklies
    # + 10 more monthlies + the oldest.
    assert len(keep) == 7 + 3 + 10 + 1
    assert len(keep) + len(remove) == 400


def test_every_kept_snapshot_has_a_reason_and_partition_is_exact() -> None:
    rng = random.Random(42)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    snaps = [
        Snap(
            f"r{i:03d}",
            base + timedelta(minutes=rng.randrange(60 * 24 * 330)),
            ("prod",) if i % 17 == 0 else (),
        )
        for i in range(300)
    ]
    policy = Policy(last=5, hourly=10, daily=10, weekly=6, monthly=6, yearly=1, keep_tags=frozenset({"prod"}))
    keep, remove, decisions = apply_policy(snaps, policy, NOW)
    assert set(keep).isdisjoint(remove)
    assert set(keep) | set(remove) == {s.id for s in snaps}
    assert all(decisions[s].keep and decisions[s].reasons for s in keep)
    assert all(not decisions[s].keep and not decisions[s].reasons for s in remove)
    newest_first = sorted(snaps, key=lambda s: s.time, reverse=True)
    assert keep[:5] == [s.id for s in newest_first[:5]]
    assert {s.id for s in snaps if "prod" in s.tags} <= set(keep)
    times = {s.id: s.time for s in snaps}
    assert [times[s] for s in keep] == sorted((times[s] for s in keep), reverse=True)


def test_dst_fall_back_hour_is_one_local_bucket() -> None:
    # America/New_York leaves DST on 2026-11-01: 01:00-01:59 local happens twice (05:xx and 06:xx UTC).
    ny = ZoneInfo("America/New_York")
    snaps = [
        Snap("first", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # 01:30 EDT
        Snap("second", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),  # 01:30 EST
        Snap("later", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),  # 02:30 EST
        Snap("earlier", datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),  # 00:30 EDT
    ]
    keep, remove, decisions = apply_policy(snaps, Policy(hourly=3), NOW, tz=ny)
    assert keep == ["later", "second", "earlier"]
    assert remove == ["first"]
    assert decisions["second"].reasons == ("hourly 2026-11-01 01:00",)
    keep_utc, _, _ = apply_policy(snaps, Policy(hourly=3), NOW)
    assert keep_utc == ["later", "second", "first"]


def test_timestamps_in_other_offsets_compare_as_instants() -> None:
    plus2 = timezone(timedelta(hours=2))
    snaps = [
        Snap("a", datetime(2026, 11, 25, 12, 0, tzinfo=plus2)),  # 10:00 UTC
        Snap("b", datetime(2026, 11, 25, 11, 0, tzinfo=UTC)),
    ]
    keep, remove, decisions = apply_policy(snaps, Policy(last=1, daily=1), NOW)
    assert keep == ["b"]
    assert remove == ["a"]
    assert decisions["b"].reasons == ("last 1/1", "daily 2026-11-25")


def test_empty_policy_can_be_refused() -> None:
    snaps = _daily_series(3)
    with pytest.raises(ConfigError, match="an empty policy would remove every snapshot") as info:
        apply_policy(snaps, Policy(), NOW, refuse_empty=True)
    assert info.value.hint is not None
    keep, remove, _ = apply_policy(snaps, Policy(), NOW)
    assert remove == []
    assert len(keep) == 3
    # refuse_empty does not affect a real policy
    assert apply_policy(snaps, Policy(last=1), NOW, refuse_empty=True)[0] == ["s0002"]


def test_naive_times_and_duplicate_ids_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="naive"):
        apply_policy([Snap("a", datetime(2026, 1, 1))], Policy(last=1), NOW)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        apply_policy([], Policy(last=1), datetime(2026, 1, 1))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="appears twice"):
        apply_policy([Snap("a", t), Snap("a", t + timedelta(1))], Policy(last=1), NOW)


def test_policy_is_empty() -> None:
    assert Policy().is_empty()
    assert Policy(within=timedelta(0)).is_empty()
    assert not Policy(last=1).is_empty()
    assert not Policy(yearly=UNLIMITED).is_empty()
    assert not Policy(within=timedelta(hours=1)).is_empty()
    assert not Policy(keep_tags=frozenset({"prod"})).is_empty()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"last": -2}, "keep-last"),
        ({"daily": True}, "keep-daily"),
        ({"weekly": 1.5}, "keep-weekly"),
        ({"within": timedelta(seconds=-1)}, "keep-within"),
        ({"keep_tags": "prod"}, "keep-tag"),
        ({"keep_tags": frozenset({""})}, "keep-tag"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Policy(**kwargs)
    assert info.value.field == field


def test_policy_from_options() -> None:
    policy = policy_from_options(
        keep_last="3",
        keep_daily=7,
        keep_weekly=None,
        keep_monthly="unlimited",
        keep_within="1d12h",
        keep_tags=["prod", "prod", "release"],
    )
    assert policy == Policy(
        last=3,
        daily=7,
        monthly=UNLIMITED,
        within=timedelta(days=1, hours=12),
        keep_tags=frozenset({"prod", "release"}),
    )
    assert policy_from_options() == Policy()
    assert policy_from_options(keep_within=timedelta(0)) == Policy()
    assert policy_from_options(keep_within=3600).within == timedelta(hours=1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"keep_last": "three"}, "keep-last"),
        ({"keep_hourly": "-1"}, "keep-hourly"),
        ({"keep_yearly": -5}, "keep-yearly"),
        ({"keep_within": "7 days"}, "keep-within"),
        ({"keep_tags": "prod"}, "keep-tag"),
    ],
)
def test_policy_from_options_errors_name_the_option(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        policy_from_options(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (Policy(), "keep everything (no policy)"),
        (Policy(last=3), "keep the last 3"),
        (
            Policy(last=3, daily=7, weekly=4, monthly=UNLIMITED, within=timedelta(days=30)),
            "keep the last 3, 7 daily, 4 weekly, all monthly; all within 30d of the newest",
        ),
        (Policy(last=UNLIMITED), "keep all snapshots"),
        (Policy(keep_tags=frozenset({"release", "prod"})), "keep all tagged prod or release"),
        (
            Policy(hourly=24, yearly=2, within=timedelta(hours=36), keep_tags=frozenset({"prod"})),
            "keep 24 hourly, 2 yearly; all within 1d12h of the newest; all tagged prod",
        ),
    ],
)
def test_describe(policy: Policy, text: str) -> None:
    assert describe(policy) == text
