"""The restore's later passes (drkit.repo.engine.restore), beyond the path checks that
``test_restore_paths``/``test_restore_guarantees`` pin: the data written from each pack, what a file
that could not be read leaves, owners, xattrs and times applied last, and what the user is told.
Found as gaps by mutation testing (docs/testing.md, fourth round)."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from drkit.repo.engine import restore as restore_module
from drkit.repo.engine.progress import CountingProgress
from drkit.repo.engine.restore import RestoreError, RestoreIncomplete, TreeRestore
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, corrupt, new_repo

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
TEMP = ".drkit-restore-"


class Watch(CountingProgress):
    """Calls ``at_start`` once pass 1 has created every entry, ``at_done`` once pass 2 has written data."""

    def __init__(
        self, at_start: Callable[[], None] | None = None, at_done: Callable[[], None] | None = None
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
    monkeypatch.setattr(restore_module, "uid_of", {"root": 4242}.get)
    monkeypatch.setattr(restore_module, "gid_of", {"root": 4343}.get)

    _restorer(repo, snap.id).run(tmp_path / "numeric")
    st = (tmp_path / "numeric" / "f").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)

    _restorer(repo, snap.id, owners_by_name=True).run(tmp_path / "by-name")
    st = (tmp_path / "by-name" / "f").stat()
    assert (st.st_uid, st.st_gid) == (4242, 4343)


@pytest.mark.skipif(not AS_ROOT, reason="setting another owner needs root")
@pytest.mark.parametrize(
    ("users", "groups", "named", "unnamed"),
    [
        ({"root": 4242}, {}, (4242, 0), (12345, 54321)),  # a group name unknown here: its number
        ({}, {"root": 4343}, (0, 4343), (12345, 54321)),  # a user name unknown here: its number
    ],
)
def test_owners_by_name_fall_back_to_the_number_for_each_id_on_its_own(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    users: dict[str, int],
    groups: dict[str, int],
    named: tuple[int, int],
    unnamed: tuple[int, int],
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "named").write_bytes(b"x")
    os.chown(src / "named", 0, 0)
    (src / "unnamed").write_bytes(b"y")
    os.chown(src / "unnamed", 12345, 54321)  # no name on this system: recorded without one
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    asked: list[object] = []

    def lookup(table: dict[str, int]) -> Callable[[object], int | None]:
        def of(name: object) -> int | None:
            asked.append(name)
            return table.get(name) if isinstance(name, str) else None

        return of

    monkeypatch.setattr(restore_module, "uid_of", lookup(users))
    monkeypatch.setattr(restore_module, "gid_of", lookup(groups))
    _restorer(repo, snap.id, owners_by_name=True).run(tmp_path / "dst")
    for name, ids in (("named", named), ("unnamed", unnamed)):
        st = (tmp_path / "dst" / name).stat()
        assert (st.st_uid, st.st_gid) == ids, name
    assert None not in asked  # an entry recorded without a name is not looked up


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


def test_a_temporary_file_swapped_for_a_symlink_is_not_removed_through_it(tmp_path: Path) -> None:
    """A file whose data could not be read has its temporary file removed, but only if it is still the
    file the restore made: a symlink put in its place (even to that very file) is left alone."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(random.Random(4).randbytes(30_000))
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.backup_path(src, host="h")
    for key in _data_packs(repo):
        corrupt(store, key, at=3)
    dst = tmp_path / "dst"
    moved = tmp_path / "moved-away"
    swapped: list[Path] = []

    def swap() -> None:
        (temp,) = _temps(dst)
        temp.rename(moved)
        temp.symlink_to(moved)
        swapped.append(temp)

    with pytest.raises(RestoreIncomplete):
        _restorer(repo, snap.id, progress=Watch(at_done=swap)).run(dst)
    assert swapped
    assert swapped[0].is_symlink()
    assert moved.exists()


