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
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

PIECE = 32 * 1024
MODES = ("grpc", "stream", "store", "full")


def _usage() -> tuple[float, float, int, int, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt, r.ru_nvcsw, r.ru_nivcsw


class ThreadTimes:
    """CPU time of each thread of this process (``/proc/self/task``), sampled every 100 ms so that
    threads which end before the run does (the sealing pool) are counted: by Python thread name, or
    by the kernel's name for threads Python did not start (gRPC's)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def __enter__(self) -> ThreadTimes:
        self._start = {tid: cpu for tid, (_, cpu) in self._sample().items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> dict[int, tuple[str, float]]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for task in Path("/proc/self/task").iterdir():
            tid = task.name
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu = (int(fields[11]) + int(fields[12])) / self._tick
            name = names.get(int(tid)) or comm
            name = name.rstrip("0123456789_-")  # pool threads by kind
            self._last[int(tid)] = (name, cpu)
        return self._last

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, (name, cpu) in self._last.items():
            out[name] = out.get(name, 0.0) + cpu - self._start.get(tid, 0.0)
        return {k: round(v, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def _work(mode: str, stream: Any, repo: Any, pieces: list[bytes], options: dict[str, int]) -> int:
    """The measured part of ``run_once``: the bytes of the snapshot that went through."""
    from drkit.etcd import grpcsnapshot

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
    return total


def run_once(endpoint: str, mode: str, work: Path) -> dict[str, object]:
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
    threads = ThreadTimes().__enter__() if os.environ.get("BENCH_THREADS") else None
    u0, s0, f0, v0, i0 = _usage()
    t0 = time.monotonic()
    total = _work(mode, stream, repo, pieces, options)
    wall = time.monotonic() - t0
    u1, s1, f1, v1, i1 = _usage()
    if threads is not None:
        threads.__exit__()
    shutil.rmtree(root, ignore_errors=True)
    out: dict[str, object] = {
        "mib": total / (1 << 20),
        "wall": wall,
        "user": u1 - u0,
        "sys": s1 - s0,
        "faults": f1 - f0,
        "csw": f"{v1 - v0}/{i1 - i0}",
    }
    if threads is not None:
        out["threads"] = threads.by_name()
    return out


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
                        f"{r['faults']:.0f} faults, {r['csw']} switches (voluntary/not), load {load:.1f}"
                        + (f"\n    threads: {r['threads']}" if "threads" in r else ""),
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
