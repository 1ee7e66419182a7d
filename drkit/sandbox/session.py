"""``drkit sandbox up|status|down``: a detached local cluster (and S3) that outlives the command.

The CLI only parses options and prints; this module starts, finds and stops the processes.
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drkit.errors import MissingComponent, SandboxError
from drkit.sandbox import minio, netbridge, process, realnode
from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.pki import write_private
from drkit.sandbox.state import STATE_FILE, ComponentState, S3State, SandboxState, running_exe
from drkit.secret import Secret

if TYPE_CHECKING:
    from drkit.sandbox.s3server import S3Credentials

CREDENTIALS_FILE = "s3-credentials.json"


@dataclass
class UpResult:
    state: SandboxState
    already_running: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _component(name: str, pid: int, endpoint: str, log_path: str, exe_hint: str = "") -> ComponentState:
    # The running executable as the kernel reports it: what ``alive`` compares against later.
    exe = running_exe(pid) or exe_hint
    return ComponentState(name=name, pid=pid, exe=exe, endpoint=endpoint, log=log_path)


def up(
    directory: Path, *, nodes: int = 1, s3: bool = True, real_nodes: int = 0, images: Sequence[Path] = ()
) -> UpResult:
    """Start the sandbox in ``directory`` unless it is already running there. With ``real_nodes``
    (root only) containers really run, ``images`` (default: ``make image``'s archives) are imported
    into each node, and MinIO listens where pods reach it."""
    directory = directory.resolve()
    previous = SandboxState.load(directory)
    if previous is not None and previous.alive():
        return UpResult(previous, already_running=True)
    notes: list[str] = []
    if previous is not None:
        # Nothing of it runs any more (a reboot, a kill): start afresh rather than half-reuse old data.
        _clear(directory)
        notes.append("the previous sandbox in this directory was not running; started a fresh one")
    else:
        # Left over by an `up` that failed before writing its state: never reuse half-made data.
        for leftover in ("cluster", "s3"):
            if (directory / leftover).is_dir():
                shutil.rmtree(directory / leftover)
    directory.mkdir(parents=True, exist_ok=True)

    if real_nodes and not images:
        images = realnode.default_images()
    began = time.monotonic()
    plane = ControlPlane.start(directory / "cluster", nodes=nodes, real_nodes=real_nodes, images=images)
    components = [
        _component(r["name"], r["pid"], r["endpoint"], r["log"], str(Path(r["exe"]).resolve()))
        for r in plane.records()
    ]
    s3_state: S3State | None = None
    if s3:
        try:
            s3_state, s3_components = _start_s3(directory, host=plane.gateway or "127.0.0.1")
        except BaseException:
            plane.stop()
            raise
        components += s3_components
    state = SandboxState(
        directory=str(directory),
        kubeconfig=str(plane.kubeconfig),
        server=plane.server,
        nodes=plane.nodes,
        components=components,
        s3=s3_state,
        started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        real_nodes=[n.record() for n in plane.real_nodes],
        bridge=None if plane.bridge is None else plane.bridge.record(),
    )
    state.save()
    return UpResult(state, seconds=time.monotonic() - began, notes=notes)


def _start_s3(directory: Path, host: str = "127.0.0.1") -> tuple[S3State, list[ComponentState]]:
    try:
        server = minio.start(directory / "s3", host=host)
    except MissingComponent as exc:
        raise MissingComponent(str(exc), hint=f"{exc.hint}; or run `drkit sandbox up --no-s3`") from exc
    credentials = write_private(
        directory / CREDENTIALS_FILE,
        json.dumps(
            {
                "endpoint": server.endpoint,
                "region": server.region,
                "bucket": server.bucket,
                "admin": _credentials(server.admin),
                "writer": _credentials(server.writer),
            },
            indent=2,
        ).encode(),
    )
    logs = [str(p.log_path) for p in server.processes]
    components = [
        _component(
            server.kind if i == 0 else f"{server.kind}-{i}",
            pid,
            server.endpoint,
            logs[i] if i < len(logs) else "",
        )
        for i, pid in enumerate(server.pids())
    ]
    state = S3State(
        endpoint=server.endpoint,
        region=server.region,
        bucket=server.bucket,
        credentials_file=str(credentials),
    )
    return state, components


def _credentials(creds: S3Credentials) -> dict[str, str]:
    doc = {"access_key": creds.access_key, "secret_key": _text(creds.secret_key)}
    if creds.session_token is not None:
        doc["session_token"] = _text(creds.session_token)
    return doc


def _text(secret: Secret) -> str:
    value = secret.reveal()
    return value.decode() if isinstance(value, bytes) else value


def status(directory: Path) -> SandboxState | None:
    return SandboxState.load(directory.resolve())


def down(directory: Path, *, purge: bool = False) -> list[ComponentState]:
    """Stop every component still running (last started first); return those that were stopped.

    ``purge`` then deletes the directory, but only one that holds a sandbox state file (never an
    arbitrary directory given by mistake)."""
    directory = directory.resolve()
    state = SandboxState.load(directory)
    stopped: list[ComponentState] = []
    if state is not None:
        # A real node: its kubelet first (it would restart containers), then its containers while
        # containerd still runs, then the rest in reverse order, then the pod network.
        kubelets = [c for c in state.components if c.name.startswith("kubelet-")]
        for component in kubelets:
            if component.alive() and process.stop_pid(component.pid):
                stopped.append(component)
        for record in state.real_nodes:
            realnode.teardown(record)
        for component in reversed(state.components):
            if component not in kubelets and component.alive() and process.stop_pid(component.pid):
                stopped.append(component)
        if state.bridge:
            netbridge.Bridge(state.bridge["name"], int(state.bridge["index"])).delete()
    if purge and directory.exists():
        if state is None and any(directory.iterdir()):
            raise SandboxError(
                f"{directory} holds no {STATE_FILE}: not deleting a directory drkit did not create"
            )
        shutil.rmtree(directory)
    return stopped


def _clear(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
