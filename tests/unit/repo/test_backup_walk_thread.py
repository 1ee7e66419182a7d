"""The walk runs on a thread of its own (``TreeBackup._walk``: CPython's frame stack starts empty there),
and stays what it was for its callers: the same trees, errors raised as they were, and an interrupt of
the waiting thread stops the walk at its next directory instead of waiting for it to finish."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from drkit.repo.engine import backup
from drkit.repo.engine.backup import TreeBackup
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_backup_batches import OrderedWriter, _tree


def _walk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "drkit-walk"]


def test_the_walk_runs_on_its_own_thread_and_gives_the_same_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _tree(src)
    before = set(_walk_threads())  # (walks another test left running are not this test's)
    seen: list[tuple[TreeBackup, str]] = []
    real_dir = TreeBackup._dir

    def recording(self: TreeBackup, path: bytes, rel: bytes, parent_tree: bytes | None = None) -> object:
        seen.append((self, threading.current_thread().name))
        return real_dir(self, path, rel, parent_tree)

    monkeypatch.setattr(TreeBackup, "_dir", recording)
    first = TreeBackup(OrderedWriter(), SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
    on_thread = first.run(src)
    names = {name for tb, name in seen if tb is first}
    assert names == {"drkit-walk"}
    monkeypatch.setattr(TreeBackup, "_walk", lambda self, path, parent: real_dir(self, path, b"", parent))
    second = TreeBackup(OrderedWriter(), SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
    inline = second.run(src)
    assert {name for tb, name in seen if tb is second} == {threading.current_thread().name}
    assert on_thread.tree == inline.tree
    assert on_thread.skipped == inline.skipped
    assert not set(_walk_threads()) - before


def test_an_error_of_the_walk_is_raised_to_the_caller_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _tree(src, dirs=3, files=2)
    before = set(_walk_threads())

    def broken(self: TreeBackup, *args: object, **kwargs: object) -> object:
        raise backup.DrkitError("the store refused a blob")

    monkeypatch.setattr(TreeBackup, "_entry", broken)
    with pytest.raises(backup.DrkitError, match="the store refused a blob"):
        TreeBackup(OrderedWriter(), SMALL_CHUNKS, workers=2).run(src)  # type: ignore[arg-type]
    assert not set(_walk_threads()) - before


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread"
)
def test_an_interrupt_of_the_waiting_thread_stops_the_walk_at_its_next_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _tree(src, dirs=30, files=3)
    before = set(_walk_threads())
    gate = threading.Event()
    dirs: list[bytes] = []
    real_dir = TreeBackup._dir
    tb = TreeBackup(OrderedWriter(), SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]

    def gated(self: TreeBackup, path: bytes, rel: bytes, parent_tree: bytes | None = None) -> object:
        if self is not tb:  # a walk another test left running
            return real_dir(self, path, rel, parent_tree)
        dirs.append(rel)
        if len(dirs) == 3:  # inside the walk: interrupt the waiting (main) thread, then go on
            os.kill(os.getpid(), signal.SIGINT)
            gate.wait(10)
        return real_dir(self, path, rel, parent_tree)

    def release(signum: int, frame: object) -> None:
        gate.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(TreeBackup, "_dir", gated)
    previous = signal.signal(signal.SIGINT, release)
    try:
        with pytest.raises(KeyboardInterrupt):
            tb.run(src)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert gate.is_set()
    assert not set(_walk_threads()) - before  # the walk stopped; it did not go on behind the caller
    assert 3 <= len(dirs) < 36  # 30 directories below 5, the top: it stopped before walking them all
