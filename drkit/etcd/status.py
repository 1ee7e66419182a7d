"""Member status as etcd reports it, and the rule that picks the healthiest endpoint of several."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drkit.errors import EtcdError
from drkit.etcd.config import EtcdEndpoint
from drkit.etcd.errors import EtcdRequestFailed, EtcdUnavailable

DEFAULT_MAX_LAG = 1000
"""Raft entries a member may trail the most advanced one by and still be chosen."""


def _int(doc: dict[str, Any], key: str, default: int = 0) -> int:
    """The gateway writes 64-bit integers as strings and leaves out zero values."""
    value = doc.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Status:
    """``POST /v3/maintenance/status`` of one member."""

    endpoint: EtcdEndpoint
    member_id: int
    cluster_id: int
    version: str
    db_size: int
    db_size_in_use: int
    leader: int
    raft_index: int
    raft_applied_index: int
    raft_term: int
    revision: int
    """The header revision: the member's current key-value store revision."""
    is_learner: bool
    errors: tuple[str, ...]
    storage_version: str | None

    @property
    def has_leader(self) -> bool:
        return self.leader != 0

    @property
    def is_leader(self) -> bool:
        return self.leader != 0 and self.leader == self.member_id

    @classmethod
    def from_json(cls, endpoint: EtcdEndpoint, doc: Any) -> Status:
        if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict):
            raise EtcdRequestFailed(f"etcd {endpoint}: status answer without a header: {str(doc)[:200]}")
        header: dict[str, Any] = doc["header"]
        errors = doc.get("errors") or []
        return cls(
            endpoint=endpoint,
            member_id=_int(header, "member_id"),
            cluster_id=_int(header, "cluster_id"),
            version=str(doc.get("version", "")),
            db_size=_int(doc, "dbSize"),
            db_size_in_use=_int(doc, "dbSizeInUse"),
            leader=_int(doc, "leader"),
            raft_index=_int(doc, "raftIndex"),
            raft_applied_index=_int(doc, "raftAppliedIndex"),
            raft_term=_int(doc, "raftTerm"),
            revision=_int(header, "revision"),
            is_learner=bool(doc.get("isLearner", False)),
            errors=tuple(str(e).strip() for e in errors) if isinstance(errors, list) else (str(errors),),
            storage_version=doc.get("storageVersion") or None,
        )


@dataclass(frozen=True)
class EndpointHealth:
    """``GET /health``: etcd's own verdict (a leader, no alarm, a quorum read succeeds)."""

    endpoint: EtcdEndpoint
    healthy: bool
    reason: str


@dataclass(frozen=True)
class Probe:
    """One endpoint during selection: its status, or why it has none / why it was passed over."""

    endpoint: EtcdEndpoint
    status: Status | None
    problem: str | None

    @property
    def usable(self) -> bool:
        return self.status is not None and self.problem is None


def problem_of(status: Status) -> str | None:
    """Why a reachable member must not serve a backup, or None."""
    if not status.has_leader:
        return "no leader (lost quorum?)"
    if status.is_learner:
        return "learner (not a voting member)"
    if status.errors:
        return "reports errors: " + "; ".join(status.errors)
    return None


def choose(probes: Sequence[Probe], *, max_lag: int = DEFAULT_MAX_LAG, prefer_leader: bool = False) -> Status:
    """The healthiest endpoint. The rule, in order:

    1. usable: reachable, a leader known, not a learner, no alarms/errors in its status;
    2. caught up: its ``raftAppliedIndex`` within ``max_lag`` entries of the highest one seen
       (all members of one cluster; a member far behind would give an old snapshot);
    3. a follower before the leader (a snapshot reads the whole database: keep that I/O off the
       leader, whose slowness stalls every write), unless ``prefer_leader``;
    4. then the newest ``raftAppliedIndex``, then the order given.

    Raises ``EtcdError`` listing every endpoint's problem when none is usable.
    """
    usable = [p.status for p in probes if p.usable and p.status is not None]
    if not usable:
        detail = "; ".join(f"{p.endpoint}: {p.problem}" for p in probes) or "no endpoints given"
        unreachable = all(p.status is None for p in probes)
        cls = EtcdUnavailable if unreachable else EtcdError
        raise cls(f"no healthy etcd endpoint: {detail}")
    clusters = {s.cluster_id for s in usable}
    if len(clusters) > 1:
        raise EtcdError(
            "etcd endpoints belong to different clusters: "
            + ", ".join(f"{s.endpoint} (cluster {s.cluster_id:x})" for s in usable)
        )
    newest = max(s.raft_applied_index for s in usable)
    caught_up = [s for s in usable if newest - s.raft_applied_index <= max_lag]
    order = {id(s): i for i, s in enumerate(caught_up)}

    def rank(s: Status) -> tuple[bool, int, int]:
        leader_last = s.is_leader if not prefer_leader else not s.is_leader
        return (leader_last, -s.raft_applied_index, order[id(s)])

    return min(caught_up, key=rank)
