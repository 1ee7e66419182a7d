"""A failed restore never leaves a file that looks restored (issue 19.5), and a restore target reached
through a symlink is refused unless the resolved path is given (issue 19.7).

Before: a restore of a snapshot with a corrupt pack exited 13 but left every file at its full size,
all zeros; a target that was a symlink was followed and the tree written outside the directory named.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from drkit.errors import ConfigError, ExitCode, VerificationFailed
from drkit.repo.engine.restore import RestoreIncomplete
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, corrupt, new_repo, vanish

FILES = 12


def _source(root: Path) -> dict[str, bytes]:
    """Files of 40-120 KiB (one pack holds a few), an empty file, a nested file, hard links, a symlink."""
    rng = random.Random(7)
    contents: dict[str, bytes] = {}
    (root / "sub").mkdir(parents=True)
    for i in range(FILES):
        name = f"f{i:02d}.bin" if i % 3 else f"sub/f{i:02d}.bin"
        contents[name] = rng.randbytes(rng.randint(40, 120) * 1024)
        (root / name).write_bytes(contents[name])
    contents["empty.txt"] = b""
    (root / "empty.txt").write_bytes(b"")
    os.link(root / "f01.bin", root / "hardlink-to-f01.bin")
    contents["hardlink-to-f01.bin"] = contents["f01.bin"]
    (root / "link").symlink_to("f01.bin")
    return contents


DAMAGE: dict[str, Callable[[SafeStore, str], None]] = {
    "blob corrupt": lambda store, key: corrupt(store, key, at=len(store.get(key)) // 2),
    "pack header corrupt": lambda store, key: corrupt(store, key, at=3),
    "pack missing": vanish,
}


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Repository, SafeStore, str, dict[str, bytes]]:
    store = SafeStore()
    repo = new_repo(store)
    contents = _source(tmp_path / "src")
    snap = repo.backup_path(tmp_path / "src", host="h")
    assert len(store.keys("data/")) >= 3
    return repo, store, snap.id, contents


def _data_packs(repo: Repository) -> list[str]:
    """The keys of the packs that hold only file data (no tree): damaging one leaves the trees readable."""
    index = repo._load_index().index
    return sorted(
        pack_key(p)
        for p, record in index.packs.items()
        if all(e.type is BlobType.DATA for e in record.entries)
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_pack_leaves_only_whole_files(
    tmp_path: Path, backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]], damage: str
) -> None:
    repo, store, sid, contents = backed_up
    DAMAGE[damage](store, _data_packs(repo)[1])
    dst = tmp_path / "dst"
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(sid, dst)
    assert err.value.exit_code is ExitCode.VERIFICATION_FAILED
    restored = _files(dst)
    assert not [n for n in restored if ".drkit-restore-" in n]  # no temporary file left
    for name, data in restored.items():
        assert data == contents[name], f"{name} looks restored but is not the backed-up file"
    missing = sorted(set(contents) - set(restored))
    assert missing, "the damage affected no file: the test proves nothing"
    assert sorted(os.path.relpath(p, dst) for p in err.value.not_restored) == missing
    assert f"{len(missing)} files not restored" in err.value.message
    assert err.value.stats.files == len(restored)
    assert (dst / "empty.txt").exists()  # what did not need the damaged pack is there


def test_every_pack_damaged_leaves_no_regular_file_with_data(
    tmp_path: Path, backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]]
) -> None:
    repo, store, sid, contents = backed_up
    for key in store.keys("data/"):
        corrupt(store, key, at=3)
    dst = tmp_path / "dst"
    with pytest.raises(VerificationFailed) as err:  # RestoreIncomplete, or a tree unreadable up front
        repo.restore_path(sid, dst)
    assert _files(dst) in ({}, {"empty.txt": b""})
    if isinstance(err.value, RestoreIncomplete):
        assert len(err.value.not_restored) == len(contents) - 1


def test_with_force_the_old_file_stays_where_the_new_one_could_not_be_restored(
    tmp_path: Path, backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]]
) -> None:
    repo, store, sid, contents = backed_up
    dst = tmp_path / "dst"
    (dst / "sub").mkdir(parents=True)
    for name in contents:
        (dst / name).write_bytes(b"the old version of " + name.encode())
    corrupt(store, _data_packs(repo)[0], at=3)
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(sid, dst)
    not_restored = {os.path.relpath(p, dst) for p in err.value.not_restored}
    for name, data in _files(dst).items():
        if name in not_restored:
            assert data == b"the old version of " + name.encode()  # untouched, never zeros
        else:
            assert data == contents[name]


def test_a_failure_that_stops_the_restore_removes_its_temporary_files(
    tmp_path: Path, backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]]
) -> None:
    """Not a data error: the target refuses an entry (a directory where a file belongs) half-way."""
    repo, _store, sid, _contents = backed_up
    dst = tmp_path / "dst"
    (dst / "f05.bin").mkdir(parents=True)
    with pytest.raises(Exception, match="is a directory"):
        repo.restore_path(sid, dst)
    assert [p for p in dst.rglob("*") if p.is_file() and not p.is_symlink()] == []


# -- a target reached through a symlink (19.7) ---------------------------------------------------------


@pytest.mark.parametrize("where", ["the target", "a directory above it"])
def test_a_symlinked_target_is_refused(
    tmp_path: Path, backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]], where: str
) -> None:
    repo, _store, sid, contents = backed_up
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if where == "the target":
        (tmp_path / "restore-here").symlink_to(elsewhere)
        target = tmp_path / "restore-here"
        resolved = elsewhere
    else:
        (tmp_path / "parent").symlink_to(elsewhere)
        target = tmp_path / "parent" / "restore-here"
        resolved = elsewhere / "restore-here"
    with pytest.raises(ConfigError) as err:
        repo.restore_path(sid, target)
    assert "leads through a symlink" in err.value.message
    assert str(resolved) in err.value.message
    assert err.value.exit_code is ExitCode.USAGE
    assert list(elsewhere.rglob("*")) == []  # nothing written where the link leads
    repo.restore_path(sid, resolved)  # the resolved path, given explicitly, is accepted
    assert _files(resolved) == contents


def test_a_target_whose_own_mode_cannot_be_set_is_filled_with_a_warning(
    backed_up: tuple[Repository, SafeStore, str, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A non-root restore Job fills a volume whose mount point belongs to root: it may write inside but
    not change the directory's own mode or times (EPERM). Found on a real node: the restore failed
    with an internal error; now everything inside is restored and the one thing not set is a warning."""
    repo, _, sid, contents = backed_up
    target = tmp_path / "mount-point"
    target.mkdir()
    root_inode = target.stat().st_ino
    real_fchmod = os.fchmod

    def fchmod(fd: int, mode: int) -> None:
        if os.fstat(fd).st_ino == root_inode:
            raise PermissionError(1, "Operation not permitted")
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", fchmod)
    result = repo.restore_path(sid, target)
    assert _files(target) == contents
    assert any("mount-point: cannot set its mode and times" in w for w in result.warnings), result.warnings
