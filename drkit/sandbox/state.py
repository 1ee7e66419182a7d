"""The state file of a detached sandbox (``<dir>/sandbox.json``): which processes it started, where.

The processes outlive the command that started them, so the file is how ``status`` and ``down`` find
them again. A pid alone could have been reused by an unrelated program since: each record keeps the
process's executable, and a pid only counts as the sandbox's while it still runs that executable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "sandbox.json"
VERSION = 1


@dataclass(frozen=True)
class ComponentState:
    name: str
    pid: int
    exe: str
    endpoint: str = ""
    log: str = ""

    def alive(self) -> bool:
        return running_exe(self.pid) == self.exe != ""


@dataclass(frozen=True)
class S3State:
    endpoint: str
    region: str
    bucket: str
    credentials_file: str


@dataclass
class SandboxState:
    directory: str
    kubeconfig: str
    server: str
    nodes: list[str]
    components: list[ComponentState]
    s3: S3State | None = None
    started_at: str = ""
    version: int = field(default=VERSION)
    real_nodes: list[dict[str, Any]] = field(default_factory=list)  # realnode.RealNode.record()
    bridge: dict[str, Any] | None = None  # netbridge.Bridge.record()

    def alive(self) -> list[ComponentState]:
        return [c for c in self.components if c.alive()]

    def save(self) -> Path:
        path = Path(self.directory) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path) -> SandboxState | None:
        path = directory / STATE_FILE
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        s3 = doc.get("s3")
        return cls(
            directory=doc["directory"],
            kubeconfig=doc["kubeconfig"],
            server=doc["server"],
            nodes=list(doc.get("nodes", [])),
            components=[ComponentState(**c) for c in doc["components"]],
            s3=S3State(**s3) if s3 else None,
            started_at=doc.get("started_at", ""),
            version=int(doc.get("version", VERSION)),
            real_nodes=list(doc.get("real_nodes", [])),
            bridge=doc.get("bridge"),
        )


def running_exe(pid: int) -> str:
    """The executable ``pid`` runs now (``/proc/<pid>/exe``), or "" when no such process is ours."""
    try:
        return str(Path(f"/proc/{pid}/exe").readlink())
    except OSError:
        return ""
