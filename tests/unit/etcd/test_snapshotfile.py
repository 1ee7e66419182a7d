"""The stored form: written atomically, checked like etcdutl checks it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.errors import MissingComponent
from drkit.etcd import snapshotfile
from drkit.etcd.errors import EtcdError, SnapshotCorrupt
from tests.unit.etcd import streams


def stored() -> bytes:
    return b"".join(streams.blobs(streams.recorded()))


def test_write_then_check(tmp_path: Path) -> None:
    path = tmp_path / "etcd.db"
    data = stored()
    assert snapshotfile.write(iter([data[:1000], data[1000:]]), path) == len(data)
    assert path.read_bytes() == data
    assert not (tmp_path / "etcd.db.partial").exists()
    checked = snapshotfile.check(path)
    assert checked.db_size == 114688
    assert checked.sha256 == hashlib.sha256(data[:-32]).hexdigest()
    assert snapshotfile.has_trailer(len(data))
    assert not snapshotfile.has_trailer(len(data) - 32)


def test_a_failing_iterator_leaves_no_file(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * 4096
        raise SnapshotCorrupt("test: mismatch")

    path = tmp_path / "etcd.db"
    with pytest.raises(SnapshotCorrupt):
        snapshotfile.write(chunks(), path)
    assert list(tmp_path.iterdir()) == []


def test_check_finds_a_flipped_byte(tmp_path: Path) -> None:
    data = bytearray(stored())
    data[5000] ^= 0x10
    path = tmp_path / "etcd.db"
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt, match="does not match"):
        snapshotfile.check(path)


def test_check_refuses_a_file_without_trailer(tmp_path: Path) -> None:
    path = tmp_path / "etcd.db"
    path.write_bytes(stored()[:-32])
    with pytest.raises(SnapshotCorrupt, match="trailer"):
        snapshotfile.check(path)


def test_a_missing_etcdutl_is_a_missing_component(tmp_path: Path) -> None:
    with pytest.raises(MissingComponent, match="etcdutl"):
        snapshotfile.revision_from_db(tmp_path / "x.db", etcdutl=tmp_path / "no-etcdutl")


def test_write_goes_through_a_partial_file_named_after_the_target(tmp_path: Path) -> None:
    path = tmp_path / "etcd.db"
    seen: list[tuple[bool, bool]] = []

    def chunks() -> Iterator[bytes]:
        yield b"a" * 10
        seen.append(((tmp_path / "etcd.db.partial").exists(), path.exists()))
        yield b"b" * 10

    assert snapshotfile.write(chunks(), path) == 20
    assert seen == [(True, False)]  # while writing: only the partial file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etcd.db"]


class _StatSays(type(Path())):  # type: ignore[misc]
    """A path whose stat() reports another size than the file has (it changes while read)."""

    size = 0

    def stat(self, *, follow_symlinks: bool = True) -> object:  # type: ignore[override]
        real = super().stat(follow_symlinks=follow_symlinks)
        return type("S", (), {"st_size": self.size, "st_mode": real.st_mode})()


def test_a_snapshot_that_shrinks_while_read_is_corrupt(tmp_path: Path) -> None:
    data = stored()
    path = _StatSays(tmp_path / "etcd.db")
    path.write_bytes(data)
    path.size = len(data) + 512  # stat said more than there is
    with pytest.raises(SnapshotCorrupt, match=r"etcd\.db: shrank while being read$"):
        snapshotfile.check(path)


def test_a_snapshot_that_grows_while_read_is_checked_as_it_was_stat(tmp_path: Path) -> None:
    data = stored()
    path = _StatSays(tmp_path / "etcd.db")
    path.write_bytes(data + b"\x00" * 512)  # appended to after stat
    path.size = len(data)
    assert snapshotfile.check(path).sha256 == hashlib.sha256(data[:-32]).hexdigest()


def test_an_unreadable_snapshot_is_named_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(EtcdError, match=r"absent\.db: cannot read the snapshot: No such file or directory$"):
        snapshotfile.check(path)


def test_find_etcdutl_looks_on_the_path_and_hints_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = tmp_path / "etcdutl"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert snapshotfile.find_etcdutl() == tool
    assert snapshotfile.find_etcdutl(tool) == tool
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingComponent) as err:
        snapshotfile.find_etcdutl()
    assert err.value.hint == "install etcdutl of the cluster's etcd version (or `make testbin` for the tests)"
