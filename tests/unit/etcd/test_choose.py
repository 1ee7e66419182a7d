"""The rule that picks the healthiest endpoint (drkit.etcd.status.choose), on statuses built here."""

from __future__ import annotations

import dataclasses

import pytest

from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import EtcdUnavailable
from drkit.etcd.status import Probe, Status, choose, problem_of

LEADER_ID = 1


def status(port: int, *, member: int, applied: int = 100, leader: int = LEADER_ID, **kw: object) -> Status:
    base = Status(
        endpoint=EtcdEndpoint("https", "10.0.0.1", port),
        member_id=member,
        cluster_id=7,
        version="3.6.16",
        db_size=1 << 20,
        db_size_in_use=1 << 20,
        leader=leader,
        raft_index=applied,
        raft_applied_index=applied,
        raft_term=2,
        revision=50,
        is_learner=False,
        errors=(),
        storage_version="3.6.0",
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def probe(s: Status) -> Probe:
    return Probe(s.endpoint, s, problem_of(s))


def dead(port: int) -> Probe:
    return Probe(EtcdEndpoint("https", "10.0.0.9", port), None, "cannot connect: Connection refused")


def test_a_follower_is_preferred_to_the_leader() -> None:
    leader = status(1, member=LEADER_ID)
    follower = status(2, member=2)
    assert choose([probe(leader), probe(follower)]) is follower
    assert choose([probe(leader), probe(follower)], prefer_leader=True) is leader


def test_dead_endpoints_are_passed_over() -> None:
    live = status(2, member=2)
    assert choose([dead(1), probe(live)]) is live


def test_a_member_without_leader_is_not_used() -> None:
    lost = status(1, member=2, leader=0)
    leader = status(2, member=LEADER_ID)
    assert problem_of(lost) == "no leader (lost quorum?)"
    assert choose([probe(lost), probe(leader)]) is leader


def test_learners_and_alarmed_members_are_not_used() -> None:
    learner = status(1, member=3, is_learner=True)
    alarmed = status(2, member=2, errors=("NOSPACE",))
    leader = status(3, member=LEADER_ID)
    assert choose([probe(learner), probe(alarmed), probe(leader)]) is leader


def test_a_lagging_follower_loses_to_the_leader() -> None:
    behind = status(1, member=2, applied=100)
    leader = status(2, member=LEADER_ID, applied=5000)
    assert choose([probe(behind), probe(leader)], max_lag=1000) is leader
    assert choose([probe(behind), probe(leader)], max_lag=10_000) is behind


def test_among_followers_the_newest_then_the_first_given() -> None:
    a = status(1, member=2, applied=100)
    b = status(2, member=3, applied=102)
    c = status(3, member=4, applied=102)
    assert choose([probe(a), probe(b), probe(c)]) is b


def test_none_usable_names_every_endpoint() -> None:
    lost = status(2, member=2, leader=0)
    with pytest.raises(EtcdError, match=r"10\.0\.0\.9:1: cannot connect.*10\.0\.0\.1:2: no leader"):
        choose([dead(1), probe(lost)])


def test_all_unreachable_is_transient() -> None:
    with pytest.raises(EtcdUnavailable) as info:
        choose([dead(1), dead(2)])
    assert info.value.transient


def test_members_of_different_clusters_are_refused() -> None:
    a = status(1, member=2)
    b = status(2, member=3, cluster_id=8)
    with pytest.raises(EtcdError, match="different clusters"):
        choose([probe(a), probe(b)])


def test_status_from_the_gateways_json() -> None:
    # as etcd 3.6.16 answers POST /v3/maintenance/status (64-bit integers as strings)
    doc = {
        "header": {"cluster_id": "324952591200643719", "member_id": "3319814642761637952", "revision": "62"},
        "version": "3.6.16",
        "dbSize": "114688",
        "leader": "3319814642761637952",
        "raftIndex": "65",
        "raftTerm": "2",
        "raftAppliedIndex": "65",
        "dbSizeInUse": "114688",
        "storageVersion": "3.6.0",
    }
    st = Status.from_json(EtcdEndpoint("http", "127.0.0.1", 2379), doc)
    assert st.revision == 62
    assert st.is_leader
    assert st.db_size == 114688
    assert st.raft_applied_index == 65
    assert not st.is_learner
    assert st.errors == ()
    assert problem_of(st) is None
