"""`drkit daemon` against the real control plane and its etcd, with time compressed.

Every daemon is a subprocess running drkit's real command line through `tests.infra.daemonclock`,
which gives the daemon a trigger factory that fires every cron of every schedule every 2 seconds
(cron has no seconds field). A slow backup is a real slow network: the schedule's kubeconfig points
at a `SlowProxy` in front of the kube-apiserver, so each backup waits there after its etcd stream
is stored. The repository is a local directory. Nothing is timed: the tests wait for conditions with
generous deadlines and assert on counts and states (run records, /metrics scraped over HTTP, the
Lease).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drkit.sandbox.controlplane import ControlPlane
from drkit.sandbox.ports import free_port
from drkit.sandbox.process import Process, start
from tests.infra.hostile import SlowProxy

PASSWORD = "daemon test passphrase never in a report"
ENV = {"DRKIT_SCRYPT_N": "1024"}
ROOT = Path(__file__).resolve().parents[2]
EVERY_SECONDS = "2"


def _drkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        check=False,
    )


def _wait(check: Callable[[], bool], what: str, process: Process | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        if process is not None and not process.alive():
            pytest.fail(f"daemon exited ({process.popen.returncode}) before {what}:\n{process.tail(60)}")
        if time.monotonic() > deadline:
            tail = process.tail(60) if process is not None else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


class Setup:
    """A repository, a password file and a schedules directory in ``tmp``."""

    def __init__(self, tmp: Path, cluster: ControlPlane, namespace: str, *, lock: str = "compliance") -> None:
        self.tmp = tmp
        self.cluster = cluster
        self.namespace = namespace
        self.repo = tmp / "repo"
        self.password_file = tmp / "password"
        self.password_file.write_text(PASSWORD + "\n")
        init = _drkit(
            "repo",
            "init",
            "--repo",
            str(self.repo),
            "--password-file",
            str(self.password_file),
            "--lock-mode",
            lock,
        )
        assert init.returncode == 0, init.stderr
        self.schedules = tmp / "schedules"
        self.schedules.mkdir()

    def schedule(
        self,
        name: str,
        *,
        etcd: str | None = None,
        repo: Path | None = None,
        kubeconfig: Path | None = None,
        extra: str = "",
    ) -> None:
        etcd_url = etcd or self.cluster.etcd.endpoint
        (self.schedules / f"{name}.yaml").write_text(
            f"""apiVersion: drkit.io/v1
kind: Schedule
metadata:
  name: {name}
spec:
  cron: "0 2 * * *"
  repository:
    url: {repo or self.repo}
    passwordFile: {self.password_file}
  kube:
    kubeconfig: {kubeconfig or self.cluster.kubeconfig}
  etcd:
    endpoints: ["{etcd_url}"]
  resources:
    includeNamespaces: [{self.namespace}]
{extra}"""
        )

    def slow_kubeconfig(self, proxy: SlowProxy) -> Path:
        """The cluster's kubeconfig with its server behind ``proxy`` (its certificate names 127.0.0.1)."""
        path = self.tmp / f"kubeconfig-slow-{proxy.port}"
        text = self.cluster.kubeconfig.read_text()
        assert self.cluster.server in text
        path.write_text(text.replace(self.cluster.server, f"https://{proxy.address}"))
        return path

    def snapshots(self) -> list[dict[str, Any]]:
        result = _drkit(
            "snapshots", "--repo", str(self.repo), "--password-file", str(self.password_file), "-o", "json"
        )
        assert result.returncode == 0, result.stderr
        snaps: list[dict[str, Any]] = json.loads(result.stdout)
        return snaps

    def verify(self) -> subprocess.CompletedProcess[str]:
        return _drkit("verify", "--repo", str(self.repo), "--password-file", str(self.password_file))


class Daemon:
    def __init__(self, setup: Setup, name: str, *args: str) -> None:
        self.port = free_port()
        self.status_port = free_port()
        self.state = setup.tmp / f"state-{name}"
        self.log = setup.tmp / f"daemon-{name}.log"
        argv = [
            sys.executable,
            "-m",
            "tests.infra.daemonclock",  # drkit's command line, every cron firing every 2 s
            EVERY_SECONDS,
            # no --log-level: the daemon logs its runs at info by default
            "--log-format",
            "json",
            "daemon",
            "--schedules",
            str(setup.schedules),
            "--state-dir",
            str(self.state),
            "--metrics-addr",
            f"127.0.0.1:{self.port}",
            "--status-addr",
            f"127.0.0.1:{self.status_port}",
            *args,
        ]
        self.process = start(f"daemon-{name}", argv, self.log, env=ENV, cwd=ROOT)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
        status, text = self.get("/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def records(self, event: str = "finished") -> list[dict[str, Any]]:
        path = self.state / "runs.jsonl"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("event") == event:
                rows.append(row)
        return rows

    def results(self, job: str = "backup") -> list[str]:
        return [r["result"] for r in self.records() if r["job"] == job]

    def terminate(self, timeout: float = 60) -> int:
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.popen.wait(timeout)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.popen.wait(10)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def setup(tmp_path: Path, cluster: ControlPlane, namespace: str) -> Setup:
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}},
    )
    return Setup(tmp_path, cluster, namespace)


