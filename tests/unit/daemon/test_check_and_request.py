from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.capture.cluster import backup_cluster
from drkit.capture.request import request_from_schedule
from drkit.config.schedule import load_schedule, load_schedules
from drkit.daemon.check import check_directory, next_run_rows
from drkit.daemon.httpserve import parse_address
from drkit.daemon.jobs import lock_details, retention_policy
from drkit.daemon.webhook import check_url
from drkit.errors import ConfigError
from drkit.repo.engine.retention import UNLIMITED
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.base import LockMode
from drkit.storage.url import open_store

ROOT = Path(__file__).resolve().parents[3]


def test_check_lists_every_job_with_its_next_times() -> None:
    schedules = load_schedules(ROOT / "schedules")
    rows = next_run_rows(schedules, datetime(2026, 11, 26, 12, 0, tzinfo=UTC), count=2)
    jobs = {(r["schedule"], r["job"]) for r in rows}
    assert jobs == {
        ("etcd-every-6h", "backup"),
        ("nightly", "backup"),
        ("nightly", "verify"),
        ("nightly", "drill"),
    }
    etcd = next(r for r in rows if r["schedule"] == "etcd-every-6h")
    assert etcd["next"] == ["2026-11-26T12:15:00+00:00", "2026-11-26T18:15:00+00:00"]
    nightly = next(r for r in rows if r == {**r, "schedule": "nightly", "job": "backup"})
    assert nightly["next"][0] == "2026-11-27T02:00:00+01:00"  # Europe/Berlin
    assert nightly["jitter_s"] == 300


def test_retention_from_the_schedule() -> None:
    nightly = load_schedule(ROOT / "schedules" / "example-nightly.yaml")
    policy = retention_policy(nightly.retention)
    assert (policy.daily, policy.weekly, policy.monthly, policy.yearly) == (7, 4, 12, UNLIMITED)
    assert policy.keep_tags == frozenset({"pinned"})
    assert policy.within is not None


def test_request_from_schedule_checks_files_before_any_connection(tmp_path: Path) -> None:
    etcd_only = load_schedule(ROOT / "schedules" / "example-etcd-only.yaml")
    with pytest.raises(ConfigError, match=r"ca\.crt|CA"):
        request_from_schedule(etcd_only)  # /etc/kubernetes/pki/etcd/ca.crt is not on this machine
    path = tmp_path / "s.yaml"
    path.write_text(
        """apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: plain}
spec:
  cron: "@hourly"
  repository: {url: repo}
  etcd: {endpoints: ["http://127.0.0.1:2379"]}
  resources: {enabled: false}
  tags: [t1]
"""
    )
    request = request_from_schedule(load_schedule(path))
    assert request.kube is None
    assert request.etcd is not None
    assert request.tags == ("t1", "schedule=plain")
    assert request.volumes is None, "spec.volumes defaults to none"

    with_volumes = tmp_path / "v.yaml"
    with_volumes.write_text(path.read_text().replace("  tags: [t1]\n", "  volumes: {mode: 'app=shop'}\n"))
    volumes = request_from_schedule(load_schedule(with_volumes)).volumes
    assert volumes is not None
    assert volumes.mover == "local"
    assert volumes.selection.enabled


def test_addresses_and_urls_are_checked() -> None:
    assert parse_address("127.0.0.1:9090") == ("127.0.0.1", 9090)
    assert parse_address(":0") == ("0.0.0.0", 0)  # noqa: S104
    assert parse_address("[::1]:9090") == ("::1", 9090)
    for bad in ("9090", "host:port", "h:70000"):
        with pytest.raises(ConfigError):
            parse_address(bad)
    assert check_url("https://hooks.example.com/x?token=1")
    with pytest.raises(ConfigError):
        check_url("file:///etc/passwd")


def test_check_directory_reports_every_bad_file(tmp_path: Path) -> None:
    good = (ROOT / "schedules" / "example-etcd-only.yaml").read_text()
    (tmp_path / "a.yaml").write_text(good.replace('"15 */6 * * *"', '"0 2 * * 1"'))
    (tmp_path / "b.yaml").write_text(good.replace("keepLast: 8", "keepLast: -1"))
    (tmp_path / "c.yaml").write_text(good)
    schedules, errors = check_directory(tmp_path)
    assert schedules == []
    assert [(Path(e.file or "").name, e.field) for e in errors] == [
        ("a.yaml", "spec.cron"),
        ("b.yaml", "spec.retention.keepLast"),
    ]
    assert all(e.line for e in errors)
    (tmp_path / "a.yaml").write_text(good)  # same name as c.yaml: the directory check says so
    (tmp_path / "b.yaml").unlink()
    schedules, errors = check_directory(tmp_path)
    assert len(errors) == 1
    assert "already used" in errors[0].message
    (tmp_path / "a.yaml").unlink()
    schedules, errors = check_directory(tmp_path)
    assert errors == []
    assert [s.name for s in schedules] == ["etcd-every-6h"]


def _repo(tmp_path: Path, mode: LockMode | None, retention: timedelta) -> Repository:
    return Repository.init(
        open_store(str(tmp_path / "repo")),
        Credential(passphrase=Secret("unit test passphrase")),
        lock_mode=mode,
        retention=retention,
        scrypt_n=1024,
    )


LOCKED = """\
apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: locked}
spec:
  cron: "0 * * * *"
  repository: {url: REPO}
  etcd: {endpoints: ["http://127.0.0.1:9"]}
  resources: {enabled: false}
  lock: {mode: compliance, period: 30d}
"""


