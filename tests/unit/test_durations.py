from __future__ import annotations

from datetime import timedelta

import pytest

from drkit.config.durations import format_duration, parse_duration
from drkit.errors import ConfigError, ExitCode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(days=14)),
        ("1y", timedelta(days=365)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1y2w3d4h5m6s", timedelta(days=365 + 14 + 3, hours=4, minutes=5, seconds=6)),
        ("3600", timedelta(hours=1)),
        ("0", timedelta(0)),
        ("0d", timedelta(0)),
        ("  7d ", timedelta(days=7)),
        ("007d", timedelta(days=7)),
        (86400, timedelta(days=1)),
        (0, timedelta(0)),
    ],
)
def test_parse_valid(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text, "keep-within") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "d",
        "-5d",
        "1.5d",
        "30x",
        "1M",
        "30 d",
        "1d 12h",
        "12h1d",  # units out of order
        "1d1d",  # unit twice
        "1dh",
        "h1",
        "1d12",  # trailing number without unit
        "+3d",
        "\u0663d",  # Arabic-Indic digit three
        "1D",
    ],
)
def test_parse_invalid_names_field(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text, "keep-within")
    assert info.value.field == "keep-within"
    assert str(info.value).startswith("keep-within: ")
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.hint is not None


def test_months_error_explains() -> None:
    with pytest.raises(ConfigError, match="months are not supported"):
        parse_duration("1M", "schedule.retention")


@pytest.mark.parametrize("value", [-1, True, 1.5, None])
def test_parse_rejects_other_types(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(value, "interval")  # type: ignore[arg-type]
    assert info.value.field == "interval"


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(days=30), "30d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(hours=12), "12h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(days=365), "365d"),
        (timedelta(days=14), "14d"),
        (timedelta(0), "0s"),
        (timedelta(days=2, seconds=1), "2d1s"),
        (timedelta(seconds=1, microseconds=999_999), "1s"),
    ],
)
def test_format(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


def test_format_negative_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 61, 3599, 3600, 86399, 86400, 90061, 365 * 86400 + 7])
def test_round_trip(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td), "x") == td


@pytest.mark.parametrize("text", ["30d", "1d12h", "90m", "2w", "1y", "3600", "1y2w3d4h5m6s"])
def test_round_trip_from_text(text: str) -> None:
    td = parse_duration(text, "x")
    assert parse_duration(format_duration(td), "x") == td
