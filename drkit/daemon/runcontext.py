"""The run a thread works for, added to every log record it emits (``run_id``, ``schedule``, ``job``),
so that JSON logs of the repository and capture layers carry them too."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_current = threading.local()


@contextmanager
def run_context(run_id: str, schedule: str, job: str) -> Iterator[None]:
    previous = getattr(_current, "value", None)
    _current.value = {"run_id": run_id, "schedule": schedule, "job": job}
    try:
        yield
    finally:
        _current.value = previous


class RunContextFilter(logging.Filter):
    """A handler filter that adds the current thread's run fields to records lacking them."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(_current, "value", None)
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


def install(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, RunContextFilter) for f in handler.filters):
            handler.addFilter(RunContextFilter())
