"""VerifiedReader on its own: the version asked for, the fallback to an intact older version when the
one read fails or is gone, what each fallback records, and what it says when nothing passes.
(Found as gaps by mutation testing, docs/testing.md; the repository tests exercise it end to end.)"""

from __future__ import annotations

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.layout import object_name, pack_key
from drkit.repo.format.objects import TamperEvent, VerifiedReader
from drkit.storage.errors import ObjectNotFound
from tests.unit.repo.fakestore import FakeStore

GOOD = b"the original, intact bytes"
NAME = object_name(GOOD)
KEY = pack_key(NAME)


class LosingStore(FakeStore):
    """Loses the versions in ``gone`` between listing them and reading them (a concurrent prune)."""

    def __init__(self) -> None:
        super().__init__()
        self.gone: set[str] = set()

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        if version_id in self.gone:
            self.calls.append(("get", key))
            raise ObjectNotFound(f"version {version_id} of {key} is gone", key=key)
        return super().get(key, version_id=version_id)


def gets(store: FakeStore) -> int:
    return sum(1 for op, _ in store.calls if op == "get")


def test_a_pinned_intact_version_is_read_once_and_records_nothing() -> None:
    store = FakeStore()
    v1 = store.put(KEY, GOOD)
    store.overwrite(KEY, GOOD)  # a newer version, even an intact one, is not what was asked for
    store.overwrite(KEY, b"attacker")
    reader = VerifiedReader(store)
    store.calls.clear()
    assert reader.read_named(KEY, NAME, version_id=v1) == (GOOD, v1)
    assert gets(store) == 1
    assert reader.events == []


def test_a_bad_pinned_version_falls_back_without_reading_it_twice() -> None:
    store = FakeStore()
    v1 = store.put(KEY, GOOD)
    v2 = store.overwrite(KEY, b"attacker")
    reader = VerifiedReader(store, reads=1)  # no re-read of a failed check (faults in transit)
    store.calls.clear()
    assert reader.read_named(KEY, NAME, version_id=v2) == (GOOD, v1)
    assert gets(store) == 2  # v2, then v1: the failed version is not read again
    assert reader.events == [
        TamperEvent(
            KEY,
            v2,
            v1,
            "the version read fails its check (consistently corrupt); "
            f"the intact version {v1} was used instead",
        )
    ]


def test_a_vanished_version_does_not_end_the_search() -> None:
    store = LosingStore()
    v1 = store.put(KEY, GOOD)
    v2 = store.overwrite(KEY, b"attacker")
    v3 = store.overwrite(KEY, b"attacker again")
    store.gone.add(v2)  # listed, then gone before it is read
    reader = VerifiedReader(store)
    assert reader.read_named(KEY, NAME) == (GOOD, v1)
    assert reader.events[0].bad_version == v3
    assert reader.events[0].good_version == v1


def test_a_missing_pinned_version_says_missing() -> None:
    store = LosingStore()
    v1 = store.put(KEY, GOOD)
    v2 = store.overwrite(KEY, GOOD)
    store.gone.add(v2)
    reader = VerifiedReader(store)
    assert reader.read_named(KEY, NAME, version_id=v2) == (GOOD, v1)
    assert reader.events[0].message.startswith("the version read is missing;")


def test_nothing_stored_is_missing_and_nothing_intact_is_corrupt() -> None:
    store = FakeStore()
    reader = VerifiedReader(store)
    with pytest.raises(VerificationFailed, match=f"^{KEY} is missing from the store$"):
        reader.read_named(KEY, NAME)
    store.put(KEY, b"bit rot")
    store.overwrite(KEY, b"more rot")
    with pytest.raises(VerificationFailed, match=f"^{KEY} is corrupt or tampered with: no version"):
        reader.read_named(KEY, NAME)
    assert reader.events == []


def test_every_event_is_recorded_once() -> None:
    store = FakeStore()
    store.put(KEY, GOOD)
    store.overwrite(KEY, b"attacker")
    reader = VerifiedReader(store)
    for _ in range(3):
        reader.read_named(KEY, NAME)
    assert len(reader.events) == 1


def test_a_missing_pinned_version_and_no_intact_other_is_corrupt_not_missing() -> None:
    store = LosingStore()
    store.put(KEY, b"bit rot")
    v2 = store.overwrite(KEY, GOOD)
    store.gone.add(v2)
    with pytest.raises(VerificationFailed, match=f"^{KEY} is corrupt or tampered with"):
        VerifiedReader(store).read_named(KEY, NAME, version_id=v2)


def test_the_event_names_the_pinned_version_as_bad_not_the_newest() -> None:
    store = FakeStore()
    v1 = store.put(KEY, GOOD)
    v2 = store.overwrite(KEY, b"attacker")
    store.overwrite(KEY, b"newest, not the one asked for")
    reader = VerifiedReader(store)
    assert reader.read_named(KEY, NAME, version_id=v2) == (GOOD, v1)
    assert (reader.events[0].bad_version, reader.events[0].good_version) == (v2, v1)
