"""Run one command as a fresh child and measure it: wall time, CPU time and the child's own peak RSS.

CPU time comes from ``wait4`` (the child's user + system time folded with every descendant it waited
for). Peak RSS does not: on Linux, ``execve`` records the resident set of the address space it
replaces into the new program's ``ru_maxrss``, and a child forked from this (large) Python harness
starts with a copy of the harness's address space, so ``wait4`` would report the harness's own peak (a
``/bin/true`` started from a 400 MiB Python process "peaks" at 400 MiB). The command therefore runs
under GNU ``time`` (``/usr/bin/time -f %M``, a small C program; ``hack/bench-tools.sh`` installs it
when missing): the command is forked from that small process, so what ``time`` reports is the peak
of the command itself (the largest process of its tree), in KiB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
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
    with log.open("ab") as out, tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        out.write(f"$ {' '.join(cmd.argv)}  (cwd={cmd.cwd or Path.cwd()})\n".encode())
        out.flush()
        # -q: no "Command exited with non-zero status" line; the file then holds only %M
        argv = [gnu_time(), "-q", "-f", "%M", "-o", rss.name, *cmd.argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cmd.cwd, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.write(f"# exit {proc.returncode} after {seconds:.2f} s\n".encode())
        max_rss_kib = _peak_kib(Path(rss.name).read_text())
    return Measurement(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kib=max_rss_kib,
        returncode=proc.returncode,
        load_before=load,
    )


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
