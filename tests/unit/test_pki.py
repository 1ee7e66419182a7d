"""The sandbox PKI: what each certificate says, and that private keys are private."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from drkit.sandbox.pki import KUBE_SERVER_DNS, KUBE_SERVER_IPS, CertificateAuthority, service_account_keys


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_self_signed_ca_with_private_key(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("test-ca")
    files = ca.write(tmp_path)
    cert = _load(files.cert)
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert.verify_directly_issued_by(cert)
    assert _mode(files.key) == 0o600


def test_server_cert_names_loopback_and_service(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("kubernetes")
    files = ca.issue_server(
        tmp_path,
        "apiserver",
        common_name="kube-apiserver",
        dns_names=KUBE_SERVER_DNS,
        ip_addresses=KUBE_SERVER_IPS,
    )
    cert = _load(files.cert)
    cert.verify_directly_issued_by(ca.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    ips = sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert ipaddress.ip_address("10.0.0.1") in ips
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert _mode(files.key) == 0o600


def test_peer_cert_serves_and_authenticates(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("etcd-ca")
    cert = _load(ca.issue_server(tmp_path, "peer", common_name="etcd-peer", client_auth=True).cert)
    usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_client_cert_carries_user_and_groups(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("kubernetes")
    files = ca.issue_client(tmp_path, "admin", common_name="system:admin", organizations=["system:masters"])
    cert = _load(files.cert)
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:admin"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = load_pem_private_key(files.key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert _mode(files.key) == 0o600


def test_service_account_keys_match(tmp_path: Path) -> None:
    files = service_account_keys(tmp_path)
    private = load_pem_private_key(files.private.read_bytes(), password=None)
    public = load_pem_public_key(files.public.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert private.public_key().public_numbers() == public.public_numbers()
    assert _mode(files.private) == 0o600
