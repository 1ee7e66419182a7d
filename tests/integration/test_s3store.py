"""S3Store on real servers (MinIO, SeaweedFS): what only S3 has, beyond the conformance suite.

The writer credential (what a backup job holds) cannot delete or shorten through S3Store; the admin
deletes GOVERNANCE-locked versions only when the store is built with ``bypass_governance=True``;
errors are classified (wrong credentials, no bucket, nothing listening); puts carry a SHA-256 the
server checks and ``If-None-Match`` so that racing writers get one winner.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import ssl
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from drkit.sandbox.pki import CertFiles, CertificateAuthority
from drkit.sandbox.ports import free_port
from drkit.sandbox.s3server import S3Credentials, S3Server
from drkit.secret import Secret
from drkit.storage.base import LockMode, Retention
from drkit.storage.errors import (
    AccessDenied,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
    TransientStoreError,
)
from drkit.storage.options import S3Options
from drkit.storage.retry import RetryingStore
from drkit.storage.s3 import S3Store
from drkit.storage.url import open_store
from tests.infra.s3 import boto3_client, bucket_name

PREFIX = "repo"


def later(minutes: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)


def options(s3: S3Server, creds: S3Credentials, *, bypass_governance: bool = False) -> S3Options:
    return S3Options(
        endpoint=s3.endpoint,
        region=s3.region,
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        session_token=creds.session_token,
        bypass_governance=bypass_governance,
    )


def store_for(
    s3: S3Server, creds: S3Credentials, *, bucket: str | None = None, bypass_governance: bool = False
) -> S3Store:
    return S3Store(bucket or s3.bucket, PREFIX, options(s3, creds, bypass_governance=bypass_governance))


def test_the_writer_cannot_delete_or_shorten(s3: S3Server) -> None:
    writer = store_for(s3, s3.writer)
    until = later(60)
    comp = writer.put("packs/c", b"c", retention=Retention(LockMode.COMPLIANCE, until))
    gov = writer.put("packs/g", b"g", retention=Retention(LockMode.GOVERNANCE, until))
    writer.put("scratch", b"unlocked")

    for key, version in (("packs/c", comp), ("packs/g", gov)):
        with pytest.raises(ObjectLocked):
            writer.delete(key)
        with pytest.raises(ObjectLocked):
            writer.delete(key, version_id=version)
    # Unlocked, the credential itself is what refuses:
    with pytest.raises(AccessDenied):
        writer.delete("scratch")
    # Shortening is never even asked for; extending is allowed.
    writer.extend_retention("packs/c", until - timedelta(minutes=30))
    assert writer.head("packs/c").retention == Retention(LockMode.COMPLIANCE, until)
    writer.extend_retention("packs/c", until + timedelta(hours=1))
    assert writer.head("packs/c").retention == Retention(LockMode.COMPLIANCE, until + timedelta(hours=1))
    assert [writer.get(k) for k in ("packs/c", "packs/g", "scratch")] == [b"c", b"g", b"unlocked"]


def test_the_writer_cannot_bypass_governance_even_when_configured_to(s3: S3Server) -> None:
    writer = store_for(s3, s3.writer, bypass_governance=True)
    writer.put("idx", b"i", retention=Retention(LockMode.GOVERNANCE, later(60)))
    with pytest.raises(ObjectLocked):
        writer.delete("idx")
    assert writer.get("idx") == b"i"


def test_the_admin_bypasses_governance_only_when_configured_to(s3: S3Server) -> None:
    admin = store_for(s3, s3.admin)
    bypassing = store_for(s3, s3.admin, bypass_governance=True)
    admin.put("gov", b"g", retention=Retention(LockMode.GOVERNANCE, later(60)))
    admin.put("comp", b"c", retention=Retention(LockMode.COMPLIANCE, later(60)))

    with pytest.raises(ObjectLocked):
        admin.delete("gov")  # no BypassGovernanceRetention header by default
    with pytest.raises(ObjectLocked):
        bypassing.delete("comp")  # COMPLIANCE is never bypassed
    bypassing.delete("gov")
    assert not admin.exists("gov")
    assert admin.get("comp") == b"c"


def test_put_sends_a_sha256_the_server_keeps(s3: S3Server) -> None:
    store = store_for(s3, s3.writer)
    data = b"checksummed" * 1000
    store.put("sum", data)
    raw = boto3_client(s3, s3.admin).head_object(
        Bucket=s3.bucket, Key=f"{PREFIX}/sum", ChecksumMode="ENABLED"
    )
    assert raw.get("ChecksumSHA256") == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_racing_puts_of_one_key_have_one_winner(s3: S3Server) -> None:
    store = store_for(s3, s3.writer)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def racer(i: int) -> None:
        start.wait()
        try:
            store.put("contended", f"writer {i}".encode())
            result = "ok"
        except ObjectExists:
            result = "exists"
        except StoreError as exc:
            result = f"error: {exc}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["exists"] * 7 + ["ok"], outcomes
    assert len(store.versions("contended")) == 1


def test_the_prefix_separates_stores_in_one_bucket(s3: S3Server) -> None:
    one = S3Store(s3.bucket, "a/one", options(s3, s3.writer))
    two = S3Store(s3.bucket, "a/two/", options(s3, s3.writer))
    one.put("config", b"1")
    two.put("config", b"2")
    assert [i.key for i in one.list()] == ["config"]
    assert (one.get("config"), two.get("config")) == (b"1", b"2")
    raw = boto3_client(s3, s3.admin).list_objects_v2(Bucket=s3.bucket)
    assert sorted(o["Key"] for o in raw.get("Contents", [])) == ["a/one/config", "a/two/config"]


def test_supports_object_lock_reads_the_bucket(s3: S3Server) -> None:
    assert store_for(s3, s3.writer).supports_object_lock
    plain_bucket = bucket_name("nolock")
    s3.create_bucket(plain_bucket, object_lock=False)
    plain = store_for(s3, s3.admin, bucket=plain_bucket)
    assert not plain.supports_object_lock
    with pytest.raises(StoreError) as err:
        plain.put("x", b"x", retention=Retention(LockMode.COMPLIANCE, later(60)))
    assert not err.value.transient
    assert err.value.key == "x"


def test_wrong_credentials_are_access_denied_and_not_retried(s3: S3Server) -> None:
    sleeps: list[float] = []
    for creds in (
        S3Credentials("no-such-key", Secret("no-such-secret")),
        S3Credentials(s3.writer.access_key, Secret("wrong-secret"), s3.writer.session_token),
    ):
        store = RetryingStore(store_for(s3, creds), sleep=sleeps.append)
        with pytest.raises(AccessDenied):
            store.put("x", b"x")
        with pytest.raises(AccessDenied):
            store.get("x")
        with pytest.raises(AccessDenied):
            list(store.list())
    assert sleeps == []


def test_a_missing_bucket_is_not_a_missing_object(s3: S3Server) -> None:
    store = store_for(s3, s3.admin, bucket=bucket_name("never-created"))
    with pytest.raises(StoreError) as err:
        store.get("x")
    assert not isinstance(err.value, ObjectNotFound)
    assert "NoSuchBucket" in str(err.value)
    with pytest.raises(StoreError) as err:
        list(store.list())
    assert not isinstance(err.value, ObjectNotFound)


def test_nothing_listening_is_transient_and_retried(s3: S3Server) -> None:
    dead = S3Options(
        endpoint=f"http://127.0.0.1:{free_port()}",
        region=s3.region,
        access_key=s3.writer.access_key,
        secret_key=s3.writer.secret_key,
    )
    sleeps: list[float] = []
    store = RetryingStore(S3Store("bucket", "", dead), attempts=3, base_delay=0.001, sleep=sleeps.append)
    with pytest.raises(TransientStoreError) as err:
        store.get("x")
    assert err.value.key == "x"
    assert "127.0.0.1" in str(err.value)
    assert len(sleeps) == 2
    with pytest.raises(TransientStoreError):
        list(store.list())


def test_url_and_repr_show_no_secret(s3: S3Server) -> None:
    store = RetryingStore(store_for(s3, s3.admin))
    secret = str(s3.admin.secret_key.reveal())
    for text in (store.url, repr(store), repr(store.inner)):
        assert secret not in text
        assert s3.admin.access_key not in text
    assert store.url.startswith(f"s3://{s3.bucket}/{PREFIX}?endpoint=")


def _isolate_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_credentials_from_the_environment(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.writer.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", str(s3.writer.secret_key.reveal()))
    if s3.writer.session_token is not None:
        monkeypatch.setenv("AWS_SESSION_TOKEN", str(s3.writer.session_token.reveal()))
    store = open_store(f"s3://{s3.bucket}/env?endpoint={s3.endpoint}&region={s3.region}")
    store.put("k", b"from env")
    assert store.get("k") == b"from env"
    with pytest.raises(AccessDenied):  # it really is the writer
        store.delete("k")


def test_credentials_from_a_named_profile(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate_aws_env(monkeypatch, tmp_path)
    lines = [
        "[drkit-writer]",
        f"aws_access_key_id = {s3.writer.access_key}",
        f"aws_secret_access_key = {s3.writer.secret_key.reveal()!s}",
    ]
    if s3.writer.session_token is not None:
        lines.append(f"aws_session_token = {s3.writer.session_token.reveal()!s}")
    (tmp_path / "aws-credentials").write_text("\n".join(lines) + "\n")
    store = open_store(
        f"s3://{s3.bucket}/profile?endpoint={s3.endpoint}&region={s3.region}&profile=drkit-writer"
    )
    store.put("k", b"from profile")
    assert store.get("k") == b"from profile"
    assert "drkit-writer" in store.url
    assert str(s3.writer.secret_key.reveal()) not in store.url


def test_no_credentials_at_all_is_access_denied(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate_aws_env(monkeypatch, tmp_path)
    store = open_store(f"s3://{s3.bucket}?endpoint={s3.endpoint}&region={s3.region}")
    with pytest.raises(AccessDenied) as err:
        store.get("k")
    assert err.value.hint


class TlsProxy:
    """Terminates TLS on a loopback port and forwards the bytes to the S3 server's plain port.

    The test servers speak plain http; this is what lets ``ca_bundle`` be tested against them.
    """

    def __init__(self, upstream: str, cert: CertFiles) -> None:
        self.upstream = urlsplit(upstream)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert.cert, cert.key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # the client refused our certificate
            return
        host, port = self.upstream.hostname or "127.0.0.1", self.upstream.port or 80
        with tls, socket.create_connection((host, port)) as up:
            while True:
                if not tls.pending():
                    ready, _, _ = select.select([tls, up], [], [], 60)
                    if not ready:
                        return
                else:
                    ready = [tls]
                for src, dst in ((tls, up), (up, tls)):
                    if src in ready:
                        data = src.recv(65536)
                        if not data:
                            return
                        dst.sendall(data)

    def close(self) -> None:
        self.listener.close()


def test_https_with_a_ca_bundle(s3: S3Server, tmp_path: Path) -> None:
    ca = CertificateAuthority.create("drkit-test-s3-ca")
    trusted = ca.write(tmp_path, "ca")
    served = ca.issue_server(tmp_path, "s3", common_name="127.0.0.1")
    stranger = CertificateAuthority.create("someone-else").write(tmp_path, "other-ca")
    proxy = TlsProxy(s3.endpoint, served)
    try:
        admin = S3Options(access_key=s3.admin.access_key, secret_key=s3.admin.secret_key)
        base = f"s3://{s3.bucket}/tls?endpoint=https://127.0.0.1:{proxy.port}&region={s3.region}"
        store = open_store(f"{base}&ca_bundle={trusted.cert}", admin)
        retention = Retention(LockMode.GOVERNANCE, later(60))
        store.put("k", b"over https", retention=retention)
        assert store.get("k") == b"over https"
        assert store.head("k").retention == retention

        sleeps: list[float] = []
        untrusting = RetryingStore(
            S3Store(
                s3.bucket,
                "tls",
                replace(
                    admin,
                    endpoint=f"https://127.0.0.1:{proxy.port}",
                    region=s3.region,
                    ca_bundle=stranger.cert,
                ),
            ),
            sleep=sleeps.append,
        )
        with pytest.raises(StoreError) as err:
            untrusting.get("k")
        assert not err.value.transient  # a certificate problem is not retried
        assert "certificate" in str(err.value).lower()
        assert sleeps == []
    finally:
        proxy.close()
