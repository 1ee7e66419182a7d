"""Hostile loopback servers: one that accepts connections and never answers, one that answers slowly,
one that answers every request with an error, and a TCP proxy that holds each new connection.

    with SilentServer() as server:     # accepts TCP, reads what is sent, never writes a byte
        url = server.url               # http://127.0.0.1:PORT
    with SlowServer(delay=30) as server:   # answers every request after ``delay`` seconds, then
        ...                                # trickles a valid HTTP answer a byte every ``trickle`` s

    with SlowProxy("127.0.0.1", 6443, delay=6) as proxy:   # a slow network in front of a real server
        ...                                # https://{proxy.address}: TLS passes through unchanged

They bind 127.0.0.1 on a free port and close every connection they hold when the ``with`` ends, so
that a test can prove a client gives up by itself (its deadline), not because the server went away.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Self


class SilentServer:
    """Accepts every connection and reads from it forever, never answering."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for conn in self._held:
                conn.close()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


class SlowServer(SilentServer):
    """Reads a request, waits ``delay`` seconds, then sends a valid JSON HTTP answer one byte every
    ``trickle`` seconds (so that no single read ever waits long: socket timeouts never fire)."""

    BODY = b'{"status": "ok"}'

    def __init__(self, delay: float = 0.0, trickle: float = 0.5) -> None:
        super().__init__()
        self.delay = delay
        self.trickle = trickle

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        received = b""
        while b"\r\n\r\n" not in received and not self._stop.is_set():
            try:
                piece = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not piece:
                return
            received += piece
        if self._stop.wait(self.delay):
            return
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(self.BODY)}\r\n\r\n".encode()
            + self.BODY
        )
        for i in range(len(answer)):
            try:
                conn.sendall(answer[i : i + 1])
            except OSError:
                return
            if self._stop.wait(self.trickle):
                return


class ErrorServer(SilentServer):
    """Answers every request at once with ``status`` (503 SlowDown by default) and counts them."""

    def __init__(self, status: int = 503, code: str = "SlowDown") -> None:
        super().__init__()
        self.status = status
        self.body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            "<Message>Please reduce your request rate.</Message></Error>"
        ).encode()
        self.requests = 0

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        received = b""
        while not self._stop.is_set():
            try:
                piece = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not piece:
                return
            received += piece
            while b"\r\n\r\n" in received:
                head, _, received = received.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                received = received[length:]
                with self._lock:
                    self.requests += 1
                answer = (
                    f"HTTP/1.1 {self.status} Error\r\nContent-Type: application/xml\r\n"
                    f"Content-Length: {len(self.body)}\r\n\r\n"
                ).encode() + self.body
                try:
                    conn.sendall(answer)
                except OSError:
                    return


class SlowProxy(SilentServer):
    """A TCP proxy to ``host:port`` that holds each new connection ``delay`` seconds before it connects
    upstream and relays both ways (bytes unchanged: TLS and its certificate checks pass through). A
    real slow network: a client that opens a connection waits, whatever it speaks. ``delay`` may be
    changed while it runs; it applies to the connections accepted afterwards."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        super().__init__()
        self.upstream = (host, port)
        self.delay = delay

    def _handle(self, conn: socket.socket) -> None:
        if self._stop.wait(self.delay):
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            conn.close()
            return
        with self._lock:
            self._held.append(upstream)
        threading.Thread(target=self._pipe, args=(upstream, conn), daemon=True).start()
        self._pipe(conn, upstream)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        source.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            try:
                target.sendall(data)
            except OSError:
                return


def elapsed(start: float) -> float:
    return time.monotonic() - start
