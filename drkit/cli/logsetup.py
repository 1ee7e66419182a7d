"""Logging for the CLI and the daemon: text for people, JSON lines for machines."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with ``extra=`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                doc[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


DEFAULT_LEVEL = "warning"
_explicit = False


def configure(level: str | None, fmt: str) -> None:
    """Send drkit's logs to stderr (stdout is for command output) at ``level`` in ``fmt``; without a
    level, at ``warning`` until a command raises its own default (:func:`command_default`)."""
    global _explicit  # noqa: PLW0603 - one process, one logging setup
    _explicit = level is not None
    level = level or DEFAULT_LEVEL
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("drkit").setLevel(level.upper())


def command_default(level: str) -> None:
    """A command's own default level (the daemon logs its runs at ``info``), unless ``--log-level``
    or ``DRKIT_LOG_LEVEL`` chose one."""
    if not _explicit:
        logging.getLogger("drkit").setLevel(level.upper())