def test_a_schedule_lock_the_repository_cannot_give_fails_naming_the_schedule(tmp_path: Path) -> None:
    repo = _repo(tmp_path, None, timedelta(0))
    path = tmp_path / "locked.yaml"
    path.write_text(LOCKED.replace("REPO", str(tmp_path / "repo")))
    request = request_from_schedule(load_schedule(path))
    assert (request.lock_mode, request.lock_period) == (LockMode.COMPLIANCE, timedelta(days=30))
    with pytest.raises(ConfigError) as err:
        backup_cluster(repo, request)  # refused before etcd is asked for anything
    assert err.value.file == str(path)
    assert err.value.field == "spec.lock.mode"
    assert "created without Object Lock" in err.value.message
    assert repo.snapshots() == [], "nothing was written"
    assert lock_details(repo) == {"mode": None, "period_s": 0}


def test_use_lock_is_only_as_strict_or_stricter(tmp_path: Path) -> None:
    repo = _repo(tmp_path, LockMode.COMPLIANCE, timedelta(days=1))
    with pytest.raises(ConfigError, match="weaker than the repository's compliance"):
        repo.use_lock(LockMode.GOVERNANCE)
    with pytest.raises(ConfigError, match="longer than 0"):
        repo.use_lock(None, timedelta(0))
    assert repo.lock_settings == (LockMode.COMPLIANCE, timedelta(days=1))
    repo.use_lock(None, timedelta(days=3))
    assert repo.lock_settings == (LockMode.COMPLIANCE, timedelta(days=3))
    assert lock_details(repo) == {"mode": "compliance", "period_s": 3 * 86400}


def test_a_schedule_lock_period_locks_the_snapshot_for_that_long(tmp_path: Path) -> None:
    repo = _repo(tmp_path, LockMode.GOVERNANCE, timedelta(days=1))
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data")
    repo.use_lock(LockMode.COMPLIANCE, timedelta(days=30))
    before = datetime.now(UTC)
    snap = repo.backup_path(src, host="h")
    assert snap.retain_until is not None
    assert before + timedelta(days=29) < snap.retain_until <= datetime.now(UTC) + timedelta(days=31)
    pack = next(iter(repo.store.list("data/")))
    lock = repo.store.head(pack.key).retention
    assert lock is not None
    assert lock.mode is LockMode.COMPLIANCE
    assert lock.until >= snap.retain_until - timedelta(seconds=2)


VOLUMES = """\
apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: vols}
spec:
  cron: "0 * * * *"
  repository: {url: REPO}
  etcd: {endpoints: ["http://127.0.0.1:9"]}
  resources: {enabled: false}
  volumes:
VOLUME_LINES
"""


def _volume_schedule(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "vols.yaml"
    path.write_text(VOLUMES.replace("REPO", str(tmp_path / "repo")).replace("VOLUME_LINES", lines))
    return path


def test_schedule_volumes_choose_mover_jobs_and_their_settings(tmp_path: Path) -> None:
    path = _volume_schedule(
        tmp_path,
        "    mode: all\n    mover: job\n    snapshotClass: csi-snap\n    image: reg/drkit:1\n"
        "    moverSecret: drkit-writer\n    timeout: 20m\n",
    )
    options = request_from_schedule(load_schedule(path)).volumes
    assert options is not None
    assert (options.mover, options.job_timeout_s) == ("job", 1200.0)
    assert (options.settings.image, options.settings.secret, options.settings.snapshot_class) == (
        "reg/drkit:1", "drkit-writer", "csi-snap",
    )  # fmt: skip
    local = _volume_schedule(tmp_path, "    mode: app=db\n    pathMap: ['*=local-path', 'pv-1=/srv/one']\n")
    options = request_from_schedule(load_schedule(local)).volumes
    assert options is not None
    assert options.mover == "local"
    assert [r.pattern for r in options.path_rules] == ["*", "pv-1"]
    assert options.path_rules[0].template.startswith("/opt/local-path-provisioner/")


def test_schedule_volume_errors_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_schedule(_volume_schedule(tmp_path, "    mode: all\n    mover: rsync\n"))
    assert (err.value.field, err.value.line) == ("spec.volumes.mover", 11)
    bad_rule = _volume_schedule(tmp_path, "    mode: all\n    pathMap: [nonsense]\n")
    with pytest.raises(ConfigError) as err:
        request_from_schedule(load_schedule(bad_rule))
    assert (err.value.file, err.value.field) == (str(bad_rule), "spec.volumes.pathMap")
    assert "rule 1: --volume-path-map 'nonsense' is not PV_OR_PATTERN=HOSTPATH" in err.value.message


def test_a_bad_or_busy_address_names_its_own_option() -> None:
    """--status-addr errors used to name --metrics-addr (one parser for both)."""
    from drkit.daemon.metrics import HealthServer, Metrics
    from drkit.daemon.statusserver import StatusServer

    with pytest.raises(ConfigError) as bad:
        StatusServer("status-page", lambda: "")
    assert (bad.value.field, bad.value.hint) == ("status-addr", "e.g. 0.0.0.0:9090")
    assert "expected HOST:PORT, got 'status-page'" in bad.value.message
    first = StatusServer("127.0.0.1:0", lambda: "")
    first.start()
    try:
        with pytest.raises(ConfigError) as busy:
            StatusServer(f"127.0.0.1:{first.port}", lambda: "")
        assert busy.value.field == "status-addr"
        assert f"cannot listen on 127.0.0.1:{first.port}" in busy.value.message
        with pytest.raises(ConfigError) as taken:
            HealthServer(f"127.0.0.1:{first.port}", Metrics(), lambda: True)
        assert taken.value.field == "metrics-addr"
    finally:
        first.stop()
