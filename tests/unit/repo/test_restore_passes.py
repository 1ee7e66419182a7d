"""The restore's later passes (drkit.repo.engine.restore), beyond the path checks that
``test_restore_paths``/``test_restore_guarantees`` pin: the data written from each pack, what a file
that could not be read leaves, owners, xattrs and times applied last, and what the user is told.
Found as gaps by mutation testing (docs/testing.md, fourth round)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from drkit.repo.engine import restore as restore_module
from drkit.repo.engine.restore import RestoreIncomplete, TreeRestore
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, corrupt, new_repo

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _data_packs(repo: Repository) -> list[str]:
    index = repo._load_index().index
    return sorted(
        pack_key(p)
        for p, record in index.packs.items()
        if all(e.type is BlobType.DATA for e in record.entries)
    )


def _restorer(repo: Repository, snapshot_id: str, **kw: object) -> TreeRestore:
    return TreeRestore(repo.pack_source(cache_packs=8), repo.find_snapshot(snapshot_id), **kw)  # type: ignore[arg-type]


def test_a_restore_that_could_not_read_some_data_says_what_to_do(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(random.Random(1).randbytes(30_000))
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(snap.id, tmp_path / "dst")
    assert err.value.hint == (
        "`drkit verify --read-data` names the damaged packs; restore these paths from another snapshot"
    )


@pytest.mark.skipif(not AS_ROOT, reason="setting another owner needs root")
def test_owners_are_the_numeric_ids_unless_mapping_by_name_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    os.chown(src / "f", 0, 0)  # recorded as root:root, uid and gid 0
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    # On the machine restored to, the names root and root stand for other ids:
    monkeypatch.setattr(restore_module, "uid_of", lambda name: {"root": 4242}.get(name))
    monkeypatch.setattr(restore_module, "gid_of", lambda name: {"root": 4343}.get(name))

    _restorer(repo, snap.id).run(tmp_path / "numeric")
    st = (tmp_path / "numeric" / "f").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)

    _restorer(repo, snap.id, owners_by_name=True).run(tmp_path / "by-name")
    st = (tmp_path / "by-name" / "f").stat()
    assert (st.st_uid, st.st_gid) == (4242, 4343)


@pytest.mark.skipif(not AS_ROOT, reason="setting another owner needs root")
def test_owners_false_leaves_the_restoring_user_as_owner_even_as_root(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    os.chown(src / "f", 12345, 54321)
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    _restorer(repo, snap.id, owners=False).run(tmp_path / "dst")
    st = (tmp_path / "dst" / "f").stat()
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
