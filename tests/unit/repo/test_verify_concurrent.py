"""verify while a backup commits: what the backup writes meanwhile is no problem.

A backup writes packs, then index objects, then the manifest, then its catalog entry. A verify that
read the index before the manifests found the new snapshot's trees "in no index" when the backup
committed in between: the manifests are read first, so every snapshot verified has its index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from drkit.repo.format.layout import SNAPSHOTS_PREFIX
from drkit.storage.base import ObjectInfo
from tests.unit.repo.repohelpers import SafeStore, make_tree, new_repo, open_repo


class _BackupAtListing(SafeStore):
    """Runs ``then`` (another process's backup) once, when ``prefix`` is first listed."""

    def __init__(self) -> None:
        super().__init__()
        self.prefix = ""
        self.then: Callable[[], object] | None = None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        then = self.then
        if then is not None and prefix == self.prefix:
            self.then = None
            then()
        return super().list(prefix)


def _backup_at(prefix: str, tmp_path: Path) -> tuple[_BackupAtListing, list[str]]:
    store = _BackupAtListing()
    src = tmp_path / "src"
    make_tree(src)
    new_repo(store).backup_path(src, host="h")
    done: list[str] = []

    def backup() -> None:
        (src / "new.txt").write_text("written while verify runs\n")
        done.append(open_repo(store).backup_path(src, host="h").id)

    store.prefix, store.then = prefix, backup
    return store, done


def test_a_backup_committed_while_verify_starts_is_no_missing_tree(tmp_path: Path) -> None:
    store, done = _backup_at(SNAPSHOTS_PREFIX, tmp_path)  # after the index was read, before manifests
    report = open_repo(store).verify()
    assert done  # the backup did commit in between
    assert report.problems == ()
