"""What a restore promises while it runs and when it ends (drkit.repo.engine.restore), seen from outside:
nothing it is still writing is readable by others, an entry swapped under it is refused with its
message, a file whose data cannot be read leaves the old file in place, and the numbers it reports
(progress, stats, the files not restored) are exact.

The restore is watched through its ``Progress``: ``start("restore", total)`` comes after pass 1 (every
entry created, data not yet written), ``done()`` after pass 2 (data written, nothing renamed yet).
"""

from __future__ import annotations

import os
import random
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.engine.progress import CountingProgress, PhaseRecord
from drkit.repo.engine.restore import RestoreError, RestoreIncomplete
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import RestoreStats
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, corrupt, new_repo

TEMP = ".drkit-restore-"


class Watch(CountingProgress):
    """Counts like ``CountingProgress`` and calls ``at_start`` / ``at_done`` with the phase open."""

    def __init__(
        self,
        at_start: Callable[[], None] | None = None,
        at_done: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.at_start = at_start
        self.at_done = at_done

    def start(self, phase: str, total: int | None, unit: str = "B") -> None:
        super().start(phase, total, unit)
        if self.at_start is not None:
            self.at_start()

    def done(self) -> None:
        if self.at_done is not None:
            self.at_done()
        super().done()


def _temps(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.startswith(TEMP))


def _data_packs(repo: Repository) -> list[str]:
    index = repo._load_index().index
    return sorted(
        pack_key(p)
        for p, record in index.packs.items()
        if all(e.type is BlobType.DATA for e in record.entries)
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "c").mkdir()
    rng = random.Random(3)
    (src / "one.bin").write_bytes(rng.randbytes(10_000))
    (src / "a" / "two.bin").write_bytes(rng.randbytes(20_000))
    (src / "a" / "b" / "three.txt").write_bytes(b"three\n")
    (src / "empty").write_bytes(b"")
    (src / "link").symlink_to("one.bin")
    (src / "a" / "dangling").symlink_to("/nowhere")
    os.link(src / "one.bin", src / "c" / "hard.bin")
    for d in (src / "a", src / "a" / "b", src / "c"):
        d.chmod(0o755)
    return src


def test_while_data_is_written_new_directories_are_0700_and_files_0600(tmp_path: Path, source: Path) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    seen: dict[str, int] = {}

    def look() -> None:
        for p in dst.rglob("*"):
            if not p.is_symlink():
                seen[str(p.relative_to(dst))] = stat.S_IMODE(p.lstat().st_mode)

    repo.restore_path(snap.id, dst, progress=Watch(at_start=look))
    dirs = {k: v for k, v in seen.items() if not k.split("/")[-1].startswith(TEMP)}
    temps = {k: v for k, v in seen.items() if k.split("/")[-1].startswith(TEMP)}
    assert dirs == {"a": 0o700, "a/b": 0o700, "c": 0o700}
    assert len(temps) == 4  # one.bin, two.bin, three.txt, empty (the hard link comes in pass 3)
    assert set(temps.values()) == {0o600}
    # and at the end, the recorded modes
    assert {stat.S_IMODE((dst / d).stat().st_mode) for d in ("a", "a/b", "c")} == {0o755}


def test_progress_total_and_stats_are_exact(tmp_path: Path, source: Path) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    progress = CountingProgress()
    before = time.monotonic()
    stats = repo.restore_path(snap.id, tmp_path / "dst", progress=progress)
    elapsed = time.monotonic() - before
    data = 10_000 + 20_000 + len(b"three\n")  # the hard link's data is written once
    assert progress.phases == [PhaseRecord("restore", data, "B", data, finished=True)]
    assert 0 < stats.duration_s <= elapsed
    packs = _packs_with_data(repo)
    assert stats == RestoreStats(
        files=5,  # one.bin, two.bin, three.txt, empty, c/hard.bin
        dirs=3,
        symlinks=2,
        bytes=data,  # counted once per inode, as written
        packs_read=len(packs),
        duration_s=stats.duration_s,
        warnings=(),
    )
    assert len(packs) >= 1


def _packs_with_data(repo: Repository) -> set[str]:
    index = repo._load_index().index
    return {p for p, record in index.packs.items() if any(e.type is BlobType.DATA for e in record.entries)}


def test_a_restore_with_nothing_to_write_reads_no_pack(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "empty").write_bytes(b"")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    progress = CountingProgress()
    stats = repo.restore_path(snap.id, tmp_path / "dst", progress=progress)
    assert (stats.files, stats.dirs, stats.bytes, stats.packs_read) == (1, 1, 0, 0)
    assert progress.phases == [PhaseRecord("restore", 0, "B", 0, finished=True)]


def test_a_temporary_file_swapped_for_a_symlink_to_it_is_not_renamed_into_place(
    tmp_path: Path, source: Path
) -> None:
    """Between writing and renaming, another process moves a temporary file away and puts a symlink to
    it in its place: following that link would pass the identity check and put a symlink where the
    snapshot has a file. The restore refuses it and leaves no symlink under the file's name."""
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    swapped: list[Path] = []

    def swap() -> None:
        temp = next(p for p in _temps(dst) if p.parent == dst / "a")
        moved = tmp_path / "moved"
        temp.rename(moved)
        temp.symlink_to(moved)
        swapped.append(temp)

    with pytest.raises(RestoreError) as err:
        repo.restore_path(snap.id, dst, progress=Watch(at_done=swap))
    assert str(err.value) == (
        f"{swapped[0]} is no longer the entry this restore created (replaced during the restore?): "
        "refusing to write through it"
    )
    assert not (dst / "a" / "two.bin").is_symlink()
    assert not (dst / "a" / "two.bin").exists()


@pytest.mark.parametrize("how", ["removed", "replaced by another file"])
def test_a_temporary_file_removed_or_replaced_before_its_data_is_written_is_refused(
    tmp_path: Path, source: Path, how: str
) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    swapped: list[Path] = []

    def swap() -> None:
        temp = next(p for p in _temps(dst) if p.parent == dst / "a")
        if how == "removed":
            temp.unlink()
        else:  # a new inode while the old one still exists: never the same number
            other = temp.with_name("other")
            other.write_bytes(b"someone else's file")
            other.replace(temp)
        swapped.append(temp)

    with pytest.raises(RestoreError) as err:
        repo.restore_path(snap.id, dst, progress=Watch(at_start=swap))
    assert str(err.value) == (
        f"{swapped[0]} is no longer the entry this restore created (replaced during the restore?): "
        "refusing to write through it"
    )
    if how != "removed":
        assert swapped[0].read_bytes() == b"someone else's file"  # not written into
    assert not (dst / "a" / "two.bin").exists()


def test_a_file_whose_data_cannot_be_read_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(random.Random(1).randbytes(30_000))
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "f.bin").write_bytes(b"the old version")
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(snap.id, dst)
    assert err.value.not_restored == [str(dst / "f.bin")]
    assert (dst / "f.bin").read_bytes() == b"the old version"
    assert _temps(dst) == []


