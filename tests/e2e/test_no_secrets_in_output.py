"""Secrets never reach logs or reports: back up a cluster holding a Secret with a recognisable value,
with debug logs and JSON output, then list, show, verify and audit; neither the value, nor its base64,
nor the repository passphrase appears in anything drkit prints.

The control: the value *is* in the backup (read back through the repository API), so the scan is not
passing because the Secret was never captured.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.sandbox.controlplane import ControlPlane
from drkit.secret import Secret
from drkit.storage.local import LocalStore

VALUE = "Zq8-never-print-me-4471-sekret"
PASSPHRASE = "passphrase-of-the-no-secrets-test-9c1d"


def forbidden() -> dict[str, str]:
    b64 = base64.b64encode(VALUE.encode()).decode()
    return {
        "value": VALUE,
        "base64": b64,
        "base64 without padding": b64.rstrip("="),
        "url-safe base64": base64.urlsafe_b64encode(VALUE.encode()).decode().rstrip("="),
        "passphrase": PASSPHRASE,
    }


@pytest.fixture
def secret_namespace(cluster: ControlPlane, namespace: str) -> str:
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-credentials", "annotations": {"note": "the value must never be logged"}},
            "stringData": {"password": VALUE},
        },
    )
    return namespace


def test_no_secret_in_any_output(cluster: ControlPlane, secret_namespace: str, tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    env = {
        **os.environ,
        "DRKIT_REPO": str(repo_dir),
        "DRKIT_PASSWORD": PASSPHRASE,
        "DRKIT_SCRYPT_N": "1024",
    }
    env.pop("KUBECONFIG", None)
    outputs: dict[str, str] = {}

    def drkit(name: str, *args: str, fails: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )
        outputs[f"{name}: stdout"] = result.stdout
        outputs[f"{name}: stderr"] = result.stderr
        assert (result.returncode != 0) is fails, (
            f"{name}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result

    drkit("init", "--log-level", "debug", "repo", "init")
    backup_args = (
        "backup",
        "run",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--include-namespaces",
        secret_namespace,
        "--etcd-endpoints",
        cluster.etcd.endpoint,
    )
    run = drkit("backup (json)", "--log-level", "debug", *backup_args, "-o", "json")
    snap = json.loads(run.stdout)
    assert run.stderr.strip(), "debug logging produced no lines: the scan would prove nothing"
    drkit("backup (json logs)", "--log-level", "debug", "--log-format", "json", *backup_args, "-o", "yaml")
    drkit("backup (text)", "--log-level", "debug", *backup_args)

    for fmt in ("table", "json"):
        drkit(f"snapshots {fmt}", "--log-level", "debug", "snapshots", "-o", fmt)
        drkit(f"snapshot show {fmt}", "--log-level", "debug", "snapshot", "show", snap["id"], "-o", fmt)
        drkit(f"snapshot ls {fmt}", "--log-level", "debug", "snapshot", "ls", snap["id"], "-o", fmt)
        drkit(f"verify {fmt}", "--log-level", "debug", "verify", "--read-data", "-o", fmt)
        drkit(f"audit {fmt}", "--log-level", "debug", "audit", "-o", fmt)
    audit = json.loads(outputs["audit json: stdout"])
    assert [r["command"] for r in audit["records"]] == ["backup run"] * 3 + [
        "verify"
    ] * 2  # verify is audited
    assert audit["problems"] == []
    # A failing command prints its error; that path must be clean too.
    drkit(
        "restore path (fails)",
        "--log-level",
        "debug",
        "restore",
        "path",
        "ffff0000",
        str(tmp_path / "out"),
        fails=True,
    )

    leaks = [
        f"{what} in {where}"
        for where, text in outputs.items()
        for what, needle in forbidden().items()
        if needle in text
    ]
    assert leaks == []

    # The control: the Secret, value and all, is in the backup.
    repo = Repository.open(LocalStore(repo_dir), Credential(passphrase=Secret(PASSPHRASE)))
    reader = repo.snapshot_reader(snap["id"])
    stored = json.loads(
        reader.read_bytes(f"resources/core/v1/secrets/{secret_namespace}/db-credentials.json")
    )
    assert base64.b64decode(stored["data"]["password"]).decode() == VALUE
