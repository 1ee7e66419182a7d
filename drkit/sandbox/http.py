"""Plain HTTP(S) JSON calls to the local servers (health checks, creating a few objects).

The sandbox sits below ``drkit.kube`` in the layers, so it talks to its servers with ``urllib``.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 5.0


def tls_context(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (or nothing is verified when it is None: for the
    self-signed serving certificates of loopback-only components) with an optional client cert."""
    if ca_file is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None and key_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class HTTPStatusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def call(
    method: str,
    url: str,
    *,
    body: Any = None,
    context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, bytes]:
    """Send ``body`` as JSON; return the status and raw body. Raises ``HTTPStatusError`` on >= 400."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - URLs built by drkit
    if data is not None:
        req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        raise HTTPStatusError(exc.code, exc.read().decode(errors="replace")) from exc


def call_json(
    method: str,
    url: str,
    *,
    body: Any = None,
    context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT,
) -> Any:
    _, raw = call(method, url, body=body, context=context, timeout=timeout)
    return json.loads(raw) if raw else None
