"""Key, prefix and retention-date checks shared by every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drkit.storage.errors import InvalidKey
from drkit.storage.validate import check_key, check_prefix, whole_second


@pytest.mark.parametrize("key", ["a", "a/b", "data/ab/abcdef0123", "x-y_z.json", "unicode/é", "a.b/c"])
def test_good_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "non-empty"),
        ("/a", "absolute"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("..", "'..'"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        (".a", "starting with '.'"),
        ("a/.b", "starting with '.'"),
        ("a\\b", "backslash"),
        ("a\nb", "control"),
        ("k" * 1025, "longer than"),
    ],
)
def test_bad_keys_say_why(key: str, why: str) -> None:
    with pytest.raises(InvalidKey, match=why):
        check_key(key)


@pytest.mark.parametrize("prefix", ["", "data", "data/", "data/ab", "a/b/"])
def test_good_prefixes(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/data", "a//", "../", "a/../b", ".x"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        check_prefix(prefix)


def test_retention_dates_round_up_to_a_whole_utc_second() -> None:
    t = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert whole_second(t) == t
    assert whole_second(t + timedelta(microseconds=1)) == t + timedelta(seconds=1)
    plus2 = timezone(timedelta(hours=2))
    assert whole_second(datetime(2026, 1, 1, 14, 0, 0, 500, tzinfo=plus2)) == t + timedelta(seconds=1)
    assert whole_second(t).tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        whole_second(datetime(2026, 1, 1))
