"""HTTP(S) calls to etcd's gRPC-JSON gateway with the standard library, errors wrapped at the boundary.

Every failure becomes an :class:`~drkit.errors.EtcdError` subclass that names the endpoint and the
call: :class:`EtcdUnavailable` (refused, timed out, reset: transient), :class:`EtcdTLSError`
(handshake refused: certificates), :class:`EtcdRequestFailed` (etcd said no).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from drkit import deadline
from drkit.deadline import DeadlineExceeded
from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import EtcdRequestFailed, EtcdTLSError, EtcdUnavailable

READ_SIZE = 256 << 10
SLOW_HINT = "is the endpoint up and reachable? A slow one may need a longer --timeout (DRKIT_TIMEOUT)"
T = TypeVar("T")
log = logging.getLogger(__name__)

CLIENT_CERT_HINT = (
    "etcd with --client-cert-auth needs a client certificate and key signed by its CA"
    " (kubeadm: /etc/kubernetes/pki/etcd/healthcheck-client.crt and .key)"
)
CA_HINT = "give the CA that signed etcd's serving certificate (kubeadm: /etc/kubernetes/pki/etcd/ca.crt)"
SCHEME_HINT = "the endpoint may serve TLS: use https:// and the etcd CA and client certificate"


class Transport:
    """Opens one connection per call (etcd calls are few and long; no pooling needed).

    ``timeout`` bounds the connect and each read; ``deadline_seconds`` (default: the CLI's
    ``--timeout``, ``drkit.deadline.current().metadata``) bounds a whole call, and a snapshot stream
    until its answer starts. A call still unanswered after ``Timeouts.slow_seconds`` is reported once
    (WARNING); one unanswered at the deadline raises ``EtcdUnavailable`` naming the endpoint."""

    def __init__(
        self,
        context: ssl.SSLContext | None,
        timeout: float,
        server_name: str | None = None,
        *,
        deadline_seconds: float | None = None,
    ) -> None:
        limits = deadline.current()
        self.deadline = deadline_seconds if deadline_seconds is not None else limits.metadata
        self._context = context
        self._timeout = min(timeout, self.deadline)
        self._server_name = server_name
        self._slow = min(limits.slow_seconds, self.deadline / 4)
        self._warned_slow = False

    @property
    def read_timeout(self) -> float:
        """Seconds a stream may wait for its next bytes."""
        return self._timeout

    def _bounded(self, endpoint: EtcdEndpoint, path: str, seconds: float, fn: Callable[[], T]) -> T:
        def slow(elapsed: float) -> None:
            level = logging.DEBUG if self._warned_slow else logging.WARNING
            self._warned_slow = True
            log.log(
                level,
                "etcd %s is slow: %s has had no answer for %.1fs; waiting up to %.1fs more",
                endpoint,
                path,
                elapsed,
                max(0.0, seconds - elapsed),
            )

        try:
            return deadline.run(fn, seconds, slow=min(self._slow, seconds / 2), on_slow=slow)
        except DeadlineExceeded:
            raise EtcdUnavailable(
                f"etcd {endpoint} ({path}): no answer within {seconds:g}s",
                hint=SLOW_HINT,
            ) from None

    def _connect(self, endpoint: EtcdEndpoint, timeout: float | None) -> http.client.HTTPConnection:
        timeout = self._timeout if timeout is None else timeout
        if endpoint.tls:
            ctx = self._context or ssl.create_default_context()
            conn: http.client.HTTPConnection = _HTTPSConnection(
                endpoint.host,
                endpoint.port,
                timeout=timeout,
                context=ctx,
                server_name=self._server_name,
            )
        else:
            conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
        return conn

    def _send(
        self,
        endpoint: EtcdEndpoint,
        method: str,
        path: str,
        body: Any,
        *,
        accept: tuple[int, ...] = (),
        timeout: float | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connect(endpoint, timeout)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
        except Exception as exc:
            conn.close()
            raise wrap(exc, endpoint, path) from exc
        if resp.status >= 400 and resp.status not in accept:
            try:
                raw = resp.read(64 << 10)
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                conn.close()
            raise _status_error(endpoint, path, resp.status, raw)
        return conn, resp

    def call(
        self,
        endpoint: EtcdEndpoint,
        method: str,
        path: str,
        body: Any = None,
        *,
        accept: tuple[int, ...] = (),
        timeout: float | None = None,
    ) -> Any:
        """One JSON request; the decoded JSON answer (also for the error statuses in ``accept``).
        ``timeout`` overrides the transport's for this call (and its deadline, when longer)."""
        seconds = max(self.deadline, timeout or 0.0)
        return self._bounded(
            endpoint,
            path,
            seconds,
            lambda: self._call(endpoint, method, path, body, accept=accept, timeout=timeout),
        )

    def _call(
        self,
        endpoint: EtcdEndpoint,
        method: str,
        path: str,
        body: Any,
        *,
        accept: tuple[int, ...],
        timeout: float | None,
    ) -> Any:
        conn, resp = self._send(endpoint, method, path, body, accept=accept, timeout=timeout)
        try:
            raw = resp.read()
        except Exception as exc:
            raise wrap(exc, endpoint, path) from exc
        finally:
            conn.close()
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise EtcdRequestFailed(f"{endpoint} {path}: answer is not JSON: {raw[:200]!r}") from exc

    def stream(self, endpoint: EtcdEndpoint, path: str, body: Any = None) -> Iterator[bytes]:
        """POST and yield the response body in pieces of up to ``READ_SIZE`` (chunked encoding undone).

        The connection is closed when the generator ends or is closed. The answer must start within
        the deadline; then ``timeout`` bounds each read (a snapshot may take long, but never stalls).
        """
        conn, resp = self._bounded(
            endpoint, path, self.deadline, lambda: self._send(endpoint, "POST", path, body)
        )
        try:
            while True:
                try:
                    piece = resp.read1(READ_SIZE)
                except Exception as exc:
                    raise wrap(exc, endpoint, path) from exc
                if not piece:
                    return
                yield piece
        finally:
            conn.close()


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS with an optional name to check the server certificate against (``server_name``)."""

    def __init__(
        self, host: str, port: int, *, timeout: float, context: ssl.SSLContext, server_name: str | None
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls_context = context
        self._server_name = server_name

    def connect(self) -> None:
        if self._server_name is None:
            super().connect()
            return
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self._server_name)


def wrap(exc: Exception, endpoint: EtcdEndpoint, path: str) -> EtcdError:  # noqa: PLR0911
    """The drkit error for a low-level failure of a call to ``endpoint``."""
    if isinstance(exc, EtcdError):
        return exc
    where = f"etcd {endpoint} ({path})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EtcdTLSError(
            f"{where}: the server certificate is not trusted: {exc.verify_message or exc}", hint=CA_HINT
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        return EtcdTLSError(f"{where}: TLS handshake failed: {reason}", hint=CLIENT_CERT_HINT)
    if isinstance(exc, ConnectionResetError | BrokenPipeError) and endpoint.tls:
        # TLS 1.3 servers reject a missing client certificate after the handshake: the reset
        # shows up at the first read.
        return EtcdTLSError(
            f"{where}: connection reset during TLS (client certificate refused or missing?): {exc}",
            hint=CLIENT_CERT_HINT,
        )
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError) and not endpoint.tls:
        # a TLS-only listener either answers plain HTTP with a 400 or drops it: both mean "use https"
        return EtcdUnavailable(f"{where}: closed the connection without an answer", hint=SCHEME_HINT)
    if isinstance(exc, TimeoutError | socket.timeout):
        return EtcdUnavailable(f"{where}: timed out")
    if isinstance(exc, OSError):
        return EtcdUnavailable(f"{where}: cannot connect: {exc.strerror or exc}")
    if isinstance(exc, http.client.HTTPException):
        return EtcdUnavailable(f"{where}: broken HTTP exchange: {type(exc).__name__} {exc}")
    return EtcdError(f"{where}: {type(exc).__name__}: {exc}")


def _status_error(endpoint: EtcdEndpoint, path: str, status: int, raw: bytes) -> EtcdError:
    message = raw.decode(errors="replace").strip()
    code: int | None = None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        inner = doc.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else doc
        message = str(err.get("message", message))
        c = err.get("code", err.get("grpc_code"))
        code = c if isinstance(c, int) else None
    text = f"etcd {endpoint} ({path}): HTTP {status}: {message[:500]}"
    if status in (502, 503, 504):
        return EtcdUnavailable(text)
    return EtcdRequestFailed(text, status=status, code=code)
