"""A fault-injecting HTTP proxy on loopback, for S3 clients (drkit's own: small, no toxiproxy).

    with FaultProxy("http://127.0.0.1:9000", rate=0.05, seed=7) as proxy:
        ...  # point the client at proxy.url; proxy.injected counts the faults by kind

Every request is forwarded to ``upstream`` unless a fault is drawn for it. The draw for a request
depends only on ``seed``, its method and path and how many times that method and path were seen, so
a run is repeatable whatever order a client's threads send in (object names that are random per
repository, such as pack ids, still vary from run to run). ``first`` scripts a fault for the first
request matching ``"METHOD path-part"`` (e.g. ``{"PUT /config": "reset-after"}``), so that a test
covers a case every time. Faults (``KINDS``):

* ``slowdown``: answer 503 SlowDown without forwarding;  ``internal``: 500 InternalError, same;
* ``reset-before``: close the client's connection without forwarding;
* ``reset-after``: forward (the request lands), then close without answering (a lost reply);
* ``truncate``: forward, answer with the full Content-Length but half the body, close;
* ``delay``: forward after ``delay`` seconds (a slow server);
* ``flip``: forward, flip one byte of a 200 object GET body (the checksum header is kept: botocore
  catches it);  ``flip-bare``: the same, and drop the ``x-amz-checksum-*`` headers, as a server that
  sends none would (only drkit's own check of what it read can catch it).

Requests signed with SigV4 stay valid: the client's Host header and body are forwarded unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import random
import socket
import threading
from collections import Counter
from types import TracebackType
from urllib.parse import urlsplit

KINDS = ("slowdown", "internal", "reset-before", "reset-after", "truncate", "delay", "flip", "flip-bare")
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "upgrade"}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.05,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        delay: float = 0.5,
        first: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate = rate
        self.seed = seed
        self.kinds = kinds
        self.delay = delay
        self.first = dict(first or {})  # "METHOD path-part" -> kind, for the first matching request
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="FaultProxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    # -- the draw ----------------------------------------------------------------------------------

    def _draw(self, method: str, path: str) -> str | None:
        with self._lock:
            for rule, kind in list(self.first.items()):
                want_method, _, part = rule.partition(" ")
                if method == want_method and part in path.partition("?")[0]:
                    del self.first[rule]
                    self.injected[kind] += 1
                    return kind
            self.requests += 1
            self._seen[(method, path)] += 1
            nth = self._seen[(method, path)]
        digest = hashlib.sha256(f"{self.seed}\0{method}\0{path}\0{nth}".encode()).digest()
        rng = random.Random(digest)
        if rng.random() >= self.rate:
            return None
        object_get = method == "GET" and "?" not in path.replace("?versionId=", "")
        usable = [
            k
            for k in self.kinds
            if (not k.startswith("flip") or object_get)
            and (k != "truncate" or method != "HEAD")  # bodies only
        ]
        kind = rng.choice(usable)
        with self._lock:
            self.injected[kind] += 1
        return kind

    # -- serving -----------------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        reader = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                request = _read_request(reader, conn)
                if request is None:
                    return
                if not self._one(conn, *request):
                    return
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            conn.close()

    def _one(
        self, conn: socket.socket, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> bool:
        """Handle one request; ``False`` when the client connection was closed on purpose."""
        kind = self._draw(method, path)
        if kind in ("slowdown", "internal"):
            code, status = ("SlowDown", 503) if kind == "slowdown" else ("InternalError", 500)
            xml = f"<Error><Code>{code}</Code><Message>injected by FaultProxy</Message></Error>".encode()
            conn.sendall(_response(status, [("Content-Type", "application/xml")], xml, method))
            return True
        if kind == "reset-before":
            _reset(conn)
            return False
        if kind == "delay" and self._stop.wait(self.delay):
            return False
        status, reason, rheaders, rbody = self._forward(method, path, headers, body)
        if kind == "reset-after":
            _reset(conn)
            return False
        if kind in ("flip", "flip-bare") and status == 200 and rbody:
            flipped = bytearray(rbody)
            flipped[len(rbody) // 2] ^= 0x01
            rbody = bytes(flipped)
            if kind == "flip-bare":
                rheaders = [(k, v) for k, v in rheaders if not k.lower().startswith("x-amz-checksum")]
        answer = _response(status, rheaders, rbody, method, reason=reason)
        if kind == "truncate" and rbody:
            conn.sendall(answer[: len(answer) - len(rbody) // 2 - 1])
            _reset(conn)
            return False
        conn.sendall(answer)
        return True

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        up = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            up.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP:
                    up.putheader(name, value)
            up.endheaders(body if body else None)
            resp = up.getresponse()
            data = resp.read()
            rheaders = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
            return resp.status, resp.reason, rheaders, data
        finally:
            up.close()


def _read_request(
    reader: object, conn: socket.socket
) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    rfile = reader  # a BufferedReader over the socket
    line = rfile.readline(65537)  # type: ignore[attr-defined]
    if not line:
        return None
    method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(65537)  # type: ignore[attr-defined]
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("transfer-encoding", "").lower() == "chunked":
        raise ValueError("chunked request bodies are not supported by FaultProxy")
    if lower.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    length = int(lower.get("content-length", "0") or 0)
    body = rfile.read(length) if length else b""  # type: ignore[attr-defined]
    return method, path, headers, body


def _response(
    status: int, headers: list[tuple[str, str]], body: bytes, method: str, *, reason: str = "Error"
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    has_length = False
    for name, value in headers:
        shown = value
        if name.lower() == "content-length":
            has_length = True
            if method != "HEAD":
                shown = str(len(body))
        lines.append(f"{name}: {shown}")
    if not has_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body)


def _reset(conn: socket.socket) -> None:
    """Close with RST, not FIN: what a dropped connection looks like to the client."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
