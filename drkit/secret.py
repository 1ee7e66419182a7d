"""A value that never prints itself: passphrases, keys, tokens."""

from __future__ import annotations

from typing import Final

_MASK: Final = "********"


class Secret:
    """Holds a secret string or bytes. ``str``/``repr``/formatting show a mask; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    def reveal(self) -> str | bytes:
        return self._value

    def reveal_bytes(self) -> bytes:
        v = self._value
        return v.encode() if isinstance(v, str) else v

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled")
