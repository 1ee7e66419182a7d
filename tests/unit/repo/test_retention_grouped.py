"""Retention per series: one series never pushes another out; kept snapshots keep what they reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from drkit.repo.engine.retention import Policy, apply_grouped

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Snap:
    id: str
    time: datetime
    series: str
    tags: tuple[str, ...] = ()
    refs: tuple[str, ...] = field(default=())


def snaps() -> list[Snap]:
    hour = timedelta(hours=1)
    return [
        Snap("cluster-old", NOW - 5 * hour, "cluster", refs=("vol-old",)),
        Snap("cluster-new", NOW - 1 * hour, "cluster", refs=("vol-mid",)),
        Snap("vol-old", NOW - 5 * hour, "vol"),
        Snap("vol-mid", NOW - 3 * hour, "vol"),
        Snap("vol-new", NOW - 2 * hour, "vol"),
        Snap("path-only", NOW - 10 * hour, "path"),
    ]


def run(policy: Policy) -> tuple[list[str], list[str], dict[str, tuple[str, ...]]]:
    keep, remove, decisions = apply_grouped(
        snaps(), policy, NOW, group=lambda s: s.series, references=lambda s: s.refs
    )
    return keep, remove, {k: d.reasons for k, d in decisions.items()}


def test_each_series_keeps_its_own_last() -> None:
    keep, remove, reasons = run(Policy(last=1))
    assert "path-only" in keep, "a lone series must not be pushed out by a busier one"
    assert "cluster-new" in keep
    assert "vol-new" in keep
    assert "cluster-old" in remove
    assert reasons["path-only"] == ("last 1/1",)


def test_a_kept_snapshot_keeps_what_it_references() -> None:
    keep, remove, reasons = run(Policy(last=1))
    assert "vol-mid" in keep
    assert reasons["vol-mid"][-1] == "referenced by cluster-"
    assert "vol-old" in remove, "referenced only by a removed snapshot"


def test_without_groups_one_series_would_push_another_out() -> None:
    keep, _remove, _ = apply_grouped(snaps(), Policy(last=1), NOW, group=lambda _s: "all")
    assert keep == ["cluster-new"]


def test_empty_policy_keeps_everything() -> None:
    keep, remove, _ = run(Policy())
    assert remove == []
    assert sorted(keep) == sorted(s.id for s in snaps())


def test_a_kept_cluster_snapshot_keeps_the_volume_snapshots_its_meta_names() -> None:
    """The references come from the meta.volumes record as backups write it ({"run", "volumes": [...]});
    read as a list only, prune found none and could forget a volume snapshot a kept backup needs."""
    from drkit.repo.engine.retention import referenced_snapshots as _referenced_snapshots
    from tests.unit.repo.repohelpers import SafeStore, new_repo

    repo = new_repo(SafeStore())
    volumes = [{"namespace": "shop", "pvc": "data", "snapshot": "ab" * 32}, {"pvc": "local-mode"}]
    with repo.new_snapshot(kind="cluster") as snap:
        snap.set_meta({"volumes": {"run": "r1", "selection": "all", "mover": "job", "volumes": volumes}})
    assert snap.snapshot is not None
    assert _referenced_snapshots(repo.find_snapshot(snap.snapshot.id)) == ["ab" * 32]