@pytest.fixture
def slow_api() -> Iterator[Callable[..., SlowProxy]]:
    """``slow_api(setup, delay=D)``: a ``SlowProxy`` in front of the cluster's kube-apiserver."""
    with contextlib.ExitStack() as stack:

        def make(setup: Setup, *, delay: float) -> SlowProxy:
            server = urllib.parse.urlsplit(setup.cluster.server)
            assert server.hostname
            assert server.port
            return stack.enter_context(SlowProxy(server.hostname, server.port, delay=delay))

        yield make


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def test_runs_happen_prune_verify_drill_metrics_health_and_sigterm(
    setup: Setup, daemons: list[Daemon], tmp_path: Path
) -> None:
    (tmp_path / "unlocked").mkdir()
    setup = Setup(tmp_path / "unlocked", setup.cluster, setup.namespace, lock="none")  # prune may delete
    setup.schedule(
        "every",
        extra="""  tags: [scheduled]
  retention:
    keepLast: 2
  verify:
    cron: "0 3 * * *"
  drill:
    cron: "0 4 1 * *"
    plan: drill-plan.yaml
""",
    )
    d = Daemon(setup, "one", "--no-leader-election", "--identity", "solo")
    daemons.append(d)
    _wait(lambda: d.get("/readyz")[0] == 200, "/readyz", d.process)
    assert d.get("/healthz")[0] == 200
    _wait(lambda: d.results().count("success") >= 4, "4 successful backups", d.process)
    _wait(lambda: "success" in d.results("verify"), "a successful verify", d.process)
    # the drill hook (drkit.drill.scheduled) runs; this plan file does not exist: a failed drill
    _wait(lambda: "failed" in d.results("drill"), "a drill recorded as failed", d.process)

    assert d.metric("drkit_backup_total", schedule="every", result="success") >= 4
    assert d.metric("drkit_backup_last_success_timestamp_seconds", schedule="every") > 0
    assert d.metric("drkit_backup_bytes", schedule="every", kind="total") > 0
    assert d.metric("drkit_backup_duration_seconds_count", schedule="every") >= 4
    assert d.metric("drkit_prune_total", schedule="every", result="success") >= 3
    assert d.metric("drkit_verify_total", schedule="every", result="success") >= 1
    assert d.metric("drkit_verify_last_success_timestamp_seconds", schedule="every") > 0
    assert d.metric("drkit_drill_total", schedule="every", result="failed") >= 1
    assert d.metric("drkit_drill_last_success_timestamp_seconds", schedule="every") == 0
    assert d.metric("drkit_leader", identity="solo") == 1
    drill = next(r for r in d.records() if r["job"] == "drill")
    assert "drill-plan.yaml" in drill["error"]

    # every finished backup names its snapshot; no two runs of a job overlapped
    backups = [r for r in d.records() if r["job"] == "backup" and r["result"] == "success"]
    assert all(r["snapshot_id"] for r in backups)
    _assert_no_overlap(d.records())

    # JSON logs carry run ids and schedules, also for lines of the capture layer
    lines = [json.loads(line) for line in d.log.read_text().splitlines() if line.startswith("{")]
    etcd_lines = [x for x in lines if x["msg"].startswith("etcd:")]
    assert etcd_lines
    assert all(x.get("run_id") and x.get("schedule") == "every" for x in etcd_lines)
    assert PASSWORD not in d.log.read_text()
    # one line per run start and end; a backup's end names its snapshot, bytes and next run
    ends = {x["run_id"]: x for x in lines if x.get("outcome")}
    for backup in backups:
        end = ends[backup["run_id"]]
        assert (end["level"], end["job"], end["schedule"]) == ("info", "backup", "every")
        assert end["snapshot_id"] == backup["snapshot_id"]
        assert end["bytes_total"] == backup["details"]["bytes"] > 0
        assert end["bytes_new"] == backup["details"]["new_bytes"]
        assert end["next_run"]
        assert end["duration_s"] >= 0
    failed_drill = next(x for x in ends.values() if x["job"] == "drill")
    assert failed_drill["level"] == "error"
    assert "drill-plan.yaml" in failed_drill["error"]

    # the status page, served read-only on its own loopback port from the repository and the records
    with urllib.request.urlopen(f"http://127.0.0.1:{d.status_port}/", timeout=30) as answer:
        page = answer.read().decode()
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert '<tr id="schedule-every" data-rpo="green">' in page
    assert 'data-drill="failed"' in page  # the drill run with a missing plan
    assert 'id="snap-' in page
    assert "schedule every" in page  # the daemon's backups carry schedule=every
    assert PASSWORD not in page

    assert d.terminate() == 0
    started = {r["run_id"] for r in d.records("started")}
    assert started == {r["run_id"] for r in d.records()}, "every started run is recorded as finished"
    snaps = setup.snapshots()
    assert 1 <= len(snaps) <= 3  # keepLast 2 (+ the snapshot of a run whose prune had not come yet)
    assert {r["snapshot_id"] for r in backups[-1:]} <= {s["id"] for s in snaps}
    assert setup.verify().returncode == 0


