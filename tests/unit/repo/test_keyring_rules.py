"""The key ring's rules, seen through what a user gets (drkit.repo.format.keyring): which slot opens when
several could, which stored versions are tried and in what order, what is named when none opens, and
the exact refusals of `repo key remove` and slot ids."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator

import pytest

from drkit.errors import ConfigError, VerificationFailed, WrongKey
from drkit.repo.format import keyslots
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential, generate_keyfile
from drkit.repo.format.masterkey import MasterKey
from drkit.secret import Secret
from drkit.storage.base import ObjectInfo
from drkit.storage.errors import ObjectNotFound
from tests.unit.repo.fakestore import FakeStore

FAST_N = 2**10
WRONG = "the passphrase or key file opens no key slot"
HINT = (
    "open with another slot, or put back a copy of the slot kept outside the bucket "
    "(docs/keys.md, 'The key ring'); `drkit repo key list` names the objects"
)


def pw(text: str) -> Credential:
    return Credential(passphrase=Secret(text))


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def ring(store: FakeStore) -> KeyRing:
    return KeyRing(store, scrypt_n=FAST_N)


@pytest.fixture(scope="module")
def master() -> MasterKey:
    return MasterKey.generate()


def _ids(monkeypatch: pytest.MonkeyPatch, *ids: str) -> None:
    """The next slots get these ids, in order."""
    it = iter(ids)
    monkeypatch.setattr(keyslots, "new_slot_id", lambda: next(it))


# -- when no slot opens ----------------------------------------------------------------------------


def test_a_wrong_passphrase_is_a_wrong_key_with_its_message(ring: KeyRing, master: MasterKey) -> None:
    ring.add(master, pw("alpha"), "a")
    for opener in (ring.open, ring.open_writer):
        with pytest.raises(WrongKey) as err:
            opener(pw("beta"))
        assert err.value.message == WRONG


@pytest.mark.parametrize("how_many", [1, 2])
def test_objects_that_are_no_slot_are_named_when_nothing_opens(
    ring: KeyRing, store: FakeStore, master: MasterKey, how_many: int
) -> None:
    ring.add(master, pw("alpha"), "a")
    garbage = [f"keys/{c * 32}" for c in "01"[:how_many]]
    for key in garbage:
        store.put(key, b"{not a slot")
    for opener in (ring.open, ring.open_writer):
        with pytest.raises(VerificationFailed) as err:
            opener(pw("beta"))
        assert not isinstance(err.value, WrongKey)
        verb = "is" if how_many == 1 else "are"
        assert err.value.message == (
            f"the passphrase or key file opens no key slot, and {', '.join(garbage)} {verb} no valid key "
            "slot document (corrupt or tampered with; it may have been the slot of this credential)"
        )
        assert err.value.hint == HINT


def test_a_slot_whose_older_version_only_is_garbage_is_not_named(
    ring: KeyRing, store: FakeStore, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot_id = "a" * 32
    store.put(f"keys/{slot_id}", b"{garbage first")
    _ids(monkeypatch, slot_id)
    _, document = keyslots.wrap(master, pw("alpha"), label="a", scrypt_n=FAST_N)
    store.overwrite(f"keys/{slot_id}", document)
    with pytest.raises(WrongKey) as err:
        ring.open(pw("beta"))
    assert err.value.message == WRONG
    assert ring.open(pw("alpha")) == (master, slot_id)


# -- which versions are tried ----------------------------------------------------------------------


def test_a_slot_overwritten_with_another_slots_document_opens_from_its_own_older_version(
    ring: KeyRing, store: FakeStore, master: MasterKey
) -> None:
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(MasterKey.generate(), pw("beta"), "b")
    store.overwrite(f"keys/{a.slot_id}", store.get(f"keys/{b.slot_id}"))
    assert ring.open(pw("alpha")) == (master, a.slot_id)
    assert ring.scan().invalid == [f"keys/{a.slot_id}"]


def test_a_slot_overwritten_with_another_kind_opens_from_its_older_version(
    ring: KeyRing, store: FakeStore, master: MasterKey
) -> None:
    a = ring.add(master, pw("alpha"), "a")
    _, keyfile_doc = keyslots.wrap(master, Credential(keyfile=Secret(generate_keyfile())), label="k")
    doc = json.loads(keyfile_doc)
    doc["slot_id"] = a.slot_id  # same name, another kind: skipped for a passphrase, not the end
    store.overwrite(f"keys/{a.slot_id}", json.dumps(doc).encode())
    assert ring.open(pw("alpha")) == (master, a.slot_id)


def test_newest_versions_are_tried_before_older_ones(
    ring: KeyRing, store: FakeStore, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slot 0... has a tampered newest version and an intact older one; slot f... is intact. The
    intact newest version wins over the older version of another slot."""
    _ids(monkeypatch, "0" * 32, "f" * 32)
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, pw("alpha"), "b")
    doc = json.loads(store.get(f"keys/{a.slot_id}"))
    doc["label"] = "changed"
    store.overwrite(f"keys/{a.slot_id}", json.dumps(doc).encode())
    assert ring.open(pw("alpha")) == (master, b.slot_id)


