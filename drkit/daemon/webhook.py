"""The failure webhook: a generic JSON POST (stdlib ``urllib``), retried a few times.

The body carries the schedule, job, run id, attempt, times, result and error message, never a secret
(the error messages of drkit never carry one: ``Secret`` values print as a mask, URLs are shown
without credentials). A webhook that keeps failing is logged and given up: it never fails a run.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from drkit.errors import ConfigError

log = logging.getLogger("drkit.daemon.webhook")


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"expected an http(s):// URL, got {url!r}", field="notify-url")
    return url


class Webhook:
    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        timeout: float = 10.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = check_url(url)
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff
        self._sleep = sleep

    def send(self, payload: dict[str, Any]) -> bool:
        """POST ``payload``; True once a 2xx answer came, False after the last failed attempt."""
        body = json.dumps(payload, default=str).encode()
        shown = urlsplit(self.url)._replace(query="", fragment="").geturl()  # a token in the query stays out
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(  # noqa: S310 - check_url allows http(s) only
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "drkit-daemon"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - checked scheme
                    if 200 <= answer.status < 300:
                        return True
                    problem = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            log.warning("webhook %s attempt %d/%d failed: %s", shown, attempt, self.attempts, problem)
            if attempt < self.attempts:
                self._sleep(self.backoff * 2 ** (attempt - 1))
        return False
