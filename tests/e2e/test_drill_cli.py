"""`drkit drill` as a user runs it, without a cluster: plan validation with file/line/field, exit
codes of drills that cannot run, and `drill report` on a repository with recorded drills. (Drills
into real scratch clusters are in tests/integration/test_drill.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.capture.cluster import OBJECTS_PATH, STABLE_MTIME
from drkit.drill.store import store_result
from drkit.errors import ExitCode
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.unit.drill.test_report import result

PASSWORD = "correct horse battery staple"

PLAN = """apiVersion: drkit.io/v1
kind: RestorePlan
metadata:
  name: shop-drill
spec:
  target: {scratch: true}
  checks:
    - exists: {kind: ConfigMap, name: settings, namespace: shop}
    - count: {kind: ConfigMap, namespace: shop}
"""


GOOD_PLAN = PLAN.replace("{kind: ConfigMap, namespace: shop}", "{kind: ConfigMap, namespace: shop, min: 1}")


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "repo"
        self.tmp = tmp / "scratch-tmp"
        self.tmp.mkdir()
        self.env = {
            **os.environ,
            "DRKIT_REPO": str(self.repo),
            "DRKIT_PASSWORD": PASSWORD,
            "DRKIT_SCRYPT_N": "1024",
            "TMPDIR": str(self.tmp),
        }

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env or self.env,
            check=False,
            timeout=300,
        )

    def open(self) -> Repository:
        return Repository.open(LocalStore(self.repo), Credential(passphrase=Secret(PASSWORD)))


@pytest.fixture
def drkit(tmp_path: Path) -> Drkit:
    d = Drkit(tmp_path)
    assert d.run("repo", "init").returncode == 0
    return d


def cluster_snapshot(repo: Repository) -> str:
    """A small cluster snapshot as `drkit backup run` lays it out: one ConfigMap."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}}
    path = "resources/core/v1/configmaps/shop/settings.json"
    record = {
        "path": path, "group": "", "version": "v1", "resource": "configmaps", "kind": "ConfigMap",
        "namespace": "shop", "name": "settings", "resourceVersion": "1", "listResourceVersion": "1",
    }  # fmt: skip
    with repo.new_snapshot(kind="cluster") as snap:
        snap.add_bytes(path, json.dumps(cm).encode(), mtime=STABLE_MTIME)
        snap.add_bytes(OBJECTS_PATH, json.dumps([record]).encode(), mtime=STABLE_MTIME)
        snap.set_meta({"resources": {"objects": 1}})
    assert snap.snapshot is not None
    return snap.snapshot.id


def test_drill_is_a_command_group_not_a_placeholder(drkit: Drkit) -> None:
    out = drkit.run("drill", "--help")
    assert out.returncode == 0
    assert "run" in out.stdout
    assert "report" in out.stdout
    assert "Not implemented yet" not in out.stdout


def test_a_bad_check_names_the_plan_file_line_and_field(drkit: Drkit, tmp_path: Path) -> None:
    cluster_snapshot(drkit.open())
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    done = drkit.run("drill", "run", str(plan))
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"drkit: error: {plan}:9: spec.checks[1].count: give min or equals" in done.stderr
    assert list(drkit.tmp.iterdir()) == []  # nothing was started


def test_a_repository_without_snapshots_is_a_plan_error(drkit: Drkit, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD_PLAN)
    done = drkit.run("drill", "run", str(plan))
    assert done.returncode == ExitCode.USAGE
    assert "spec.snapshot" in done.stderr


def test_drills_that_cannot_run_exit_with_their_own_code(drkit: Drkit, tmp_path: Path) -> None:
    cluster_snapshot(drkit.open())
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD_PLAN)
    etcd = drkit.run("drill", "run", str(plan), "--provider", "etcd")
    assert etcd.returncode == ExitCode.USAGE
    assert "holds no etcd database: an etcd drill needs one" in etcd.stderr
    env = {**drkit.env, "PATH": str(tmp_path / "empty-bin")}
    kind = drkit.run("drill", "run", str(plan), "--provider", "kind", env=env)
    assert kind.returncode == ExitCode.MISSING_COMPONENT, kind.stderr
    assert "kind ('kind') is not on PATH" in kind.stderr
    assert list(drkit.tmp.iterdir()) == []
    # a drill that could not run is in the audit log too, with why
    audited = drkit.run("audit", "--action", "drill", "-o", "json")
    assert audited.returncode == 0, audited.stderr
    records = json.loads(audited.stdout)["records"]
    assert [(r["command"], r["result"]) for r in records] == [("drill run", "failed")] * 2
    assert "holds no etcd database" in records[0]["detail"]["error"]


def test_drill_report_lists_drills_and_the_newest_proven_backup(drkit: Drkit) -> None:
    repo = drkit.open()
    empty = drkit.run("drill", "report")
    assert empty.returncode == 0
    assert "no drill has passed yet" in empty.stdout
    passed = replace(result(failed=False), id="aaaa1111", finished=datetime(2026, 11, 25, tzinfo=UTC))
    store_result(repo, passed)
    store_result(repo, replace(result(), id="bbbb2222", snapshot_id="ef" * 32))
    text = drkit.run("drill", "report")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:4] == ["RECORD", "FINISHED", "PLAN", "PROVIDER"]
    assert "passed" in lines[1]
    assert "FAILED" in lines[2]
    assert "configmapEquals shop/settings" in lines[2]
    assert lines[-1].startswith(
        "newest backup proven restorable: snapshot cdcdcdcd taken 2026-11-26T06:00:00+00:00"
    )
    data = json.loads(drkit.run("drill", "report", "-o", "json", "--last", "1").stdout)
    assert [d["id"] for d in data["drills"]] == ["bbbb2222"]
    assert data["newestProven"]["snapshot"] == "cd" * 32
    assert json.loads(drkit.run("drill", "report", "-o", "json", "--plan", "other").stdout)["drills"] == []