def test_a_failed_restore_removes_its_other_temporary_files_and_keeps_its_own_error(tmp_path: Path) -> None:
    """After a refusal in pass 2, cleaning up meets a temporary file it can no longer reach (its
    directory became a file): that is passed over, the others are removed, the refusal is raised."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    rng = random.Random(5)
    (src / "a" / "x.bin").write_bytes(rng.randbytes(20_000))
    (src / "y.bin").write_bytes(rng.randbytes(20_000))
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    dst = tmp_path / "dst"

    def swap() -> None:
        (dst / "a").rename(tmp_path / "a-moved")
        (dst / "a").write_bytes(b"a file where the directory was")

    with pytest.raises(RestoreError, match="is no longer the entry this restore created"):
        _restorer(repo, snap.id, progress=Watch(at_start=swap), workers=1).run(dst)
    assert _temps(dst) == []


def test_a_file_or_directory_whose_owner_cannot_be_set_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # owners are set as root

    def fchown(fd: int, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchown", fchown)
    dst = tmp_path / "dst"
    stats = repo.restore_path(snap.id, dst)
    assert sorted(w for w in stats.warnings if "cannot set owner" in w) == sorted(
        f"{path}: cannot set owner: Operation not permitted" for path in (dst, dst / "d", dst / "d" / "f")
    )


def test_the_extended_attributes_not_restored_are_counted_over_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("f", "g"):
        (src / name).write_bytes(name.encode())
        try:
            os.setxattr(src / name, "user.kept", b"1")
            os.setxattr(src / name, "trusted.one", b"2")
        except OSError as e:
            pytest.skip(f"this filesystem or user cannot set xattrs: {e}")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    stats = repo.restore_path(snap.id, tmp_path / "dst")
    assert stats.warnings == ("2 extended attributes outside user.* not restored (not running as root)",)


class SwapBeforeMetadata(TreeRestore):
    """Runs ``swap`` between pass 3 (files renamed into place) and pass 4 (owners, modes, times)."""

    swap: Callable[[], None] = staticmethod(lambda: None)

    def _apply_metadata(self, plan, target, root):  # type: ignore[no-untyped-def]
        self.swap()
        super()._apply_metadata(plan, target, root)


def _one_file(tmp_path: Path) -> tuple[Repository, str]:
    """An empty file: pass 2 writes nothing to it, so its metadata waits for pass 4 (a file with data
    gets its metadata in pass 2, through the descriptor its last chunk was written through)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"")
    (src / "f").chmod(0o640)
    os.utime(src / "f", ns=(10**18, 10**18))
    repo = new_repo(SafeStore())
    return repo, repo.backup_path(src, host="h").id


def test_a_file_swapped_for_a_symlink_before_its_metadata_is_not_changed_through_it(tmp_path: Path) -> None:
    repo, sid = _one_file(tmp_path)
    dst, outside = tmp_path / "dst", tmp_path / "outside"

    def swap() -> None:
        (dst / "f").rename(outside)
        (dst / "f").symlink_to(outside)  # to the very file restored: its identity would match

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(OSError, match="symbolic links"):  # ELOOP: O_NOFOLLOW met the link
        restorer.run(dst)
    st = outside.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) != (0o640, 10**18)


def test_a_file_replaced_before_its_metadata_is_refused_by_name(tmp_path: Path) -> None:
    repo, sid = _one_file(tmp_path)
    dst = tmp_path / "dst"

    def swap() -> None:
        (dst / "new").write_bytes(b"someone else's file")  # made while f exists: another inode
        (dst / "new").chmod(0o600)
        (dst / "new").rename(dst / "f")

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(RestoreError) as err:
        restorer.run(dst)
    assert err.value.message == (
        f"{dst / 'f'} is no longer the entry this restore created (replaced during the restore?): "
        "refusing to write through it"
    )
    assert stat.S_IMODE((dst / "f").stat().st_mode) == 0o600


