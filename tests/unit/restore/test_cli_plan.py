"""`drkit restore plan|run` against a local repository in a tmp dir and a scratch target (no cluster):
output, Secret bodies never shown, snapshot selection, the plan's repository as default, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.capture.cluster import OBJECTS_PATH, STABLE_MTIME, _object_record
from drkit.capture.resources import CapturedObject, object_path
from drkit.cli.main import main
from drkit.errors import ExitCode
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.unit.restore.helpers import obj, owned_by

PASSWORD = "a passphrase for the restore cli test"
SECRET_VALUE = "c3VwZXItc2VjcmV0LXZhbHVl"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.out + self.err
        return json.loads(self.out)


def _snapshot(repo: Repository, objects: list[CapturedObject], tags: tuple[str, ...]) -> str:
    with repo.new_snapshot(kind="cluster", tags=tags) as snap:
        records = []
        for o in objects:
            path = object_path(o)
            snap.add_bytes(path, o.raw, mtime=STABLE_MTIME)
            records.append(_object_record(o, path))
        snap.add_bytes(OBJECTS_PATH, json.dumps(records).encode(), mtime=STABLE_MTIME)
        snap.set_meta({"resources": {"objects": len(objects)}})
    assert snap.snapshot is not None
    return snap.snapshot.id


@pytest.fixture
def repo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, str]:
    """A repository with two cluster snapshots: an older 'nightly' one and a newer untagged one."""
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.delenv("DRKIT_REPO", raising=False)
    monkeypatch.delenv("DRKIT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("DRKIT_KEY_FILE", raising=False)
    path = tmp_path / "repo"
    repo = Repository.init(
        LocalStore(path), Credential(passphrase=Secret(PASSWORD)), lock_mode=None, retention=timedelta(0),
        scrypt_n=1024,
    )  # fmt: skip
    app = [
        obj("Namespace", "shop"),
        obj("ConfigMap", "settings", "shop", data={"mode": "blue"}),
        obj("Secret", "db", "shop", type="Opaque", data={"password": SECRET_VALUE}),
        obj("Deployment", "web", "shop", spec={"replicas": 2}),
        obj("ReplicaSet", "web-1", "shop", metadata=owned_by("Deployment", "web")),
    ]
    older = _snapshot(repo, app, ("nightly",))
    newer = _snapshot(repo, [*app, obj("ConfigMap", "extra", "shop")], ())
    return path, older, newer


def drkit(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return Run(int(info.value.code or 0), captured.out, captured.err)


def plan_file(tmp_path: Path, repo: Path | None, **spec: Any) -> Path:
    full: dict[str, Any] = {"target": {"scratch": True}, "namespaceMapping": {"shop": "shop-dr"}, **spec}
    if repo is not None:
        full["repository"] = {"url": str(repo)}
    document = {"apiVersion": "drkit.io/v1", "kind": "RestorePlan", "metadata": {"name": "t"}, "spec": full}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_plan_against_a_scratch_target(
    tmp_path: Path, repo_dir: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _older, newer = repo_dir
    plan = plan_file(tmp_path, repo)
    data = drkit(capsys, "restore", "plan", str(plan), "-o", "json").json()
    assert data["plan"] == "t"
    assert data["snapshot"] == newer
    assert data["target"] == "scratch (a new, empty cluster)"
    assert [(a["verb"], a["display"]) for a in data["actions"]] == [
        ("create", "namespaces/shop-dr"),
        ("create", "secrets/db in shop-dr"),
        ("create", "configmaps/extra in shop-dr"),
        ("create", "configmaps/settings in shop-dr"),
        ("create", "deployments.apps/web in shop-dr"),
    ]
    assert data["skipped"] == [
        {
            "sourcePath": "resources/apps/v1/replicasets/shop/web-1.json",
            "reason": "owned by Deployment/web, which recreates it",
        }
    ]
    assert data["counts"] == {"create": 5, "update": 0, "skip": 0, "fail": 0, "not-restored": 1}
    table = drkit(capsys, "restore", "plan", str(plan))
    assert table.code == 0
    assert "secrets/db in shop-dr" in table.out
    assert "owned by Deployment/web" in table.out
    assert "5 to create, 0 to update, 0 to skip, 0 failing; 1 snapshot objects not restored" in table.out
    dry = drkit(capsys, "restore", "run", str(plan), "--dry-run", "-o", "json").json()
    assert dry == data
    for output in (table.out, json.dumps(data)):
        assert SECRET_VALUE not in output


def test_snapshot_selection_and_overrides(
    tmp_path: Path, repo_dir: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, older, newer = repo_dir
    by_schedule = plan_file(tmp_path, repo, snapshot={"schedule": "nightly"})
    assert drkit(capsys, "restore", "plan", str(by_schedule), "-o", "json").json()["snapshot"] == older
    overridden = drkit(capsys, "restore", "plan", str(by_schedule), "--snapshot", "latest", "-o", "json")
    assert overridden.json()["snapshot"] == newer
    by_prefix = drkit(capsys, "restore", "plan", str(by_schedule), "--snapshot", older[:8], "-o", "json")
    assert by_prefix.json()["snapshot"] == older

    missing = plan_file(tmp_path, repo, snapshot={"schedule": "weekly"})
    result = drkit(capsys, "restore", "plan", str(missing))
    assert result.code == ExitCode.USAGE
    line = next(i for i, text in enumerate(missing.read_text().splitlines(), 1) if "schedule: weekly" in text)
    assert f"{missing}:{line}: spec.snapshot: no cluster snapshot with API resources matches" in result.err
    bad = drkit(capsys, "restore", "plan", str(missing), "--snapshot", "0000ffff")
    assert bad.code == ExitCode.USAGE
    assert "--snapshot: no snapshot '0000ffff'" in bad.err
    unparsable = drkit(capsys, "restore", "plan", str(missing), "--snapshot", "last week")
    assert unparsable.code == ExitCode.USAGE
    assert "--snapshot: 'last week' is not a snapshot reference" in unparsable.err


def test_repository_from_the_plan_the_environment_or_the_command_line(
    tmp_path: Path,
    repo_dir: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, _older, newer = repo_dir
    nowhere = tmp_path / "no-repo-here"
    monkeypatch.setenv("DRKIT_REPO", str(nowhere))
    with_repo = plan_file(tmp_path, repo)
    assert drkit(capsys, "restore", "plan", str(with_repo), "-o", "json").json()["snapshot"] == newer
    flag = drkit(capsys, "restore", "plan", str(with_repo), "--repo", str(nowhere))
    assert flag.code == ExitCode.REPOSITORY_NOT_FOUND, flag.err

    without = plan_file(tmp_path, None)
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    assert drkit(capsys, "restore", "plan", str(without), "-o", "json").json()["snapshot"] == newer
    monkeypatch.delenv("DRKIT_REPO")
    none = drkit(capsys, "restore", "plan", str(without))
    assert none.code == ExitCode.USAGE
    assert "spec.repository: no repository: the plan names none and --repo is not given" in none.err


REFUSED = [
    ({}, "spec.target", "the target is a scratch cluster, which `drkit drill` creates"),
    ({"restore": {"etcd": True}}, "spec.restore.etcd", "not etcd"),
    (
        {"restore": {"volumes": True}, "volumes": {"mover": "rsync"}},
        "spec.volumes.mover",
        "expected local or job",
    ),
    ({"restore": {"resources": False, "etcd": True}}, "spec.restore", "restores no resources"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[1] for c in REFUSED])
def test_run_refuses_what_it_cannot_do(
    tmp_path: Path,
    repo_dir: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    case: tuple[dict[str, Any], str, str],
) -> None:
    spec, field, message = case
    plan = plan_file(tmp_path, repo_dir[0], **spec)
    result = drkit(capsys, "restore", "run", str(plan))
    assert result.code == ExitCode.USAGE
    assert f"{plan}:" in result.err
    assert f": {field}: " in result.err
    assert message in result.err


def test_the_restore_summary_says_the_run_time_and_never_rounds_a_run_to_nothing() -> None:
    """Issue 18.8: "restored in 0.0s" for a 1.15 s run."""
    from drkit.cli.restore import _report_text
    from drkit.restore.model import ApplyReport, RestorePlan

    plan = RestorePlan("snap", "t", (), ())
    text = _report_text("h", plan, ApplyReport((), (), 0.04), total_s=1.15)
    assert "restored in 1.15s (applying and waiting 0.04s)" in text
    assert "0.0s" not in text
