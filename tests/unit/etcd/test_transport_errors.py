"""What a low-level failure of an etcd call becomes: a plain-HTTP call to a TLS-only listener is told
to use https:// whether the server answered it with a 400, closed it, or reset it (etcd does each;
the reset gave no hint and made an integration test fail one run in six)."""

from __future__ import annotations

import http.client

import pytest

from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import EtcdUnavailable
from drkit.etcd.transport import SCHEME_HINT, wrap

PLAIN = EtcdEndpoint("http", "127.0.0.1", 2379)


@pytest.mark.parametrize(
    "exc",
    [http.client.RemoteDisconnected("closed"), ConnectionResetError(104, "Connection reset by peer")],
    ids=["closed", "reset"],
)
def test_a_plain_call_dropped_by_the_server_suggests_https(exc: Exception) -> None:
    err = wrap(exc, PLAIN, "/v3/maintenance/status")
    assert isinstance(err, EtcdUnavailable)
    assert err.hint == SCHEME_HINT
    assert "http://127.0.0.1:2379" in err.message


def test_a_refused_connection_is_not_about_the_scheme() -> None:
    err = wrap(ConnectionRefusedError(111, "Connection refused"), PLAIN, "/v3/maintenance/status")
    assert err.hint is None
    assert "cannot connect: Connection refused" in err.message
