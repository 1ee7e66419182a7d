"""Job-mode restores of several claims: the restore Jobs of independent claims run together (a few at a
time) under one deadline for all of them, not one timeout per claim one after the other; a claim whose
Job did not finish in time is named, with why its pod did not run. Over a fake MoverCluster (drkit's
own interface) and a fake clock: nothing here measures time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from drkit.capture.movers import MoverSettings, result_text
from drkit.errors import KubernetesError
from drkit.kube.client import KubeClient
from drkit.restore.fills import fill_volumes, plan_fills
from drkit.restore.jobfill import JobFiller
from tests.unit.kube.fakeapi import FakeApi
from tests.unit.restore.test_volume_fills import (
    SNAP,
    VOLUME_SNAP,
    claim_action,
    fake_api,
    record,
    restore_plan,
    secret,
)

DONE = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
UNSCHEDULABLE = "not scheduled: 0/1 nodes are available: 1 node(s) had untolerated taint {maintenance: }"


def restore_fills(*claims: str) -> Any:
    plan = restore_plan(*(claim_action("shop", c, target_ns="shop-dr") for c in claims))
    meta = {"volumes": [record("shop", c, mode="job", snapshot=VOLUME_SNAP) for c in claims]}
    return plan_fills(meta, plan, SNAP).fills


def api_with_secret() -> FakeApi:
    api = fake_api("shop-dr")
    secret(api, "shop-dr", "drkit-repo", url="czM6Ly9i", password="cHc=")
    return api


def message(files: int) -> str:
    return result_text({"op": "restore", "snapshot": VOLUME_SNAP, "files": files, "bytes": 10 * files})


class TogetherMovers:
    """Restore Jobs that each take the same time, and finish only while all of them run together: a
    Job waited for alone runs into its timeout (at most ``patience_s`` here), as on today's cluster
    when every Job's wait is the whole timeout, one claim after the other."""

    def __init__(self, jobs: int, *, patience_s: float = 5.0) -> None:
        self.created: list[dict[str, Any]] = []
        self.running = threading.Barrier(jobs)
        self.patience_s = patience_s

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.created.append(manifest)
        return manifest

    def delete(self, manifest: dict[str, Any]) -> None:
        pass

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any]:
        try:
            self.running.wait(timeout=min(timeout_s, self.patience_s))
        except threading.BrokenBarrierError:
            raise KubernetesError(
                f"timed out after {timeout_s:.0f}s waiting for Job {namespace}/{name}"
            ) from None
        return DONE

    def job_messages(self, namespace: str, name: str) -> list[str]:
        return [message(3)]

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        raise AssertionError("a restore makes no VolumeSnapshot")


def test_the_restore_jobs_of_independent_claims_run_together() -> None:
    fills = restore_fills("data", "logs", "media")
    movers = TogetherMovers(len(fills))
    filler = JobFiller(cast(KubeClient, api_with_secret()), MoverSettings(), cluster=movers, timeout_s=600)
    results = fill_volumes(fills, filler)
    assert [r.ok for r in results] == [True, True, True], [r.message for r in results]
    assert [r.fill.pvc for r in results] == ["data", "logs", "media"]  # in the plan's order
    assert sorted(job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
                  for job in movers.created) == ["data", "logs", "media"]  # fmt: skip


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TimedMovers:
    """Restore Jobs on a fake clock: each takes ``takes[pvc]`` seconds, or never finishes (None: its pod
    is not scheduled), in which case its wait lasts the timeout it was given."""

    clock: Clock
    takes: dict[str, float | None]
    waited: list[tuple[str, float]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def _pvc(self, name: str) -> str:
        return name.split("-")[2]  # drkit-restore-<pvc>-<hash>

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.created.append(self._pvc(manifest["metadata"]["name"]))
        return manifest

    def delete(self, manifest: dict[str, Any]) -> None:
        self.deleted.append(self._pvc(manifest["metadata"]["name"]))

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any]:
        pvc = self._pvc(name)
        self.waited.append((pvc, timeout_s))
        takes = self.takes[pvc]
        if takes is None or takes > timeout_s:
            self.clock.now += timeout_s
            raise KubernetesError(
                f"timed out after {timeout_s:.0f}s waiting for Job {namespace}/{name} to finish; its pod: "
                + UNSCHEDULABLE
            )
        self.clock.now += takes
        return DONE

    def job_messages(self, namespace: str, name: str) -> list[str]:
        return [message(1)]

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        raise AssertionError("a restore makes no VolumeSnapshot")


def test_one_deadline_is_shared_by_every_restore_job_and_the_late_claims_are_named_with_the_cause() -> None:
    clock = Clock()
    movers = TimedMovers(clock, {"data": 400.0, "logs": None, "media": 10.0})
    filler = JobFiller(
        cast(KubeClient, api_with_secret()),
        MoverSettings(),
        cluster=movers,
        timeout_s=600,
        parallel=1,
        clock=clock,
    )
    data, logs, media = fill_volumes(restore_fills("data", "logs", "media"), filler)

    assert data.ok, data.message
    # the second Job gets what is left of the one deadline, not a whole timeout of its own
    assert movers.waited == [("data", 600), ("logs", pytest.approx(200))]
    assert clock.now == pytest.approx(600)
    assert not logs.ok
    assert "claim shop-dr/logs" in logs.message
    assert "did not finish within the restore's volume deadline of 600s" in logs.message
    assert UNSCHEDULABLE in logs.message  # the real cause: why its pod did not run
    assert "--volume-timeout" in logs.message  # the hint: what to give more time
    assert "logs" in movers.deleted  # a late Job would fill the claim after the workloads started
    # the deadline has passed: the third claim's Job is not even created, and the claim is named
    assert not media.ok
    assert "media" not in movers.created
    assert "claim shop-dr/media" in media.message
    assert "not started" in media.message
    assert "600s" in media.message
