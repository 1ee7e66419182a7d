"""`drkit snapshots --kind`: filters, and offers every kind a repository holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.localrepo import drkit, make_repo


@pytest.mark.parametrize("kind", ["path", "cluster", "volume", "drill"])
def test_kind_filters_the_listing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    expected = {
        "path": local.path_snap,
        "cluster": local.cluster,
        "volume": local.volume,
        "drill": local.drill,
    }[kind]
    run = drkit(capsys, "snapshots", "--kind", kind, "-o", "json")
    assert run.code == 0, run.err
    assert [s["id"] for s in json.loads(run.out)] == [expected.id]
    every = drkit(capsys, "snapshots", "-o", "json")
    assert len(json.loads(every.out)) == 4


def test_an_unknown_kind_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(tmp_path, monkeypatch)
    run = drkit(capsys, "snapshots", "--kind", "backup")
    assert run.code == 2
    assert "'path', 'cluster', 'volume', 'drill'" in run.err
