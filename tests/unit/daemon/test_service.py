"""The scheduler around fake drill runners (drkit's own interface): overlap, shutdown, metrics,
leadership. Backups in these schedules fail at once on a missing kubeconfig (no I/O beyond tmp)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.config.schedule import Schedule, load_schedule
from drkit.daemon.jobs import DrillOutcome, DrillRunner
from drkit.daemon.records import Job
from drkit.daemon.retry import RetryPolicy
from drkit.daemon.service import CUT_OFF, Daemon, DaemonSettings
from tests.infra.daemonclock import every_seconds


def _wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def schedule(tmp_path: Path) -> Schedule:
    path = tmp_path / "s.yaml"
    path.write_text(
        """apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: unit}
spec:
  cron: "0 2 * * *"
  repository: {url: repo}
  kube: {kubeconfig: no-such-kubeconfig}
  drill: {cron: "0 3 * * *", plan: plan.yaml}
"""
    )
    return load_schedule(path)


@pytest.fixture
def cleanup() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for d in daemons:
        d.shutdown(0)


def _daemon(schedule: Schedule, tmp_path: Path, runner: DrillRunner) -> Daemon:
    settings = DaemonSettings(
        state_dir=tmp_path / "state",
        identity="unit",
        retry=RetryPolicy(delay=0.1, max_delay=0.2),
    )
    return Daemon([schedule], settings, drill_runner=runner, triggers=every_seconds(1))


def _value(d: Daemon, name: str, **labels: str) -> float:
    return d.metrics.registry.get_sample_value(name, labels) or 0.0


def test_overlap_is_skipped_and_shutdown_cuts_off_the_running_job(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    release = threading.Event()
    calls: list[float] = []

    def slow_drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        calls.append(time.monotonic())
        release.wait(60)
        return DrillOutcome(ok=True, rto_seconds=1.0)

    d = _daemon(schedule, tmp_path, slow_drill)
    cleanup.append(d)
    drill_done = threading.Event()
    run = d._run

    def watched(schedule: Schedule, job: Job, attempt: int) -> None:
        try:
            run(schedule, job, attempt)
        finally:
            if job is Job.DRILL:
                drill_done.set()

    d._run = watched  # type: ignore[method-assign]
    d.start()
    assert d.ready
    _wait(
        lambda: _value(d, "drkit_runs_skipped_total", schedule="unit", job="drill", reason="overlap") >= 2,
        "skips",
    )
    assert len(calls) == 1  # never a second drill while the first runs
    # the backups failed on a permanent error (missing kubeconfig): recorded, counted, not retried
    _wait(lambda: _value(d, "drkit_backup_total", schedule="unit", result="failed") >= 1, "a failed backup")
    backups = d.runs.finished_runs("unit", Job.BACKUP)
    assert backups[0]["result"] == "failed"
    assert "kubeconfig" in backups[0]["error"]
    assert _value(d, "drkit_backup_retries_total", schedule="unit", job="backup") == 0

    cut = d.shutdown(grace_period=0.2)
    assert [e.run.job for e in cut] == [Job.DRILL]
    assert not d.ready
    drills = d.runs.finished_runs("unit", Job.DRILL)
    assert [r["error"] for r in drills] == [CUT_OFF]
    assert d.runs.unfinished() == []
    assert _value(d, "drkit_drill_total", schedule="unit", result="failed") == 1
    release.set()  # the cut-off drill ends now: it must record nothing more
    assert drill_done.wait(30)
    assert len(d.runs.finished_runs("unit", Job.DRILL)) == 1
    assert _value(d, "drkit_drill_total", schedule="unit", result="failed") == 1


def test_drill_results_feed_the_metrics_and_a_standby_runs_nothing(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        assert plan.name == "plan.yaml"
        return DrillOutcome(ok=True, rto_seconds=42.5, details={"restored": 3})

    d = _daemon(schedule, tmp_path, drill)
    cleanup.append(d)
    d._execute("unit", Job.DRILL, 1)  # not started, not leading: nothing happens
    assert list(d.runs.records()) == []
    d.start()
    _wait(lambda: _value(d, "drkit_drill_total", schedule="unit", result="success") >= 1, "a drill")
    assert _value(d, "drkit_drill_rto_seconds", schedule="unit") == 42.5
    assert _value(d, "drkit_drill_last_success_timestamp_seconds", schedule="unit") > 0
    assert _value(d, "drkit_leader", identity="unit") == 1
    run = d.runs.finished_runs("unit", Job.DRILL)[0]
    assert run["details"] == {"restored": 3, "rto_seconds": 42.5}
    d.stop_leading()
    assert _value(d, "drkit_leader", identity="unit") == 0
    assert not d.leading


def test_without_a_drill_runner_a_drill_is_recorded_as_skipped(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    d = Daemon([schedule], DaemonSettings(state_dir=tmp_path / "state"), triggers=every_seconds(1))
    cleanup.append(d)
    d.drill_runner = None  # as long as drkit.drill provides no runner
    d.start()
    _wait(lambda: _value(d, "drkit_drill_total", schedule="unit", result="skipped") >= 1, "a skipped drill")
    record = d.runs.finished_runs("unit", Job.DRILL)[0]
    assert record["result"] == "skipped"
    assert "drill not available" in record["error"]


def test_shutdown_lets_a_running_job_finish_within_the_grace_period(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    started = threading.Event()
    release = threading.Event()

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        started.set()
        release.wait(60)
        return DrillOutcome(ok=True, rto_seconds=2.0)

    d = _daemon(schedule, tmp_path, drill)
    cleanup.append(d)
    d.start()
    assert started.wait(30)
    threading.Timer(0.3, release.set).start()  # the job ends while shutdown waits
    assert d.shutdown(grace_period=30) == []  # it finished inside the grace period
    drills = d.runs.finished_runs("unit", Job.DRILL)
    assert [r["result"] for r in drills] == ["success"]
    assert d.runs.unfinished() == []


def test_a_run_interrupted_by_a_crash_is_recorded_failed_and_retried(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    from datetime import UTC, datetime

    from drkit.daemon.records import INTERRUPTED, RunLog, RunStart

    crashed = RunStart("20261126T000000Z-deadbeef", "unit", Job.DRILL, 1, datetime.now(UTC))
    RunLog(tmp_path / "state").started(crashed)  # as a killed daemon leaves it
    gone = RunStart("20261126T000000Z-0000cafe", "removed-schedule", Job.BACKUP, 1, datetime.now(UTC))
    RunLog(tmp_path / "state").started(gone)
    attempts: list[int] = []

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        attempts.append(1)
        return DrillOutcome(ok=True)

    settings = DaemonSettings(state_dir=tmp_path / "state", retry=RetryPolicy(delay=0.1, max_delay=0.2))
    d = Daemon([schedule], settings, drill_runner=drill)  # real crons: only the retry runs now
    cleanup.append(d)
    d.start()
    _wait(lambda: len(d.runs.finished_runs("unit", Job.DRILL)) == 2, "the retry")
    first, retry = d.runs.finished_runs("unit", Job.DRILL)
    assert first["run_id"] == crashed.run_id
    assert first["error"] == INTERRUPTED
    assert (retry["attempt"], retry["result"]) == (2, "success")
    assert _value(d, "drkit_drill_total", schedule="unit", result="failed") == 1
    assert _value(d, "drkit_backup_retries_total", schedule="removed-schedule", job="backup") == 0
    assert d.runs.finished_runs("removed-schedule")[0]["error"] == INTERRUPTED


def test_losing_the_lease_pauses_the_schedules_and_winning_it_back_resumes_them(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING

    from drkit.daemon.leader import ElectionConfig, LeaderElector
    from tests.unit.daemon.test_leader import FakeLeases

    drills: list[float] = []

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        drills.append(time.monotonic())
        return DrillOutcome(ok=True)

    d = _daemon(schedule, tmp_path, drill)
    cleanup.append(d)
    api = FakeLeases()
    config = ElectionConfig("ns", "lease", "unit", lease_duration=0.6, renew_deadline=0.4, retry_period=0.08)
    elector = LeaderElector(api, config, on_started=d.start_leading, on_stopped=d.stop_leading)
    d.start(elector)
    assert d.ready
    _wait(lambda: d.leading, "leadership")
    _wait(lambda: len(drills) >= 1, "a drill while leading")

    # another replica holds the lease now (as after a partition): this one stands by at once
    lease = api.get()
    assert lease is not None
    lease["spec"]["holderIdentity"] = "intruder"
    api.update(lease)
    _wait(lambda: not d.leading, "stepping down")
    assert d._scheduler.state == STATE_PAUSED
    assert _value(d, "drkit_leader", identity="unit") == 0
    assert d.ready  # a standby is ready

    # the intruder releases it: this replica leads again and its schedules resume
    lease = api.get()
    assert lease is not None
    lease["spec"]["holderIdentity"] = None
    api.update(lease)
    _wait(lambda: d.leading, "leading again")
    assert d._scheduler.state == STATE_RUNNING
    before = len(drills)
    _wait(lambda: len(drills) > before, "a drill after resuming")
    d.shutdown(0)
    assert api.holder is None  # released on shutdown


def test_a_new_leader_runs_a_just_missed_time_but_not_old_ones(schedule: Schedule, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    d = Daemon([schedule], DaemonSettings(state_dir=tmp_path / "state", misfire_grace=300))
    d._add_jobs(schedule)
    d._scheduler.start(paused=True)  # a standby: jobs known, nothing runs
    try:
        now = datetime.now(UTC)
        backup = d._scheduler.get_job("unit:backup")
        drill = d._scheduler.get_job("unit:drill")
        backup.modify(next_run_time=now - timedelta(days=1))  # due long ago, while standing by
        drill.modify(next_run_time=now - timedelta(seconds=10))  # due just now: the old leader died
        d._forget_stale_times()
        assert d._scheduler.get_job("unit:backup").next_run_time > now
        assert d._scheduler.get_job("unit:drill").next_run_time == now - timedelta(seconds=10)
    finally:
        d._scheduler.shutdown(wait=False)


def test_a_negative_answer_is_final_but_a_run_that_raised_is_retried(
    schedule: Schedule, tmp_path: Path, cleanup: list[Daemon]
) -> None:
    answers: list[str] = []

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        answers.append("asked")
        if len(answers) <= 2:
            return DrillOutcome(ok=False, error="check 'deployment ready' failed")
        raise RuntimeError("scratch cluster vanished")

    d = _daemon(schedule, tmp_path, drill)
    cleanup.append(d)
    d.start()
    _wait(lambda: _value(d, "drkit_drill_total", schedule="unit", result="failed") >= 2, "two failed drills")
    assert _value(d, "drkit_backup_retries_total", schedule="unit", job="drill") == 0
    _wait(lambda: _value(d, "drkit_backup_retries_total", schedule="unit", job="drill") >= 1, "a retry")
    errors = [r["error"] for r in d.runs.finished_runs("unit", Job.DRILL)]
    assert errors[:2] == ["check 'deployment ready' failed"] * 2
    assert "RuntimeError: scratch cluster vanished" in errors[2]


def test_every_run_is_recorded_in_the_audit_log_of_the_schedules_repository(
    tmp_path: Path, cleanup: list[Daemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from drkit.repo.format import audit
    from drkit.repo.format.keyslots import Credential
    from drkit.repo.repository import Repository
    from drkit.secret import Secret
    from drkit.storage.local import LocalStore

    password = "unit test passphrase for daemon audit"
    monkeypatch.setenv("DRKIT_PASSWORD", password)
    for name in ("DRKIT_PASSWORD_FILE", "DRKIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    repo = Repository.init(
        LocalStore(tmp_path / "repo"), Credential(passphrase=Secret(password)), lock_mode=None,
        retention=timedelta(0), scrypt_n=1024,
    )  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(
        """apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: audited}
spec:
  cron: "0 2 * * *"
  repository: {url: repo}
  kube: {kubeconfig: no-such-kubeconfig}
  drill: {cron: "0 3 * * *", plan: plan.yaml}
"""
    )
    schedule = load_schedule(path)
    d = _daemon(schedule, tmp_path, lambda _s, _p: DrillOutcome(ok=False, error="check web failed"))
    cleanup.append(d)
    d._run(schedule, Job.DRILL, 1)
    d._run(schedule, Job.BACKUP, 1)  # fails at once: the kubeconfig does not exist
    records = audit.list_records(repo).records
    assert [(r.action, r.command, r.result) for r in records] == [
        ("drill", "daemon drill", "failed"),
        ("backup", "daemon backup", "failed"),
    ]
    assert records[0].detail["schedule"] == "audited"
    assert records[0].detail["error"] == "check web failed"
    assert "no-such-kubeconfig" in records[1].detail["error"]
    assert records[1].detail["run"] == d.runs.finished_runs("audited", Job.BACKUP)[0]["run_id"]
