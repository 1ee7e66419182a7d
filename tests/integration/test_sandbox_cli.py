"""`drkit sandbox up|status|down` end to end, as a user runs it: detached processes, a state file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client, config

from drkit.errors import ExitCode
from drkit.sandbox import binaries, process
from drkit.sandbox.controlplane import COMPONENTS
from tests.infra.plugin import ROOT, missing


def drkit(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drkit", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_missing_binaries_exit_16_with_hint(tmp_path: Path) -> None:
    # A copy of the package, so that the checkout's .testbin/bin is not next to it; an empty
    # DRKIT_TESTBIN and an empty PATH: no server binary anywhere.
    shutil.copytree(ROOT / "drkit", tmp_path / "src" / "drkit", ignore=shutil.ignore_patterns("__pycache__"))
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "DRKIT_TESTBIN": str(empty), "PATH": str(empty)}
    sandbox_dir = tmp_path / "sb"
    result = drkit("up", "--no-s3", "--dir", str(sandbox_dir), env=env, cwd=tmp_path)
    assert result.returncode == ExitCode.MISSING_COMPONENT, result.stderr
    assert "not found" in result.stderr
    assert "make testbin" in result.stderr
    assert not (sandbox_dir / "sandbox.json").exists()


def test_status_and_down_without_sandbox(tmp_path: Path) -> None:
    status = drkit("status", "-o", "json", "--dir", str(tmp_path / "none"))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["up"] is False
    down = drkit("down", "--dir", str(tmp_path / "none"))
    assert down.returncode == 0, down.stderr
    assert "Nothing was running" in down.stdout


def _status(directory: Path) -> Any:
    result = drkit("status", "-o", "json", "--dir", str(directory))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_up_status_down(tmp_path: Path) -> None:
    if not binaries.have(*COMPONENTS):
        missing(f"the control plane binaries ({', '.join(COMPONENTS)})")
    directory = tmp_path / "sandbox"
    try:
        up = drkit("up", "--no-s3", "--nodes", "2", "--dir", str(directory))
        assert up.returncode == 0, up.stderr
        kubeconfig = directory / "cluster" / "kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in up.stdout

        doc = _status(directory)
        assert doc["up"] is True
        assert [c["name"] for c in doc["components"]] == list(COMPONENTS)
        assert all(c["alive"] for c in doc["components"])
        assert doc["kubeconfig"] == str(kubeconfig)
        assert doc["s3"] is None

        # The processes outlived `up`: the API server answers with the printed kubeconfig.
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        nodes = client.CoreV1Api(api).list_node(label_selector="type=kwok")
        assert sorted(n["metadata"]["name"] for n in api.sanitize_for_serialization(nodes)["items"]) == [
            "kwok-node-0",
            "kwok-node-1",
        ]

        again = drkit("up", "--no-s3", "--dir", str(directory))
        assert again.returncode == 0, again.stderr
        assert "already up" in again.stdout
        assert [c["pid"] for c in _status(directory)["components"]] == [c["pid"] for c in doc["components"]]

        table = drkit("status", "--dir", str(directory))
        assert table.returncode == 0
        assert "kube-apiserver" in table.stdout

        # One component dies: status says so, and `up` points at down + up instead of starting twice.
        kwok_pid = next(c["pid"] for c in doc["components"] if c["name"] == "kwok")
        assert process.stop_pid(kwok_pid)
        partial = _status(directory)
        assert partial["up"] is False
        assert [c["name"] for c in partial["components"] if not c["alive"]] == ["kwok"]
        again = drkit("up", "--no-s3", "--dir", str(directory))
        assert again.returncode == 0, again.stderr
        assert "not all of it runs: kwok" in again.stdout
    finally:
        down = drkit("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    for name in COMPONENTS:
        assert (f"Stopped {name}" in down.stdout) == (name != "kwok")
    after = _status(directory)
    assert not any(c["alive"] for c in after["components"])

    idle = drkit("down", "--dir", str(directory), "--purge")
    assert idle.returncode == 0, idle.stderr
    assert "Nothing was running" in idle.stdout
    assert not directory.exists()


def test_purge_refuses_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "not-a-sandbox"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = drkit("down", "--purge", "--dir", str(foreign))
    assert result.returncode == ExitCode.SANDBOX
    assert (foreign / "precious.txt").read_text() == "keep me"
