"""Processes racing to put into one LocalStore: one winner per key, nothing corrupt, nothing left over."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drkit.storage.base import LockMode, Retention
from drkit.storage.errors import ObjectExists
from drkit.storage.local import LocalStore

WRITERS = 6
PAYLOAD = 256 * 1024  # large enough that a torn write would show


def payload(i: int) -> bytes:
    return bytes([i]) * PAYLOAD


def retention(i: int) -> Retention:
    return Retention(LockMode.GOVERNANCE, datetime(2100, 1, 1, tzinfo=UTC) + timedelta(days=i))


def _racer(root: str, keys: list[str], i: int, barrier: Any, results: Any) -> None:
    store = LocalStore(Path(root))
    barrier.wait()
    for key in keys:
        try:
            store.put(key, payload(i), retention=retention(i))
        except ObjectExists:
            results.put((key, i, "exists"))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            results.put((key, i, f"error: {exc!r}"))
        else:
            results.put((key, i, "ok"))


def _race(root: Path, keys: list[str]) -> list[tuple[str, int, str]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(str(root), keys, i, barrier, results)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in range(WRITERS * len(keys))]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return out


def test_racing_puts_of_the_same_keys_have_one_winner_each(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    keys = [f"data/{n:02d}" for n in range(20)]
    results = _race(root, keys)
    assert [r for r in results if r[2] not in ("ok", "exists")] == []
    store = LocalStore(root)
    for key in keys:
        winners = [i for k, i, outcome in results if k == key and outcome == "ok"]
        assert len(winners) == 1, (key, winners)
        [winner] = winners
        assert store.get(key) == payload(winner)  # whole, and the winner's
        assert store.head(key).retention == retention(winner)  # the winner's retention, not a loser's
    assert sorted(i.key for i in store.list()) == keys
    assert list(root.rglob(".tmp-*")) == []
