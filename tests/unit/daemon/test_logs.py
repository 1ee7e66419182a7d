"""What the daemon logs at its default level: one line when a run starts, one when it ends (with the
schedule, job, snapshot, bytes, duration, outcome and next run), a warning per retry, errors with
their hint; the same fields in JSON lines. Fake drill runners (drkit's own interface), no I/O."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.cli import logsetup
from drkit.config.schedule import Schedule, load_schedule
from drkit.daemon.jobs import DrillOutcome
from drkit.daemon.records import Job
from drkit.daemon.retry import RetryPolicy
from drkit.daemon.runlines import finish_line, human_bytes
from drkit.daemon.service import Daemon, DaemonSettings
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
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.shutdown(0)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], logging.getLogger("drkit").level
    yield
    root.handlers[:] = handlers
    logging.getLogger("drkit").setLevel(level)


def _lines(caplog: pytest.LogCaptureFixture, job: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "drkit.daemon" and getattr(r, "job", None) == job]


def test_a_run_logs_one_line_when_it_starts_and_one_when_it_ends(
    schedule: Schedule, tmp_path: Path, daemons: list[Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drkit")

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        return DrillOutcome(ok=True, rto_seconds=42.5)

    settings = DaemonSettings(state_dir=tmp_path / "state", identity="unit")
    d = Daemon([schedule], settings, drill_runner=drill, triggers=every_seconds(1))
    daemons.append(d)
    d.start()
    _wait(lambda: any(getattr(r, "outcome", None) == "success" for r in _lines(caplog, "drill")), "a drill")
    d.shutdown(5)
    lines = _lines(caplog, "drill")
    start, end = lines[0], lines[1]
    record = d.runs.finished_runs("unit", Job.DRILL)[0]
    assert (start.levelno, start.getMessage()) == (logging.INFO, "drill of unit started")
    assert (start.run_id, start.schedule, start.attempt) == (record["run_id"], "unit", 1)  # type: ignore[attr-defined]
    assert end.levelno == logging.INFO
    assert end.run_id == record["run_id"]  # type: ignore[attr-defined]
    assert end.outcome == "success"  # type: ignore[attr-defined]
    assert end.rto_s == 42.5  # type: ignore[attr-defined]
    assert end.next_run is not None  # type: ignore[attr-defined]
    assert f"next run {end.next_run}" in end.getMessage()  # type: ignore[attr-defined]
    assert "RTO 42.5s" in end.getMessage()


def test_a_permanent_error_is_logged_with_its_hint_and_a_retry_as_a_warning(
    schedule: Schedule, tmp_path: Path, daemons: list[Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drkit")
    calls: list[int] = []

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("scratch cluster did not start")
        return DrillOutcome(ok=True)

    settings = DaemonSettings(state_dir=tmp_path / "state", retry=RetryPolicy(delay=0.1, max_delay=0.2))
    d = Daemon([schedule], settings, drill_runner=drill, triggers=every_seconds(1))
    daemons.append(d)
    d.start()
    _wait(lambda: any(getattr(r, "outcome", None) == "failed" for r in _lines(caplog, "backup")), "backup")
    _wait(lambda: len(d.runs.finished_runs("unit", Job.DRILL)) >= 2, "the drill and its retry")
    d.shutdown(5)
    backup_end = next(r for r in _lines(caplog, "backup") if getattr(r, "outcome", None))
    assert backup_end.levelno == logging.ERROR
    assert "kubeconfig" in backup_end.error  # type: ignore[attr-defined]
    assert backup_end.hint  # type: ignore[attr-defined]  # a ConfigError is not retried: the hint says so
    assert "hint: " in backup_end.getMessage()
    failed = next(r for r in _lines(caplog, "drill") if getattr(r, "outcome", None) == "failed")
    assert failed.levelno == logging.ERROR
    assert "RuntimeError: scratch cluster did not start" in failed.getMessage()
    retry = next(r for r in _lines(caplog, "drill") if "retrying" in r.getMessage())
    assert retry.levelno == logging.WARNING
    assert retry.attempt == 2  # type: ignore[attr-defined]
    # the failed run's next run is its retry, sooner than the next regular drill
    assert failed.next_run == retry.retry_at  # type: ignore[attr-defined]


def test_the_finish_line_carries_bytes_and_renders_as_one_json_object() -> None:
    message, extra = finish_line(
        "backup",
        "nightly",
        "20261126T020000Z-1a2b3c4d",
        attempt=1,
        outcome="success",
        duration_s=12.34,
        snapshot_id="9f3c1a2b" + "0" * 56,
        details={"bytes": 3 * 1024**3, "new_bytes": 45 * 1024**2},
    )
    assert message == "backup of nightly: success in 12.3s, snapshot 9f3c1a2b, 45.0 MiB new of 3.0 GiB"
    record = logging.makeLogRecord({"name": "drkit.daemon", "levelno": 20, "levelname": "INFO", **extra})
    record.msg = message
    doc = json.loads(logsetup.JsonFormatter().format(record))
    assert doc["bytes_new"] == 45 * 1024**2
    assert doc["bytes_total"] == 3 * 1024**3
    assert doc["outcome"] == "success"
    assert doc["duration_s"] == 12.34
    assert doc["level"] == "info"
    assert human_bytes(512) == "512 B"


def test_the_daemon_logs_at_info_unless_a_level_was_chosen(restore_logging: None) -> None:
    logsetup.configure(None, "text")
    assert logging.getLogger("drkit").level == logging.WARNING  # other commands stay quiet
    logsetup.command_default("info")
    assert logging.getLogger("drkit").level == logging.INFO
    logsetup.configure("error", "text")  # --log-level error / DRKIT_LOG_LEVEL=error wins
    logsetup.command_default("info")
    assert logging.getLogger("drkit").level == logging.ERROR


# -- Kubernetes Events (the recorder's API is faked here; tests/integration/test_deploy_rbac.py sends
# them to the real API server with the daemon's ServiceAccount) ----------------------------------------


class FakeSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def emit(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def test_failed_runs_and_a_drill_that_passes_after_a_failure_emit_events(
    schedule: Schedule, tmp_path: Path, daemons: list[Daemon]
) -> None:
    answers = [DrillOutcome(ok=False, error="check web answered 503"), DrillOutcome(ok=True, rto_seconds=7.0)]

    def drill(_schedule: Schedule, plan: Path) -> DrillOutcome:
        return answers.pop(0) if answers else DrillOutcome(ok=True, rto_seconds=7.0)

    sink = FakeSink()
    settings = DaemonSettings(state_dir=tmp_path / "state")
    d = Daemon([schedule], settings, drill_runner=drill, events=sink, triggers=every_seconds(1))
    daemons.append(d)
    d.start()
    _wait(lambda: len([e for e in sink.events if e[1].startswith("Drill")]) >= 2, "two drill events")
    d.shutdown(5)
    drill_events = [e for e in sink.events if e[1].startswith("Drill")]
    assert drill_events[0][:2] == ("Warning", "DrillFailed")
    assert "check web answered 503" in drill_events[0][2]
    assert "not retried" in drill_events[0][2]  # a negative answer is final
    assert drill_events[1][:2] == ("Normal", "DrillPassed")
    assert "RTO 7.0s" in drill_events[1][2]
    assert len(drill_events) == 2, "a drill that passes after a pass makes no event"
    backup = next(e for e in sink.events if e[1] == "BackupFailed")
    assert backup[0] == "Warning"
    assert "kubeconfig" in backup[2]


def test_a_restarted_daemon_remembers_the_last_failure_for_the_recovery_event(
    schedule: Schedule, tmp_path: Path, daemons: list[Daemon]
) -> None:
    from datetime import UTC, datetime

    from drkit.daemon.records import Result, RunEnd, RunLog, RunStart

    run = RunStart("20261126T000000Z-0badf00d", "unit", Job.DRILL, 1, datetime.now(UTC))
    log = RunLog(tmp_path / "state")
    log.started(run)
    log.finished(RunEnd(run, datetime.now(UTC), Result.FAILED, error="before the restart"))
    sink = FakeSink()
    settings = DaemonSettings(state_dir=tmp_path / "state")
    d = Daemon(
        [schedule],
        settings,
        drill_runner=lambda s, p: DrillOutcome(ok=True),
        events=sink,
        triggers=every_seconds(1),
    )
    daemons.append(d)
    d.start()
    _wait(lambda: any(e[1] == "DrillPassed" for e in sink.events), "the recovery event")


def test_the_event_object_names_its_target_and_is_bounded() -> None:
    from drkit.daemon.events import EventRecorder, EventTarget

    class API:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str, dict[str, object]]] = []

        def get_json(self, path: str) -> dict[str, object]:
            assert path == "/apis/coordination.k8s.io/v1/namespaces/drkit/leases/drkit-daemon"
            return {"metadata": {"uid": "u-1"}}

        def send_json(self, verb: str, path: str, body: dict[str, object]) -> dict[str, object]:
            self.sent.append((verb, path, body))
            return body

    api = API()
    recorder = EventRecorder(api, EventTarget.lease("drkit", "drkit-daemon"), "drkit-0")
    event = recorder.send("Warning", "BackupFailed", "x" * 5000)
    assert api.sent[0][:2] == ("POST", "/api/v1/namespaces/drkit/events")
    assert event["involvedObject"] == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "namespace": "drkit",
        "name": "drkit-daemon",
        "uid": "u-1",
    }
    assert len(str(event["message"])) == 1024
    assert str(event["metadata"]["name"]).startswith("drkit-daemon.")  # type: ignore[index]
    assert event["source"] == {"component": "drkit-daemon", "host": "drkit-0"}


def test_backup_run_logs_the_same_start_and_end_lines(tmp_path: Path, restore_logging: None) -> None:
    """The CronJob form (``--log-level=info --log-format=json backup run``): a start line, and an end
    line with the outcome, the error and its hint (here: nothing listens at the etcd endpoint)."""
    import socket
    from datetime import timedelta

    from click.testing import CliRunner

    from drkit.cli.main import cli
    from drkit.repo.format.keyslots import Credential
    from drkit.repo.repository import Repository
    from drkit.secret import Secret
    from drkit.storage.url import open_store

    Repository.init(
        open_store(str(tmp_path / "repo")),
        Credential(passphrase=Secret("pw for the log test")),
        lock_mode=None,
        retention=timedelta(days=1),
        scrypt_n=1024,
    )
    (tmp_path / "pw").write_text("pw for the log test")
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--log-level=info", "--log-format=json", "backup", "run", "--repo", str(tmp_path / "repo")]
    args += ["--password-file", str(tmp_path / "pw"), "--no-resources"]
    args += ["--etcd-endpoints", f"http://127.0.0.1:{port}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    start = next(x for x in lines if x["msg"] == "backup started")
    end = next(x for x in lines if x.get("outcome"))
    assert (start["level"], start["job"], start["schedule"]) == ("info", "backup", None)
    assert end["run_id"] == start["run_id"]
    assert (end["level"], end["outcome"]) == ("error", "failed")
    assert str(port) in end["error"]
    assert "pw for the log test" not in result.stderr
