"""The stored form of an etcd snapshot, and the ``etcdutl`` calls a restore makes on it.

The stored form is exactly what etcd streams and ``etcdctl snapshot save`` writes: the bbolt
database bytes followed by the 32-byte SHA-256 of those bytes. ``etcdutl snapshot restore`` (3.5,
3.6) recognises the trailer by the file size (``size % 512 == 32``: a bbolt file is a whole number
of pages), checks it, and refuses a file without one unless ``--skip-hash-check``. Keeping the
trailer means a restored file proves its own integrity to etcd's tools, with or without drkit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from drkit.errors import EtcdError, MissingComponent
from drkit.etcd.errors import SnapshotCorrupt
from drkit.etcd.snapshotstream import SHA256_SIZE

TRAILER_SIZE = SHA256_SIZE
SECTOR = 512
ETCDUTL_TIMEOUT = 600.0


def has_trailer(size: int) -> bool:
    """etcdutl's own test for an appended checksum: the size of a stored snapshot file."""
    return size % SECTOR == TRAILER_SIZE


@dataclass(frozen=True)
class FileCheck:
    db_size: int
    sha256: str


def write(chunks: Iterable[bytes | memoryview], path: Path) -> int:
    """Write ``chunks`` (e.g. a :class:`~drkit.etcd.snapshot.SnapshotStream`) to ``path``, atomically:
    into ``path.partial`` first, renamed only once the iterator ended without raising. Returns bytes."""
    partial = path.with_name(path.name + ".partial")
    written = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return written


def check(path: Path, *, block: int = 1 << 20) -> FileCheck:
    """Verify a stored snapshot as ``etcdutl snapshot restore`` will: a trailer, and it matches."""
    try:
        size = path.stat().st_size
        if not has_trailer(size):
            raise SnapshotCorrupt(
                f"{path}: {size} bytes is not a database plus a {TRAILER_SIZE}-byte SHA-256 trailer"
                f" (size % {SECTOR} != {TRAILER_SIZE})"
            )
        db_size = size - TRAILER_SIZE
        h = hashlib.sha256()
        with path.open("rb") as f:
            left = db_size
            while left:
                piece = f.read(min(block, left))
                if not piece:
                    raise SnapshotCorrupt(f"{path}: shrank while being read")
                h.update(piece)
                left -= len(piece)
            trailer = f.read(TRAILER_SIZE)
    except OSError as exc:
        raise EtcdError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from exc
    if trailer != h.digest():
        raise SnapshotCorrupt(
            f"{path}: SHA-256 trailer {trailer.hex()} does not match the database ({h.hexdigest()})"
        )
    return FileCheck(db_size, h.hexdigest())


@dataclass(frozen=True)
class DbStatus:
    """``etcdutl snapshot status --write-out=json``: read from the database file itself."""

    revision: int
    """The highest revision in the file: the snapshot's exact revision."""
    hash: int
    """etcdutl's hash of the file's buckets (not HashKV)."""
    total_keys: int
    total_size: int
    version: str


def find_etcdutl(etcdutl: str | os.PathLike[str] = "etcdutl") -> Path:
    found = shutil.which(os.fspath(etcdutl))
    if found is None:
        raise MissingComponent(
            f"etcdutl not found ({os.fspath(etcdutl)}); it reads and restores etcd snapshots",
            hint="install etcdutl of the cluster's etcd version (or `make testbin` for the tests)",
        )
    return Path(found)


def _run(argv: Sequence[str | os.PathLike[str]], what: str) -> str:
    try:
        done = subprocess.run(
            [os.fspath(a) for a in argv],
            capture_output=True,
            text=True,
            timeout=ETCDUTL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EtcdError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        detail = "; ".join(errors) if errors else output[-2000:]
        raise EtcdError(f"{what} failed (exit {done.returncode}): {detail}")
    return done.stdout


def revision_from_db(path: Path, *, etcdutl: str | os.PathLike[str] = "etcdutl") -> DbStatus:
    """The revision (and key count) recorded in a snapshot file, via ``etcdutl snapshot status``.

    Works on the stored form (the trailer is ignored) and opens the file read-only.
    """
    exe = find_etcdutl(etcdutl)
    out = _run([exe, "snapshot", "status", path, "--write-out=json"], f"etcdutl snapshot status {path}")
    try:
        doc = json.loads(out)
        return DbStatus(
            revision=int(doc["revision"]),
            hash=int(doc["hash"]),
            total_keys=int(doc["totalKey"]),
            total_size=int(doc["totalSize"]),
            version=str(doc.get("version", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise EtcdError(f"etcdutl snapshot status {path}: unexpected output {out[:300]!r}") from exc


def restore(
    path: Path,
    data_dir: Path,
    *,
    name: str = "default",
    initial_cluster: str | None = None,
    initial_advertise_peer_urls: str | None = None,
    initial_cluster_token: str = "etcd-cluster",  # noqa: S107 - etcd's default token, not a secret
    etcdutl: str | os.PathLike[str] = "etcdutl",
) -> None:
    """``etcdutl snapshot restore``: a new member's data directory from a stored snapshot.

    The trailer is checked by etcdutl (never ``--skip-hash-check``). ``data_dir`` must not exist.
    """
    exe = find_etcdutl(etcdutl)
    argv: list[str | os.PathLike[str]] = [
        exe,
        "snapshot",
        "restore",
        path,
        f"--data-dir={data_dir}",
        f"--name={name}",
        f"--initial-cluster-token={initial_cluster_token}",
    ]
    if initial_cluster is not None:
        argv.append(f"--initial-cluster={initial_cluster}")
    if initial_advertise_peer_urls is not None:
        argv.append(f"--initial-advertise-peer-urls={initial_advertise_peer_urls}")
    _run(argv, f"etcdutl snapshot restore {path} --data-dir {data_dir}")
