"""Run one command as a fresh child and measure it: wall time, CPU time and peak RSS (from ``wait4``).

``wait4`` returns the child's own resource usage folded with that of every descendant it waited for, so
``ru_maxrss`` is the peak resident set of the largest process of the child's tree (Linux reports KiB).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.tools import Command


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


def run(cmd: Command, log: Path) -> Measurement:
    """Run ``cmd`` with its output appended to ``log``; never raises on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **cmd.env}
    load = os.getloadavg()[0]
    with log.open("ab") as out:
        out.write(f"$ {' '.join(cmd.argv)}  (cwd={cmd.cwd or Path.cwd()})\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd.argv, env=env, cwd=cmd.cwd, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.write(f"# exit {proc.returncode} after {seconds:.2f} s\n".encode())
    return Measurement(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kib=usage.ru_maxrss,
        returncode=proc.returncode,
        load_before=load,
    )


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