def test_open_writer_tries_writer_slots_before_master_slots(
    ring: KeyRing, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ids(monkeypatch, "0" * 32, "f" * 32)
    ring.add(master, pw("alpha"), "master")
    writer = ring.add_writer(master.writer_key(), pw("alpha"), "writer")
    assert ring.open_writer(pw("alpha")) == (master.writer_key(), writer.slot_id)


class Racing(FakeStore):
    """A slot removed while the ring lists (``vanished``), and a version listed that cannot be read."""

    vanished = "keys/" + "0" * 32
    phantom = "no-such-version"

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        yield ObjectInfo(key=self.vanished, size=1)
        yield from super().list(prefix)

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        real = super().versions(key)
        return [ObjectInfo(key=key, size=1, version_id=self.phantom), *real]

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        if version_id == self.phantom:
            raise ObjectNotFound(f"no version {version_id} of {key}", key=key)
        return super().get(key, version_id=version_id)


def test_a_slot_removed_while_listing_or_a_version_gone_is_passed_over(master: MasterKey) -> None:
    store = Racing()
    ring = KeyRing(store, scrypt_n=FAST_N)
    a = ring.add(master, pw("alpha"), "a")
    assert [s.slot_id for s in ring.scan().slots] == [a.slot_id]
    assert ring.open(pw("alpha")) == (master, a.slot_id)


# -- adding and removing ---------------------------------------------------------------------------


def test_add_keeps_the_kind_asked_for(ring: KeyRing, master: MasterKey) -> None:
    both = Credential(passphrase=Secret("alpha"), keyfile=Secret(generate_keyfile()))
    assert ring.add(master, both, "a", kind="keyfile").kind == "keyfile"
    assert ring.add(master, both, "b", kind="passphrase").kind == "passphrase"
    assert ring.add_writer(master.writer_key(), both, "w", kind="keyfile").kind == "keyfile"


def test_remove_refusals_say_what_to_do(ring: KeyRing, master: MasterKey) -> None:
    a = ring.add(master, pw("alpha"), "a")
    with pytest.raises(ConfigError) as err:
        ring.remove(a.slot_id, current_slot=a.slot_id, force=True)
    assert err.value.message == (
        f"key slot {a.slot_id} is the repository's last master key slot: removing it would make "
        "every backup unreadable"
    )
    assert err.value.hint == "add another slot first (`drkit repo key add`)"
    b = ring.add(master, pw("beta"), "b")
    with pytest.raises(ConfigError) as err:
        ring.remove(a.slot_id, current_slot=a.slot_id)
    assert err.value.message == f"key slot {a.slot_id} is the one this command was opened with"
    assert err.value.hint == "open with another slot, or pass --force"
    assert ring.remove(a.slot_id, current_slot=b.slot_id) == a


def test_remove_deletes_every_version_by_its_id(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, pw("beta"), "b")
    store.overwrite(f"keys/{a.slot_id}", b"{garbage")
    store.calls.clear()
    ring.remove(a.slot_id, current_slot=b.slot_id)
    assert f"keys/{a.slot_id}" not in store.all_keys()
    assert [c for c in store.calls if c[0] == "delete"] == [("delete", f"keys/{a.slot_id}")] * 2


def test_slot_ids_resolve_from_four_digits_and_name_what_is_wrong(
    ring: KeyRing, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ids(monkeypatch, "abcd" + "0" * 28, "abce" + "0" * 28)
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, pw("beta"), "b")
    assert ring.resolve("abcd") == a.slot_id
    assert ring.resolve("abce") == b.slot_id
    with pytest.raises(ConfigError) as err:
        ring.resolve("abc")  # three digits never resolve, even when only slots share them
    assert err.value.message == "no key slot 'abc'"
    assert err.value.hint == "`drkit repo key list` shows the slots"
    monkeypatch.setattr("drkit.repo.format.keyring.MIN_PREFIX", 3)
    with pytest.raises(ConfigError) as err:
        ring.resolve("abc")
    assert err.value.message == f"key slot id 'abc' is ambiguous: {a.slot_id}, {b.slot_id}"


def test_a_copy_of_another_slot_is_named_only_when_it_is_the_newest_version(
    ring: KeyRing, store: FakeStore, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = ring.add(master, pw("beta"), "b")
    copy = "keys/" + "0" * 32
    store.put(copy, store.get(f"keys/{b.slot_id}"))  # newest version: a copy under another name
    with pytest.raises(VerificationFailed) as err:
        ring.open(pw("gamma"))
    assert err.value.message.startswith(
        f"the passphrase or key file opens no key slot, and {copy} is no valid"
    )
    # a slot whose older version is such a copy and whose newest version is its own is not named
    slot_id = "a" * 32
    store.put(f"keys/{slot_id}", store.get(f"keys/{b.slot_id}"))
    _ids(monkeypatch, slot_id)
    _, document = keyslots.wrap(master, pw("alpha"), label="a", scrypt_n=FAST_N)
    store.overwrite(f"keys/{slot_id}", document)
    with pytest.raises(VerificationFailed) as err:
        ring.open(pw("gamma"))
    assert f"keys/{slot_id}" not in err.value.message
    assert ring.open(pw("alpha")) == (master, slot_id)


class Recording(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.deleted: list[tuple[str, str | None]] = []

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        self.deleted.append((key, version_id))
        super().delete(key, version_id=version_id)


def test_remove_names_each_version_it_deletes(master: MasterKey) -> None:
    """On a versioned bucket a delete without a version id only hides the slot behind a delete
    marker: every version must be deleted by its own id."""
    store = Recording()
    ring = KeyRing(store, scrypt_n=FAST_N)
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, pw("beta"), "b")
    key = f"keys/{a.slot_id}"
    ids = [v.version_id for v in store.versions(key)]
    ids.insert(0, store.overwrite(key, b"{garbage"))
    ring.remove(a.slot_id, current_slot=b.slot_id)
    assert store.deleted == [(key, i) for i in ids]
    assert all(i is not None for i in ids)


@pytest.mark.parametrize("first", ["another passphrase's", "tampered"])
def test_open_writer_goes_on_past_a_slot_that_does_not_open(
    ring: KeyRing, store: FakeStore, master: MasterKey, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    _ids(monkeypatch, "0" * 32, "f" * 32)
    a = ring.add_writer(master.writer_key(), pw("alpha" if first == "tampered" else "other"), "a")
    b = ring.add_writer(master.writer_key(), pw("alpha"), "b")
    if first == "tampered":
        doc = json.loads(store.get(f"keys/{a.slot_id}"))
        doc["label"] = "changed"
        store._objects[f"keys/{a.slot_id}"][0].data = json.dumps(doc).encode()  # no older version
    assert ring.open_writer(pw("alpha")) == (master.writer_key(), b.slot_id)


def test_open_writer_with_the_repository_key_passes_over_a_planted_slot(
    ring: KeyRing, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ids(monkeypatch, "0" * 32, "f" * 32)
    ring.add_writer(MasterKey.generate().writer_key(), pw("alpha"), "planted")  # tried first
    real = ring.add_writer(master.writer_key(), pw("alpha"), "real")
    assert ring.open_writer(pw("alpha"), verify_key=master.verify_key()) == (
        master.writer_key(),
        real.slot_id,
    )
