"""Snapshot choice by selector, resource patterns and label selectors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from drkit.config.restoreplan import LabelSelector, SnapshotSelector
from drkit.errors import ConfigError
from drkit.repo.format.model import RootMeta, Snapshot, SnapshotStats
from drkit.restore.select import choose_snapshot, resource_matches


def snap(
    sid: str, day: int, *, tags: tuple[str, ...] = (), kind: str = "cluster", meta: Any = None
) -> Snapshot:
    return Snapshot(
        id=sid,
        time=datetime(2026, 11, day, 2, 0, tzinfo=UTC),
        host="h",
        tags=tags,
        paths=(),
        tree=b"",
        root=RootMeta(0, 0, 0, 0),
        stats=SnapshotStats(),
        kind=kind,
        meta={"resources": {}} if meta is None else meta,
    )


SNAPS = [
    snap("aaaa1111", 1, tags=("nightly",)),
    snap("aaaa2222", 2, tags=("schedule=weekly",)),
    snap("bbbb3333", 3, tags=("nightly",)),
    snap("cccc4444", 4, meta={"etcd": {}}),  # etcd only
    snap("dddd5555", 5, kind="path", meta={}),
    snap("eeee6666", 6, meta={"resources": {}, "schedule": "hourly"}),
]

CHOICES = [
    ("latest with resources", SnapshotSelector(), "eeee6666"),
    ("schedule by tag", SnapshotSelector(schedule="nightly"), "bbbb3333"),
    ("schedule by key=value tag", SnapshotSelector(schedule="weekly"), "aaaa2222"),
    ("schedule in meta", SnapshotSelector(schedule="hourly"), "eeee6666"),
    ("latest before", SnapshotSelector(before=datetime(2026, 11, 3, 2, 0, tzinfo=UTC)), "aaaa2222"),
    (
        "schedule and before",
        SnapshotSelector(schedule="nightly", before=datetime(2026, 11, 3, tzinfo=UTC)),
        "aaaa1111",
    ),
    ("full id", SnapshotSelector(id="bbbb3333"), "bbbb3333"),
    ("prefix", SnapshotSelector(id="bbbb"), "bbbb3333"),
]


@pytest.mark.parametrize(("case", "selector", "expected"), CHOICES, ids=[c[0] for c in CHOICES])
def test_choose_snapshot(case: str, selector: SnapshotSelector, expected: str) -> None:
    assert choose_snapshot(SNAPS, selector).id == expected


ERRORS = [
    ("ambiguous prefix", SnapshotSelector(id="aaaa"), "ambiguous: aaaa1111, aaaa2222"),
    ("unknown id", SnapshotSelector(id="ffff"), "no snapshot 'ffff'"),
    ("etcd only", SnapshotSelector(id="cccc"), "not a cluster snapshot with API resources"),
    ("path snapshot", SnapshotSelector(id="dddd"), "kind path"),
    ("no schedule", SnapshotSelector(schedule="never"), "matches 'latest of schedule never'"),
    ("too early", SnapshotSelector(before=datetime(2026, 1, 1, tzinfo=UTC)), "before 2026-01-01"),
]


@pytest.mark.parametrize(("case", "selector", "message"), ERRORS, ids=[c[0] for c in ERRORS])
def test_choose_snapshot_errors(case: str, selector: SnapshotSelector, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        choose_snapshot(SNAPS, selector)
    assert info.value.field == "snapshot"


def test_empty_repository() -> None:
    with pytest.raises(ConfigError, match="no cluster snapshot"):
        choose_snapshot([], SnapshotSelector())


PARSED = [
    ("latest", SnapshotSelector()),
    ("ABCD1234", SnapshotSelector(id="abcd1234")),
    ("latest-before:2026-11-26T08:00:00Z", SnapshotSelector(before=datetime(2026, 11, 26, 8, tzinfo=UTC))),
    (
        "latest-before:2026-11-26T09:00:00+01:00",
        SnapshotSelector(before=datetime(2026, 11, 26, 8, tzinfo=UTC)),
    ),
    ("schedule:nightly", SnapshotSelector(schedule="nightly")),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_command_line_snapshot_references(text: str, expected: SnapshotSelector) -> None:
    assert SnapshotSelector.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["yesterday", "abc", "latest-before:2026-11-26T08:00:00", "latest-before:soon", "schedule:Bad_Name"],
)
def test_bad_command_line_snapshot_references(text: str) -> None:
    with pytest.raises(ValueError, match=r"snapshot reference|time zone|RFC 3339|not a valid"):
        SnapshotSelector.parse(text)


@pytest.mark.parametrize(
    ("patterns", "resource", "group", "expected"),
    [
        (("deployments",), "deployments", "apps", True),
        (("deployments.apps",), "deployments", "apps", True),
        (("deployments.extensions",), "deployments", "apps", False),
        (("configmaps",), "configmaps", "", True),
        (("*.example.com",), "gadgets", "example.com", True),
        (("*.example.com",), "configmaps", "", False),
        (("Secrets",), "secrets", "", True),
        ((), "secrets", "", False),
    ],
)
def test_resource_patterns(patterns: tuple[str, ...], resource: str, group: str, expected: bool) -> None:
    assert resource_matches(patterns, resource, group) is expected


SELECTORS = [
    ("app=shop", {"app": "shop"}, True),
    ("app==shop", {"app": "shop"}, True),
    ("app=shop", {"app": "web"}, False),
    ("app!=shop", {}, True),
    ("app!=shop", {"app": "shop"}, False),
    ("app in (shop, web)", {"app": "web"}, True),
    ("app notin (shop,web)", {"app": "db"}, True),
    ("app notin (shop,web)", {}, True),
    ("tier", {"tier": ""}, True),
    ("!tier", {"tier": "x"}, False),
    ("app=shop,!legacy,example.com/tier in (a,b)", {"app": "shop", "example.com/tier": "b"}, True),
    ("app=shop,!legacy", {"app": "shop", "legacy": "1"}, False),
    ("app=", {"app": ""}, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), SELECTORS)
def test_label_selectors(text: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["app=shop,", "app in (a", "a b", "app in ()", "=x", "app=sh op"])
def test_bad_label_selectors(text: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        LabelSelector.parse(text)
