"""drkit.etcd against real etcd 3.6 servers: status, endpoint choice, TLS, verified snapshots, and a
restore (``etcdutl snapshot restore``) whose HashKV at the recorded revision equals the original's."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from drkit.errors import EtcdError, MissingComponent, VerificationFailed
from drkit.etcd import EtcdClient, EtcdTLS, SnapshotResult, snapshotfile
from drkit.etcd.errors import EtcdRequestFailed, EtcdTLSError, EtcdUnavailable, SnapshotRaced
from drkit.sandbox import binaries, http, process
from drkit.sandbox.etcd import EtcdServer
from drkit.sandbox.pki import CertificateAuthority
from drkit.sandbox.ports import free_port
from tests.infra.plugin import missing


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def put(server: EtcdServer, key: str, value: str) -> int:
    """Write through etcd's gateway (the sandbox's plain HTTP helper); the new revision."""
    doc = http.call_json(
        "POST",
        f"{server.endpoint}/v3/kv/put",
        body={"key": _b64(key), "value": _b64(value)},
        context=server.client_context(),
    )
    return int(doc["header"]["revision"])


def get_all(server: EtcdServer, prefix: str) -> dict[str, str]:
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    doc = http.call_json(
        "POST",
        f"{server.endpoint}/v3/kv/range",
        body={"key": _b64(prefix), "range_end": _b64(end)},
        context=server.client_context(),
    )
    return {
        base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
        for kv in doc.get("kvs", [])
    }


def client_for(server: EtcdServer, *extra: str) -> EtcdClient:
    tls = None
    if server.ca_file is not None:
        tls = EtcdTLS(ca_file=server.ca_file, cert_file=server.cert_file, key_file=server.key_file)
    return EtcdClient([*extra, server.endpoint], tls, timeout=5.0)


def dead_endpoint(scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{free_port()}"  # handed out, nothing listens


def etcdutl() -> Path:
    try:
        return binaries.find("etcdutl")
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise


# -- status, health, choice ---------------------------------------------------------------------


def test_status_reports_the_member(etcd: EtcdServer) -> None:
    client = client_for(etcd)
    first = client.status(etcd.endpoint)
    rev = put(etcd, "/drkit/a", "1")
    st = client.status(etcd.endpoint)
    assert st.version.startswith("3.")
    assert st.revision == rev == first.revision + 1
    assert st.is_leader
    assert st.member_id != 0
    assert st.cluster_id != 0
    assert st.db_size > 0
    assert st.raft_applied_index > first.raft_applied_index
    assert st.storage_version
    health = client.health(etcd.endpoint)
    assert health.healthy


def test_healthiest_passes_over_a_dead_endpoint(etcd: EtcdServer) -> None:
    dead = dead_endpoint()
    client = client_for(etcd, dead)
    probes = client.probe()
    assert [p.usable for p in probes] == [False, True]
    assert probes[0].problem is not None
    assert "Connection refused" in probes[0].problem
    assert dead.split("//")[1] in probes[0].problem
    assert client.healthiest().endpoint.url == etcd.endpoint
    # calls without an endpoint go to the healthiest
    assert client.hash_kv(0).member_id == client.status(etcd.endpoint).member_id


def test_no_live_endpoint_is_a_clear_transient_error() -> None:
    a, b = dead_endpoint(), dead_endpoint()
    client = EtcdClient([a, b], timeout=2.0)
    with pytest.raises(EtcdUnavailable, match="no healthy etcd endpoint") as info:
        client.healthiest()
    assert a in str(info.value)
    assert b in str(info.value)
    assert info.value.transient
    with pytest.raises(EtcdUnavailable, match=a):
        client.status(a)


def test_hash_kv_at_a_future_revision_is_etcds_error(etcd: EtcdServer) -> None:
    client = client_for(etcd)
    put(etcd, "/drkit/a", "1")
    current = client.hash_kv(0, etcd.endpoint)
    again = client.hash_kv(current.hash_revision, etcd.endpoint)
    assert again.proof() == current.proof()
    with pytest.raises(EtcdRequestFailed, match="future revision") as info:
        client.hash_kv(current.hash_revision + 100, etcd.endpoint)
    assert etcd.endpoint in str(info.value)


# -- TLS ------------------------------------------------------------------------------------------


def test_tls_with_client_certificate(etcd_tls: EtcdServer) -> None:
    client = client_for(etcd_tls)
    put(etcd_tls, "/drkit/tls", "yes")
    st = client.status(etcd_tls.endpoint)
    assert st.revision >= 2
    assert client.health(etcd_tls.endpoint).healthy
    assert client.healthiest().endpoint.url == etcd_tls.endpoint


def test_tls_without_client_certificate_is_refused_clearly(etcd_tls: EtcdServer) -> None:
    client = EtcdClient([etcd_tls.endpoint], EtcdTLS(ca_file=etcd_tls.ca_file), timeout=5.0)
    with pytest.raises(EtcdTLSError) as info:
        client.status(etcd_tls.endpoint)
    assert etcd_tls.endpoint in info.value.message
    assert info.value.hint is not None
    assert "client certificate" in info.value.hint


def test_tls_with_a_foreign_ca_is_refused_clearly(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    other = CertificateAuthority.create("not-etcd").write(tmp_path, "other-ca")
    tls = EtcdTLS(ca_file=other.cert, cert_file=etcd_tls.cert_file, key_file=etcd_tls.key_file)
    client = EtcdClient([etcd_tls.endpoint], tls, timeout=5.0)
    with pytest.raises(EtcdTLSError, match="not trusted") as info:
        client.status(etcd_tls.endpoint)
    assert etcd_tls.endpoint in info.value.message


def test_a_client_certificate_from_another_ca_is_refused(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    stranger = CertificateAuthority.create("stranger").issue_client(tmp_path, "client", common_name="x")
    tls = EtcdTLS(ca_file=etcd_tls.ca_file, cert_file=stranger.cert, key_file=stranger.key)
    with pytest.raises(EtcdTLSError):
        EtcdClient([etcd_tls.endpoint], tls, timeout=5.0).status(etcd_tls.endpoint)


# -- snapshots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "gateway"])
def test_snapshot_stream_is_verified_and_pinned(etcd: EtcdServer, protocol: str) -> None:
    for i in range(200):
        put(etcd, f"/registry/configmaps/ns/cm-{i:03d}", "v" * 500)
    client = client_for(etcd)
    before = client.status(etcd.endpoint)
    stream = client.snapshot(protocol=protocol)
    data = b"".join(stream)
    res = stream.result
    assert res.size == len(data) - 32
    assert res.size > 100_000  # several 32 KiB messages
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    assert res.sha256 == data[-32:].hex()
    assert res.revision == before.revision  # nothing written meanwhile: exact
    assert res.hash_kv.hash_revision == before.revision
    assert res.hash_kv.proof() == client.hash_kv(before.revision).proof()
    assert res.member_id == before.member_id
    assert res.etcd_version == before.version
    assert res.storage_version


def test_writes_during_the_stream_leave_a_bracket(etcd: EtcdServer) -> None:
    for i in range(300):
        put(etcd, f"/registry/secrets/ns/s-{i:03d}", "x" * 500)
    client = client_for(etcd)
    stream = client.snapshot(etcd.endpoint)
    first = next(stream)  # etcd took its snapshot when the request arrived
    written = put(etcd, "/registry/secrets/ns/late", "after the snapshot")
    rest = b"".join(stream)
    res = stream.result
    assert not res.revision_exact
    assert res.revision is None
    assert res.revision_after == written == res.revision_before + 1
    assert len(first) + len(rest) == res.stored_size


def _restore_and_start(tmp_path: Path, snapshot: Path, *, tls: bool) -> EtcdServer:
    peer_port = free_port()
    data_dir = tmp_path / "restored-data"
    snapshotfile.restore(
        snapshot,
        data_dir,
        name="etcd",
        initial_cluster=f"etcd=http://127.0.0.1:{peer_port}",
        initial_advertise_peer_urls=f"http://127.0.0.1:{peer_port}",
        etcdutl=etcdutl(),
    )
    return EtcdServer.start(tmp_path / "restored", tls=tls, name="etcd", data_dir=data_dir)


def _capture(client: EtcdClient, path: Path) -> SnapshotResult:
    stream = client.snapshot()
    snapshotfile.write(stream, path)
    return stream.result


def test_snapshot_restores_with_etcdutl_and_hash_kv_matches(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    keys = {f"/registry/pods/default/p-{i:03d}": f"pod {i}" * 20 for i in range(150)}
    for k, v in keys.items():
        put(etcd_tls, k, v)
    http.call_json(  # a compaction, so that the proof carries a compact revision
        "POST",
        f"{etcd_tls.endpoint}/v3/kv/compaction",
        body={"revision": "50", "physical": True},
        context=etcd_tls.client_context(),
    )
    put(etcd_tls, "/registry/pods/default/p-000", "changed")
    keys["/registry/pods/default/p-000"] = "changed"

    client = client_for(etcd_tls)
    path = tmp_path / "etcd.snapshot"
    res = _capture(client, path)
    assert res.revision is not None
    assert res.hash_kv.compact_revision == 50
    assert path.stat().st_size == res.stored_size
    assert snapshotfile.check(path).sha256 == res.sha256
    db = snapshotfile.revision_from_db(path, etcdutl=etcdutl())
    assert db.revision == res.revision
    assert db.total_keys >= len(keys)
    etcd_tls.stop()

    restored = _restore_and_start(tmp_path, path, tls=True)
    try:
        assert get_all(restored, "/registry/pods/") == keys
        rclient = client_for(restored)
        st = rclient.status(restored.endpoint)
        assert st.revision == res.revision
        assert st.member_id != res.member_id  # a new member, the same keyspace
        assert rclient.hash_kv(res.hash_kv.hash_revision).proof() == res.hash_kv.proof()
        assert rclient.verify_restored(res.to_record()["hash_kv"]).proof() == res.hash_kv.proof()
        put(restored, "/registry/pods/default/p-001", "changed after the restore")
        assert rclient.verify_restored(res.to_record()["hash_kv"]).hash == res.hash_kv.hash
        put(restored, "/registry/pods/default/p-new", "x")
        with pytest.raises(VerificationFailed, match="differs from the snapshot"):
            rclient.verify_restored({**res.to_record()["hash_kv"], "hash": res.hash_kv.hash ^ 1})
    finally:
        restored.stop()


def test_hash_kv_proof_holds_when_writes_raced_the_snapshot(etcd: EtcdServer, tmp_path: Path) -> None:
    for i in range(100):
        put(etcd, f"/registry/services/ns/svc-{i:03d}", "spec" * 50)
    client = client_for(etcd)
    path = tmp_path / "etcd.snapshot"
    stream = client.snapshot()

    def chunks() -> Iterator[bytes]:
        yield next(stream)
        put(etcd, "/registry/services/ns/late", "not in the snapshot")
        yield from stream

    snapshotfile.write(chunks(), path)
    res = stream.result
    assert res.revision is None
    exact = snapshotfile.revision_from_db(path, etcdutl=etcdutl()).revision
    assert res.revision_before <= exact <= res.revision_after
    etcd.stop()

    restored = _restore_and_start(tmp_path, path, tls=False)
    try:
        assert "/registry/services/ns/late" not in get_all(restored, "/registry/services/")
        rclient = client_for(restored)
        assert rclient.status(restored.endpoint).revision == exact
        assert rclient.hash_kv(res.hash_kv.hash_revision).proof() == res.hash_kv.proof()
        assert rclient.verify_restored(res.to_record()["hash_kv"]) == rclient.hash_kv(res.revision_before)
    finally:
        restored.stop()


def test_a_corrupted_snapshot_file_is_refused_by_etcdutl_and_by_check(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    put(etcd, "/drkit/x", "y")
    path = tmp_path / "etcd.snapshot"
    _capture(client_for(etcd), path)
    data = bytearray(path.read_bytes())
    data[8192 + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EtcdError, match="does not match"):
        snapshotfile.check(path)
    with pytest.raises(
        EtcdError, match=r"etcdutl snapshot restore .* failed \(exit 1\): Error: expected sha256"
    ):
        snapshotfile.restore(path, tmp_path / "data", etcdutl=etcdutl())


def test_plain_http_to_a_tls_endpoint_suggests_https(etcd_tls: EtcdServer) -> None:
    plain = etcd_tls.endpoint.replace("https://", "http://")
    with pytest.raises(EtcdUnavailable) as info:
        EtcdClient([plain], timeout=5.0).status(plain)
    assert plain in info.value.message
    assert info.value.hint is not None
    assert "https://" in info.value.hint


def test_the_stored_file_matches_etcdctl_snapshot_save(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    for i in range(50):
        put(etcd_tls, f"/registry/leases/l-{i}", "holder" * 10)
    ours = tmp_path / "drkit.db"
    res = _capture(client_for(etcd_tls), ours)
    try:
        etcdctl = binaries.find("etcdctl")
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise
    theirs = tmp_path / "etcdctl.db"
    subprocess.run(
        [
            etcdctl,
            f"--endpoints={etcd_tls.endpoint}",
            f"--cacert={etcd_tls.ca_file}",
            f"--cert={etcd_tls.cert_file}",
            f"--key={etcd_tls.key_file}",
            "snapshot",
            "save",
            theirs,
        ],
        check=True,
        capture_output=True,
    )
    a, b = ours.read_bytes(), theirs.read_bytes()
    assert len(a) == res.stored_size
    # each snapshot commits a bbolt transaction, so meta and freelist pages, even the file size, can
    # differ between two snapshots; the contents (etcdutl's hash over the buckets, the revision, the
    # key count) are equal
    assert a[-32:] == hashlib.sha256(a[:-32]).digest()
    assert b[-32:] == hashlib.sha256(b[:-32]).digest()
    ours_db = snapshotfile.revision_from_db(ours, etcdutl=etcdutl())
    theirs_db = snapshotfile.revision_from_db(theirs, etcdutl=etcdutl())
    assert (ours_db.revision, ours_db.hash, ours_db.total_keys) == (
        theirs_db.revision,
        theirs_db.hash,
        theirs_db.total_keys,
    )
    assert ours_db.revision == res.revision


@pytest.mark.parametrize("compact_at", ["R1", "R1+1"])
def test_a_compaction_during_the_stream_is_a_race(etcd: EtcdServer, compact_at: str) -> None:
    for i in range(100):
        put(etcd, f"/registry/configmaps/ns/cm-{i:03d}", "data" * 100)
    client = client_for(etcd)
    stream = client.snapshot(etcd.endpoint)
    next(stream)
    written = put(etcd, "/registry/configmaps/ns/late", "x")
    revision = written - 1 if compact_at == "R1" else written
    http.call_json(
        "POST", f"{etcd.endpoint}/v3/kv/compaction", body={"revision": str(revision), "physical": True}
    )
    with pytest.raises(SnapshotRaced, match="take it again") as info:
        b"".join(stream)
    assert info.value.transient
    with pytest.raises(EtcdError, match="not been fully received"):
        _ = stream.result


def test_an_alarmed_member_is_unhealthy_and_passed_over(etcd: EtcdServer, tmp_path: Path) -> None:
    client = client_for(etcd)
    member = client.status(etcd.endpoint).member_id
    http.call_json(  # what etcd raises itself when its database is full
        "POST",
        f"{etcd.endpoint}/v3/maintenance/alarm",
        body={"action": "ACTIVATE", "memberID": str(member), "alarm": "NOSPACE"},
    )
    health = client.health(etcd.endpoint)
    assert not health.healthy
    assert health.reason == "ALARM NOSPACE"
    other = EtcdServer.start(tmp_path / "other")
    try:
        both = EtcdClient([etcd.endpoint, other.endpoint], timeout=5.0)
        probes = both.probe()
        assert probes[0].problem is not None
        assert "alarm:NOSPACE" in probes[0].problem
        assert both.healthiest().endpoint.url == other.endpoint
        assert both.health(other.endpoint).healthy
    finally:
        other.stop()
    with pytest.raises(EtcdError, match=r"no healthy etcd endpoint: .*alarm:NOSPACE"):
        client.healthiest()


def test_a_restored_member_behind_the_record_fails_verification(etcd: EtcdServer) -> None:
    put(etcd, "/drkit/a", "1")
    client = client_for(etcd)
    now = client.hash_kv(0)
    record = {"revision": now.hash_revision + 5, "hash": now.hash, "compact_revision": now.compact_revision}
    with pytest.raises(VerificationFailed, match="before the recorded"):
        client.verify_restored(record)
    assert client.verify_restored({**record, "revision": now.hash_revision}) == now


# -- a three-member cluster -------------------------------------------------------------------------


def _healthy(url: str) -> bool:
    return bool(http.call_json("GET", f"{url}/health", timeout=2.0)["health"] == "true")


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[list[tuple[str, process.Process]]]:
    """Three plain etcd members on loopback, started from the binary (the fixture has one member)."""
    try:
        exe = binaries.find("etcd")
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise
    names = ["m1", "m2", "m3"]
    clients = {n: f"http://127.0.0.1:{free_port()}" for n in names}
    peers = {n: f"http://127.0.0.1:{free_port()}" for n in names}
    initial = ",".join(f"{n}={peers[n]}" for n in names)
    members: list[tuple[str, process.Process]] = []
    try:
        for n in names:
            argv: list[str | Path] = [
                exe,
                f"--name={n}",
                f"--data-dir={tmp_path / n}",
                f"--listen-client-urls={clients[n]}",
                f"--advertise-client-urls={clients[n]}",
                f"--listen-peer-urls={peers[n]}",
                f"--initial-advertise-peer-urls={peers[n]}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]
            members.append((clients[n], process.start(n, argv, tmp_path / f"{n}.log")))
        for url, proc in members:
            process.wait_until(partial(_healthy, url), what=f"{proc.name} health", process=proc, timeout=60)
        yield members
    finally:
        for _, proc in members:
            proc.stop()


def test_a_follower_is_chosen_and_its_snapshot_proves_against_the_leader(
    etcd_cluster: list[tuple[str, process.Process]],
) -> None:
    urls = [url for url, _ in etcd_cluster]
    client = EtcdClient(urls, timeout=5.0)
    statuses = [client.status(u) for u in urls]
    leader_id = statuses[0].leader
    assert all(s.leader == leader_id for s in statuses)
    leader_url = next(s.endpoint.url for s in statuses if s.is_leader)
    chosen = client.healthiest()
    assert not chosen.is_leader
    assert EtcdClient(urls, timeout=5.0, prefer_leader=True).healthiest().endpoint.url == leader_url

    for i in range(50):
        http.call_json("POST", f"{leader_url}/v3/kv/put", body={"key": _b64(f"/k/{i}"), "value": _b64("v")})
    stream = client.snapshot(chosen.endpoint)
    data = b"".join(stream)
    res = stream.result
    assert res.member_id == chosen.member_id
    assert len(data) == res.stored_size
    # every member computes the same HashKV at a revision: the proof does not depend on who took it
    assert client.hash_kv(res.hash_kv.hash_revision, leader_url).hash == res.hash_kv.hash

    # a follower down: the other follower is chosen
    down = next(proc for url, proc in etcd_cluster if url == chosen.endpoint.url)
    down.stop()
    second = client.healthiest()
    assert second.endpoint.url not in (chosen.endpoint.url, leader_url)
    probes = {p.endpoint.url: p for p in client.probe()}
    assert probes[chosen.endpoint.url].status is None


def test_server_name_checks_the_certificate_against_another_name(etcd_tls: EtcdServer) -> None:
    def tls(name: str) -> EtcdTLS:
        return EtcdTLS(etcd_tls.ca_file, etcd_tls.cert_file, etcd_tls.key_file, server_name=name)

    assert EtcdClient([etcd_tls.endpoint], tls("localhost")).status(etcd_tls.endpoint).revision >= 1
    with pytest.raises(EtcdTLSError, match=r"not trusted.*mismatch"):
        EtcdClient([etcd_tls.endpoint], tls("etcd.example.org")).status(etcd_tls.endpoint)
