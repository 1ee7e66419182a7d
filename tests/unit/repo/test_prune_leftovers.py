"""prune and leftovers of interrupted writes, rule by rule, on a fake store that has some: the grace
boundary, a discard that fails (noted, the others still go), a dry run (nothing discarded, every old
one listed), and a prune's refusal while a manifest cannot be read. Found as gaps by mutation testing
(docs/testing.md, fourth round)."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.engine.prune import GRACE, prune_leftovers, prune_repository, refuse_unreadable
from drkit.repo.format.model import UnreadableSnapshot
from drkit.storage.base import Leftover
from drkit.storage.errors import AccessDenied
from tests.unit.repo.fakestore import FakeStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _left(name: str, age: timedelta) -> Leftover:
    return Leftover(name, 10, NOW - age)


class LeftoverStore(FakeStore):
    """A FakeStore that also is a ``Housekeeping`` store: its leftovers are a list; discarding one
    named in ``refuse`` fails (a credential without the right, say)."""

    def __init__(self, found: builtins.list[Leftover], *, refuse: tuple[str, ...] = ()) -> None:
        super().__init__(clock=lambda: NOW)
        self.found = found
        self.refuse = refuse
        self.discarded: builtins.list[str] = []

    def leftovers(self) -> builtins.list[Leftover]:
        return list(self.found)

    def discard(self, leftover: Leftover) -> None:
        if leftover.name in self.refuse:
            raise AccessDenied(f"not allowed to remove {leftover.name}")
        self.discarded.append(leftover.name)


class UnlistableStore(LeftoverStore):
    def leftovers(self) -> builtins.list[Leftover]:
        raise AccessDenied("s3:ListBucketMultipartUploads denied")


def test_a_leftover_exactly_grace_old_is_discarded_and_a_younger_one_kept() -> None:
    edge, young = _left(".tmp-edge", GRACE), _left(".tmp-young", GRACE - timedelta(microseconds=1))
    store = LeftoverStore([edge, young])
    done, kept, notes = prune_leftovers(store, now=NOW, grace=GRACE, dry_run=False)
    assert done == (edge,)
    assert kept == (young,)
    assert notes == ()
    assert store.discarded == [".tmp-edge"]


def test_a_dry_run_lists_every_old_leftover_and_discards_none() -> None:
    old = [_left(f".tmp-{i}", timedelta(hours=2 + i)) for i in range(3)]
    store = LeftoverStore(old)
    done, kept, notes = prune_leftovers(store, now=NOW, grace=GRACE, dry_run=True)
    assert done == tuple(old)
    assert (kept, notes) == ((), ())
    assert store.discarded == []


def test_a_leftover_that_cannot_be_discarded_is_noted_and_the_others_still_go() -> None:
    old = [_left(f".tmp-{i}", timedelta(hours=2)) for i in range(3)]
    store = LeftoverStore(old, refuse=(".tmp-1",))
    done, _kept, notes = prune_leftovers(store, now=NOW, grace=GRACE, dry_run=False)
    assert [d.name for d in done] == [".tmp-0", ".tmp-2"]
    assert store.discarded == [".tmp-0", ".tmp-2"]
    assert notes == (".tmp-1: not removed: not allowed to remove .tmp-1",)


def test_a_dry_run_prune_discards_no_leftover() -> None:
    store = LeftoverStore([_left(".tmp-old", timedelta(days=1))])
    result = prune_repository(store, {}, [], [], now=NOW, dry_run=True)
    assert [d.name for d in result.discarded_leftovers] == [".tmp-old"]
    assert store.discarded == []
    result = prune_repository(store, {}, [], [], now=NOW)
    assert store.discarded == [".tmp-old"]
    assert not result.dry_run


def test_a_prune_reports_leftovers_it_could_not_list_as_a_note() -> None:
    result = prune_repository(UnlistableStore([]), {}, [], [], now=NOW)
    assert result.notes == (
        "leftovers of interrupted writes not listed: s3:ListBucketMultipartUploads denied",
    )
    assert result.discarded_leftovers == result.young_leftovers == ()


def test_nothing_is_pruned_while_a_manifest_cannot_be_read_and_the_refusal_says_what_to_do() -> None:
    refuse_unreadable([])  # none: fine
    bad = [
        UnreadableSnapshot("aa", "snapshots/aa", "fails its check"),
        UnreadableSnapshot("bb", "snapshots/bb", "is truncated"),
    ]
    with pytest.raises(VerificationFailed) as err:
        refuse_unreadable(bad)
    assert err.value.message == (
        "2 snapshots cannot be read, so what they reference is unknown: nothing is pruned "
        "(first: snapshots/aa: fails its check)"
    )
    assert err.value.hint == (
        "`drkit snapshots` and `drkit verify` name them; a damaged manifest must be repaired or "
        "removed before a prune"
    )
