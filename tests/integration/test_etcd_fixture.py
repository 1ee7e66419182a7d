"""The etcd fixtures: real servers that store and return keys, and a TLS one that refuses strangers."""

from __future__ import annotations

import base64
import ssl
import urllib.error

import pytest

from drkit.sandbox import http
from drkit.sandbox.etcd import EtcdServer


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _put_get(server: EtcdServer, key: str, value: str) -> str:
    ctx = server.client_context()
    http.call_json(
        "POST", f"{server.endpoint}/v3/kv/put", body={"key": _b64(key), "value": _b64(value)}, context=ctx
    )
    doc = http.call_json("POST", f"{server.endpoint}/v3/kv/range", body={"key": _b64(key)}, context=ctx)
    assert doc["count"] == "1"
    return base64.b64decode(doc["kvs"][0]["value"]).decode()


def test_plain_etcd_puts_and_gets(etcd: EtcdServer) -> None:
    assert etcd.endpoint.startswith("http://127.0.0.1:")
    assert etcd.ca_file is None
    assert etcd.cert_file is None
    assert etcd.data_dir.is_dir()
    assert _put_get(etcd, "/drkit/hello", "world") == "world"


def test_tls_etcd_puts_and_gets_with_client_cert(etcd_tls: EtcdServer) -> None:
    assert etcd_tls.endpoint.startswith("https://127.0.0.1:")
    assert etcd_tls.ca_file is not None
    assert etcd_tls.cert_file is not None
    assert etcd_tls.key_file is not None
    assert etcd_tls.ca_file.parent.name == "etcd"
    assert {p.name for p in etcd_tls.ca_file.parent.iterdir()} >= {
        "ca.crt",
        "server.crt",
        "server.key",
        "healthcheck-client.crt",
        "healthcheck-client.key",
    }
    assert _put_get(etcd_tls, "/drkit/secret", "value") == "value"


def test_tls_etcd_refuses_client_without_cert(etcd_tls: EtcdServer) -> None:
    no_cert = http.tls_context(etcd_tls.ca_file)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
        http.call("GET", f"{etcd_tls.endpoint}/health", context=no_cert)


def test_stop_ends_the_process(etcd: EtcdServer) -> None:
    etcd.stop()
    assert not etcd.process.alive()
