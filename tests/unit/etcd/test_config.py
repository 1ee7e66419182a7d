"""Endpoint parsing and TLS settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.errors import ConfigError
from drkit.etcd import KUBEADM_PKI_DIR, EtcdEndpoint, EtcdTLS, endpoints_from


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://10.0.0.1:2379", "https://10.0.0.1:2379"),
        ("10.0.0.1:2379", "https://10.0.0.1:2379"),
        ("etcd-0", "https://etcd-0:2379"),
        ("http://127.0.0.1:23790/", "http://127.0.0.1:23790"),
        ("[::1]:2379", "https://[::1]:2379"),
    ],
)
def test_endpoints_are_normalised(text: str, url: str) -> None:
    assert EtcdEndpoint.parse(text).url == url


def test_the_default_scheme_applies_only_without_one() -> None:
    assert EtcdEndpoint.parse("10.0.0.1:2379", default_scheme="http").url == "http://10.0.0.1:2379"
    assert EtcdEndpoint.parse("https://10.0.0.1:2379", default_scheme="http").tls


@pytest.mark.parametrize(
    "text", ["", "unix:///run/etcd.sock", "https://h:2379/v3", "https://h:port", "https://:2379"]
)
def test_bad_endpoints_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="etcd endpoint"):
        EtcdEndpoint.parse(text)


def test_endpoints_from_a_comma_list() -> None:
    assert endpoints_from("a:2379, b:2379,,") == ["a:2379", "b:2379"]
    assert endpoints_from(["a", " "]) == ["a"]


def test_kubeadm_preset_is_the_healthcheck_client() -> None:
    tls = EtcdTLS.kubeadm()
    assert tls.ca_file == Path("/etc/kubernetes/pki/etcd/ca.crt")
    assert tls.cert_file == KUBEADM_PKI_DIR / "healthcheck-client.crt"
    assert tls.key_file == KUBEADM_PKI_DIR / "healthcheck-client.key"
    assert EtcdTLS.kubeadm(Path("/x")).ca_file == Path("/x/ca.crt")


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    tls = EtcdTLS.kubeadm(tmp_path)
    with pytest.raises(ConfigError, match=r"etcd CA .*ca\.crt"):
        tls.context()


def test_a_cert_without_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both"):
        EtcdTLS(ca_file=None, cert_file=tmp_path / "c.crt").check()


def test_unparsable_tls_files_are_config_errors(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate")
    with pytest.raises(ConfigError, match="etcd TLS files"):
        EtcdTLS(ca_file=ca).context()
