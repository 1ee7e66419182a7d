"""The status page served read-only by the daemon (``--status-addr``): ``GET /`` renders it at most
every ``cache_s``, optionally only for a bearer token, with a Content-Security-Policy that lets the
page load nothing."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from markupsafe import escape

from drkit.daemon.httpserve import BackgroundServer
from drkit.secret import Secret

log = logging.getLogger("drkit.daemon.statuspage")

# The page loads nothing: no script, no remote style, font or image (the browser enforces it).
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


class StatusServer:
    """The page on ``GET /`` (and ``/status.html``), read-only, at ``host:port`` in a background thread;
    with ``token``, only for ``Authorization: Bearer <token>``. Rendered at most every ``cache_s``."""

    def __init__(
        self, address: str, page: Callable[[], str], *, token: Secret | None = None, cache_s: float = 10.0
    ) -> None:
        self._page = page
        self._token = token
        self._cache_s = cache_s
        self._cached: tuple[float, bytes] | None = None
        self._lock = threading.Lock()
        self._http = BackgroundServer(address, self._handler(), option="status-addr", name="drkit-status")

    @property
    def port(self) -> int:
        return self._http.port

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def html(self) -> bytes:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._cache_s:
                try:
                    body = self._page().encode()
                except Exception as exc:  # noqa: BLE001 - shown as the page, and logged
                    log.warning("status page not rendered: %s", exc)
                    text = escape(f"{type(exc).__name__}: {exc}")
                    return f"<!DOCTYPE html><title>drkit status</title><p>not rendered: {text}</p>".encode()
                self._cached = (time.monotonic(), body)
            return self._cached[1]

    def authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token.reveal_bytes()
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, *, head: bool) -> None:
                if not server.authorized(self.headers.get("Authorization")):
                    self._send(401, b"a bearer token is needed\n", head, {"WWW-Authenticate": "Bearer"})
                elif self.path.split("?", 1)[0] in ("/", "/status.html"):
                    self._send(200, server.html(), head, {}, "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found\n", head, {})

            def _send(
                self,
                status: int,
                body: bytes,
                head: bool,
                headers: dict[str, str],
                content_type: str = "text/plain; charset=utf-8",
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", CSP)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Cache-Control", "no-store")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
                return

        return Handler
