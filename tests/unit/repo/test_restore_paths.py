"""What restore says when the subpath or the target is wrong (drkit.repo.engine.restore): the refusal
names the path and the snapshot, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.errors import ConfigError
from drkit.repo.engine.restore import RestoreError
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, new_repo


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Repository, str, str]:
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "file.txt").write_bytes(b"data")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    return repo, snap.id, snap.short_id


def test_a_subpath_not_in_the_snapshot_is_refused(
    tmp_path: Path, backed_up: tuple[Repository, str, str]
) -> None:
    repo, sid, short = backed_up
    with pytest.raises(RestoreError) as err:
        repo.restore_path(sid, tmp_path / "dst", subpath="dir/missing.txt")
    assert str(err.value) == f"'dir/missing.txt' is not in snapshot {short}"
    assert not (tmp_path / "dst").exists()


def test_a_subpath_through_a_file_is_refused(tmp_path: Path, backed_up: tuple[Repository, str, str]) -> None:
    repo, sid, short = backed_up
    with pytest.raises(RestoreError) as err:
        repo.restore_path(sid, tmp_path / "dst", subpath="dir/file.txt/more")
    assert str(err.value) == f"'dir/file.txt/more': 'file.txt' is not a directory in snapshot {short}"


def test_a_single_file_subpath_restores_that_file_only(
    tmp_path: Path, backed_up: tuple[Repository, str, str]
) -> None:
    repo, sid, _ = backed_up
    repo.restore_path(sid, tmp_path / "dst", subpath="dir/file.txt")
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["file.txt"]
    assert (tmp_path / "dst" / "file.txt").read_bytes() == b"data"


def test_a_target_that_is_a_file_is_refused(tmp_path: Path, backed_up: tuple[Repository, str, str]) -> None:
    repo, sid, _ = backed_up
    target = tmp_path / "a-file"
    target.write_bytes(b"keep")
    with pytest.raises(ConfigError) as err:  # the caller's mistake (it was a bare FileExistsError)
        repo.restore_path(sid, target)
    assert target.read_bytes() == b"keep"
    assert f"restore target {target} is not a directory: it is a file" in str(err.value)
    assert err.value.field == "target"


def test_a_target_reached_through_a_symlink_is_refused(
    tmp_path: Path, backed_up: tuple[Repository, str, str]
) -> None:
    repo, sid, _ = backed_up
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError) as err:
        repo.restore_path(sid, tmp_path / "link" / "dst")
    resolved = tmp_path.resolve() / "real" / "dst"
    assert str(err.value) == (
        f"target: restore target {tmp_path / 'link' / 'dst'} leads through a symlink "
        f"(it resolves to {resolved}): "
        "refusing to restore outside the directory named"
    )
    assert err.value.field == "target"
    assert err.value.hint == f"if {resolved} is where the files belong, give that path"
    assert not (tmp_path / "real" / "dst").exists()
