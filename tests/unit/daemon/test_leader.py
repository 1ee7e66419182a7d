"""Leader election over an in-memory Lease store that behaves like the API server (resourceVersion,
409 on a stale update or an existing name), with a hand-driven monotonic clock."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from drkit.daemon.leader import (
    Action,
    Conflict,
    ElectionConfig,
    LeaderElector,
    Observation,
    decide,
    new_lease,
)
from drkit.errors import ConfigError
from drkit.kube.errors import KubeUnavailable


class FakeLeases:
    """One Lease, stored like the API server does: every write bumps resourceVersion."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise KubeUnavailable("no answer", status=0, verb="GET", path="/leases")

    def _store(self, lease: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.writes += 1
        stored = copy.deepcopy(lease)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.lease = stored
        return copy.deepcopy(stored)

    def get(self) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.lease)

    def create(self, lease: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if self.lease is not None:
            raise Conflict("exists")
        return self._store(lease)

    def update(self, lease: dict[str, Any]) -> dict[str, Any]:
        self._check()
        assert self.lease is not None
        if lease["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("stale resourceVersion")
        return self._store(lease)

    @property
    def holder(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _elector(api: FakeLeases, identity: str, clock: Clock, events: list[str]) -> LeaderElector:
    config = ElectionConfig("ns", "lease", identity, lease_duration=3.0, renew_deadline=2.0, retry_period=0.4)
    return LeaderElector(
        api,
        config,
        on_started=lambda: events.append(f"{identity} started"),
        on_stopped=lambda: events.append(f"{identity} stopped"),
        clock=clock,
        wall=lambda: datetime(2026, 11, 26, tzinfo=UTC),
    )


def test_decide_rules() -> None:
    config = ElectionConfig("ns", "l", "me", lease_duration=3, renew_deadline=2, retry_period=1)
    assert decide(None, "me", None, 0.0, 3.0)[0] is Action.CREATE
    mine = new_lease(config, datetime.now(UTC))
    assert decide(mine, "me", None, 0.0, 3.0)[0] is Action.RENEW
    action, seen = decide(mine, "other", None, 10.0, 3.0)
    assert action is Action.WAIT
    assert seen is not None
    assert seen.since == 10.0
    # unchanged for less than the duration: wait; for the duration: take over
    assert decide(mine, "other", seen, 12.9, 3.0)[0] is Action.WAIT
    assert decide(mine, "other", seen, 13.0, 3.0)[0] is Action.TAKE_OVER
    # a renewal (new renewTime or resourceVersion) restarts the observation
    renewed = copy.deepcopy(mine)
    renewed["spec"]["renewTime"] = "later"
    action, again = decide(renewed, "other", seen, 13.0, 3.0)
    assert action is Action.WAIT
    assert again is not None
    assert again == Observation(again.record, 13.0)
    assert again.record != seen.record
    released = copy.deepcopy(mine)
    released["spec"]["holderIdentity"] = None
    assert decide(released, "other", None, 0.0, 3.0)[0] is Action.TAKE_OVER


def test_election_config_checks_its_proportions() -> None:
    with pytest.raises(ConfigError):
        ElectionConfig("ns", "l", "me", lease_duration=3, renew_deadline=3, retry_period=1)
    with pytest.raises(ConfigError):
        ElectionConfig("ns", "l", "", lease_duration=3, renew_deadline=2, retry_period=1)
    scaled = ElectionConfig.for_duration("ns", "l", "me", 3.0)
    assert scaled.retry_period < scaled.renew_deadline < scaled.lease_duration


def test_one_leader_then_takeover_after_the_lease_expires_unobserved() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a = _elector(api, "a", clock, events)
    b = _elector(api, "b", clock, events)
    a.step()
    b.step()
    assert (a.is_leader, b.is_leader) == (True, False)
    assert api.holder == "a"
    for _ in range(20):  # a renews, b watches: b never takes over a live holder
        clock.now += 0.4
        a.step()
        b.step()
    assert (a.is_leader, b.is_leader) == (True, False)
    # a dies (stops renewing); b takes over once the record stood still for the lease duration
    steps = 0
    while not b.is_leader:
        clock.now += 0.4
        b.step()
        steps += 1
        assert steps < 20
    assert steps * 0.4 >= 3.0
    assert api.holder == "b"
    assert api.lease is not None
    assert api.lease["spec"]["leaseTransitions"] == 1
    assert events == ["a started", "b started"]
    # a comes back: it sees b's lease and steps down instead of renewing
    a.step()
    assert not a.is_leader
    assert events[-1] == "a stopped"


def test_a_leader_that_cannot_renew_steps_down_before_the_lease_expires() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a = _elector(api, "a", clock, events)
    a.step()
    assert a.is_leader
    api.down = True
    clock.now += 1.0
    a.step()
    assert a.is_leader  # within the renew deadline
    clock.now += 1.0
    a.step()
    assert not a.is_leader  # 2 s without a renewal: stepped down, 1 s before anyone may take over
    assert events == ["a started", "a stopped"]


def test_a_stale_write_loses_with_a_conflict() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a = _elector(api, "a", clock, events)
    b = _elector(api, "b", clock, events)
    a.step()
    lease = api.get()
    assert lease is not None
    lease["spec"]["holderIdentity"] = None
    api.update(lease)  # released behind b's back
    stale = api.get()
    assert stale is not None
    api.update(stale)  # another write: b's read below is current, an older copy is not
    with pytest.raises(Conflict):
        api.update(lease)
    b.step()
    assert b.is_leader
    assert api.holder == "b"


def test_stop_releases_the_lease_for_an_immediate_takeover() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a = _elector(api, "a", clock, events)
    b = _elector(api, "b", clock, events)
    a.step()
    b.step()
    a.stop(release=True, timeout=0)
    assert api.holder is None
    b.step()  # no waiting for the lease duration
    assert b.is_leader
    assert events == ["a started", "a stopped", "b started"]
