"""Drill records in a repository (on the fake store), and the providers' command lines and names."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from drkit.drill.providers import make_provider
from drkit.drill.providers.base import ScratchBase
from drkit.drill.providers.kind import KindCluster, kind_config
from drkit.drill.providers.kubeconfig import ExistingCluster, prefixed
from drkit.drill.store import KIND_DRILL, RESULT_PATH, drill_records, newest_proven, store_result
from drkit.errors import ConfigError, MissingComponent, SandboxError
from tests.unit.drill.test_report import result
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import new_repo


def test_results_are_drill_snapshots_listed_with_the_newest_proven_backup() -> None:
    repo = new_repo(FakeStore())
    old_pass = replace(result(failed=False), id="a1", finished=datetime(2026, 11, 20, tzinfo=UTC))
    newer_snapshot = replace(
        result(failed=False),
        id="b2",
        snapshot_id="ef" * 32,
        snapshot_time=datetime(2026, 11, 26, 7, 0, tzinfo=UTC),
        finished=datetime(2026, 11, 25, tzinfo=UTC),
    )
    failing = replace(
        result(), id="c3", snapshot_id="12" * 32, snapshot_time=datetime(2026, 11, 27, tzinfo=UTC)
    )
    snaps = [store_result(repo, r) for r in (old_pass, newer_snapshot, failing)]
    assert {s.kind for s in snaps} == {KIND_DRILL}
    assert snaps[2].tags == ("drill", "plan=shop", "failed")
    records = drill_records(repo.snapshots())
    assert [r.summary["id"] for r in records] == ["a1", "b2", "c3"]
    assert [r.ok for r in records] == [True, True, False]
    proven = newest_proven(records)
    assert proven is not None
    assert proven.restored_snapshot == "ef" * 32
    stored = json.loads(repo.snapshot_reader(snaps[2].id).read_bytes(RESULT_PATH))
    assert stored["checks"][1]["status"] == "fail"
    assert newest_proven(records[2:]) is None


def test_base_lifecycle_tears_down_a_failed_up_once() -> None:
    calls: list[str] = []

    class Broken(ScratchBase):
        provider = "broken"

        def _up(self) -> Path:
            calls.append("up")
            raise SandboxError("no")

        def _down(self) -> None:
            calls.append("down")

    cluster = Broken()
    with pytest.raises(SandboxError), cluster:
        pass
    cluster.down()
    assert calls == ["up", "down"]


def test_kind_command_lines_and_config(tmp_path: Path) -> None:
    cluster = KindCluster(image="kindest/node:v1.31.0", temp_root=tmp_path)
    assert cluster.name == f"drkit-drill-{cluster.id}"
    create = cluster.create_argv("kind", Path("/t/kind.yaml"), Path("/t/kubeconfig"))
    assert create == [
        "kind", "create", "cluster", "--name", cluster.name, "--config", "/t/kind.yaml",
        "--kubeconfig", "/t/kubeconfig", "--wait", "300s", "--image", "kindest/node:v1.31.0",
    ]  # fmt: skip
    assert cluster.delete_argv("kind", Path("/t/kubeconfig")) == [
        "kind", "delete", "cluster", "--name", cluster.name, "--kubeconfig", "/t/kubeconfig",
    ]  # fmt: skip
    assert kind_config(workers=1)["nodes"] == [{"role": "control-plane"}, {"role": "worker"}]
    yaml.safe_dump(kind_config())  # plain data


def test_kind_missing_is_a_missing_component(tmp_path: Path) -> None:
    with pytest.raises(MissingComponent, match="kind"):
        KindCluster(kind="/nonexistent/kind", temp_root=tmp_path).up()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_kind_create_is_deleted_and_its_temp_dir_removed(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    fake = tmp_path / "kind"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'a').write(sys.argv[1] + '\\n')\n"
        "sys.exit(1 if sys.argv[1] == 'create' else 0)\n"
    )
    fake.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    with pytest.raises(SandboxError, match=r"kind create cluster drkit-drill-.* failed with exit code 1"):
        KindCluster(kind=str(fake), temp_root=temp).up()
    assert log.read_text().split() == ["create", "delete"]
    assert list(temp.iterdir()) == []


def test_kubeconfig_provider_prefixes_namespaces_within_63_characters() -> None:
    assert prefixed("drill-1a2b-", "shop") == "drill-1a2b-shop"
    long = prefixed("drill-1a2b-", "n" * 60)
    assert len(long) == 63
    assert long != prefixed("drill-1a2b-", "n" * 61)
    cluster = ExistingCluster(kubeconfig=Path("/x"), prefix="d-")
    assert cluster.namespace_map(["a", "b"]) == {"a": "d-a", "b": "d-b"}
    with pytest.raises(ConfigError, match="no kubeconfig at /nonexistent"):
        ExistingCluster(kubeconfig=Path("/nonexistent/kubeconfig")).up()


def test_make_provider_names_and_the_etcd_provider_needs_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider 'docker'"):
        make_provider("docker")
    etcd = make_provider("etcd", temp_root=tmp_path)
    with pytest.raises(ConfigError, match="the etcd provider needs a snapshot"):
        etcd.up()
    assert list(tmp_path.iterdir()) == []
    assert make_provider("local").provider == "local"
