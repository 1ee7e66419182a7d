"""Human durations in options and settings: ``30d``, ``12h``, ``2w``, ``1y``, ``90m``, ``1d12h``, ``3600``.

The grammar is deliberately small so that a typo is an error rather than a surprise:

- one or more ``<digits><unit>`` groups, units from largest to smallest, each at most once:
  ``y`` (365 days), ``w`` (7 days), ``d``, ``h``, ``m`` (minutes), ``s``;
- or plain digits, meaning seconds.

Units are lower case only: ``M`` could mean months or minutes, so it is refused instead of guessed.
There are no months (their length varies); write ``30d``. Fractions and signs are refused.

No duration is longer than :data:`MAX_DURATION` (100 years): a longer one is a typo, and would overflow
the dates computed from it (a lock's retain-until date, a deadline).
"""

from __future__ import annotations

import re
from datetime import timedelta

from drkit.errors import ConfigError

_UNITS: dict[str, int] = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
}
_ORDER = tuple(_UNITS)
_GROUP = re.compile(r"([0-9]+)([A-Za-z]+)")
MAX_DURATION = timedelta(days=36500)
"""The longest duration any option or setting takes: 100 years (``36500d``)."""

_MAX_DIGITS = 12  # a number with more digits is over MAX_DURATION in any unit
_HINT = "write a duration such as 30d, 12h, 2w, 1y, 90m, 1d12h or a number of seconds"

# format_duration uses days, hours, minutes and seconds only, so that "30d" stays "30d".
_FORMAT_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str | int, field: str) -> timedelta:
    """Parse ``text`` into a :class:`~datetime.timedelta`.

    ``field`` names the option or setting the value came from; it is part of the error message.
    Raises :class:`~drkit.errors.ConfigError` for anything that is not a valid duration.
    """
    if isinstance(text, bool):  # bool is an int; True is not a duration
        raise ConfigError(f"expected a duration, got {text!r}", field=field, hint=_HINT)
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"a duration cannot be negative: {text}", field=field, hint=_HINT)
        if text > MAX_DURATION.total_seconds():
            raise _too_long("a number of seconds" if text.bit_length() > 64 else str(text), field)
        return timedelta(seconds=text)
    if not isinstance(text, str):
        raise ConfigError(f"expected a duration, got {type(text).__name__}", field=field, hint=_HINT)
    value = text.strip()
    if not value:
        raise ConfigError("empty duration", field=field, hint=_HINT)
    if value.isascii() and value.isdigit():
        return _bounded(_number(value, text, field), text, field)
    return _bounded(_parse_groups(value, text, field), text, field)


def _number(digits: str, original: str, field: str) -> int:
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        raise _too_long(original, field)
    return int(digits)


def _bounded(seconds: int, original: str, field: str) -> timedelta:
    if seconds > MAX_DURATION.total_seconds():
        raise _too_long(original, field)
    return timedelta(seconds=seconds)


def _too_long(original: str, field: str) -> ConfigError:
    shown = original if len(original) <= 24 else f"{original[:20]}...({len(original)} characters)"
    return ConfigError(
        f"duration {shown!r} is longer than 100y, the longest allowed", field=field, hint=_HINT
    )


def _parse_groups(value: str, original: str, field: str) -> int:
    seconds = 0
    position = 0
    last_rank = -1
    for match in _GROUP.finditer(value):
        if match.start() != position:
            break
        number, unit = match.groups()
        if unit not in _UNITS:
            what = "months are not supported (write 30d)" if unit == "M" else f"unknown unit {unit!r}"
            raise ConfigError(f"invalid duration {original!r}: {what}", field=field, hint=_HINT)
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise ConfigError(
                f"invalid duration {original!r}: units must go from largest to smallest, each once",
                field=field,
                hint=_HINT,
            )
        last_rank = rank
        seconds += _number(number, original, field) * _UNITS[unit]
        position = match.end()
    if position != len(value) or last_rank < 0:
        raise ConfigError(f"invalid duration {original!r}", field=field, hint=_HINT)
    return seconds


def format_duration(td: timedelta) -> str:
    """Render ``td`` in the grammar :func:`parse_duration` reads, e.g. ``30d``, ``1d12h``, ``90s``.

    Uses days, hours, minutes and seconds (``1y`` renders as ``365d``, ``2w`` as ``14d``), so that
    ``parse_duration(format_duration(td)) == td`` for every non-negative whole number of seconds.
    Sub-second parts are dropped. A negative duration raises ``ValueError`` (a programming error:
    parsed durations are never negative).
    """
    if td < timedelta(0):
        raise ValueError(f"cannot format a negative duration: {td!r}")
    remaining = td.days * 86400 + td.seconds
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _FORMAT_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