def _assert_no_overlap(records: list[dict[str, Any]]) -> None:
    by_job: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in records:
        by_job.setdefault((r["schedule"], r["job"]), []).append((r["start"], r["end"]))
    for spans in by_job.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert end <= begin, f"runs overlap: one ended {end}, the next started {begin}"


class Hook:
    """A webhook receiver on loopback that keeps every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=abc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_failed_runs_are_retried_counted_and_reported(setup: Setup, daemons: list[Daemon]) -> None:
    dead_etcd = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    setup.schedule("broken", etcd=dead_etcd)
    hook = Hook()
    try:
        d = Daemon(
            setup,
            "fail",
            "--no-leader-election",
            "--retries",
            "2",
            "--retry-delay",
            "0.2",
            "--retry-max-delay",
            "0.4",
            "--notify-url",
            hook.url,
        )
        daemons.append(d)
        _wait(lambda: any(r["attempt"] == 3 for r in d.records()), "a third attempt", d.process)
        _wait(lambda: any(b.get("final") for b in hook.bodies), "a final failure report", d.process)
        assert d.metric("drkit_backup_total", schedule="broken", result="failed") >= 3
        assert d.metric("drkit_backup_retries_total", schedule="broken", job="backup") >= 2
        assert d.metric("drkit_backup_total", schedule="broken", result="success") == 0
        assert d.metric("drkit_backup_last_success_timestamp_seconds", schedule="broken") == 0
        records = d.records()
        assert all(r["result"] == "failed" and r["error"] for r in records)
        assert max(r["attempt"] for r in records) == 3  # --retries 2: three attempts at most
        final = next(b for b in hook.bodies if b.get("final"))
        assert final["schedule"] == "broken"
        assert final["result"] == "failed"
        assert final["error"]
        assert PASSWORD not in json.dumps(hook.bodies)
        assert d.terminate() == 0
    finally:
        hook.close()
    assert setup.snapshots() == []  # a failed etcd stream commits nothing


def test_overlap_prevented_and_sigterm_mid_backup_leaves_a_valid_repository(
    setup: Setup, daemons: list[Daemon], slow_api: Callable[..., SlowProxy]
) -> None:
    # each backup waits 6 s for the API server after its etcd stream is stored (a slow network
    # between the daemon and the kube-apiserver), while the cron fires every 2 s
    proxy = slow_api(setup, delay=6)
    setup.schedule("slow", kubeconfig=setup.slow_kubeconfig(proxy), extra="  retention:\n    keepLast: 1\n")
    d = Daemon(setup, "slow", "--no-leader-election", "--grace-period", "1")
    daemons.append(d)
    _wait(lambda: d.results().count("success") >= 1, "a first slow backup", d.process)
    _wait(
        lambda: d.metric("drkit_runs_skipped_total", schedule="slow", reason="overlap") >= 2,
        "skips",
        d.process,
    )
    _assert_no_overlap(d.records())
    # the repository locks every object for 30 days: prune deletes nothing and says what is locked
    _wait(lambda: d.results().count("success") >= 2, "a second slow backup", d.process)
    pruned = [r["details"]["prune"] for r in d.records() if r["result"] == "success"]
    assert pruned[-1]["locked_objects"] >= 1
    assert all(p["deleted_snapshots"] == 0 for p in pruned)
    assert d.metric("drkit_prune_locked_objects", schedule="slow") >= 1

    # wait for the next run to be mid-backup: started, its etcd stream stored, not finished
    def mid_backup() -> bool:
        finished = {r["run_id"] for r in d.records()}
        going = [r for r in d.records("started") if r["run_id"] not in finished]
        if not going:
            return False
        logs = d.log.read_text()
        return any(
            f'"run_id": "{r["run_id"]}"' in line and "checksum verified" in line
            for r in going
            for line in logs.splitlines()
        )

    _wait(mid_backup, "a backup in the middle of its snapshot", d.process)
    assert d.terminate() == 0  # at once: a CLI call here can outlast the 6 s wait on a loaded machine
    cut = [r for r in d.records() if r["result"] == "failed"]
    assert len(cut) == 1
    assert "cut off by shutdown" in cut[0]["error"]
    assert {r["run_id"] for r in d.records("started")} == {r["run_id"] for r in d.records()}
    # the cut-off run committed nothing: one snapshot per successful backup (locked: none pruned)
    assert len(setup.snapshots()) == d.results().count("success")
    verify = setup.verify()
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_crash_mid_backup_is_recorded_as_failed_and_retried_after_restart(
    setup: Setup, daemons: list[Daemon], slow_api: Callable[..., SlowProxy]
) -> None:
    # the first daemon's backups wait 30 s for the API server: it is killed mid-run
    proxy = slow_api(setup, delay=30)
    setup.schedule("crashy", kubeconfig=setup.slow_kubeconfig(proxy))
    # the retry comes before the next regular run (which would supersede it: docs/daemon.md)
    args = ("--no-leader-election", "--retry-delay", "0.1")
    first = Daemon(setup, "crash", *args)
    daemons.append(first)
    _wait(lambda: len(first.records("started")) >= 1, "a backup started", first.process)
    first.kill()
    assert first.records() == []  # killed mid-run: started, never finished

    proxy.delay = 0  # the network is well again for the next daemon
    second = Daemon(setup, "crash", *args)
    daemons.append(second)
    _wait(
        lambda: any(r.get("attempt") == 2 and r["result"] == "success" for r in second.records()),
        "the interrupted run retried",
        second.process,
    )
    interrupted = second.records()[0]
    assert interrupted["result"] == "failed"
    assert "interrupted by a crash/restart" in interrupted["error"]
    assert interrupted["run_id"] == first.records("started")[0]["run_id"]
    assert second.terminate() == 0
    assert setup.verify().returncode == 0


def _lease(cluster: ControlPlane, namespace: str) -> dict[str, Any]:
    lease: dict[str, Any] = cluster.api(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/drkit-test"
    )
    return lease


def test_two_daemons_one_lease_only_the_leader_runs_and_the_other_takes_over(
    setup: Setup, daemons: list[Daemon]
) -> None:
    setup.schedule("ha")
    common = (
        "--lease-namespace",
        setup.namespace,
        "--lease-name",
        "drkit-test",
        "--lease-duration",
        "3s",
        "--kubeconfig",
        str(setup.cluster.kubeconfig),
    )
    a = Daemon(setup, "a", *common, "--identity", "replica-a")
    b = Daemon(setup, "b", *common, "--identity", "replica-b")
    daemons += [a, b]
    for d in (a, b):
        _wait(lambda d=d: d.get("/readyz")[0] == 200, "both ready", d.process)  # type: ignore[misc]

    def leader() -> Daemon | None:
        if not setup.cluster.exists(
            f"/apis/coordination.k8s.io/v1/namespaces/{setup.namespace}/leases/drkit-test"
        ):
            return None
        holder = _lease(setup.cluster, setup.namespace)["spec"].get("holderIdentity")
        return {"replica-a": a, "replica-b": b}.get(holder)

    _wait(lambda: leader() is not None, "a leader")
    first = leader()
    assert first is not None
    other = b if first is a else a
    _wait(lambda: first.results().count("success") >= 2, "the leader's backups", first.process)
    assert first.metric("drkit_leader") == 1
    assert other.metric("drkit_leader") == 0
    assert other.records() == [], "the standby ran nothing"
    assert other.get("/readyz")[0] == 200  # a standby is ready too
    transitions = int(_lease(setup.cluster, setup.namespace)["spec"].get("leaseTransitions") or 0)

    killed_at = time.monotonic()
    first.kill()
    _wait(lambda: other.metric("drkit_leader") == 1, "the standby taking over", other.process)
    took_over = time.monotonic() - killed_at
    lease = _lease(setup.cluster, setup.namespace)
    assert lease["spec"]["holderIdentity"] == ("replica-b" if other is b else "replica-a")
    assert int(lease["spec"]["leaseTransitions"]) == transitions + 1
    _wait(lambda: "success" in other.results(), "a backup by the new leader", other.process)
    print(f"takeover observed {took_over:.1f}s after kill -9 (lease 3s)")

    # a clean stop releases the lease at once
    assert other.terminate() == 0
    assert not _lease(setup.cluster, setup.namespace)["spec"].get("holderIdentity")
