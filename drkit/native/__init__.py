"""drkit's compiled extension modules, each with a pure-Python fallback.

The C sources are ``_<name>.c`` here, built by ``pip install`` (``setup.py``); each comes with a
``_<name>.pyi`` for mypy. A caller asks :func:`load` and, when it returns None, runs its pure-Python
path, which gives the same results more slowly. ``DRKIT_NO_NATIVE=1`` makes every :func:`load`
return None (the tests compare both paths; a user can rule the compiled code out when in doubt).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).parent


def disabled() -> bool:
    """Whether ``DRKIT_NO_NATIVE`` rules the compiled modules out."""
    return os.environ.get("DRKIT_NO_NATIVE", "") not in ("", "0")


def load(name: str) -> ModuleType | None:
    """The compiled module ``drkit.native.<name>``, or None when it was not built or is ruled out."""
    if disabled():
        return None
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        return None


def sources() -> list[str]:
    """The names of the modules this checkout has C sources for (empty in an installed wheel)."""
    return sorted(p.stem for p in _HERE.glob("_*.c"))
