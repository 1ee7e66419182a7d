"""``kind``: ``kind create cluster`` with a generated config (needs Docker), deleted afterwards.

kind create cluster --name drkit-drill-<id> --config <tmp>/kind.yaml --kubeconfig <tmp>/kubeconfig --wait 300s
kind delete cluster --name drkit-drill-<id> --kubeconfig <tmp>/kubeconfig
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from drkit.drill.providers.base import ScratchBase, deferred_interrupts, new_workdir, remove_tree
from drkit.errors import MissingComponent, SandboxError

CREATE_TIMEOUT = 600.0
DELETE_TIMEOUT = 300.0
OUTPUT_TAIL = 3000


def kind_config(*, workers: int = 0) -> dict[str, Any]:
    """The generated cluster config: one control-plane node (and ``workers`` workers)."""
    nodes: list[dict[str, str]] = [{"role": "control-plane"}]
    nodes += [{"role": "worker"} for _ in range(workers)]
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": nodes}


class KindCluster(ScratchBase):
    provider = "kind"

    def __init__(
        self,
        *,
        kind: str = "kind",
        image: str | None = None,
        workers: int = 0,
        wait: str = "300s",
        temp_root: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.name = f"drkit-drill-{self.id}"
        self.kind = kind
        self.image = image
        self.workers = workers
        self.wait = wait
        self.temp_root = temp_root
        self.env = env
        self.workdir: Path | None = None
        self._created = False

    def _exe(self) -> str:
        found = shutil.which(self.kind)
        if found is None:
            raise MissingComponent(
                f"kind ({self.kind!r}) is not on PATH",
                hint="install kind (https://kind.sigs.k8s.io) and Docker, or use --provider local",
            )
        return found

    def create_argv(self, exe: str, config: Path, kubeconfig: Path) -> list[str]:
        argv = [exe, "create", "cluster", "--name", self.name, "--config", str(config)]
        argv += ["--kubeconfig", str(kubeconfig), "--wait", self.wait]
        if self.image:
            argv += ["--image", self.image]
        return argv

    def delete_argv(self, exe: str, kubeconfig: Path) -> list[str]:
        return [exe, "delete", "cluster", "--name", self.name, "--kubeconfig", str(kubeconfig)]

    def _up(self) -> Path:
        exe = self._exe()
        with deferred_interrupts():  # the dir and its path, never one without the other
            self.workdir = new_workdir(self.id, self.temp_root)
        config = self.workdir / "kind.yaml"
        config.write_text(yaml.safe_dump(kind_config(workers=self.workers), sort_keys=False))
        kubeconfig = self.workdir / "kubeconfig"
        self._created = True  # a failed or interrupted create may leave containers: always delete
        self._run(self.create_argv(exe, config, kubeconfig), CREATE_TIMEOUT, "create")
        if not kubeconfig.is_file():
            raise SandboxError(f"kind create cluster {self.name} wrote no kubeconfig at {kubeconfig}")
        return kubeconfig

    def _down(self) -> None:
        try:
            if self._created and self.workdir is not None:
                self._run(
                    self.delete_argv(self._exe(), self.workdir / "kubeconfig"), DELETE_TIMEOUT, "delete"
                )
        finally:
            remove_tree(self.workdir)

    def _run(self, argv: Sequence[str], timeout: float, what: str) -> None:
        env = {**os.environ, **(self.env or {})}
        try:
            done = subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"kind {what} cluster {self.name} did not finish in {timeout:.0f}s") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-OUTPUT_TAIL:]
            raise SandboxError(
                f"kind {what} cluster {self.name} failed with exit code {done.returncode}:\n{output}"
            )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cluster": self.name}
