"""Run one command as a fresh child and measure it: wall time, CPU time and the child's own peak RSS.

CPU time comes from ``wait4`` (the child's user + system time folded with every descendant it waited
for). Peak RSS does not: on Linux, ``execve`` records the resident set of the address space it
replaces into the new program's ``ru_maxrss``, and a child forked from this (large) Python harness
starts with a copy of the harness's address space, so ``wait4`` would report the harness's own peak (a
``/bin/true`` started from a 400 MiB Python process "peaks" at 400 MiB). The command therefore runs
under GNU ``time`` (``/usr/bin/time -f %M``, a small C program; ``hack/bench-tools.sh`` installs it
when missing): the command is forked from that small process, so what ``time`` reports is the peak
of the command itself (the largest process of its tree), in KiB.

Two figures say what the machine was like around each step, since this project's benchmarks run on
shared virtual machines whose speed drifts: :func:`cpu_probe` times a fixed piece of work just before
the step (other guests on the host's cores, memory bandwidth and clock all show in it; the 1-minute
load average sees only this machine's own processes), and :func:`host_steal` counts the CPU time the
hypervisor gave to others while this machine's CPUs had work, during the step.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from bench.tools import Command

GNU_TIME = "/usr/bin/time"


class NoGnuTime(RuntimeError):
    """GNU time is missing: peak RSS cannot be measured per child."""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    returncode: int
    load_before: float  # 1-minute load average when the step started (other work on the machine)
    probe_ms: float = 0.0  # cpu_probe() just before the step: lower is a faster machine
    steal_seconds: float = 0.0  # host_steal() over the step: CPU time the host gave to others

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def gnu_time() -> str:
    found = GNU_TIME if os.access(GNU_TIME, os.X_OK) else shutil.which("gtime")
    if not found:
        raise NoGnuTime(f"{GNU_TIME} not found (install it with: hack/bench-tools.sh time)")
    return found


def run(cmd: Command, log: Path) -> Measurement:
    """Run ``cmd`` with its output appended to ``log``; never raises on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **cmd.env}
    load = os.getloadavg()[0]
    probe = cpu_probe()
    with log.open("ab") as out, tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        out.write(f"$ {' '.join(cmd.argv)}  (cwd={cmd.cwd or Path.cwd()})\n".encode())
        out.flush()
        # -q: no "Command exited with non-zero status" line; the file then holds only %M
        argv = [gnu_time(), "-q", "-f", "%M", "-o", rss.name, *cmd.argv]
        steal = host_steal()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cmd.cwd, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        stolen = host_steal() - steal
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.write(f"# exit {proc.returncode} after {seconds:.2f} s\n".encode())
        max_rss_kib = _peak_kib(Path(rss.name).read_text())
    return Measurement(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kib=max_rss_kib,
        returncode=proc.returncode,
        load_before=load,
        probe_ms=probe,
        steal_seconds=stolen,
    )


_probe_text = b""


def cpu_probe() -> float:
    """Milliseconds of this thread's CPU time for the same work every time, the best of 3 after one
    not counted: zlib level 1 of 4 MiB of generated words (memory and caches, as a backup's
    compression), then 300,000 steps of a Python loop (the interpreter, as drkit's walk). ~0.1 s a
    pass on this project's machines when nothing else runs on their host; compare it across the
    steps of one report and between reports."""
    global _probe_text  # noqa: PLW0603 - made once per process
    if not _probe_text:
        rng = random.Random(0)
        words = ["".join(rng.choices("etaoinshrdlucmfwypvbgkjqxz", k=rng.randint(2, 9))) for _ in range(5000)]
        _probe_text = " ".join(rng.choices(words, k=800_000)).encode()[: 4 << 20]
    best = math.inf
    for i in range(4):
        start = time.thread_time()
        zlib.compress(_probe_text, 1)
        n = 0
        for step in range(300_000):
            n += step
        if i:
            best = min(best, time.thread_time() - start)
    return best * 1000


def host_steal() -> float:
    """Seconds of steal time summed over this machine's CPUs so far (``/proc/stat``: time a CPU had
    work while the hypervisor ran another guest on it); 0.0 where the kernel does not count it."""
    try:
        with open("/proc/stat", encoding="ascii") as f:  # noqa: PTH123 - one line of a proc file
            fields = f.readline().split()
    except OSError:
        return 0.0
    if len(fields) < 9 or fields[0] != "cpu":
        return 0.0
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _peak_kib(text: str) -> int:
    """The last number GNU time wrote (it writes %M last; 0 when the command could not start)."""
    for line in reversed(text.splitlines()):
        if line.strip().isdigit():
            return int(line.strip())
    return 0


def du(path: Path) -> int:
    """Bytes allocated under ``path`` (0 when missing)."""
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512  # noqa: PTH118
            except FileNotFoundError:
                continue
    return total
