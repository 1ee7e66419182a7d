"""Amounts for people: ``1.5 KiB``, ``12 files`` (progress bars and log lines share it)."""

from __future__ import annotations

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_amount(n: float, unit: str) -> str:
    """``1536, "B"`` -> ``1.5 KiB``; ``12, "files"`` -> ``12 files``."""
    if unit != "B":
        return f"{n:,.0f} {unit}" if float(n).is_integer() else f"{n:,.1f} {unit}"
    value = float(n)
    for suffix in _BINARY_UNITS:
        if abs(value) < 1024 or suffix == _BINARY_UNITS[-1]:
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
