"""The cyclic collector is kept off the index while it loads and during a backup walk, and handed
back as it was afterwards (state checked, not timed)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from drkit.repo.engine.backup import TreeBackup
from drkit.repo.format import index as index_module
from drkit.repo.format.gcpause import collector_paused, long_lived_frozen
from tests.unit.repo.repohelpers import SMALL_CHUNKS, SafeStore, make_tree, new_repo, open_repo
from tests.unit.repo.test_tree_fidelity import FakeWriter


def _fail_inside(
    context: AbstractContextManager[None], seen: list[object], probe: Callable[[], object]
) -> None:
    with context:
        seen.append(probe())
        raise RuntimeError


def test_collector_paused_restores_the_previous_state_also_on_error() -> None:
    assert gc.isenabled()
    seen: list[object] = []
    with pytest.raises(RuntimeError):
        _fail_inside(collector_paused(), seen, gc.isenabled)
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()


def test_long_lived_frozen_unfreezes_also_on_error() -> None:
    keep = [[i] for i in range(1000)]
    seen: list[object] = []
    with pytest.raises(RuntimeError):
        _fail_inside(long_lived_frozen(), seen, gc.get_freeze_count)
    assert isinstance(seen[0], int)
    assert seen[0] >= len(keep)
    assert gc.get_freeze_count() == 0


def test_the_walk_runs_with_what_existed_before_frozen(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    frozen: list[int] = []
    tb = TreeBackup(
        FakeWriter(),
        SMALL_CHUNKS,
        workers=1,
        on_read=lambda _p: frozen.append(gc.get_freeze_count()),
    )
    tb.run(src)
    assert frozen
    assert min(frozen) > 0
    assert gc.get_freeze_count() == 0


def test_the_index_loads_with_the_collector_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    new_repo(store).backup_path(src, host="h")
    seen: list[bool] = []
    real = index_module.decode_index

    def decode(*a: object, **kw: object) -> object:
        seen.append(gc.isenabled())
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "decode_index", decode)
    assert len(open_repo(store)._load_index().index) > 0
    assert seen
    assert seen == [False] * len(seen)
    assert gc.isenabled()


def test_the_walk_runs_with_the_collector_off_and_hands_it_back(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    seen: list[bool] = []
    tb = TreeBackup(FakeWriter(), SMALL_CHUNKS, workers=1, on_read=lambda _p: seen.append(gc.isenabled()))
    assert gc.isenabled()
    tb.run(src)
    assert seen
    assert seen == [False] * len(seen)
    assert gc.isenabled()
