"""etcd snapshot speed: drkit's snapshot into a repository next to ``etcdctl snapshot save`` to a file.

    .venv/bin/python -m bench.etcd_snapshot [--size-mib 256] [--repeat 3] [--endpoint URL]
        [--drkit-src DIR[,DIR]]

Starts one etcd (drkit.sandbox; binaries from ``bash hack/testbin/build.sh``), fills it with
``--size-mib`` of values (puts of 64 KiB values through the JSON gateway: half random bytes, half
text, so zstd finds something to compress, as in a real cluster's protobufs) until its database is at
least that large, then takes turns (the first tool alternating by round):

* ``etcdctl snapshot save FILE`` (gRPC; the reference: the database written to a local file),
* ``drkit backup run --etcd-endpoints URL --no-resources`` into a new local repository on the same
  disk (``repo init`` untimed; a new process: imports, key derivation, Status/HashKV bracket, the
  stream checked against its SHA-256, chunked, compressed, encrypted, packed, index and manifest).

``--endpoint`` measures a running etcd instead (nothing is started or written). ``--drkit-src``
runs drkit from these source trees (``git archive`` exports of commits, through ``PYTHONPATH``), each
taking its turn in every round, to put commits side by side under the same load.

Each run is a child under GNU ``time`` (``bench.measure``): wall time, CPU time and its own peak RSS.
Prints a Markdown table with medians and drkit's ratio to etcdctl; the raw runs go to stderr.
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import drkit
from bench.measure import Measurement, run
from bench.tools import Command, build_native
from drkit.sandbox import http
from drkit.sandbox.binaries import find
from drkit.sandbox.etcd import EtcdServer

VALUE_BYTES = 64 << 10
PASSWORD = "bench passphrase, not secret"  # noqa: S105  # a throwaway repository


def _post(endpoint: str, path: str, body: dict[str, object]) -> dict[str, object]:
    doc: dict[str, object] = http.call_json("POST", f"{endpoint}{path}", body=body, timeout=60.0)
    return doc


def db_size(endpoint: str) -> int:
    return int(str(_post(endpoint, "/v3/maintenance/status", {}).get("dbSize", 0)))


def fill(endpoint: str, size: int) -> int:
    """Put values until the database is at least ``size`` bytes; returns its size."""
    text = (b"kind: ConfigMap, apiVersion: v1, metadata: labels: app=bench tier=backend; " * 1000)[
        : VALUE_BYTES // 2
    ]

    def put(i: int) -> None:
        value = random.Random(i).randbytes(VALUE_BYTES // 2) + text
        key = f"/registry/bench/{i:08d}".encode()
        _post(
            endpoint,
            "/v3/kv/put",
            {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()},
        )

    done = 0
    current = db_size(endpoint)
    while current < size:
        batch = max(64, (size - current) // VALUE_BYTES + 16)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(put, range(done, done + batch)))
        done += batch
        current = db_size(endpoint)
    return current


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256, help="database size to reach (MiB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--work", type=Path, default=None, help="work directory (default: a temporary one under .bench/)"
    )
    parser.add_argument("--drkit-python", default=sys.executable, help="the Python that runs drkit")
    parser.add_argument("--endpoint", default="", help="a running etcd to measure (not filled)")
    parser.add_argument("--drkit-src", default="", help="source trees to run drkit from, comma-separated")
    args = parser.parse_args()
    sources = [Path(p).resolve() for p in args.drkit_src.split(",") if p]
    for src in sources:
        build_native(src)  # an export with C sources: built in place, as pip would
    for tree in sources or [Path(drkit.__file__).resolve().parent.parent]:
        # byte-compiled, as an installed package is: under PYTHONDONTWRITEBYTECODE (set in some
        # environments) every measured run would otherwise compile drkit's modules again (~0.1 s of CPU)
        subprocess.run([args.drkit_python, "-m", "compileall", "-q", str(tree / "drkit")], check=True)
    etcdctl = str(find("etcdctl"))
    base = Path(".bench")
    base.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etcd-snapshot-", dir=args.work or base) as tmp:
        work = Path(tmp).resolve()
        if args.endpoint:
            size = db_size(args.endpoint)
            print(f"etcd database: {size} bytes ({size / (1 << 20):.0f} MiB)", file=sys.stderr)
            rows = measure(args.endpoint, etcdctl, args.drkit_python, work, args.repeat, sources)
            report(rows, size, args.repeat)
            return 0
        server = EtcdServer.start(work / "etcd")
        try:
            size = fill(server.endpoint, args.size_mib << 20)
            print(f"etcd database: {size} bytes ({size / (1 << 20):.0f} MiB)", file=sys.stderr)
            rows = measure(server.endpoint, etcdctl, args.drkit_python, work, args.repeat, sources)
        finally:
            server.stop()
    report(rows, size, args.repeat)
    return 0


def measure(  # noqa: PLR0917
    endpoint: str, etcdctl: str, python: str, work: Path, repeat: int, sources: list[Path] | None = None
) -> dict[str, list[Measurement]]:
    log = work / "runs.log"
    env = {"DRKIT_PASSWORD": PASSWORD, "ETCDCTL_API": "3"}
    rows: dict[str, list[Measurement]] = {"etcdctl snapshot save": []}

    def etcdctl_save(i: int) -> Measurement:
        out = work / f"snap-{i}.db"
        m = run(Command([etcdctl, f"--endpoints={endpoint}", "snapshot", "save", str(out)], env), log)
        out.unlink(missing_ok=True)
        return m

    def drkit_backup(i: int, src: Path | None = None) -> Measurement:
        repo = work / f"repo-{i}"
        renv = {**env, "DRKIT_REPO": str(repo)}
        if src is not None:
            renv["PYTHONPATH"] = str(src)
        # run from the source tree: `python -m` puts the working directory first on sys.path, before
        # PYTHONPATH, so a checkout as working directory would shadow the tree being measured
        init = run(Command([python, "-m", "drkit", "repo", "init"], renv, cwd=src), log)
        if not init.ok:
            raise SystemExit(f"drkit repo init failed: see {log}")
        m = run(
            Command(
                [python, "-m", "drkit", "backup", "run", "--etcd-endpoints", endpoint, "--no-resources"],
                renv,
                cwd=src,
            ),
            log,
        )
        shutil.rmtree(repo, ignore_errors=True)
        return m

    tools: list[tuple[str, Callable[[int], Measurement]]] = [("etcdctl snapshot save", etcdctl_save)]
    for src in [*sources] if sources else [None]:
        name = "drkit backup run (etcd)" + ("" if src is None else f" [{src.name}]")
        tools.append((name, functools.partial(drkit_backup, src=src)))
        rows[name] = []
    for i in range(repeat):
        order = tools[i % len(tools) :] + tools[: i % len(tools)]  # the first tool rotates by round
        for name, fn in order:
            m = fn(i)
            if not m.ok:
                raise SystemExit(f"{name} failed (exit {m.returncode}): see {log}")
            print(
                f"round {i}: {name}: {m.seconds:.2f} s wall, {m.cpu_seconds:.2f} s CPU, "
                f"{m.max_rss_kib / 1024:.0f} MiB peak RSS, load {m.load_before:.1f}",
                file=sys.stderr,
            )
            rows[name].append(m)
    if os.environ.get("BENCH_KEEP_LOG"):
        print(log.read_text(), file=sys.stderr)
    return rows


def report(rows: dict[str, list[Measurement]], size: int, repeat: int) -> None:
    ref = statistics.median(m.seconds for m in rows["etcdctl snapshot save"])
    print(f"etcd database {size / (1 << 20):.0f} MiB; medians of {repeat} runs, tools alternating")
    print()
    print("| what | wall | ratio to etcdctl | CPU | peak RSS | MiB/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ms in rows.items():
        wall = statistics.median(m.seconds for m in ms)
        cpu = statistics.median(m.cpu_seconds for m in ms)
        rss = max(m.max_rss_kib for m in ms) / 1024
        print(
            f"| {name} | {wall:.2f} s | {wall / ref:.2f}x | {cpu:.2f} s | {rss:.0f} MiB "
            f"| {size / (1 << 20) / wall:.0f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
