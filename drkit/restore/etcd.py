"""etcd restore: a new member's data directory from the etcd snapshot of a cluster snapshot.

    result = restore_etcd(reader, EtcdRestoreRequest(data_dir=Path("/var/lib/etcd-restored"), name="cp-1",
                          initial_cluster="cp-1=https://10.0.0.11:2380",
                          initial_advertise_peer_urls="https://10.0.0.11:2380"))
    result.command      # the etcd command line that starts the member
    result.verification # the HashKV proof, made on a throw-away copy

Steps (docs/etcd-restore.md):

1. Stream ``etcd/snapshot.db`` out of the repository (every chunk verified by the repository) into a
   private temporary file (0600) next to the data directory, check its SHA-256 trailer
   (``snapshotfile.check``) and that it is the database the manifest recorded (size, sha256), and
   read its exact revision with ``etcdutl snapshot status``.
2. Verify (unless turned off): restore the snapshot *without* a revision bump into a throw-away
   directory next to the data directory, start a temporary etcd on loopback on it, prove it equal
   with ``EtcdClient.verify_restored`` (the recorded HashKV: hash, revision and compaction point)
   and its revision equal to the file's, then stop it and delete the copy. The real data directory
   is never started by drkit: it stays exactly as ``etcdutl`` wrote it.
3. ``etcdutl snapshot restore --bump-revision B --mark-compacted`` into the data directory with the
   member's name, the cluster's members and a cluster token (a new random one unless given).

Why the proof is not made on the bumped directory: ``--bump-revision`` raises the revision by B and
``--mark-compacted`` schedules a compaction at that new revision, which etcd performs when it starts;
the history below it is gone and HashKV answers for (R+B, compacted at R+B), which no backup recorded.
The data are the same (measured: the latest value of every key is unchanged), the proof is made where
it can be made.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from drkit.capture.cluster import ETCD_PATH
from drkit.errors import ConfigError, DrkitError, EtcdError, MissingComponent, VerificationFailed
from drkit.etcd import EtcdClient, snapshotfile
from drkit.etcd.snapshotfile import DbStatus
from drkit.repo.engine.snapshotreader import SnapshotReader
from drkit.sandbox import process
from drkit.sandbox.ports import free_port

DEFAULT_BUMP = 1_000_000_000
"""How far the revision jumps: far above anything a client can have seen (kubeadm/Velero guidance
uses a billion), so that no watch or resourceVersion of the old cluster is ever reused."""
VERIFY_TIMEOUT = 120.0
ETCDUTL_TIMEOUT = 3600.0
KUBEADM_ETCD_PKI = "/etc/kubernetes/pki/etcd"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class EtcdRestoreRequest:
    data_dir: Path
    name: str
    initial_cluster: str  # "n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380"
    initial_advertise_peer_urls: str
    initial_cluster_token: str | None = None  # None: a new random token
    bump_revision: int = DEFAULT_BUMP
    verify: bool | None = None  # None: verify when an etcd binary is found
    client_urls: str | None = None  # for the printed command; default: the peer host on port 2379
    etcdutl: str = "etcdutl"
    etcd: str = "etcd"


@dataclass(frozen=True)
class Verification:
    verified: bool
    detail: str  # what was proven, or why nothing was
    hash: int | None = None
    hash_revision: int | None = None
    compact_revision: int | None = None
    etcd_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "detail": self.detail,
            "hash": self.hash,
            "hashRevision": self.hash_revision,
            "compactRevision": self.compact_revision,
            "etcdVersion": self.etcd_version,
        }


@dataclass(frozen=True)
class EtcdRestoreResult:
    snapshot_id: str
    data_dir: Path
    name: str
    initial_cluster: str
    initial_advertise_peer_urls: str
    initial_cluster_token: str
    snapshot_revision: int
    bump_revision: int
    db_size: int
    sha256: str
    verification: Verification
    command: tuple[str, ...]
    reminders: tuple[str, ...]
    duration_s: float
    notes: tuple[str, ...] = field(default=())

    @property
    def restored_revision(self) -> int:
        """The revision the member starts at (and is compacted at)."""
        return self.snapshot_revision + self.bump_revision

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot_id,
            "dataDir": str(self.data_dir),
            "name": self.name,
            "initialCluster": self.initial_cluster,
            "initialAdvertisePeerUrls": self.initial_advertise_peer_urls,
            "initialClusterToken": self.initial_cluster_token,
            "snapshotRevision": self.snapshot_revision,
            "bumpRevision": self.bump_revision,
            "restoredRevision": self.restored_revision,
            "dbSize": self.db_size,
            "sha256": self.sha256,
            "verification": self.verification.to_json(),
            "command": list(self.command),
            "reminders": list(self.reminders),
            "notes": list(self.notes),
            "durationS": round(self.duration_s, 3),
        }


def restore_etcd(
    reader: SnapshotReader, request: EtcdRestoreRequest, *, notify: Notify | None = None
) -> EtcdRestoreResult:
    """Restore the etcd snapshot of ``reader``'s cluster snapshot into ``request.data_dir``; see the
    module docstring. Raises ``ConfigError`` (bad request, no etcd in the snapshot, data directory not
    empty), ``EtcdError`` (etcdutl or the verification member failed; exit 18), ``VerificationFailed``
    (the restored member is not the recorded one; exit 13), ``MissingComponent`` (no etcdutl, or no
    etcd with ``verify=True``). Nothing is left in the data directory when it raises."""
    say = notify or (lambda _msg: None)
    started = time.monotonic()
    members = _check_request(request)
    etcdutl = snapshotfile.find_etcdutl(request.etcdutl)
    etcd_exe, why_not = _verification_binary(request)
    record = _etcd_record(reader)
    token = request.initial_cluster_token or f"drkit-{secrets.token_hex(8)}"
    data_dir = request.data_dir.expanduser().absolute()
    parent = data_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {parent}: {exc.strerror or exc}", field="--data-dir") from exc

    with _private_temp_file(parent) as db:
        size = _stream_to(reader, db)
        say(f"etcd: {size} bytes of {ETCD_PATH} read from snapshot {reader.snapshot.short_id}")
        check = snapshotfile.check(db)
        _check_against_record(check, record)
        status = snapshotfile.revision_from_db(db, etcdutl=etcdutl)
        _check_revision(status, record)
        say(f"etcd: checksum verified, revision {status.revision}, {status.total_keys} keys")
        if etcd_exe is not None:
            verification = _verify_copy(
                db, parent, etcdutl=etcdutl, etcd_exe=etcd_exe, record=record, status=status, say=say
            )
        else:
            verification = Verification(False, why_not)
        _etcdutl_restore(
            etcdutl,
            db,
            data_dir,
            name=request.name,
            initial_cluster=request.initial_cluster,
            peer_urls=request.initial_advertise_peer_urls,
            token=token,
            bump=request.bump_revision,
        )
        say(f"etcd: restored into {data_dir} at revision {status.revision + request.bump_revision}")
    notes = []
    if len(members) > 1:
        notes.append(
            f"this is one of {len(members)} members: run the same restore on each of "
            f"{', '.join(members)} with its own --name and --initial-advertise-peer-urls and the same "
            f"--initial-cluster and --initial-cluster-token {token}"
        )
    return EtcdRestoreResult(
        snapshot_id=reader.snapshot.id,
        data_dir=data_dir,
        name=request.name,
        initial_cluster=request.initial_cluster,
        initial_advertise_peer_urls=request.initial_advertise_peer_urls,
        initial_cluster_token=token,
        snapshot_revision=status.revision,
        bump_revision=request.bump_revision,
        db_size=check.db_size,
        sha256=check.sha256,
        verification=verification,
        command=tuple(start_command(request, data_dir, token)),
        reminders=REMINDERS,
        duration_s=time.monotonic() - started,
        notes=tuple(notes),
    )


# --- the request --------------------------------------------------------------------------------


def parse_initial_cluster(text: str) -> dict[str, list[str]]:
    """``n1=URL,n2=URL`` (a name may repeat for several peer URLs) -> {name: [URL, ...]}."""
    members: dict[str, list[str]] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, url = part.partition("=")
        if not part or not sep or not name or not _is_url(url):
            raise ConfigError(
                f"{part or '(empty)'!r} is not NAME=URL (e.g. cp-1=https://10.0.0.11:2380)",
                field="--initial-cluster",
            )
        members.setdefault(name, []).append(url)
    return members


def _is_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port is not None


def _check_request(request: EtcdRestoreRequest) -> list[str]:
    members = parse_initial_cluster(request.initial_cluster)
    if request.name not in members:
        raise ConfigError(
            f"member {request.name!r} is not in the initial cluster ({', '.join(members)})",
            field="--name",
        )
    peers = [u.strip() for u in request.initial_advertise_peer_urls.split(",")]
    if not all(_is_url(u) for u in peers):
        raise ConfigError(
            f"{request.initial_advertise_peer_urls!r} is not a list of URLs with a port",
            field="--initial-advertise-peer-urls",
        )
    if sorted(peers) != sorted(members[request.name]):
        raise ConfigError(
            f"the peer URLs of {request.name} differ: --initial-advertise-peer-urls says {', '.join(peers)},"
            f" --initial-cluster says {', '.join(members[request.name])}",
            field="--initial-advertise-peer-urls",
        )
    if request.bump_revision < 0:
        raise ConfigError("must be 0 or more", field="--bump-revision")
    if request.initial_cluster_token is not None and not request.initial_cluster_token.strip():
        raise ConfigError("must not be empty", field="--initial-cluster-token")
    data_dir = request.data_dir.expanduser()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise ConfigError(
            f"{data_dir} exists and is not an empty directory",
            field="--data-dir",
            hint="restore into a new directory; never over the data of a running or old member",
        )
    return list(members)


def _verification_binary(request: EtcdRestoreRequest) -> tuple[Path | None, str]:
    if request.verify is False:
        return None, "not verified: --no-verify"
    found = shutil.which(request.etcd)
    if found is None:
        if request.verify:
            raise MissingComponent(
                f"etcd not found ({request.etcd}): the verification starts a temporary member",
                hint="install the cluster's etcd version, pass --etcd PATH, or --no-verify",
            )
        return None, f"not verified: no etcd binary found ({request.etcd}); pass --etcd PATH to verify"
    return Path(found), ""


def _etcd_record(reader: SnapshotReader) -> dict[str, Any]:
    if not reader.exists(ETCD_PATH):
        raise ConfigError(
            f"snapshot {reader.snapshot.short_id} ({reader.kind}) has no {ETCD_PATH}: no etcd snapshot in it",
            field="SNAPSHOT",
            hint="choose a cluster snapshot taken with --etcd-endpoints (drkit snapshots)",
        )
    record = reader.meta.get("etcd")
    return record if isinstance(record, dict) else {}


# --- the file -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _private_temp_file(directory: Path) -> Iterator[Path]:
    try:
        fd, name = tempfile.mkstemp(prefix=".drkit-etcd-", suffix=".db", dir=directory)  # mode 0600
    except OSError as exc:
        raise ConfigError(
            f"cannot write in {directory}: {exc.strerror or exc}",
            field="--data-dir",
            hint="the snapshot is staged next to the data directory: that directory must be writable",
        ) from exc
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _stream_to(reader: SnapshotReader, path: Path) -> int:
    written = 0
    with path.open("wb") as out:
        for chunk in reader.stream(ETCD_PATH):
            out.write(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return written


def _check_against_record(check: snapshotfile.FileCheck, record: dict[str, Any]) -> None:
    want_sha = record.get("sha256")
    if want_sha and want_sha != check.sha256:
        raise VerificationFailed(
            f"{ETCD_PATH}: its database has SHA-256 {check.sha256}, the backup recorded {want_sha}"
        )
    want_size = record.get("size")
    if want_size is not None and int(want_size) != check.db_size:
        raise VerificationFailed(
            f"{ETCD_PATH}: {check.db_size} database bytes, the backup recorded {want_size}"
        )


def _store_revision(status: DbStatus) -> int:
    """The revision a member started on the file has: ``etcdutl snapshot status`` reports the newest
    key's revision, 0 for a database without keys, where etcd itself starts at revision 1 (measured)."""
    return max(status.revision, 1)


