"""Job mode runs the mover Jobs of several claims at a time; claims sharing a hook pod stay in one lane."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from drkit.capture.claims import Selected, VolumeInfo, VolumeSelection
from drkit.capture.hooks import ExecResult, Hook
from drkit.capture.movers import MoverSettings, result_text
from drkit.capture.volumes import BACKUP_JOBS_AT_ONCE, VolumeOptions, capture_volumes
from drkit.errors import StorageError


class Mover:
    """drkit's MoverCluster interface: each Job waits until ``together`` Jobs run at once (or a timeout),
    and records how many ran at the same time."""

    def __init__(
        self,
        together: int = 1,
        fail: str = "",
        storage_fail: str = "",
        *,
        total: int = 0,
        patience: float = 2.0,
    ) -> None:
        self.together = together
        self.total = total  # once that many Jobs started, none waits for more
        self.patience = patience
        self.started = 0
        self.fail = fail
        self.storage_fail = storage_fail
        self.lock = threading.Lock()
        self.all_there = threading.Condition(self.lock)
        self.running = 0
        self.most = 0
        self.claims: dict[str, str] = {}  # Job name -> claim
        self.timeline: list[str] = []

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        volume = manifest["spec"]["template"]["spec"]["volumes"]
        claim = next(v["persistentVolumeClaim"]["claimName"] for v in volume if "persistentVolumeClaim" in v)
        with self.lock:
            self.claims[name] = claim
        return manifest

    def delete(self, manifest: dict[str, Any]) -> None:
        return None

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any]:
        claim = self.claims[name]
        with self.lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
            self.timeline.append(f"start {claim}")
            self.all_there.notify_all()
            self.all_there.wait_for(
                lambda: self.started >= self.together or self.started == self.total, timeout=self.patience
            )
        if claim == self.storage_fail:
            with self.lock:
                self.running -= 1
            raise StorageError(f"the repository refused {claim}")
        with self.lock:
            self.timeline.append(f"end {claim}")
            self.running -= 1
        state = "Failed" if claim == self.fail else "Complete"
        return {"status": {"conditions": [{"type": state, "status": "True"}]}}

    def job_messages(self, namespace: str, name: str) -> list[str]:
        claim = self.claims[name]
        if claim == self.fail:
            return [result_text({"op": "backup", "error": f"disk of {claim} is gone"})]
        return [result_text({"op": "backup", "snapshot": f"snap-{claim}", "files": 1, "bytes": 10})]

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        return None


class Exec:
    def __init__(self, timeline: list[str], lock: threading.Lock) -> None:
        self.timeline = timeline
        self.lock = lock

    def exec(
        self, namespace: str, pod: str, container: str, command: Sequence[str], timeout_s: float
    ) -> ExecResult:
        with self.lock:
            self.timeline.append(f"{command[0]} {pod}")
        return ExecResult(0)


def options(parallel: int = BACKUP_JOBS_AT_ONCE) -> VolumeOptions:
    return VolumeOptions(
        VolumeSelection.parse("all"), mover="job", settings=MoverSettings(), parallel=parallel
    )


def claims(*names: str, hooks: dict[str, str] | None = None) -> Selected:
    hooks = hooks or {}
    volumes = []
    for name in names:
        pod = hooks.get(name)
        around = (Hook("pre", "shop", pod, "db", ("freeze",)), Hook("post", "shop", pod, "db", ("thaw",)))
        volumes.append(VolumeInfo("shop", name, f"pv-{name}", hooks=around if pod else ()))
    return Selected(volumes, {})


def test_four_mover_jobs_run_at_once_and_outcomes_keep_the_selection_order() -> None:
    cluster = Mover(together=4, total=6)
    said: list[str] = []
    capture = capture_volumes(
        None,  # type: ignore[arg-type]  # job mode never writes into the cluster snapshot
        claims("a", "b", "c", "d", "e", "f"), options(), run="r1", cluster=cluster, notify=said.append,
    )  # fmt: skip
    assert cluster.most == 4  # one at a time before
    assert [o.volume.pvc for o in capture.outcomes] == ["a", "b", "c", "d", "e", "f"]
    assert [o.snapshot for o in capture.outcomes] == [f"snap-{c}" for c in "abcdef"]
    assert all(o.ok for o in capture.outcomes)
    assert sorted(said) == sorted(f"volume shop/{c}: 1 files, 10 bytes (0 new)" for c in "abcdef")


def test_parallel_one_runs_the_jobs_one_after_the_other() -> None:
    cluster = Mover(together=2, patience=0.2)  # each Job waits a while for a second that never comes
    capture = capture_volumes(None, claims("a", "b"), options(parallel=1), cluster=cluster)  # type: ignore[arg-type]
    assert cluster.most == 1
    assert cluster.timeline == ["start a", "end a", "start b", "end b"]
    assert all(o.ok for o in capture.outcomes)


def test_claims_whose_hooks_run_in_one_pod_never_overlap() -> None:
    """Two claims of db-0 (freeze/thaw): the pod is never frozen twice at once; the claim of web-0
    runs beside them."""
    cluster = Mover(together=2, total=3)
    executor = Exec(cluster.timeline, cluster.lock)
    selected = claims("data", "wal", "www", hooks={"data": "db-0", "wal": "db-0", "www": "web-0"})
    capture = capture_volumes(None, selected, options(), cluster=cluster, executor=executor)  # type: ignore[arg-type]
    assert all(o.ok for o in capture.outcomes), [o.error for o in capture.outcomes]
    db = [e for e in cluster.timeline if e.endswith("db-0") or e.endswith(" data") or e.endswith(" wal")]
    assert db == [
        "freeze db-0", "start data", "end data", "thaw db-0",
        "freeze db-0", "start wal", "end wal", "thaw db-0",
    ]  # fmt: skip
    assert cluster.most == 2  # www ran beside the db lane


def test_one_failed_claim_does_not_stop_the_others() -> None:
    cluster = Mover(together=3, fail="b")
    capture = capture_volumes(None, claims("a", "b", "c"), options(), cluster=cluster)  # type: ignore[arg-type]
    assert [(o.volume.pvc, o.ok) for o in capture.outcomes] == [("a", True), ("b", False), ("c", True)]
    assert "disk of b is gone" in capture.outcomes[1].error
    assert capture.partial


def test_a_repository_failure_aborts_the_capture_after_the_running_jobs() -> None:
    cluster = Mover(together=2, storage_fail="a")
    with pytest.raises(StorageError, match="the repository refused a"):
        capture_volumes(None, claims("a", "b"), options(), cluster=cluster)  # type: ignore[arg-type]
    assert "end b" in cluster.timeline  # the Job already running was waited for, not abandoned
