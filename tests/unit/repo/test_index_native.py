"""The master index's lookups in C (drkit/native/_index.c) answer exactly as its Python loops: on
random indexes of many packs with ids that share their start slot, the same id under the other type,
ids of the wrong length, keys not indexed (``pack_ids``: KeyError with that key), and a table grown
across inserts. ``DRKIT_NO_NATIVE=1`` selects the Python loops."""

from __future__ import annotations

import random

import pytest

from drkit import native
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import BlobKey, MasterIndex, PackRecord
from drkit.repo.format.packentries import PackEntries, PackEntry


def _indexes(monkeypatch: pytest.MonkeyPatch) -> tuple[MasterIndex, MasterIndex]:
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    fast = MasterIndex()
    assert fast._native is not None, "drkit/native/_index.c was not built (make venv)"
    monkeypatch.setenv("DRKIT_NO_NATIVE", "1")
    slow = MasterIndex()
    assert slow._native is None
    return fast, slow


def _random_packs(rng: random.Random, packs: int) -> list[PackRecord]:
    """Packs whose ids often share their first 8 bytes (colliding start slots), some ids twice (the
    first pack keeps them) and under both types."""
    heads = [rng.randbytes(8) for _ in range(40)]
    seen: list[bytes] = []
    records = []
    for p in range(packs):
        entries = []
        for i in range(rng.randrange(1, 60)):
            r = rng.random()
            if r < 0.3:
                bid = rng.choice(heads) + rng.randbytes(24)
            elif r < 0.4 and seen:
                bid = rng.choice(seen)
            else:
                bid = rng.randbytes(32)
            seen.append(bid)
            entries.append(PackEntry(BlobType(rng.randrange(2)), bid, i * 100, 100, 100))
        records.append(PackRecord(f"pack-{p}", None, None, 1, PackEntries.of(entries)))
    return records


def _probes(rng: random.Random, records: list[PackRecord]) -> list[BlobKey]:
    known = [(e.type, e.id) for r in records for e in r.entries]
    probes: list[BlobKey] = list(known)
    probes += [(BlobType(1 - t), bid) for t, bid in rng.sample(known, min(200, len(known)))]
    probes += [(BlobType(t), bid[:31]) for t, bid in rng.sample(known, 50)]
    probes += [(BlobType(t), bid + b"\0") for t, bid in rng.sample(known, 50)]
    probes += [(BlobType.DATA, b""), (BlobType.TREE, bytes(8))]
    probes += [(BlobType(rng.randrange(2)), rng.randbytes(32)) for _ in range(200)]
    probes += [(BlobType.DATA, bid[:8] + rng.randbytes(24)) for _, bid in rng.sample(known, 200)]
    return probes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_and_python_lookups_agree_while_the_table_grows(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    fast, slow = _indexes(monkeypatch)
    records = _random_packs(rng, 120)
    grown = 0
    for n, record in enumerate(records):
        size = len(fast._table[0])
        fast.add_pack(record)
        slow.add_pack(record)
        grown += len(fast._table[0]) != size
        if n % 30 == 29 or n == len(records) - 1:
            probes = _probes(rng, records[: n + 1])
            for key in probes:
                assert fast._find(key) == slow._find(key), key
                assert (key in fast) == (key in slow)
                assert fast.get(key) == slow.get(key)
            indexed = [k for k in probes if k in slow]
            assert fast.pack_ids(indexed) == slow.pack_ids(indexed)
            assert fast.pack_ids(iter(indexed)) == slow.pack_ids(indexed)
    assert grown >= 2, "the table grew across the inserts"
    assert len(fast) == len(slow)


def test_pack_ids_names_the_first_key_not_indexed(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    fast, slow = _indexes(monkeypatch)
    records = _random_packs(rng, 10)
    for r in records:
        fast.add_pack(r)
        slow.add_pack(r)
    known = [(e.type, e.id) for e in records[3].entries]
    for missing in [
        (BlobType.DATA, rng.randbytes(32)),
        (BlobType(1 - known[0][0]), known[0][1]),
        (BlobType.DATA, known[0][1][:16]),
    ]:
        for index in (fast, slow):
            with pytest.raises(KeyError) as e:
                index.pack_ids([*known, missing, (BlobType.TREE, rng.randbytes(32))])
            assert e.value.args == (missing,)
    assert fast.pack_ids([]) == slow.pack_ids([]) == set()


def test_lookups_of_an_empty_index_find_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _indexes(monkeypatch)
    key = (BlobType.DATA, bytes(32))
    assert fast._find(key) == slow._find(key) == -1
    assert key not in fast


def test_the_native_module_is_used_unless_ruled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    assert MasterIndex()._native is native.load("_index") is not None


@pytest.mark.parametrize("seed", [4, 5])
def test_c_and_python_inserts_build_the_same_table(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading an index inserts every blob and grows the table in C: slot for slot the table the
    Python loops build, duplicates (the first pack keeps them) and colliding start slots included."""
    rng = random.Random(seed)
    fast, slow = _indexes(monkeypatch)
    for record in _random_packs(rng, 150):
        fast.add_pack(record)
        slow.add_pack(record)
        assert fast._table[1] == slow._table[1]
        assert fast._table[0] == slow._table[0]
        assert len(fast) == len(slow)
    assert len(fast._table[0]) > 1024, "the table grew"


def test_native_insert_refuses_a_full_table_and_a_bad_record(monkeypatch: pytest.MonkeyPatch) -> None:
    module = native.load("_index")
    assert module is not None
    entries = PackEntries.of([PackEntry(BlobType.DATA, bytes([i]) * 32, 0, 1, 1) for i in range(3)])
    records = [("p", entries)]
    from array import array

    full = (array("Q", bytes(8 * 2)), 1)  # two slots, three blobs
    with pytest.raises(SystemError, match="full"):
        module.insert(full, records, 0)
    with pytest.raises(IndexError):
        module.insert((array("Q", bytes(8 * 8)), 7), records, 1)
    table = (array("Q", bytes(8 * 8)), 7)
    assert module.insert(table, records, 0) == 3
    assert module.insert(table, records, 0) == 0  # already indexed
    with pytest.raises(ValueError, match="too small"):
        module.rehash(table, records, (array("Q", bytes(8 * 2)), 1))


def test_pack_ids_takes_plain_ints_and_other_buffers_as_the_python_loops_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The C loop reads the usual key (an int type, a bytes id) straight from its buffers; a plain
    int, a bytearray id or a list key give what the Python loops give."""
    rng = random.Random(11)
    fast, slow = _indexes(monkeypatch)
    records = _random_packs(rng, 30)
    for r in records:
        fast.add_pack(r)
        slow.add_pack(r)
    keys: list[BlobKey] = [(e.type, e.id) for r in records for e in r.entries]
    variants: list[list[object]] = [
        [(int(t), bid) for t, bid in keys],
        [(t, bytearray(bid)) for t, bid in keys],
        [[t, bid] for t, bid in keys],
    ]
    for variant in variants:
        assert fast.pack_ids(variant) == slow.pack_ids(keys)  # type: ignore[arg-type]
    for bad in [(BlobType.DATA, keys[0][1][:31]), (300, keys[0][1]), ("1", keys[0][1])]:
        with pytest.raises(KeyError):
            fast.pack_ids([keys[0], bad])  # type: ignore[list-item]
        with pytest.raises(KeyError):
            slow.pack_ids([keys[0], bad])  # type: ignore[list-item]