def _check_revision(status: DbStatus, record: dict[str, Any]) -> None:
    exact = record.get("revision")
    low, high = record.get("revision_min"), record.get("revision_max")
    revision = _store_revision(status)
    if exact is not None and int(exact) != revision:
        raise VerificationFailed(f"{ETCD_PATH} is at revision {revision}, the backup recorded {exact}")
    if low is not None and high is not None and not int(low) <= revision <= int(high):
        raise VerificationFailed(
            f"{ETCD_PATH} is at revision {revision}, outside the recorded [{low}, {high}]"
        )


# --- etcdutl ------------------------------------------------------------------------------------


def _etcdutl_restore(
    etcdutl: Path,
    db: Path,
    data_dir: Path,
    *,
    name: str,
    initial_cluster: str,
    peer_urls: str,
    token: str,
    bump: int,
) -> None:
    """``etcdutl snapshot restore``, checking the trailer (never ``--skip-hash-check``); with a bump,
    ``--bump-revision`` and ``--mark-compacted`` (etcdutl requires both or neither). A failure leaves
    no data directory behind."""
    argv = [
        str(etcdutl),
        "snapshot",
        "restore",
        str(db),
        f"--data-dir={data_dir}",
        f"--name={name}",
        f"--initial-cluster={initial_cluster}",
        f"--initial-advertise-peer-urls={peer_urls}",
        f"--initial-cluster-token={token}",
    ]
    if bump:
        argv += [f"--bump-revision={bump}", "--mark-compacted"]
    existed = data_dir.exists()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=ETCDUTL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _remove_new(data_dir, existed)
        raise EtcdError(f"etcdutl snapshot restore into {data_dir}: {exc}") from exc
    except BaseException:  # interrupted: leave no half-written data directory
        _remove_new(data_dir, existed)
        raise
    if done.returncode != 0:
        _remove_new(data_dir, existed)
        output = (done.stderr or done.stdout).strip()
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        detail = "; ".join(errors) if errors else output[-2000:]
        raise EtcdError(f"etcdutl snapshot restore into {data_dir} failed (exit {done.returncode}): {detail}")


