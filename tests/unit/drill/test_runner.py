"""The drill runner on fakes: RTO phase accounting, namespace mapping, and teardown in every case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.drill.checks import parse_checks
from drkit.drill.result import RTO_PHASES
from drkit.drill.runner import DrillRequest, RestoreOutcome, namespace_mapping, outcome_of, run_drill
from drkit.errors import MissingComponent, SandboxError
from drkit.repo.format.model import RootMeta, Snapshot, SnapshotStats
from drkit.restore.model import Action, ActionResult, ApplyReport, ObjectRef, Verb
from tests.unit.drill.fakes import Clock, FakeKube, FakeRestorer, FakeScratch, FakeTarget

TAKEN = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


def snapshot() -> Snapshot:
    return Snapshot(
        id="ab" * 32,
        time=TAKEN,
        host="h",
        tags=(),
        paths=(),
        tree=b"\0" * 32,
        root=RootMeta(mode=0o700, uid=0, gid=0, mtime_ns=0),
        stats=SnapshotStats(),
        kind="cluster",
    )


def request(
    clock: Clock, scratch: FakeScratch, restorer: FakeRestorer, kube: FakeKube, **kw: object
) -> DrillRequest:
    targets: list[FakeTarget] = []

    def target(_kubeconfig: Path, _context: str | None) -> FakeTarget:
        targets.append(FakeTarget(kube))
        return targets[-1]

    defaults: dict[str, object] = {
        "plan": "shop",
        "plan_file": "plan.yaml",
        "provider": scratch,
        "snapshot": snapshot(),
        "restore": restorer,
        "target": target,
        "specs": parse_checks(
            [{"exists": {"kind": "ConfigMap", "name": "settings", "namespace": "shop"}, "timeout": "4s"}],
            file="plan.yaml",
        ),
        "namespaces": ["shop"],
        "clock": clock,
        "sleep": clock.sleep,
        "now": lambda: NOW,
    }
    defaults.update(kw)
    return DrillRequest(**defaults)  # type: ignore[arg-type]


def test_phases_add_up_to_the_rto_and_ready_is_split_off_the_restore() -> None:
    clock, kube = Clock(), FakeKube()
    kube.put("/api/v1/namespaces/shop/configmaps/settings", {"data": {}})
    scratch = FakeScratch(clock, up_s=10, down_s=2)
    result = run_drill(request(clock, scratch, FakeRestorer(clock, total_s=30, ready_s=12), kube))
    assert result.ok
    phases = {p.name: (p.start_s, p.duration_s) for p in result.phases}
    assert phases == {
        "cluster-up": (0.0, 10.0),
        "restore": (10.0, 18.0),
        "ready": (28.0, 12.0),
        "checks": (40.0, 0.0),
        "teardown": (40.0, 2.0),
    }
    assert result.rto_s == 40.0  # teardown is not part of it
    assert tuple(result.summary()["phases"]) == (*RTO_PHASES, "teardown")
    assert result.rpo_s == timedelta(hours=2, minutes=30).total_seconds()
    assert scratch.events == ["up", "down"]


def test_a_failing_check_is_timed_and_the_cluster_still_goes_down() -> None:
    clock = Clock()
    scratch = FakeScratch(clock)
    result = run_drill(request(clock, scratch, FakeRestorer(clock), FakeKube()))
    assert not result.ok
    assert [c.spec.name for c in result.failed_checks] == ["exists ConfigMap shop/settings"]
    checks = result.phase("checks")
    assert checks is not None
    assert (checks.duration_s, checks.ok, checks.message) == (4.0, False, "1 of 1 failed")
    assert scratch.events == ["up", "down"]


def test_a_cluster_that_does_not_start_is_the_drill_error_and_is_cleaned_up() -> None:
    clock = Clock()
    scratch = FakeScratch(clock, fail_up=SandboxError("kube-apiserver exited"))
    restorer = FakeRestorer(clock)
    result = run_drill(request(clock, scratch, restorer, FakeKube()))
    assert not result.ok
    assert result.error == "the fake scratch cluster did not start: kube-apiserver exited"
    assert [p.name for p in result.phases] == ["cluster-up", "teardown"]
    assert restorer.mappings == []
    assert result.checks == ()
    assert scratch.events == ["up", "down"]


def test_a_failed_restore_skips_the_checks() -> None:
    clock = Clock()
    scratch = FakeScratch(clock)
    result = run_drill(
        request(clock, scratch, FakeRestorer(clock, failures=("configmaps/x: 422",)), FakeKube())
    )
    assert result.error == "the restore failed for 1 object(s)"
    assert result.checks == ()
    assert result.restore is not None
    assert not result.restore.ok
    assert scratch.events == ["up", "down"]


def test_an_interrupt_tears_down_and_is_raised_again() -> None:
    clock = Clock()
    scratch = FakeScratch(clock)
    with pytest.raises(KeyboardInterrupt):
        run_drill(request(clock, scratch, FakeRestorer(clock, raises=KeyboardInterrupt()), FakeKube()))
    assert scratch.events == ["up", "down"]


def test_keep_leaves_the_cluster_up() -> None:
    clock, kube = Clock(), FakeKube()
    kube.put("/api/v1/namespaces/shop/configmaps/settings", {"data": {}})
    scratch = FakeScratch(clock)
    result = run_drill(request(clock, scratch, FakeRestorer(clock), kube, keep=True))
    assert result.ok
    assert result.kept
    assert scratch.events == ["up"]
    assert result.phase("teardown") is None


def test_namespace_mapping_composes_the_plan_and_the_provider() -> None:
    scratch = FakeScratch(Clock(), prefix="drill-1-")
    assert namespace_mapping(scratch, ["shop", "db"], {"shop": "staging"}) == {
        "db": "drill-1-db",
        "shop": "drill-1-staging",
    }
    plain = FakeScratch(Clock())
    assert namespace_mapping(plain, ["shop"], {}) == {"shop": "shop"}


def test_checks_see_the_mapped_namespace() -> None:
    clock, kube = Clock(), FakeKube()
    kube.put("/api/v1/namespaces/drill-1-shop/configmaps/settings", {"data": {}})
    scratch = FakeScratch(clock, prefix="drill-1-")
    restorer = FakeRestorer(clock)
    result = run_drill(request(clock, scratch, restorer, kube))
    assert result.ok, result.checks
    assert restorer.mappings == [{"shop": "drill-1-shop"}]


def _result(kind: str, wait: str | None, ok: bool, seconds: float, verb: Verb = Verb.CREATE) -> ActionResult:
    ref = ObjectRef("apps" if kind != "ConfigMap" else "", "v1", kind.lower() + "s", kind, "shop", "x")
    return ActionResult(Action(ref, verb, "", b"{}", 10, "", wait), ok, "m", seconds)


def test_outcome_of_an_apply_report_counts_and_takes_the_longest_workload_wait() -> None:
    report = ApplyReport(
        results=(
            _result("ConfigMap", None, True, 0.1),
            _result("Deployment", "available", True, 0.1),
            _result("StatefulSet", "available", False, 0.1),
            _result("ConfigMap", None, True, 0.0, Verb.SKIP),
        ),
        waits=(_result("Deployment", "available", True, 7.0), _result("Namespace", "active", True, 1.0)),
        duration_s=9.0,
    )
    outcome = outcome_of(report, {"create": 3})
    assert outcome == RestoreOutcome(outcome.summary, 7.0)
    assert outcome.summary.applied == 2
    assert outcome.summary.failures == ("statefulsets.apps/x in shop: m",)
    assert outcome.summary.counts == {"create": 3}


def test_a_drill_that_cannot_run_raises_after_cleaning_up() -> None:
    clock = Clock()
    scratch = FakeScratch(clock, fail_up=MissingComponent("kind is not on PATH"))
    with pytest.raises(MissingComponent):
        run_drill(request(clock, scratch, FakeRestorer(clock), FakeKube()))
    assert scratch.events == ["up", "down"]
