"""Slow and hung servers: every client gives up at its deadline and names the server (issue 19.1).

Each client (S3 through ``RetryingStore``, the Kubernetes API client, the etcd client) meets a
loopback listener that accepts and never answers, and one that answers a byte at a time (so that no
socket timeout ever fires). Deadlines here are about a second, so the suite stays fast; the bound
asserted is loose (the machine is shared) but far below what a socket timeout times the retries gave.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.deadline import Timeouts
from drkit.errors import DrkitError, ExitCode
from drkit.etcd.client import EtcdClient
from drkit.etcd.errors import EtcdUnavailable
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeTimeout
from drkit.secret import Secret
from drkit.storage.errors import StoreTimeout, TransientStoreError
from drkit.storage.options import S3Options
from drkit.storage.retry import RetryingStore
from drkit.storage.s3 import S3Store
from tests.infra.hostile import ErrorServer, SilentServer, SlowServer

DEADLINE = 1.0
SLACK = 4.0  # a loaded, shared machine; before the fix these took 4 s (with other messages) to minutes


@pytest.fixture(params=["silent", "trickle"])
def hostile(request: pytest.FixtureRequest) -> Iterator[SilentServer]:
    server = SilentServer() if request.param == "silent" else SlowServer(delay=0.0, trickle=0.1)
    with server:
        yield server


def fails_in_time(call: Callable[[], object], error: type[DrkitError]) -> DrkitError:
    start = time.monotonic()
    with pytest.raises(error) as err:
        call()
    took = time.monotonic() - start
    assert took < DEADLINE + SLACK, f"gave up after {took:.1f}s"
    return err.value


def test_s3_gives_up_at_its_deadline_naming_the_endpoint(hostile: SilentServer) -> None:
    timeouts = Timeouts(metadata=DEADLINE)
    options = S3Options(endpoint=hostile.url, access_key="k", secret_key=Secret("s"), region="us-east-1")
    store = RetryingStore(S3Store("bucket", "repo", options, timeouts=timeouts), timeouts=timeouts)
    err = fails_in_time(lambda: store.head("config"), StoreTimeout)
    assert hostile.url in str(err)
    assert re.search(r"head config: no (answer|success) within 1s", str(err))
    assert err.exit_code == ExitCode.STORAGE
    err = fails_in_time(lambda: list(store.list("snapshots/")), StoreTimeout)
    assert hostile.url in str(err)


def test_one_layer_owns_the_attempts_one_request_per_attempt() -> None:
    """botocore retries nothing itself: ``attempts`` is the number of requests the server sees
    (before, botocore's second attempt doubled it, and hid a lost put reply from RetryingStore)."""
    with ErrorServer(503, "SlowDown") as server:
        options = S3Options(endpoint=server.url, access_key="k", secret_key=Secret("s"), region="us-east-1")
        store = RetryingStore(S3Store("bucket", "repo", options), attempts=3, base_delay=0.01, max_delay=0.01)
        with pytest.raises(TransientStoreError, match=r"SlowDown.*gave up after 3 attempts"):
            store.get("config")
        assert server.requests == 3


def test_a_cli_command_on_a_hung_endpoint_fails_within_timeout_with_exit_15(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("pw\n")
    with SilentServer() as server:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "DRKIT_PASSWORD_FILE": str(password),
        }
        start = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "drkit",
                "--timeout",
                "1",
                "snapshots",
                "--repo",
                f"s3://bucket/repo?endpoint={server.url}",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        took = time.monotonic() - start
    assert result.returncode == ExitCode.STORAGE, result.stderr
    assert server.url in result.stderr
    # Each attempt's socket timeout is a third of --timeout: the attempts run out before the
    # deadline of an object body (5x --timeout), or the deadline ends them.
    assert re.search(
        r"drkit: error: S3 endpoint \S+ .*(no (answer|success) within 5s|gave up after 6 attempts)",
        result.stderr,
    )
    assert "--timeout" in result.stderr  # the hint says what to change
    assert took < 5 * DEADLINE + SLACK + 5  # + interpreter start-up


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


def test_the_kubernetes_client_gives_up_at_its_deadline_naming_the_server(
    hostile: SilentServer, tmp_path: Path
) -> None:
    with KubeClient.from_kubeconfig(_kubeconfig(tmp_path, hostile.url), timeout=DEADLINE) as kube:
        err = fails_in_time(lambda: kube.get_json("/api"), KubeTimeout)
    assert f"GET {hostile.url}/api: no answer within 1s" in str(err)
    assert not err.transient  # the deadline covered the retries
    assert err.exit_code == ExitCode.KUBERNETES


def test_the_etcd_client_gives_up_at_its_deadline_naming_the_endpoint(hostile: SilentServer) -> None:
    client = EtcdClient([hostile.url], deadline=DEADLINE)
    err = fails_in_time(lambda: client.status(hostile.url), EtcdUnavailable)
    assert hostile.address in str(err)
    assert "no answer within 1s" in str(err)
    assert err.exit_code == ExitCode.ETCD
    # a hung member is reported among the endpoints, not waited for
    probes = client.probe()
    assert probes[0].status is None
    assert "no answer" in probes[0].problem


def test_a_slow_but_timely_answer_is_taken_and_the_slowness_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SlowServer(delay=1.5, trickle=0.0) as server, caplog.at_level("WARNING"):
        client = EtcdClient([server.url], deadline=4.0)
        assert client._transport.call(client.endpoints[0], "GET", "/health") == {"status": "ok"}
        with KubeClient.from_kubeconfig(_kubeconfig(tmp_path, server.url), timeout=4.0) as kube:
            assert kube.get_json("/api") == {"status": "ok"}
    warned = [r.getMessage() for r in caplog.records if "is slow" in r.getMessage()]
    assert len(warned) == 2
    assert all(server.address in w for w in warned)


@pytest.mark.parametrize("target", ["kube", "etcd"])
def test_the_cli_timeout_bounds_a_backup_against_a_hung_cluster(target: str, tmp_path: Path) -> None:
    """``drkit --timeout`` reaches the Kubernetes and etcd clients a command builds."""
    env = {
        **os.environ,
        "DRKIT_REPO": str(tmp_path / "repo"),
        "DRKIT_PASSWORD": "pw",
        "DRKIT_SCRYPT_N": "1024",
    }
    env.pop("KUBECONFIG", None)
    subprocess.run(
        [sys.executable, "-m", "drkit", "repo", "init", "--lock-mode", "none"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with SilentServer() as server:
        if target == "kube":
            args = ["--kubeconfig", str(_kubeconfig(tmp_path, server.url))]
            code = ExitCode.KUBERNETES
        else:
            args = ["--no-resources", "--etcd-endpoints", server.url]
            code = ExitCode.ETCD
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "drkit", "--timeout", "1", "backup", "run", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        took = time.monotonic() - start
    assert result.returncode == code, result.stderr
    assert server.address in result.stderr
    assert "no answer within 1s" in result.stderr
    assert took < DEADLINE + SLACK + 5  # + interpreter start-up
