"""Where the sandbox finds its server binaries (built by ``make testbin``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from drkit.errors import MissingComponent

BUILD_HINT = "build the pinned test servers with `make testbin` (they land in .testbin/bin)"


def search_path() -> list[Path]:
    """Where built binaries are: $DRKIT_TESTBIN when set (as for hack/testbin/build.sh), else the
    checkout's .testbin/bin."""
    if env := os.environ.get("DRKIT_TESTBIN"):
        return [Path(env)]
    return [Path(__file__).resolve().parents[2] / ".testbin" / "bin"]


def find(name: str) -> Path:
    """The path of binary ``name``; then $PATH. Raises ``MissingComponent`` with how to build it."""
    for d in search_path():
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    looked = ", ".join(str(d) for d in search_path())
    raise MissingComponent(f"{name} not found (looked in {looked} and $PATH)", hint=BUILD_HINT)


def have(*names: str) -> bool:
    try:
        for n in names:
            find(n)
    except MissingComponent:
        return False
    return True
