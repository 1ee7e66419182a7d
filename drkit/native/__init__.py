"""drkit's compiled extension modules, each with a pure-Python fallback.

The C sources are ``_<name>.c`` here and the Rust crates ``<name>/`` (module ``_<name>``), built by
``pip install`` (``setup.py``); each comes with a ``_<name>.pyi`` for mypy. A caller asks
:func:`load` and, when it returns None, runs its pure-Python path, which gives the same results more
slowly. ``DRKIT_NO_NATIVE=1`` makes every :func:`load` return None (the tests compare both paths; a
user can rule the compiled code out when in doubt).
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).parent
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def disabled() -> bool:
    """Whether ``DRKIT_NO_NATIVE`` rules the compiled modules out."""
    return os.environ.get("DRKIT_NO_NATIVE", "") not in ("", "0")


def load(name: str) -> ModuleType | None:
    """The compiled module ``drkit.native.<name>``, or None when it was not built, is ruled out, or is
    older than its sources in this checkout (built before a ``git pull`` that changed them: it may
    lack what the Python code calls; the Python path is taken, with one warning)."""
    if disabled():
        return None
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        return None
    built = Path(module.__file__ or "")
    try:
        newest = max((p.stat().st_mtime, p.name) for p in _source_files(name))
        stale = newest[0] > built.stat().st_mtime
    except (OSError, ValueError):  # an installed wheel has no sources
        stale = False
    if stale:
        if name not in _warned:
            _warned.add(name)
            _log.warning(
                "drkit's compiled module %s is older than %s; using the slower Python code instead "
                "(rebuild it: make venv, or pip install -e .)",
                built.name,
                newest[1],
            )
        return None
    return module


def _source_files(name: str) -> list[Path]:
    """What module ``name`` is built from here: its C file, or its crate's manifest, lock and sources."""
    crate = _HERE / name.removeprefix("_")
    if (crate / "Cargo.toml").is_file():
        return [crate / "Cargo.toml", crate / "Cargo.lock", *sorted((crate / "src").rglob("*.rs"))]
    return [_HERE / f"{name}.c"]


def sources() -> list[str]:
    """The names of the modules this checkout has sources for: C files and Rust crates (empty in an
    installed wheel)."""
    c = [p.stem for p in _HERE.glob("_*.c")]
    rust = [f"_{p.parent.name}" for p in _HERE.glob("*/Cargo.toml")]
    return sorted(c + rust)