def _remove_new(data_dir: Path, existed: bool) -> None:
    if existed:  # an empty directory we were given: empty it again
        for child in data_dir.iterdir():
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


# --- verification -------------------------------------------------------------------------------


def _verify_copy(
    db: Path,
    parent: Path,
    *,
    etcdutl: Path,
    etcd_exe: Path,
    record: dict[str, Any],
    status: DbStatus,
    say: Notify,
) -> Verification:
    expected = record.get("hash_kv")
    if not isinstance(expected, dict):
        return Verification(False, "not verified: the backup recorded no HashKV for this snapshot")
    workdir = Path(tempfile.mkdtemp(prefix=".drkit-etcd-verify-", dir=parent))
    try:
        peer = f"http://127.0.0.1:{free_port()}"
        client_url = f"http://127.0.0.1:{free_port()}"
        data = workdir / "data"
        _etcdutl_restore(
            etcdutl,
            db,
            data,
            name="drkit-verify",
            initial_cluster=f"drkit-verify={peer}",
            peer_urls=peer,
            token=f"drkit-verify-{secrets.token_hex(4)}",
            bump=0,
        )
        say(f"etcd: verifying on a temporary member at {client_url}")
        argv = [
            str(etcd_exe),
            "--name=drkit-verify",
            f"--data-dir={data}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=drkit-verify={peer}",
            "--log-level=warn",
        ]
        member = process.start("etcd (verification)", argv, workdir / "etcd.log")
        try:
            client = EtcdClient([client_url])
            try:
                process.wait_until(
                    lambda: client.status(client_url).leader != 0,
                    what=f"the verification member at {client_url}",
                    process=member,
                    timeout=VERIFY_TIMEOUT,
                )
            except DrkitError as exc:  # SandboxError: it exited or never answered
                raise EtcdError(f"the restored snapshot did not start in {etcd_exe}: {exc}") from exc
            running = client.status(client_url)
            if running.revision != _store_revision(status):
                raise VerificationFailed(
                    f"the restored member is at revision {running.revision}, "
                    f"the snapshot file at {_store_revision(status)}"
                )
            try:
                proof = client.verify_restored(expected, client_url)
            except VerificationFailed as exc:
                raise VerificationFailed(
                    exc.message,
                    hint="nothing was restored; see docs/etcd-restore.md (errors) before using --no-verify",
                ) from exc
        finally:
            member.stop()
        return Verification(
            True,
            f"a temporary etcd {running.version} on an un-bumped copy answered "
            f"HashKV({proof.hash_revision}) = {proof.hash} compacted at {proof.compact_revision} as recorded",
            proof.hash,
            proof.hash_revision,
            proof.compact_revision,
            running.version,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- what to do next ----------------------------------------------------------------------------


def _client_urls(request: EtcdRestoreRequest) -> str:
    if request.client_urls:
        return request.client_urls
    peer = urlsplit(request.initial_advertise_peer_urls.split(",")[0].strip())
    host = f"[{peer.hostname}]" if peer.hostname and ":" in peer.hostname else peer.hostname
    return f"{peer.scheme}://{host}:2379"


def start_command(request: EtcdRestoreRequest, data_dir: Path, token: str) -> list[str]:
    """The etcd command line that starts the restored member (TLS files at kubeadm's paths when the
    URLs are https). The ``--initial-*`` flags are ignored by etcd once the data directory has a WAL,
    which a restored one has; they are printed so that the line documents the cluster."""
    client_urls = _client_urls(request)
    peer_urls = request.initial_advertise_peer_urls
    argv = [
        request.etcd,
        f"--name={request.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_urls}",
        f"--advertise-client-urls={client_urls}",
        f"--listen-peer-urls={peer_urls}",
        f"--initial-advertise-peer-urls={peer_urls}",
        f"--initial-cluster={request.initial_cluster}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",
    ]
    if client_urls.startswith("https"):
        argv += [
            "--client-cert-auth",
            f"--trusted-ca-file={KUBEADM_ETCD_PKI}/ca.crt",
            f"--cert-file={KUBEADM_ETCD_PKI}/server.crt",
            f"--key-file={KUBEADM_ETCD_PKI}/server.key",
        ]
    if peer_urls.startswith("https"):
        argv += [
            "--peer-client-cert-auth",
            f"--peer-trusted-ca-file={KUBEADM_ETCD_PKI}/ca.crt",
            f"--peer-cert-file={KUBEADM_ETCD_PKI}/peer.crt",
            f"--peer-key-file={KUBEADM_ETCD_PKI}/peer.key",
        ]
    return argv


REMINDERS: tuple[str, ...] = (
    "encryption at rest: the kube-apiserver's --encryption-provider-config file and every key it names "
    "(Secrets in this etcd are encrypted with them; without them they cannot be read)",
    "the cluster CA (pki/ca.crt, ca.key) and the front-proxy CA: the API server, kubelets and every "
    "kubeconfig trust them",
    "the service-account signing keys (pki/sa.key, sa.pub): every service-account token in use was signed "
    "with them",
    "etcd's own CA and certificates (pki/etcd/): the member's server and peer certificates must name its "
    "new addresses",
    "start the restored member(s) before kube-apiserver; kube-apiserver, controllers and kubelets of the old "
    "cluster must not write to the old etcd any more",
)


def format_command(argv: Sequence[str]) -> str:
    """The command line for a shell, one flag per line."""
    import shlex

    return " \\\n  ".join(shlex.quote(a) for a in argv)
