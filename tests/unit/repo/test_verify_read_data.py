"""`verify --read-data`'s phase (drkit.repo.engine.verify): reported only when data is read, counting
the packs read."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.repo.engine.progress import CountingProgress, PhaseRecord
from tests.unit.repo.repohelpers import SafeStore, make_tree, new_repo, open_repo


@pytest.mark.parametrize("percent", [0, -1])
def test_no_data_phase_when_no_data_is_read(tmp_path: Path, percent: float) -> None:
    store = SafeStore()
    make_tree(tmp_path / "src")
    new_repo(store).backup_path(tmp_path / "src", host="h")
    progress = CountingProgress()
    report = open_repo(store).verify(read_data_percent=percent, progress=progress)
    assert report.packs_read == 0
    assert [p.phase for p in progress.phases if p.phase == "verify data"] == []


def test_the_data_phase_counts_every_pack_read(tmp_path: Path) -> None:
    store = SafeStore()
    make_tree(tmp_path / "src")
    new_repo(store).backup_path(tmp_path / "src", host="h")
    progress = CountingProgress()
    report = open_repo(store).verify(read_data_percent=100, progress=progress)
    n = report.packs_read
    assert n == len(store.keys("data/")) > 1
    assert [p for p in progress.phases if p.phase == "verify data"] == [
        PhaseRecord("verify data", n, "packs", n, finished=True)
    ]
