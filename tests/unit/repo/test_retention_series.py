"""``apply_to_series``, what ``forget``/``prune`` apply to a repository's snapshots: the policy applies
to each series (kind, host, paths) on its own, and a kept cluster snapshot keeps the volume snapshots
its meta names. Found as gaps by mutation testing (docs/testing.md): ``apply_grouped`` was tested
with its own grouping, the repository's grouping and references were not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drkit.repo.engine.retention import Policy, apply_to_series
from drkit.repo.format.model import KIND_CLUSTER, KIND_PATH, KIND_VOLUME, RootMeta, Snapshot, SnapshotStats

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def _snap(
    sid: str,
    hours_ago: int,
    *,
    kind: str = KIND_PATH,
    host: str = "h",
    paths: tuple[str, ...] = ("/data",),
    meta: dict[str, Any] | None = None,
) -> Snapshot:
    return Snapshot(
        id=sid,
        time=NOW - timedelta(hours=hours_ago),
        host=host,
        tags=(),
        paths=paths,
        tree=bytes(32),
        root=RootMeta(0o755, 0, 0, 0),
        stats=SnapshotStats(),
        kind=kind,
        meta=meta or {},
    )


def test_each_kind_host_and_paths_is_a_series_of_its_own() -> None:
    snaps = [
        _snap("p-old", 5),
        _snap("p-new", 1),
        _snap("other-host", 9, host="h2"),
        _snap("other-paths", 8, paths=("/etc",)),
        _snap("cluster", 7, kind=KIND_CLUSTER, paths=()),
    ]
    keep, remove, decisions = apply_to_series(snaps, Policy(last=1), NOW)
    assert keep == ["p-new", "cluster", "other-paths", "other-host"]
    assert remove == ["p-old"]
    assert decisions["other-host"].reasons == ("last 1/1",)


def test_a_kept_cluster_snapshot_keeps_the_volume_snapshots_its_meta_names() -> None:
    vol = "ab" * 32
    meta = {"volumes": {"run": "r1", "mover": "job", "volumes": [{"pvc": "data", "snapshot": vol}]}}
    snaps = [
        _snap("c" * 64, 1, kind=KIND_CLUSTER, paths=(), meta=meta),
        _snap(vol, 3, kind=KIND_VOLUME, paths=("shop/data",)),
        _snap("cd" * 32, 2, kind=KIND_VOLUME, paths=("shop/data",)),
    ]
    keep, remove, decisions = apply_to_series(snaps, Policy(last=1), NOW)
    assert keep == ["c" * 64, "cd" * 32, vol]
    assert remove == []
    assert decisions[vol].reasons == ("referenced by cccccccc",)


def test_a_count_over_the_bound_is_refused_naming_the_bound_and_the_option() -> None:
    from drkit.config.limits import MAX_KEEP_COUNT
    from drkit.errors import ConfigError
    from drkit.repo.engine.retention import policy_from_options

    too_many = MAX_KEEP_COUNT + 1  # as many digits as the bound: refused by Policy, not by the parser
    for given in (too_many, str(too_many)):
        with pytest.raises(ConfigError) as err:
            policy_from_options(keep_daily=given)
        assert (err.value.message, err.value.field, err.value.hint) == (
            f"keep-daily: a count must be at most {MAX_KEEP_COUNT}, got {too_many}",
            "keep-daily",
            "write 'unlimited' to keep every one",
        )
