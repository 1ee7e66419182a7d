"""The scratch-cluster protocol and what every provider shares.

    with make_provider("local") as cluster:        # drkit.drill.providers; up() on enter, down() on exit
        kube = KubeClient.from_kubeconfig(cluster.kubeconfig, cluster.context)
        mapping = cluster.namespace_map(["shop"])   # {"shop": "shop"}, or prefixed on a shared cluster

``down()`` is idempotent and runs even when ``up()`` failed half-way, a check failed or the drill
was interrupted (Ctrl-C arrives as ``KeyboardInterrupt``; a second Ctrl-C during teardown is
ignored so that teardown completes).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from drkit.drill.checks import VolumeFiles
from drkit.errors import ConfigError

PROVIDERS = ("local", "kind", "kubeconfig", "etcd")
TEMP_PREFIX = "drkit-drill-"


def drill_id() -> str:
    """A short random id naming one drill's cluster, namespaces and temp dir."""
    return secrets.token_hex(4)


class ScratchCluster(Protocol):
    provider: str
    kubeconfig: Path | None
    context: str | None
    service_proxy: bool  # can httpProbe reach a Service through the API server's proxy?
    service_proxy_reason: str
    volumes: VolumeFiles | None

    def up(self) -> Path: ...

    def down(self) -> None: ...

    def namespace_map(self, namespaces: Sequence[str]) -> dict[str, str]: ...

    def describe(self) -> dict[str, Any]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ScratchBase:
    """Context manager plumbing and defaults; subclasses implement ``_up`` and ``_down``."""

    provider = "base"
    context: str | None = None
    service_proxy = True
    service_proxy_reason = ""
    volumes: VolumeFiles | None = None

    def __init__(self) -> None:
        self.id = drill_id()
        self.kubeconfig: Path | None = None
        self._state = "new"
        # Python finds its temp dir lazily by creating and deleting a probe file there: do it now,
        # before the drill announces "cluster-up", so that a Ctrl-C cannot land mid-probe and leave
        # the probe file behind.
        tempfile.gettempdir()

    def up(self) -> Path:
        if self._state != "new":
            raise ConfigError(f"this {self.provider} scratch cluster was already started")
        self._state = "starting"
        try:
            self.kubeconfig = self._up()
        except BaseException:
            self.down()
            raise
        self._state = "up"
        return self.kubeconfig

    def down(self) -> None:
        if self._state in ("new", "down"):
            self._state = "down"
            return
        self._state = "down"
        with ignore_interrupts():
            self._down()

    def _up(self) -> Path:
        raise NotImplementedError

    def _down(self) -> None:
        raise NotImplementedError

    def namespace_map(self, namespaces: Sequence[str]) -> dict[str, str]:
        return {ns: ns for ns in namespaces}

    def describe(self) -> dict[str, Any]:
        return {"provider": self.provider, "id": self.id}

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()


@contextlib.contextmanager
def ignore_interrupts() -> Iterator[None]:
    """SIGINT ignored in the block (main thread only): teardown is not cut short by a second Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A Ctrl-C in the block is held until the block ends, then raised (main thread only): a step that
    creates something and records it (a temp dir and its path) is never cut in between."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class DirectoryVolumes:
    """Restored volume data in local directories, ``<root>/<namespace>/<pvc>``: where a provider whose
    nodes run no containers has drkit restore volumes itself (``volume_root``), and where checks read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def volume_root(self) -> Path:
        return self.root

    def read_file(self, namespace: str, pvc: str, path: str) -> bytes | None:
        base = (self.root / namespace / pvc).resolve()
        target = (base / path).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return None  # a path leaving the volume (a symlink out of it) is not read
        return target.read_bytes()


def new_workdir(drill: str, temp_root: Path | None) -> Path:
    """A private temp dir for one drill's scratch cluster. Call it inside ``deferred_interrupts()``
    and keep the path in that block, so that teardown always knows what to remove."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{drill}-", dir=temp_root))


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
