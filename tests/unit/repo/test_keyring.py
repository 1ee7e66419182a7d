from __future__ import annotations

import json
from pathlib import Path

import pytest

from drkit.errors import ConfigError, ExitCode, VerificationFailed, WrongKey
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential, SlotTampered, generate_keyfile
from drkit.repo.format.masterkey import MasterKey
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.unit.repo.fakestore import FakeStore

FAST_N = 2**10


def pw(text: str) -> Credential:
    return Credential(passphrase=Secret(text))


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def ring(store: FakeStore) -> KeyRing:
    return KeyRing(store, scrypt_n=FAST_N)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


def test_add_list_open(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    keyfile = Credential(keyfile=Secret(generate_keyfile()))
    first = ring.add(master, pw("alpha"), "admin")
    second = ring.add(master, keyfile, "ci")
    assert store.all_keys() == sorted([f"keys/{first.slot_id}", f"keys/{second.slot_id}"])
    assert {s.slot_id for s in ring.list()} == {first.slot_id, second.slot_id}
    assert ring.open(pw("alpha")) == (master, first.slot_id)
    assert ring.open(keyfile) == (master, second.slot_id)
    with pytest.raises(WrongKey, match="opens no key slot"):
        ring.open(pw("beta"))


def test_slots_are_written_without_retention(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    info = ring.add(master, pw("alpha"), "admin")
    assert store.head(f"keys/{info.slot_id}").retention is None


def test_empty_ring_is_wrong_key(ring: KeyRing) -> None:
    assert ring.list() == []
    with pytest.raises(WrongKey):
        ring.open(pw("alpha"))


def test_remove_rules(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    a = ring.add(master, pw("alpha"), "a")
    with pytest.raises(ConfigError, match="last master key slot"):
        ring.remove(a.slot_id, current_slot="other", force=True)
    b = ring.add(master, pw("beta"), "b")
    with pytest.raises(ConfigError, match="opened with"):
        ring.remove(a.slot_id, current_slot=a.slot_id)
    removed = ring.remove(a.slot_id[:6], current_slot=b.slot_id)
    assert removed == a
    assert [s.slot_id for s in ring.list()] == [b.slot_id]
    with pytest.raises(WrongKey):
        ring.open(pw("alpha"))
    c = ring.add(master, pw("gamma"), "c")
    ring.remove(b.slot_id, current_slot=b.slot_id, force=True)
    assert [s.slot_id for s in ring.list()] == [c.slot_id]
    with pytest.raises(ConfigError, match="no key slot"):
        ring.remove("ffffffff", current_slot=c.slot_id)


def test_remove_deletes_every_version(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    """A removed slot must not stay openable through an older version."""
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, pw("beta"), "b")
    store.overwrite(f"keys/{a.slot_id}", b"garbage")
    ring.remove(a.slot_id, current_slot=b.slot_id)
    assert not store.exists(f"keys/{a.slot_id}")
    with pytest.raises(WrongKey):
        ring.open(pw("alpha"))


def test_writer_slot_is_no_master_slot(ring: KeyRing, master: MasterKey) -> None:
    a = ring.add(master, pw("alpha"), "admin")
    w = ring.add_writer(master.writer_key(), pw("writer"), "cluster")
    assert {s.role for s in ring.list()} == {"master", "writer"}
    with pytest.raises(WrongKey):
        ring.open(pw("writer"))
    assert ring.open_writer(pw("writer")) == (master.writer_key(), w.slot_id)
    assert ring.open_writer(pw("alpha")) == (master.writer_key(), a.slot_id)
    # the writer slot does not count as a way to read the repository
    with pytest.raises(ConfigError, match="last master key slot"):
        ring.remove(a.slot_id, current_slot=w.slot_id)
    ring.remove(w.slot_id, current_slot=a.slot_id)


def test_overwritten_slot_still_opens_from_its_older_version(
    ring: KeyRing, store: FakeStore, master: MasterKey
) -> None:
    a = ring.add(master, pw("alpha"), "a")
    store.overwrite(f"keys/{a.slot_id}", b"{not a slot")
    assert ring.scan().invalid == [f"keys/{a.slot_id}"]
    assert ring.open(pw("alpha")) == (master, a.slot_id)


def test_copied_slot_under_another_name_is_invalid(
    ring: KeyRing, store: FakeStore, master: MasterKey
) -> None:
    a = ring.add(master, pw("alpha"), "a")
    store.put("keys/" + "0" * 32, store.get(f"keys/{a.slot_id}"))
    scan = ring.scan()
    assert [s.slot_id for s in scan.slots] == [a.slot_id]
    assert scan.invalid == ["keys/" + "0" * 32]


def test_slot_of_another_master_key_does_not_open_with_other_credentials(
    ring: KeyRing, master: MasterKey
) -> None:
    ring.add(master, pw("alpha"), "a")
    intruder = MasterKey.generate()
    ring.add(intruder, pw("mallory"), "planted")
    assert ring.open(pw("alpha"))[0] == master
    assert ring.open(pw("mallory"))[0] == intruder  # callers pin the fingerprint: docs/keys.md


def test_listing_shows_no_secret(ring: KeyRing, store: FakeStore, master: MasterKey) -> None:
    info = ring.add(master, pw("alpha-secret"), "a")
    shown = repr(ring.list()) + json.dumps([s.label for s in ring.list()])
    assert "alpha-secret" not in shown
    assert master.data_key.hex() not in shown
    assert info.slot_id in shown


def test_verify_key_passes_over_planted_slots(ring: KeyRing, master: MasterKey) -> None:
    """Someone with write access plants a slot of their own master key under the same passphrase."""
    intruder = MasterKey.generate()
    planted = ring.add(intruder, pw("alpha"), "planted")
    real = ring.add(master, pw("alpha"), "real")
    assert ring.open(pw("alpha"), verify_key=master.verify_key()) == (master, real.slot_id)
    assert ring.open_writer(pw("alpha"), verify_key=master.verify_key()) == (
        master.writer_key(),
        real.slot_id,
    )
    assert ring.open(pw("alpha"))[1] in {planted.slot_id, real.slot_id}
    with pytest.raises(WrongKey):
        ring.open(pw("alpha"), verify_key=MasterKey.generate().verify_key())


def test_export_and_restore_a_slot(store: FakeStore, master: MasterKey) -> None:
    ring = KeyRing(store, scrypt_n=FAST_N)
    keyfile = Credential(keyfile=Secret(generate_keyfile()))
    info = ring.add(master, keyfile, "offline copy")
    saved = ring.document(info.slot_id[:8])
    assert master.data_key not in saved
    for key in store.all_keys():  # someone with delete rights removes every slot
        store.delete(key)
    with pytest.raises(WrongKey):
        ring.open(keyfile)
    assert ring.restore(saved) == info
    assert ring.open(keyfile) == (master, info.slot_id)
    with pytest.raises(ConfigError):
        ring.document("ffff")


def test_keyring_on_a_local_directory(tmp_path: Path, master: MasterKey) -> None:
    """The same rules on the real local backend, which keeps no versions."""
    store = LocalStore(tmp_path / "repo")
    ring = KeyRing(store, scrypt_n=FAST_N)
    a = ring.add(master, pw("alpha"), "a")
    b = ring.add(master, Credential(keyfile=Secret(generate_keyfile())), "b")
    assert {s.slot_id for s in ring.list()} == {a.slot_id, b.slot_id}
    assert ring.open(pw("alpha"), verify_key=master.verify_key()) == (master, a.slot_id)
    ring.remove(a.slot_id, current_slot=b.slot_id)
    assert not (tmp_path / "repo" / "keys" / a.slot_id).exists()
    with pytest.raises(WrongKey):
        ring.open(pw("alpha"))
    with pytest.raises(ConfigError, match="last master key slot"):
        ring.remove(b.slot_id, current_slot=a.slot_id)
    on_disk = (tmp_path / "repo" / "keys" / b.slot_id).read_bytes()
    assert master.data_key not in on_disk
    assert master.data_key.hex().encode() not in on_disk


# -- a slot that exists but fails its integrity check (exit 13) vs no slot opening (exit 12) -----------


def _tamper(path: Path, field: str, value: object) -> None:
    doc = json.loads(path.read_bytes())
    doc[field] = value
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("role", ["master", "writer"])
def test_a_tampered_slot_is_named_not_taken_for_a_wrong_passphrase(
    tmp_path: Path, master: MasterKey, role: str
) -> None:
    store = LocalStore(tmp_path / "repo")  # keeps no versions: no older one to fall back to
    ring = KeyRing(store, scrypt_n=FAST_N)
    slot = (
        ring.add(master, pw("alpha"), "a")
        if role == "master"
        else ring.add_writer(master.writer_key(), pw("alpha"), "w")
    )
    _tamper(tmp_path / "repo" / "keys" / slot.slot_id, "label", "relabelled by someone")
    with pytest.raises(SlotTampered) as err:
        ring.open_writer(pw("alpha"))
    assert f"keys/{slot.slot_id} fails its integrity check" in err.value.message
    assert err.value.exit_code is ExitCode.VERIFICATION_FAILED
    if role == "master":
        with pytest.raises(SlotTampered):
            ring.open(pw("alpha"))
    with pytest.raises(WrongKey) as wrong:  # a wrong passphrase is still a wrong passphrase
        ring.open_writer(pw("beta"))
    assert wrong.value.exit_code is ExitCode.WRONG_KEY


def test_garbage_over_the_only_slot_is_named(tmp_path: Path, master: MasterKey) -> None:
    store = LocalStore(tmp_path / "repo")
    ring = KeyRing(store, scrypt_n=FAST_N)
    slot = ring.add(master, pw("alpha"), "a")
    (tmp_path / "repo" / "keys" / slot.slot_id).write_bytes(b"\x00garbage")
    for credential in (pw("alpha"), pw("beta")):  # nobody can tell whose slot it was
        with pytest.raises(VerificationFailed) as err:
            ring.open(credential)
        assert f"keys/{slot.slot_id} is no valid key slot document" in err.value.message
        assert err.value.exit_code is ExitCode.VERIFICATION_FAILED


def test_another_slot_that_opens_wins_over_a_tampered_one(tmp_path: Path, master: MasterKey) -> None:
    store = LocalStore(tmp_path / "repo")
    ring = KeyRing(store, scrypt_n=FAST_N)
    a = ring.add(master, pw("alpha"), "a")
    keyfile = Credential(keyfile=Secret(generate_keyfile()))
    b = ring.add(master, keyfile, "b")
    _tamper(tmp_path / "repo" / "keys" / a.slot_id, "host", "elsewhere")
    both = Credential(passphrase=Secret("alpha"), keyfile=keyfile.keyfile)
    assert ring.open(both) == (master, b.slot_id)


def test_a_tampered_newest_version_falls_back_to_the_intact_older_one(
    ring: KeyRing, store: FakeStore, master: MasterKey
) -> None:
    a = ring.add(master, pw("alpha"), "a")
    doc = json.loads(store.get(f"keys/{a.slot_id}"))
    doc["label"] = "changed"
    store.overwrite(f"keys/{a.slot_id}", json.dumps(doc).encode())
    assert ring.open(pw("alpha")) == (master, a.slot_id)
