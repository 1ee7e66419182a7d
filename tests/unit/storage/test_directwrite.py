"""Large objects written with O_DIRECT (drkit.storage.directwrite): the bytes on disk are exactly the
object's whatever its length, and a filesystem that refuses direct writes gets the buffered path."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from drkit.native import load as load_native
from drkit.storage import directwrite
from drkit.storage.directwrite import ALIGN, DIRECT_ABOVE, PIECE, open_new, write_all, write_parts
from drkit.storage.local import LocalStore

SIZES = [0, 1, ALIGN - 1, ALIGN, DIRECT_ABOVE - 1, DIRECT_ABOVE, PIECE, PIECE + 1, 3 * PIECE + ALIGN + 7]
NATIVE = load_native("_direct")


@pytest.fixture(params=["python", "native"])
def gathering(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of gathering the direct pieces: in Python, and in C with the GIL released."""
    if request.param == "native":
        if NATIVE is None:
            pytest.skip("drkit.native._direct was not built")
        monkeypatch.setattr(directwrite, "_native", NATIVE)
    else:
        monkeypatch.setattr(directwrite, "_native", None)
    return str(request.param)


@pytest.fixture
def python_gathering(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python path: the tests that make ``os.pwrite`` fail reach only it."""
    monkeypatch.setattr(directwrite, "_native", None)


def _direct_supported(directory: Path) -> bool:
    try:
        fd = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(fd)
    (directory / "probe").unlink()
    return True


@pytest.mark.parametrize("size", SIZES)
def test_what_is_written_reads_back_exactly(tmp_path: Path, size: int, gathering: str) -> None:
    data = random.Random(size).randbytes(size)
    fd, direct = open_new(tmp_path / "f", len(data), 0o600)
    try:
        write_all(fd, data, direct=direct)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert direct == (size >= DIRECT_ABOVE and _direct_supported(tmp_path))
    assert (tmp_path / "f").read_bytes() == data


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        open_new(tmp_path / "f", 2 * PIECE, 0o600)
    assert (tmp_path / "f").read_bytes() == b"old"


@pytest.mark.parametrize("creates", [False, True], ids=["refused-before-creating", "refused-after-creating"])
def test_a_filesystem_refusing_direct_open_is_written_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creates: bool
) -> None:
    """EINVAL at open: some filesystems refuse before creating the file, tmpfs on kernels before 6.6
    after creating it (the buffered open must not then fail with EEXIST)."""
    real_open = os.open

    def no_direct(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            if creates:
                os.close(real_open(path, flags & ~os.O_DIRECT, mode))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", no_direct)
    data = random.Random(1).randbytes(2 * PIECE + 3)
    fd, direct = open_new(tmp_path / "f", len(data), 0o600)
    try:
        assert not direct
        write_all(fd, data, direct=direct)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("failure", ["einval", "short"])
@pytest.mark.usefixtures("python_gathering")
def test_a_direct_write_that_fails_or_falls_short_is_finished_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT: the buffered path is the other test's")
    real_pwrite = os.pwrite
    calls = [0]

    def flaky(fd: int, data: memoryview, offset: int) -> int:
        calls[0] += 1
        if calls[0] == 2:  # the second direct piece
            if failure == "einval":
                raise OSError(errno.EINVAL, "Invalid argument")
            return real_pwrite(fd, data[: len(data) // 2 + 1], offset)  # short, and unaligned after
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", flaky)
    data = random.Random(2).randbytes(3 * PIECE + 99)
    fd, direct = open_new(tmp_path / "f", len(data), 0o600)
    try:
        assert direct
        write_all(fd, data, direct=direct)
    finally:
        os.close(fd)
    assert calls[0] >= 3
    assert (tmp_path / "f").read_bytes() == data


def test_a_large_object_round_trips_through_the_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = random.Random(3).randbytes(5 * PIECE + 12345)
    store.put("data/ab/pack", data)
    assert store.get("data/ab/pack") == data
    assert not [p for p in (tmp_path / "store" / "data" / "ab").iterdir() if p.name.startswith(".tmp-")]


def _split(data: bytes, seed: int) -> list[bytes | bytearray | memoryview]:
    """Parts of every size around the block and piece bounds, empty ones included, of all three types."""
    rng = random.Random(seed)
    cuts = sorted(
        rng.choice([0, 1, ALIGN - 1, ALIGN, ALIGN + 1, PIECE - 1, PIECE + 3, rng.randrange(len(data) + 1)])
        for _ in range(12)
    )
    parts: list[bytes | bytearray | memoryview] = []
    start = 0
    for i, bound in enumerate([*(min(c + j * PIECE // 3, len(data)) for j, c in enumerate(cuts)), len(data)]):
        cut = max(bound, start)
        piece = data[start:cut]
        parts.append(piece if i % 3 == 0 else bytearray(piece) if i % 3 == 1 else memoryview(piece))
        start = cut
    return parts


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("failure", ["none", "einval", "short"])
@pytest.mark.usefixtures("python_gathering")
def test_parts_are_written_one_after_the_other_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, failure: str
) -> None:
    real_pwrite = os.pwrite
    calls = [0]

    def flaky(fd: int, data: memoryview, offset: int) -> int:
        calls[0] += 1
        if calls[0] == 2 and failure == "einval":
            raise OSError(errno.EINVAL, "Invalid argument")
        if calls[0] == 2 and failure == "short":
            return real_pwrite(fd, data[: len(data) // 2 + 1], offset)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", flaky)
    data = random.Random(seed).randbytes(3 * PIECE + seed * 1000 + 99)
    parts = _split(data, seed)
    assert b"".join(bytes(p) for p in parts) == data
    fd, direct = open_new(tmp_path / "f", len(data), 0o600)
    try:
        write_parts(fd, parts, direct=direct)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("seed", range(4))
def test_parts_gathered_either_way_are_written_exactly(tmp_path: Path, seed: int, gathering: str) -> None:
    data = random.Random(seed).randbytes(3 * PIECE + seed * 1000 + 99)
    fd, direct = open_new(tmp_path / "f", len(data), 0o600)
    try:
        write_parts(fd, _split(data, seed), direct=direct)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


def test_a_store_object_put_in_parts_is_their_concatenation(tmp_path: Path, gathering: str) -> None:
    store = LocalStore(tmp_path / "store")
    data = random.Random(9).randbytes(2 * PIECE + 777)
    store.put_parts("data/cd/pack", _split(data, 9))
    assert store.get("data/cd/pack") == data


@pytest.mark.skipif(NATIVE is None, reason="drkit.native._direct was not built")
def test_the_compiled_gathering_writes_what_it_says_and_raises_what_it_cannot() -> None:
    """Into a pipe: the first piece goes in whole at the pipe's position (a pipe ignores no offset:
    pwrite fails with ESPIPE, an OSError naming it, nothing swallowed)."""
    assert NATIVE is not None
    r, w = os.pipe()
    try:
        with pytest.raises(OSError, match="Illegal seek") as err:
            NATIVE.gather_pwrite(w, [b"a" * ALIGN], bytearray(ALIGN), ALIGN)
        assert err.value.errno == errno.ESPIPE
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(ValueError, match="asked of parts holding"):
        NATIVE.gather_pwrite(0, [b"ab"], bytearray(ALIGN), 3)
    with pytest.raises(ValueError, match="an empty buffer"):
        NATIVE.gather_pwrite(0, [b"ab"], bytearray(), 2)


@pytest.mark.skipif(NATIVE is None, reason="drkit.native._direct was not built")
def test_the_compiled_gathering_stops_where_the_filesystem_refuses(tmp_path: Path) -> None:
    """A descriptor opened without O_DIRECT takes any write: all ``whole`` bytes in pieces of the
    buffer's size, gathered across the parts' bounds; the bytes past ``whole`` are left to the caller."""
    assert NATIVE is not None
    data = random.Random(5).randbytes(3 * ALIGN + 10)
    parts = [data[:5], data[5 : ALIGN + 1], data[ALIGN + 1 :]]
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        assert NATIVE.gather_pwrite(fd, parts, bytearray(ALIGN), 3 * ALIGN) == 3 * ALIGN
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data[: 3 * ALIGN]
