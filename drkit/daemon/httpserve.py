"""The daemon's small HTTP endpoints (``/metrics`` and health, the status page): one server in a
background thread, and the ``host:port`` options they take."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from drkit.errors import ConfigError


def parse_address(address: str, option: str = "metrics-addr") -> tuple[str, int]:
    """``host:port`` (``[::1]:9090`` for IPv6; port 0 picks a free one). ``ConfigError`` naming
    ``option`` otherwise."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"expected HOST:PORT, got {address!r}", field=option, hint="e.g. 0.0.0.0:9090")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":9090" asks for every interface
    return host, int(port_text)


class BackgroundServer:
    """``handler`` served at ``address`` (the value of ``option``) by a thread named ``name``."""

    def __init__(
        self, address: str, handler: type[BaseHTTPRequestHandler], *, option: str, name: str
    ) -> None:
        host, port = parse_address(address, option)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", field=option) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
