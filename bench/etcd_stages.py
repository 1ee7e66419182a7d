"""The etcd snapshot path stage by stage, in one process: the CPU and wall time of each part.

    .venv/bin/python -m bench.etcd_stages --endpoint URL [--mode grpc,stream,store,full] [--repeat 3]
        [--drkit-src DIR[,DIR]]

Against a running etcd (``python -m bench.etcd_snapshot``'s ``fill`` makes one; or any member):

* ``grpc``: the bare gRPC read of ``Maintenance.Snapshot`` (grpcio, the messages counted, nothing else),
* ``stream``: ``EtcdClient.snapshot()`` iterated: + decoding, the size checks and SHA-256,
* ``store``: ``SnapshotWriter.add_stream`` of the database from memory in 32 KiB pieces (a file saved by
  ``etcdctl snapshot save`` first, untimed): chunking, BLAKE3, zstd-1, AES-GCM, packs written and
  fsynced into a new local repository, and the commit,
* ``full``: the stream into the repository, as ``drkit backup run`` does after its start-up.

Each run reports wall time, user and system CPU (``getrusage`` of the process) and minor page faults;
with ``--drkit-src`` every run is a child process with ``PYTHONPATH`` set to one tree (``git archive``
exports), the trees taking turns, so that commits compare under the same load. Run under ``nice``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

PIECE = 32 * 1024
MODES = ("grpc", "stream", "store", "full")


def _usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def run_once(endpoint: str, mode: str, work: Path) -> dict[str, float]:
    """One measured run of ``mode`` in this process (drkit imported from ``sys.path``)."""
    from drkit.capture import cluster
    from drkit.etcd import EtcdClient, grpcsnapshot
    from drkit.repo.format.keyslots import Credential
    from drkit.repo.repository import Repository
    from drkit.secret import Secret
    from drkit.storage.local import LocalStore

    client = EtcdClient([endpoint])
    grpcsnapshot.preload()
    root = work / "repo"
    shutil.rmtree(root, ignore_errors=True)
    repo = None
    pieces: list[bytes] = []
    if mode in ("store", "full"):
        cred = Credential(passphrase=Secret("bench passphrase, not secret"))
        repo = Repository.init(LocalStore(root), cred, lock_mode=None, retention=timedelta(0), scrypt_n=2**10)
    if mode == "store":
        db = work / "snapshot.db"
        if not db.exists():
            subprocess.run(
                ["etcdctl", f"--endpoints={endpoint}", "snapshot", "save", str(db)],
                check=True,
                capture_output=True,
                env={**os.environ, "PATH": _path()},
            )
        data = db.read_bytes()
        pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
    stream = client.snapshot(endpoint) if mode != "store" else None
    options: dict[str, int] = {"max_level": cluster.ETCD_ZSTD_LEVEL}  # what backup_cluster passes
    if hasattr(cluster, "ETCD_CHUNK_SIZE"):  # a tree from before it cut FastCDC
        options["fixed_size"] = cluster.ETCD_CHUNK_SIZE
    u0, s0, f0 = _usage()
    t0 = time.monotonic()
    total = 0
    if mode == "grpc":
        assert stream is not None
        for message in grpcsnapshot.stream(stream.endpoint, None, 10.0):
            total += len(message)
        stream.close()
    elif mode == "stream":
        assert stream is not None
        with stream:
            for piece in stream:
                total += len(piece)
    else:
        assert repo is not None
        with repo.new_snapshot(kind="cluster") as snap:
            if stream is None:
                total = snap.add_stream("etcd/snapshot.db", iter(pieces), **options)
            else:
                with stream:
                    total = snap.add_stream("etcd/snapshot.db", stream, **options)
                stream.result  # noqa: B018 - raises unless verified
    wall = time.monotonic() - t0
    u1, s1, f1 = _usage()
    shutil.rmtree(root, ignore_errors=True)
    return {"mib": total / (1 << 20), "wall": wall, "user": u1 - u0, "sys": s1 - s0, "faults": f1 - f0}


def _path() -> str:
    here = Path(__file__).resolve().parent.parent / ".testbin" / "bin"
    return f"{here}:{os.environ.get('PATH', '')}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True, help="a running etcd (http://host:port)")
    parser.add_argument("--mode", default="grpc,stream,store,full", help=f"comma-separated, of {MODES}")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--drkit-src", default="", help="source trees to take turns, comma-separated")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one run, JSON out
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = [m for m in args.mode.split(",") if m]
    if any(m not in MODES for m in modes):
        parser.error(f"--mode: one of {MODES}")
    if args.one:
        print(json.dumps(run_once(args.endpoint, modes[0], args.work)))
        return 0
    sources: list[Path | None] = [Path(p).resolve() for p in args.drkit_src.split(",") if p] or [None]
    Path(".bench").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etcd-stages-", dir=".bench") as tmp:
        work = Path(tmp).resolve()
        for i in range(args.repeat):
            for mode in modes:
                for src in sources:
                    env = {**os.environ, "PYTHONPATH": str(src)} if src else dict(os.environ)
                    load = os.getloadavg()[0]
                    # run as a script from the work directory: sys.path[0] is bench/, so drkit comes
                    # from PYTHONPATH (the tree measured), not from a checkout in the working directory
                    out = subprocess.run(
                        [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            "--one",
                            "--endpoint",
                            args.endpoint,
                            "--mode",
                            mode,
                            "--work",
                            str(work),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                        env=env,
                        cwd=work,
                    )
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    name = src.name if src else "drkit"
                    print(
                        f"round {i} {mode:6s} {name}: {r['mib']:.0f} MiB wall {r['wall']:.2f} s, CPU "
                        f"{r['user'] + r['sys']:.2f} s (user {r['user']:.2f}, system {r['sys']:.2f}), "
                        f"{r['faults']:.0f} faults, load {load:.1f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
