"""Listing snapshots: an object under ``snapshots/`` whose name is no drkit object name is reported,
as corrupt and by its key, and never read as a snapshot. (A gap found by mutation testing,
docs/testing.md: the problem it makes was never looked at.)"""

from __future__ import annotations

from pathlib import Path

from drkit.repo.format.model import Problem, ProblemKind
from tests.unit.repo.repohelpers import SafeStore, make_tree, new_repo, open_repo


def test_an_object_under_snapshots_that_is_no_object_name_is_a_corrupt_problem(tmp_path: Path) -> None:
    store = SafeStore()
    repo = new_repo(store)
    src = tmp_path / "src"
    make_tree(src)
    store.put("snapshots/not-a-drkit-name", b"planted by hand")  # listed first: the others still count
    snap = repo.backup_path(src)

    repo = open_repo(store)
    assert [s.id for s in repo.snapshots()] == [snap.id]
    assert [(u.object, u.message) for u in repo.unreadable_snapshots()] == [
        ("snapshots/not-a-drkit-name", "not a drkit object name")
    ]
    report = repo.verify()
    bad = Problem(ProblemKind.CORRUPT, "snapshots/not-a-drkit-name", "not a drkit object name")
    assert bad in report.problems
