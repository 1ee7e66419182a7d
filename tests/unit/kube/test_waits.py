"""drkit.kube.waits: the conditions on recorded object shapes, and wait_all's timeouts as results."""

from __future__ import annotations

from typing import Any

from drkit.kube.waits import (
    Wait,
    condition_for,
    crd_established,
    deployment_available,
    job_complete,
    namespace_active,
    statefulset_ready,
    wait_all,
)
from tests.unit.kube.fakeapi import FakeApi, FakeClock


def deployment(replicas: int | None, generation: int, **status: Any) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status}


def test_deployment_available_needs_the_generation_observed_and_every_replica() -> None:
    done = deployment(2, 3, observedGeneration=3, availableReplicas=2, updatedReplicas=2)
    assert deployment_available(done).done
    stale = deployment(2, 3, observedGeneration=2, availableReplicas=2, updatedReplicas=2)
    assert not deployment_available(stale).done
    assert "observedGeneration 2 of 3" in deployment_available(stale).message
    partial = deployment(2, 1, observedGeneration=1, availableReplicas=1, updatedReplicas=2)
    assert not deployment_available(partial).done
    assert deployment_available(
        deployment(None, 1, observedGeneration=1, availableReplicas=1, updatedReplicas=1)
    ).done
    assert deployment_available(deployment(0, 1, observedGeneration=1)).done
    unavailable = deployment(
        1,
        1,
        observedGeneration=1,
        availableReplicas=1,
        updatedReplicas=1,
        conditions=[{"type": "Available", "status": "False"}],
    )
    assert not deployment_available(unavailable).done
    stuck = deployment(
        1,
        1,
        observedGeneration=1,
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
    )
    assert deployment_available(stuck).final


def test_other_conditions() -> None:
    assert crd_established({"status": {"conditions": [{"type": "Established", "status": "True"}]}}).done
    assert not crd_established({"status": {}}).done
    refused = {
        "status": {"conditions": [{"type": "NamesAccepted", "status": "False", "reason": "NameConflict"}]}
    }
    assert crd_established(refused).final
    assert namespace_active({"status": {"phase": "Active"}}).done
    assert namespace_active({"status": {"phase": "Terminating"}}).final
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 2}}
    assert not statefulset_ready({**sts, "status": {"observedGeneration": 1, "readyReplicas": 1}}).done
    assert statefulset_ready({**sts, "status": {"observedGeneration": 1, "readyReplicas": 2}}).done
    assert job_complete(
        {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
    ).done
    failed = job_complete(
        {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    )
    assert failed.final
    assert not failed.done
    assert "BackoffLimitExceeded" in failed.message
    assert condition_for("StatefulSet", "available") is statefulset_ready
    assert condition_for("Deployment", "available") is deployment_available
    assert condition_for("ConfigMap") is None
    assert condition_for("Widget", "sideways") is None


def test_wait_all_polls_together_and_a_timeout_is_a_result_with_the_last_status() -> None:
    api, clock = FakeApi(), FakeClock()
    api.add("/api/v1/namespaces/a", {"metadata": {"name": "a"}, "status": {"phase": "Pending"}})
    api.add("/api/v1/namespaces/b", {"metadata": {"name": "b"}, "status": {"phase": "Pending"}})

    def activate_b(path: str, obj: dict[str, Any], gets: int) -> None:
        if path.endswith("/b") and gets >= 3:
            obj["status"] = {"phase": "Active"}

    api.hooks.append(activate_b)
    a, b, missing = wait_all(
        api,
        [
            Wait("a Active", "/api/v1/namespaces/a", namespace_active, timeout=10),
            Wait("b Active", "/api/v1/namespaces/b", namespace_active, timeout=10),
            Wait("c Active", "/api/v1/namespaces/c", namespace_active, timeout=4),
        ],
        interval=1.0,
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert b.ok
    assert b.polls == 3
    assert not a.ok
    assert a.timed_out
    assert a.status == {"phase": "Pending"}
    assert "timed out after 10s: phase Pending" in a.message
    assert missing.timed_out
    assert missing.message.endswith("not found")
    assert 4 <= missing.waited_s < 5
    assert clock.now_s < 11


def test_a_wait_stops_at_a_final_state_and_survives_read_errors() -> None:
    api, clock = FakeApi(), FakeClock()
    api.add("/api/v1/namespaces/x", {"metadata": {"name": "x"}, "status": {"phase": "Terminating"}})
    api.failures["/api/v1/namespaces/x"] = [503]
    [result] = wait_all(
        api,
        [Wait("x Active", "/api/v1/namespaces/x", namespace_active, 60)],
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert not result.ok
    assert not result.timed_out
    assert "Terminating" in result.message
    assert result.polls == 2
