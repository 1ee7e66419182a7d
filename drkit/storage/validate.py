"""Checks every backend applies before touching storage: keys, list prefixes, retention dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drkit.storage.base import Retention
from drkit.storage.errors import InvalidKey, StoreError

MAX_KEY_BYTES = 1024  # S3's limit on a whole key; a store prefix counts against it too


def check_key(key: str) -> str:
    """Return ``key`` if it is valid, else raise ``InvalidKey`` saying why.

    A key is non-empty, relative, made of non-empty segments separated by ``/``; no segment is
    ``.`` or ``..`` or starts with ``.`` (names starting with a dot are the stores' own files);
    no NUL, no backslash, no control characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("an object key must be a non-empty string", key=str(key))
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute; keys are relative paths", key=key)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key {key[:40]!r}... is longer than {MAX_KEY_BYTES} bytes", key=key)
    if "\\" in key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InvalidKey(f"object key {key!r} contains a backslash or a control character", key=key)
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"object key {key!r} has an empty segment", key=key)
        if segment in (".", ".."):
            raise InvalidKey(f"object key {key!r} contains {segment!r}", key=key)
        if segment.startswith("."):
            raise InvalidKey(f"object key {key!r} has a segment starting with '.' (reserved)", key=key)
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix: empty, or a string every segment but the last of which is a valid key segment.

    The last segment may be partial (``data/ab`` lists ``data/ab12`` and ``data/ab/...``) or empty
    (``data/`` lists everything under ``data``).
    """
    if prefix == "":
        return prefix
    if prefix.startswith("/"):
        raise InvalidKey(f"list prefix {prefix!r} is absolute; prefixes are relative", key=prefix)
    head, _, last = prefix.rpartition("/")
    if head:
        check_key(head)
    if last:
        check_key(last)
    return prefix


def check_retention(key: str, retention: Retention | None, now: datetime) -> None:
    """A retention must end in the future: S3 refuses a retain-until date in the past, so does drkit."""
    if retention is not None and retention.until <= now:
        raise StoreError(f"{key}: retain-until {retention.until.isoformat()} is not in the future", key=key)


def whole_second(when: datetime) -> datetime:
    """``when`` in UTC, rounded *up* to a whole second: S3 keeps retain-until dates to the second,
    and rounding up never shortens a retention. Every backend stores dates this way."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("a retention date must be timezone-aware")
    when = when.astimezone(UTC)
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    return when
