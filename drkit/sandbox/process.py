"""Child server processes: started in their own session, logged to a file, stopped for sure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drkit.deadline import Deadline
from drkit.errors import SandboxError


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The end of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL after ``timeout``."""
        if not self.alive():
            return
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def start(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Process:
    """Start ``argv`` in a new session (so it survives the caller when detached), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
        )
    return Process(name, popen, log_path)


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    process: Process | None = None,
    timeout: float = 60.0,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until true; fail early if ``process`` dies, with the end of its log."""
    for _ in Deadline(timeout).polls(interval):
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet; the probe's error is not the story
            pass
        if process is not None and not process.alive():
            raise SandboxError(
                f"{process.name} exited with code {process.popen.returncode} before {what}; "
                f"log {process.log_path}:\n{process.tail()}"
            )
    tail = f"; log {process.log_path}:\n{process.tail()}" if process else ""
    raise SandboxError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop a detached process group by pid (``drkit sandbox down``). True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in Deadline(timeout).polls(0.1):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
    _signal_group(pid, signal.SIGKILL)
    return True
