"""Leftovers of interrupted writes in a local store (issue 19.6): listed, removed when old, reported.

A put killed between writing its temporary file and publishing it leaves ``.tmp-<random>``; nothing
replaced it (each put picks a new name). ``verify`` must report them and ``prune`` remove the old ones,
never a young one that a running backup may own.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.repo.engine.prune import GRACE, prune_leftovers
from drkit.repo.repository import Repository
from drkit.storage.base import Housekeeping, Leftover
from drkit.storage.errors import StoreError
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import CRED, SCRYPT_N, make_tree

HOURS_AGO = 3


def _plant(path: Path, size: int, *, hours_ago: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    if hours_ago:
        then = time.time() - hours_ago * 3600
        os.utime(path, (then, then))
    return path


def test_a_local_store_lists_and_discards_its_temporary_files_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert isinstance(store, Housekeeping)
    store.put("data/ab/object", b"kept")
    _plant(tmp_path / "data" / "ab" / ".tmp-0123456789abcdef", 100, hours_ago=HOURS_AGO)
    _plant(tmp_path / ".retention" / "data" / "ab" / ".tmp-fedcba9876543210", 40)
    found = store.leftovers()
    assert [(f.name, f.size) for f in found] == [
        (".retention/data/ab/.tmp-fedcba9876543210", 40),
        ("data/ab/.tmp-0123456789abcdef", 100),
    ]
    assert found[1].started < datetime.now(UTC) - timedelta(hours=HOURS_AGO - 0.1)
    store.discard(found[1])
    store.discard(found[1])  # gone already: fine
    assert [f.name for f in store.leftovers()] == [found[0].name]
    assert [o.key for o in store.list()] == ["data/ab/object"]  # a leftover is never an object
    with pytest.raises(StoreError, match="not a temporary file"):
        store.discard(Leftover("data/ab/object", 4, datetime.now(UTC)))
    with pytest.raises(StoreError, match="not a temporary file"):
        store.discard(Leftover("../.tmp-outside", 4, datetime.now(UTC)))
    assert store.get("data/ab/object") == b"kept"


def test_prune_removes_old_leftovers_and_keeps_young_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    old = _plant(tmp_path / "data" / "cd" / ".tmp-00000000000000aa", 10, hours_ago=HOURS_AGO)
    young = _plant(tmp_path / "data" / "cd" / ".tmp-00000000000000bb", 10)
    now = datetime.now(UTC)
    planned, kept, notes = prune_leftovers(store, now=now, grace=GRACE, dry_run=True)
    assert [p.name for p in planned] == ["data/cd/.tmp-00000000000000aa"]
    assert old.exists()  # dry run
    done, kept, notes = prune_leftovers(store, now=now, grace=GRACE, dry_run=False)
    assert [d.name for d in done] == ["data/cd/.tmp-00000000000000aa"]
    assert [k.name for k in kept] == ["data/cd/.tmp-00000000000000bb"]
    assert notes == ()
    assert not old.exists()
    assert young.exists()


def test_verify_reports_leftovers_and_prune_removes_the_old_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    repo = Repository.init(store, CRED, lock_mode=None, retention=timedelta(0), scrypt_n=SCRYPT_N)
    make_tree(tmp_path / "src")
    repo.backup_path(tmp_path / "src", host="h")
    pack_dir = next(p.parent for p in (tmp_path / "repo" / "data").rglob("*") if p.is_file())
    _plant(pack_dir / ".tmp-1111111111111111", 32 << 10, hours_ago=HOURS_AGO)
    _plant(pack_dir / ".tmp-2222222222222222", 1 << 10)
    report = repo.verify(read_data_percent=100)
    assert report.ok  # leftovers take space, they do not make the repository wrong
    assert sorted(item.size for item in report.leftovers) == [1 << 10, 32 << 10]
    result = repo.prune()
    assert [item.size for item in result.discarded_leftovers] == [32 << 10]
    assert [item.size for item in result.young_leftovers] == [1 << 10]
    assert [item.size for item in repo.verify().leftovers] == [1 << 10]
    assert repo.verify(read_data_percent=100).ok
