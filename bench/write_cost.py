"""What writing to the disk costs this machine, with its CPUs idle and with every CPU busy.

    python -m bench.write_cost [--mib 1024] [--repeat 2] [--dir .bench/work/write-cost]

``--mib`` of random bytes are written as 16 MiB files, two ways:

* ``O_DIRECT``, each file fsynced (as drkit's local repository wrote its packs until 2026-12-04);
* through the page cache, each file fsynced, then dropped from the cache (as drkit writes them now,
  ``drkit.storage.filewrite``: durable before a backup says it is done);
* through the page cache, then one ``sync`` (as kopia's filesystem storage writes, which calls no
  fsync, followed by the ``sync`` that makes its writes durable).

Each way runs with the CPUs otherwise idle, then beside one spinning process per CPU (a backup's
sealing threads keep both of this project's two cores busy). Reported: wall time, this process's CPU
time, and the **steal** time ``/proc/stat`` counts meanwhile over all CPUs: time a CPU had work while
the hypervisor ran something else. A hypervisor that does a guest's disk I/O on the guest's own CPU
allowance (Firecracker, this project's machines: docs/performance.md) shows the writes' cost there,
and with busy CPUs that time comes out of the backup's own work.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import host_steal
from bench.run import machine

FILE_MIB = 16
PIECE = 1 << 20
"""One write (drkit's direct writes were of 1 MiB)."""
WAYS = ("direct, fsync each", "page cache, fsync each, dropped", "page cache, then sync")


@dataclass(frozen=True)
class Row:
    way: str
    cpus: str  # "idle" or "busy"
    mib: int
    seconds: float
    cpu_seconds: float
    steal_seconds: float

    @property
    def mib_per_s(self) -> float:
        return self.mib / self.seconds if self.seconds > 0 else 0.0


def write_files(directory: Path, mib: int, way: str) -> tuple[float, float]:
    """Write ``mib`` MiB as 16 MiB files into ``directory`` one way; (wall, CPU) seconds. A filesystem
    that refuses ``O_DIRECT`` (tmpfs) is written through the page cache instead."""
    directory.mkdir(parents=True, exist_ok=True)
    buf = mmap.mmap(-1, PIECE)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(PIECE))
    view = memoryview(buf)
    direct, each = way == WAYS[0], way != WAYS[2]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(max(1, mib // FILE_MIB)):
        path = directory / f"f{i:04d}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(path, flags | (getattr(os, "O_DIRECT", 0) if direct else 0), 0o600)
        except OSError:
            fd = os.open(path, flags, 0o600)
        try:
            for offset in range(0, FILE_MIB * PIECE, PIECE):
                os.pwrite(fd, view, offset)
            if each:
                os.fsync(fd)
            if each and not direct:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    if not each:
        os.sync()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    view.release()
    buf.close()
    shutil.rmtree(directory)
    return seconds, cpu_seconds


def spinners() -> list[subprocess.Popen[bytes]]:
    """One process per CPU, each running a Python loop until killed."""
    count = os.cpu_count() or 1
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def measure(directory: Path, mib: int, way: str, *, busy: bool) -> Row:
    os.sync()  # nothing earlier left to write back during this one
    procs = spinners() if busy else []
    try:
        if procs:
            time.sleep(0.2)  # running before the writes start
        steal = host_steal()
        seconds, cpu_seconds = write_files(directory, mib, way)
        stolen = host_steal() - steal
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    return Row(way, "busy" if busy else "idle", mib, seconds, cpu_seconds, stolen)


def to_markdown(meta: dict[str, object], rows: list[Row]) -> str:
    lines = [f"# drkit bench: what writing to the disk costs, {meta['started']}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "started"]
    lines += [
        "",
        "| writes | other CPUs | MiB/s, median | wall, median | CPU, median | steal, median "
        "| steal per GiB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for way in WAYS:
        for cpus in ("idle", "busy"):
            mine = [r for r in rows if r.way == way and r.cpus == cpus]
            if not mine:
                continue
            steal = statistics.median(r.steal_seconds for r in mine)
            lines.append(
                f"| {way} | {cpus} | {statistics.median(r.mib_per_s for r in mine):.0f} | "
                f"{statistics.median(r.seconds for r in mine):.2f} s | "
                f"{statistics.median(r.cpu_seconds for r in mine):.2f} s | {steal:.2f} s | "
                f"{steal * 1024 / mine[0].mib:.2f} s |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.write_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path(".bench/work/write-cost"))
    parser.add_argument("--results", type=Path, default=Path(".bench/results"))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta: dict[str, object] = {
        "started": started,
        "command": " ".join(["python -m bench.write_cost", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "directory": str(args.dir.resolve()),
    }
    rows: list[Row] = []
    for i in range(args.repeat):
        for way in WAYS:
            for busy in (False, True):
                row = measure(args.dir, args.mib, way, busy=busy)
                rows.append(row)
                print(
                    f"round {i + 1}: {way}, CPUs {row.cpus}: {row.mib_per_s:.0f} MiB/s, "
                    f"wall {row.seconds:.2f} s, CPU {row.cpu_seconds:.2f} s, steal {row.steal_seconds:.2f} s"
                )
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    md = to_markdown(meta, rows)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = "write-cost-" + started.replace(":", "")
    (args.results / f"{stem}.md").write_text(md)
    body = {"meta": meta, "rows": [asdict(r) for r in rows]}
    (args.results / f"{stem}.json").write_text(json.dumps(body, indent=2))
    print(md)
    print(f"results: {args.results / stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
