"""YieldedKeys: the keys a paged list has yielded, kept without an object per key while they come in
key order, and exact (no key lost, every repeat skipped) whatever the order."""

from __future__ import annotations

import gc
import tracemalloc

from drkit.kube.lists import YieldedKeys


def in_etcd_order(n: int) -> list[tuple[str, str]]:
    # "ns-a" sorts before "ns" in etcd ("ns-a/..." < "ns/..." as bytes), after it as a tuple
    keys = [(ns, f"cm-{i:06d}") for ns in ("ns", "ns-a", "ns.b") for i in range(n // 3)]
    return sorted(keys, key=lambda k: f"{k[0]}/{k[1]}".encode())


def test_keys_in_key_order_hold_no_object_per_key() -> None:
    keys = in_etcd_order(30_000)
    seen = YieldedKeys()
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert all(seen.add(k) for k in keys)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert seen.compact  # no set was built
    assert len(gc.get_objects()) - tracked < 100  # not one tracked object per key
    assert grown / len(keys) < 40  # the buffer: lengths and UTF-8, ~25 bytes a key here
    assert len(seen) == len(keys)


def test_after_a_relist_every_key_yielded_before_is_skipped() -> None:
    keys = in_etcd_order(3_000)
    seen = YieldedKeys()
    for k in keys[:2_000]:
        assert seen.add(k)
    seen.expand()  # the pager's relist
    assert not seen.compact
    assert [k for k in keys if seen.add(k)] == keys[2_000:]
    assert seen.add(("ns", "new"))
    assert not seen.add(("ns", "new"))


def test_out_of_key_order_every_key_is_checked() -> None:
    seen = YieldedKeys()
    assert seen.add(("b", "x"))
    assert seen.add(("b", "y"))
    assert seen.add(("a", "z"))  # out of order: from here a set, built from the buffer
    assert not seen.compact
    assert not seen.add(("b", "x"))
    assert not seen.add(("a", "z"))
    assert seen.add(("c", "x"))
    assert len(seen) == 4


def test_names_that_join_alike_are_different_keys() -> None:
    seen = YieldedKeys()
    assert seen.add(("a", "b/c"))
    assert seen.add(("a/b", "c"))  # the same "a/b/c": ordered by the namespace, still distinct
    seen.expand()
    assert not seen.add(("a", "b/c"))
    assert not seen.add(("a/b", "c"))
    assert seen.add(("ü", "\udcff"))  # any string survives the buffer
    seen2 = YieldedKeys()
    seen2.add(("ü", "\udcff"))
    seen2.expand()
    assert not seen2.add(("ü", "\udcff"))
