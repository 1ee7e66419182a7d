"""``grpcsnapshot.preload`` imports grpc with ``GRPC_EXPERIMENTS`` set to poll on the calling thread
(docs/performance.md: ~35% less CPU receiving an etcd snapshot), only for the grpcio versions it was
checked with, never over a setting of the user's, and puts the environment back after the import.
Each case runs in a fresh interpreter: grpc reads the setting once, when it is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from drkit.etcd import grpcsnapshot

PROBE = """
import json, os, sys
seen = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "grpc":
            seen.append(os.environ.get("GRPC_EXPERIMENTS"))
        return None

sys.meta_path.insert(0, Watch())
from drkit.etcd import grpcsnapshot
if len(sys.argv) > 1:
    grpcsnapshot.grpcio_version = lambda: tuple(json.loads(sys.argv[1]))
grpcsnapshot.preload()
import grpc.experimental
after = os.environ.get("GRPC_EXPERIMENTS")
print(json.dumps({"at_import": seen, "after": after, "grpc": "grpc" in sys.modules}))
"""


def _run(env_value: str | None, fake_version: tuple[int, int] | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    if env_value is not None:
        env["GRPC_EXPERIMENTS"] = env_value
    args = [sys.executable, "-c", PROBE] + ([json.dumps(fake_version)] if fake_version else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_installed_version_is_read_without_importing_grpc() -> None:
    major, minor = (int(x) for x in version("grpcio").split(".")[:2])
    assert grpcsnapshot.grpcio_version() == (major, minor)


def test_grpc_is_imported_polling_on_the_caller_and_the_environment_is_put_back() -> None:
    low, _high = grpcsnapshot.POLL_ON_CALLER_VERSIONS
    result = _run(None, low)
    assert result == {"at_import": [grpcsnapshot.POLL_ON_CALLER], "after": None, "grpc": True}


@pytest.mark.parametrize("other", [(1, 60), grpcsnapshot.POLL_ON_CALLER_VERSIONS[1], (2, 0)])
def test_a_grpcio_it_was_not_checked_with_is_imported_as_it_is(other: tuple[int, int]) -> None:
    assert _run(None, other) == {"at_import": [None], "after": None, "grpc": True}


def test_the_users_own_setting_is_kept() -> None:
    low, _high = grpcsnapshot.POLL_ON_CALLER_VERSIONS
    result = _run("-event_engine_dns", low)
    assert result == {"at_import": ["-event_engine_dns"], "after": "-event_engine_dns", "grpc": True}


def test_the_stream_and_its_watchdog_work_polling_on_the_caller() -> None:
    """The transport tests (messages whole and in order; a stalled server cut off by the watchdog, a
    pausing consumer not) again in a process whose grpc was imported polling on the caller, as
    ``preload`` imports it."""
    env = {**os.environ, "GRPC_EXPERIMENTS": grpcsnapshot.POLL_ON_CALLER}
    test = Path(__file__).with_name("test_grpc_stream_transport.py")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        env=env,
        cwd=test.parents[3],  # the repository: its pytest configuration
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{test.read_text().count(chr(10) + 'def test_')} passed" in out.stdout


THREADS = """
import json, os, sys, threading, time
from drkit.etcd import grpcsnapshot
low = grpcsnapshot.POLL_ON_CALLER_VERSIONS[0]

def slow_version():
    time.sleep(0.2)  # every thread past the first check before any sets the variable, without a lock
    return low

grpcsnapshot.grpcio_version = slow_version
errors = []

def load():
    try:
        grpcsnapshot.preload()
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=load) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
after = os.environ.get("GRPC_EXPERIMENTS")
print(json.dumps({"errors": errors, "after": after, "grpc": "grpc" in sys.modules}))
"""


def test_threads_loading_grpc_at_once_set_and_remove_the_variable_once() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    out = subprocess.run([sys.executable, "-c", THREADS], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"errors": [], "after": None, "grpc": True}