def test_a_directory_replaced_before_its_metadata_is_refused_by_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d").chmod(0o500)
    repo = new_repo(SafeStore())
    sid = repo.backup_path(src, host="h").id
    dst = tmp_path / "dst"

    def swap() -> None:
        (dst / "other").mkdir(mode=0o700)
        (dst / "d").rename(tmp_path / "moved")
        (dst / "other").rename(dst / "d")

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(RestoreError, match="is no longer the entry this restore created"):
        restorer.run(dst)
    assert stat.S_IMODE((dst / "d").stat().st_mode) == 0o700


def test_a_target_replaced_by_a_file_before_its_metadata_is_not_changed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir(mode=0o751)  # empty: the target's own metadata is all pass 4 sets
    repo = new_repo(SafeStore())
    sid = repo.backup_path(src, host="h").id
    dst = tmp_path / "dst"

    def swap() -> None:
        dst.rename(tmp_path / "moved")
        dst.write_bytes(b"a file where the target was")
        dst.chmod(0o600)

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(NotADirectoryError):
        restorer.run(dst)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600


def _empty_dir_snapshot(tmp_path: Path) -> tuple[Repository, str]:
    src = tmp_path / "src"
    src.mkdir(mode=0o751)  # empty: the target's own metadata is all pass 4 sets
    os.utime(src, ns=(10**18, 10**18))
    repo = new_repo(SafeStore())
    return repo, repo.backup_path(src, host="h").id


def test_a_target_swapped_for_a_symlink_before_its_metadata_is_not_changed_through_it(tmp_path: Path) -> None:
    repo, sid = _empty_dir_snapshot(tmp_path)
    dst, elsewhere = tmp_path / "dst", tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)

    def swap() -> None:
        dst.rmdir()
        dst.symlink_to(elsewhere)

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(OSError, match=r"symbolic links|Not a directory"):  # O_NOFOLLOW met the link
        restorer.run(dst)
    st = elsewhere.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) != (0o751, 10**18)