@pytest.mark.parametrize("count", [11, 12])
def test_the_files_not_restored_are_listed_up_to_ten_then_counted(tmp_path: Path, count: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(2)
    for i in range(count):
        (src / f"f{i:02d}").write_bytes(rng.randbytes(3_000))
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    dst = tmp_path / "dst"
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(snap.id, dst)
    paths = [str(dst / f"f{i:02d}") for i in range(count)]
    assert err.value.not_restored == paths
    prefix = (
        f"{count} files not restored, since their data could not be read (nothing was left in their place): "
        + ", ".join(paths[:10])
        + f" and {count - 10} more; first error: "
    )
    assert err.value.message.startswith(prefix), err.value.message
    first_error = err.value.message[len(prefix) :]
    assert first_error.startswith("data/"), first_error  # the pack that could not be read
    assert first_error.endswith(f"; affects snapshot {snap.id}")
    assert err.value.stats.files == 0
    assert err.value.stats.bytes == 0


def test_ten_files_not_restored_are_all_listed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(4)
    for i in range(10):
        (src / f"f{i:02d}").write_bytes(rng.randbytes(3_000))
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(snap.id, tmp_path / "dst")
    shown = ", ".join(str(tmp_path / "dst" / f"f{i:02d}") for i in range(10))
    assert err.value.message.startswith(
        f"10 files not restored, since their data could not be read "
        f"(nothing was left in their place): {shown}; first error: "
    )


def test_a_subpath_takes_the_mode_of_its_directory_and_a_single_file_leaves_the_target_alone(
    tmp_path: Path, source: Path
) -> None:
    (source / "a").chmod(0o750)
    source.chmod(0o755)
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    repo.restore_path(snap.id, tmp_path / "sub", subpath="a")
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o750
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["b", "dangling", "two.bin"]
    single = tmp_path / "single"
    single.mkdir()
    single.chmod(0o711)
    repo.restore_path(snap.id, single, subpath="a/b/three.txt")
    assert stat.S_IMODE(single.stat().st_mode) == 0o711
    assert [p.name for p in single.iterdir()] == ["three.txt"]


def test_not_running_as_root_restores_user_xattrs_and_counts_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    f = src / "f"
    f.write_bytes(b"x")
    try:
        os.setxattr(f, "user.kept", b"1")
        os.setxattr(f, "trusted.one", b"2")
        os.setxattr(f, "security.two", b"3")
    except OSError as e:
        pytest.skip(f"this filesystem or user cannot set xattrs: {e}")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    stats = repo.restore_path(snap.id, tmp_path / "dst")
    assert stats.warnings == ("2 extended attributes outside user.* not restored (not running as root)",)
    assert os.listxattr(tmp_path / "dst" / "f") == ["user.kept"]


def test_a_hard_link_whose_data_cannot_be_read_is_not_counted_restored(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(random.Random(5).randbytes(5_000))
    os.link(src / "a", src / "b")
    (src / "empty").write_bytes(b"")
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    dst = tmp_path / "dst"
    with pytest.raises(RestoreIncomplete) as err:
        repo.restore_path(snap.id, dst)
    assert err.value.not_restored == [str(dst / "a"), str(dst / "b")]
    assert err.value.stats.files == 1  # the empty file only
    assert sorted(p.name for p in dst.iterdir()) == ["empty"]


def test_a_directory_where_a_symlink_belongs_is_refused_by_name(tmp_path: Path, source: Path) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    (dst / "link").mkdir(parents=True)
    with pytest.raises(RestoreError) as err:
        repo.restore_path(snap.id, dst)
    assert str(err.value) == f"{dst / 'link'} exists and is a directory: refusing to replace it"


def _one_data_blob(repo: Repository, tmp_path: Path) -> tuple[bytes, int]:
    src = tmp_path / "one"
    src.mkdir()
    (src / "f").write_bytes(b"five\n")
    repo.backup_path(src, host="h")
    index = repo._load_index().index
    ids = [e.id for record in index.packs.values() for e in record.entries if e.type is BlobType.DATA]
    assert len(ids) == 1
    return ids[0], 5


def test_a_tree_whose_file_names_a_chunk_in_no_index_is_refused_by_name(tmp_path: Path) -> None:
    from tests.unit.repo.test_tree_fidelity import _entry, _tree, hostile_snapshot

    repo = new_repo(SafeStore())
    missing = bytes(range(32))
    snap = hostile_snapshot(
        repo, lambda put: put(_tree(_entry("f", "file", size=5, content=[missing.hex()])))
    )
    dst = tmp_path / "dst"
    with pytest.raises(VerificationFailed) as err:
        repo.restore_path(snap.id, dst)
    assert err.value.message == (
        f"data blob {missing.hex()} of {dst / 'f'} is in no index; affects snapshot {snap.id}"
    )
    assert list(dst.iterdir()) == []


def test_a_tree_whose_chunks_do_not_add_up_to_the_size_is_refused_by_name(tmp_path: Path) -> None:
    from tests.unit.repo.test_tree_fidelity import _entry, _tree, hostile_snapshot

    repo = new_repo(SafeStore())
    chunk, size = _one_data_blob(repo, tmp_path)
    snap = hostile_snapshot(
        repo, lambda put: put(_tree(_entry("f", "file", size=size + 1, content=[chunk.hex()])))
    )
    dst = tmp_path / "dst"
    with pytest.raises(VerificationFailed) as err:
        repo.restore_path(snap.id, dst)
    assert err.value.message == (
        f"{dst / 'f'}: chunks add up to {size} bytes, the tree says {size + 1}; affects snapshot {snap.id}"
    )
    assert list(dst.iterdir()) == []


def test_a_fifo_where_a_file_belongs_is_refused_by_name(tmp_path: Path, source: Path) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    dst.mkdir()
    os.mkfifo(dst / "one.bin")
    with pytest.raises(RestoreError) as err:
        repo.restore_path(snap.id, dst)
    assert str(err.value) == f"{dst / 'one.bin'} exists and is a special file: refusing to replace it"
    assert stat.S_ISFIFO((dst / "one.bin").lstat().st_mode)


def test_a_temporary_file_removed_after_its_data_was_written_is_refused_by_name(
    tmp_path: Path, source: Path
) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    dst = tmp_path / "dst"
    removed: list[Path] = []

    def remove() -> None:
        temp = next(p for p in _temps(dst) if p.parent == dst / "a")
        temp.unlink()
        removed.append(temp)

    with pytest.raises(RestoreError) as err:
        repo.restore_path(snap.id, dst, progress=Watch(at_done=remove))
    assert str(err.value) == (
        f"{removed[0]} is no longer the entry this restore created (replaced during the restore?): "
        "refusing to write through it"
    )


def test_a_symlink_whose_owner_cannot_be_set_is_a_warning(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # owners are set as root

    def lchown(path: object, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "lchown", lchown)
    dst = tmp_path / "dst"
    stats = repo.restore_path(snap.id, dst)
    assert sorted(w for w in stats.warnings if "cannot set owner" in w) == [
        f"{dst / 'a' / 'dangling'}: cannot set owner: Operation not permitted",
        f"{dst / 'link'}: cannot set owner: Operation not permitted",
    ]


@pytest.mark.parametrize("below", ["", "sub/dir"])
def test_a_file_at_or_above_the_target_is_a_config_error_naming_it(
    tmp_path: Path, source: Path, below: str
) -> None:
    from drkit.errors import ConfigError

    repo = new_repo(SafeStore())
    snap = repo.backup_path(source, host="h")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    target = a_file / below if below else a_file
    with pytest.raises(ConfigError) as caught:
        repo.restore_path(snap.id, target)
    where = "it" if not below else str(a_file)
    assert caught.value.message == f"target: restore target {target} is not a directory: {where} is a file"
    assert (caught.value.field, caught.value.hint) == (
        "target",
        "give a directory, or a path that does not exist yet",
    )
    assert a_file.read_text() == "keep me"
