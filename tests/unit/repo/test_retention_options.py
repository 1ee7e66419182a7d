"""Retention options and edges: counts as strings, errors naming the option, the empty-policy
refusal, time zones that give no offset, calendar buckets in another zone for grouped series, and
references to snapshots that are gone. (Gaps found by mutation testing, docs/testing.md.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from drkit.config.limits import MAX_KEEP_COUNT
from drkit.errors import ConfigError
from drkit.repo.engine.retention import UNLIMITED, Policy, apply_grouped, apply_policy, policy_from_options

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Snap:
    id: str
    time: datetime
    series: str = "s"
    tags: tuple[str, ...] = ()
    refs: tuple[str, ...] = field(default=())


@pytest.mark.parametrize("text", ["all", "ALL", " unlimited ", "Unlimited"])
def test_unlimited_counts(text: str) -> None:
    assert policy_from_options(keep_daily=text).daily == UNLIMITED


@pytest.mark.parametrize("name", ["last", "hourly", "daily", "weekly", "monthly", "yearly"])
def test_a_bad_count_names_its_option(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        policy_from_options(**{f"keep_{name}": "seven"})  # type: ignore[arg-type]
    assert err.value.message == f"keep-{name}: expected a count or 'unlimited', got 'seven'"
    assert err.value.field == f"keep-{name}"
    with pytest.raises(ConfigError, match="a count must be at most") as err:
        policy_from_options(**{f"keep_{name}": "1" + "0" * len(str(MAX_KEEP_COUNT))})  # type: ignore[arg-type]
    assert err.value.field == f"keep-{name}"


def test_counts_as_long_as_the_largest_allowed_are_read() -> None:
    assert policy_from_options(keep_daily=str(MAX_KEEP_COUNT)).daily == MAX_KEEP_COUNT
    assert policy_from_options(keep_weekly="0007", keep_monthly=" 3 ", keep_yearly=2) == Policy(
        weekly=7, monthly=3, yearly=2
    )


def test_within_as_a_duration_and_tags_as_a_list() -> None:
    assert policy_from_options(keep_within=timedelta(days=3)).within == timedelta(days=3)
    assert policy_from_options(keep_within="2d").within == timedelta(days=2)
    with pytest.raises(ConfigError) as err:
        policy_from_options(keep_tags="prod")
    assert err.value.message == "keep-tag: expected a list of tags, got the string 'prod'"
    assert err.value.field == "keep-tag"


def test_an_empty_policy_is_refused_when_asked_with_a_hint() -> None:
    with pytest.raises(ConfigError) as err:
        apply_policy([Snap("a", NOW)], Policy(), NOW, refuse_empty=True)
    assert err.value.message == "policy: an empty policy would remove every snapshot"
    assert err.value.field == "policy"
    assert (
        err.value.hint == "give at least one rule: --keep-last, --keep-daily, --keep-within, --keep-tag, ..."
    )


class NoOffset(tzinfo):
    """A zone that knows no offset: as naive as no zone at all."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_zone_without_offset_is_naive() -> None:
    vague = datetime(2026, 11, 26, 12, tzinfo=NoOffset())
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        apply_policy([Snap("a", NOW)], Policy(last=1), vague)
    with pytest.raises(ValueError, match="naive timestamp"):
        apply_policy([Snap("a", vague)], Policy(last=1), NOW)


def test_grouped_series_count_calendar_days_in_the_zone_given() -> None:
    snaps = [
        Snap("a", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        Snap("b", datetime(2026, 11, 26, 0, 30, tzinfo=UTC)),
        Snap("c", datetime(2026, 11, 26, 5, 0, tzinfo=UTC)),
    ]
    policy = Policy(daily=2)
    keep_utc, _, _ = apply_grouped(snaps, policy, NOW, group=lambda s: s.series)
    keep_west, _, _ = apply_grouped(
        snaps, policy, NOW, group=lambda s: s.series, tz=timezone(timedelta(hours=-2))
    )
    assert keep_utc == ["c", "a"]  # UTC days: 26th (c), 25th (a)
    assert keep_west == ["c", "b"]  # at UTC-2 both a and b fall on the 25th: its newest is b


def test_a_reference_to_a_snapshot_that_is_gone_is_ignored() -> None:
    snaps = [
        Snap("cluster", NOW - timedelta(hours=1), "cluster", refs=("vol-gone", "vol")),
        Snap("vol", NOW - timedelta(hours=3), "vol"),
        Snap("vol-new", NOW - timedelta(hours=2), "vol"),
    ]
    keep, remove, decisions = apply_grouped(
        snaps, Policy(last=1), NOW, group=lambda s: s.series, references=lambda s: s.refs
    )
    assert keep == ["cluster", "vol-new", "vol"]
    assert remove == []
    assert decisions["vol"].snapshot_id == "vol"
    assert decisions["vol"].reasons == ("referenced by cluster",)


def test_a_policy_refuses_bad_values_naming_the_rule() -> None:
    with pytest.raises(ConfigError) as err:
        Policy(daily=-2)
    assert err.value.message == "keep-daily: expected a count >= 0 or 'unlimited', got -2"
    with pytest.raises(ConfigError) as err:
        Policy(yearly=MAX_KEEP_COUNT + 1)
    assert err.value.hint == "write 'unlimited' to keep every one"
    assert err.value.field == "keep-yearly"
    with pytest.raises(ConfigError) as err:
        Policy(within=timedelta(seconds=-1))
    assert err.value.message == "keep-within: a duration cannot be negative: -1 day, 23:59:59"
    with pytest.raises(ConfigError) as err:
        Policy(keep_tags=frozenset({""}))
    assert err.value.message == "keep-tag: expected a set of non-empty tags, got frozenset({''})"
    assert Policy(keep_tags=["b", "a"]).keep_tags == frozenset({"a", "b"})  # type: ignore[arg-type]