def test_a_target_replaced_by_another_directory_before_its_metadata_is_refused_by_name(
    tmp_path: Path,
) -> None:
    repo, sid = _empty_dir_snapshot(tmp_path)
    dst = tmp_path / "dst"

    def swap() -> None:
        dst.rename(tmp_path / "moved")
        dst.mkdir(mode=0o700)

    restorer = SwapBeforeMetadata(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.swap = swap  # type: ignore[method-assign]
    with pytest.raises(RestoreError, match="is no longer the entry this restore created"):
        restorer.run(dst)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o700


def test_a_blob_that_does_not_open_spoils_only_its_own_file_not_the_next_in_its_pack(tmp_path: Path) -> None:
    """The pack is well formed and named by its hash, but one blob is stored under the id of other
    bytes (test_repo_integrity's lying writer): that file is not restored, and the blobs after it in
    the same pack are still written (a file never lands with its data missing)."""
    from typing import cast

    from drkit.repo.format.sealing import WriteKeys
    from tests.unit.repo.test_repo_integrity import _LyingContentIds

    src = tmp_path / "src"
    src.mkdir()
    victim = b"a chunk stored under the id of other bytes\n" * 3
    (src / "a.txt").write_bytes(victim)  # placed first
    (src / "b.txt").write_bytes(b"an honest chunk after it\n")
    (src / "c.txt").write_bytes(b"another honest chunk\n")
    store = SafeStore()
    repo = new_repo(store)
    repo._write_keys = cast(WriteKeys, _LyingContentIds(repo._write_keys, victim))
    snap = repo.backup_path(src, host="h")
    dst = tmp_path / "dst"
    with pytest.raises(RestoreIncomplete) as err:
        _restorer(repo, snap.id, workers=1).run(dst)
    assert err.value.not_restored == [str(dst / "a.txt")]
    assert (dst / "b.txt").read_bytes() == b"an honest chunk after it\n"
    assert (dst / "c.txt").read_bytes() == b"another honest chunk\n"


class SeeBeforeRename(TreeRestore):
    """Records each temporary file's mode and mtime as pass 3 begins (before any rename)."""

    seen: dict[str, tuple[int, int]]

    def _finish_files(self, plan, failed):  # type: ignore[no-untyped-def]
        self.seen = {}
        for entry in plan.files:
            st = Path(os.fsdecode(entry.temp)).lstat()
            self.seen[Path(os.fsdecode(entry.path)).name] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        return super()._finish_files(plan, failed)


def test_a_file_with_data_has_its_mode_and_mtime_before_it_appears_under_its_name(tmp_path: Path) -> None:
    """Set through the descriptor its last chunk was written through, in pass 2: a restored file is
    never seen under its name with the temporary 0600 and the time of the restore. Several chunks
    (read-only mode: set only after the last one, or the next write could not open it as a user),
    holes and empty files too."""
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(7)
    files = {
        "small.txt": (b"one chunk\n", 0o640),
        "big.bin": (rng.randbytes(5 << 20), 0o444),  # FastCDC 512 KiB - 8 MiB: several chunks
        "holes.bin": (bytes(3 << 20) + rng.randbytes(1 << 20) + bytes(3 << 20), 0o400),
        "empty": (b"", 0o604),
    }
    for i, (name, (data, mode)) in enumerate(sorted(files.items())):
        with (src / name).open("wb") as f:
            if name == "holes.bin":  # real holes: backed up as a sparse file, its zero chunks not written
                f.truncate(len(data))
                f.seek(3 << 20)
                f.write(data[3 << 20 : 4 << 20])
            else:
                f.write(data)
        (src / name).chmod(mode)
        os.utime(src / name, ns=(10**18 + i, 10**18 + i))
    repo = new_repo(SafeStore())
    sid = repo.backup_path(src, host="h").id
    dst = tmp_path / "dst"
    restorer = SeeBeforeRename(repo.pack_source(cache_packs=8), repo.find_snapshot(sid))
    restorer.run(dst)
    expected = {name: (mode, 10**18 + i) for i, (name, (_d, mode)) in enumerate(sorted(files.items()))}
    assert {k: v for k, v in restorer.seen.items() if k != "empty"} == {
        k: v for k, v in expected.items() if k != "empty"
    }
    assert restorer.seen["empty"][0] == 0o600, "an empty file is set in pass 4, after its rename"
    for name, (data, _mode) in files.items():
        st = (dst / name).stat()
        assert (dst / name).read_bytes() == data
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == expected[name]


def test_more_threads_fetch_packs_than_write_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From S3 a restore keeps several packs in flight but writes from one thread per CPU: fetching
    waits for the network, writing needs the CPU (and the GIL)."""
    import threading
    import time

    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(7)
    for i in range(24):
        (src / f"f{i}.bin").write_bytes(rng.randbytes(40_000))
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    assert len(_data_packs(repo)) >= 8
    lock = threading.Lock()
    now = {"fetching": 0, "writing": 0}
    most = {"fetching": 0, "writing": 0}

    def counted(kind: str, call: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kw: object) -> object:
            with lock:
                now[kind] += 1
                most[kind] = max(most[kind], now[kind])
            try:
                time.sleep(0.02)  # long enough for the others to start
                return call(*args, **kw)
            finally:
                with lock:
                    now[kind] -= 1

        return wrapper

    restorer = _restorer(repo, snap.id, workers=2, fetchers=6)
    monkeypatch.setattr(restorer.packs, "fetch", counted("fetching", restorer.packs.fetch))
    monkeypatch.setattr(restorer, "_write_blobs", counted("writing", restorer._write_blobs))
    restorer.run(tmp_path / "dst")
    assert most == {"fetching": 6, "writing": 2}
    for i in range(24):
        assert (tmp_path / "dst" / f"f{i}.bin").read_bytes() == (src / f"f{i}.bin").read_bytes()
