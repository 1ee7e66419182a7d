"""Opening the key slot on a thread (``Unlocking``) while a command imports and reads what needs no
key: the same key, the same errors as opening it in line, and no thread left behind."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from drkit.errors import RepositoryNotFound, WrongKey
from drkit.repo.format import keyslots
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential, generate_keyfile
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.repo.format.unlocking import Unlocking
from drkit.repo.repository import Repository
from drkit.secret import Secret
from tests.unit.repo.fakestore import FakeStore

FAST_N = 2**10


def pw(text: str) -> Credential:
    return Credential(passphrase=Secret(text))


def _unlock_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "drkit-unlock"]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def test_the_key_is_the_one_the_slot_opens_in_line(store: FakeStore) -> None:
    master = MasterKey.generate()
    slot = KeyRing(store, scrypt_n=FAST_N).add(master, pw("alpha"), "admin")
    with Unlocking(store, pw("alpha"), write_only=False) as unlocking:
        assert unlocking.result() == (master, slot.slot_id) == KeyRing(store).open(pw("alpha"))
    with Unlocking(store, pw("alpha"), write_only=True) as unlocking:
        writer, slot_id = unlocking.result()
    assert isinstance(writer, WriterKey)
    assert (writer, slot_id) == KeyRing(store).open_writer(pw("alpha"))
    assert _unlock_threads() == []


def test_a_wrong_passphrase_fails_as_in_line_where_the_key_is_asked_for(store: FakeStore) -> None:
    KeyRing(store, scrypt_n=FAST_N).add(MasterKey.generate(), pw("alpha"), "admin")
    with pytest.raises(WrongKey) as in_line:
        KeyRing(store).open(pw("beta"))
    unlocking = Unlocking(store, pw("beta"), write_only=False)  # raises nothing yet
    with pytest.raises(WrongKey) as early:
        unlocking.result()
    assert (early.value.message, early.value.hint, early.value.exit_code) == (
        in_line.value.message,
        in_line.value.hint,
        in_line.value.exit_code,
    )
    with pytest.raises(WrongKey):  # asked again: the same answer
        unlocking.result()
    assert _unlock_threads() == []


def test_the_thread_is_joined_when_the_block_fails_before_asking(store: FakeStore) -> None:
    KeyRing(store, scrypt_n=FAST_N).add(MasterKey.generate(), pw("alpha"), "admin")
    with (
        pytest.raises(RuntimeError, match="an import failed"),
        Unlocking(store, pw("alpha"), write_only=False),
    ):
        raise RuntimeError("an import failed")
    assert _unlock_threads() == []


def test_a_missing_repository_is_reported_before_the_key(store: FakeStore) -> None:
    """No config and no slot: "no repository" (as in line), not the thread's "opens no key slot"."""
    with Unlocking(store, pw("alpha"), write_only=False) as unlocking, pytest.raises(RepositoryNotFound):
        Repository.open(store, pw("alpha"), unlocking=unlocking)
    assert _unlock_threads() == []


def test_a_repository_opens_with_the_key_derived_early(store: FakeStore) -> None:
    made = Repository.init(store, pw("alpha"), lock_mode=None, retention=timedelta(0), scrypt_n=FAST_N)
    with Unlocking(store, pw("alpha"), write_only=False) as unlocking:
        repo = Repository.open(store, pw("alpha"), unlocking=unlocking)
    assert repo.key == made.key
    assert repo.slot_id == made.slot_id
    with Unlocking(store, pw("wrong"), write_only=False) as unlocking, pytest.raises(WrongKey):
        Repository.open(store, pw("wrong"), unlocking=unlocking)
    with Unlocking(store, pw("alpha"), write_only=True) as unlocking, pytest.raises(ValueError, match="mode"):
        Repository.open(store, pw("alpha"), unlocking=unlocking)  # started for the write-only open
    assert _unlock_threads() == []


def test_a_keyfile_opens_too_and_a_wrong_one_fails_as_in_line(store: FakeStore) -> None:
    keyfile = Credential(keyfile=Secret(generate_keyfile()))
    master = MasterKey.generate()
    slot = KeyRing(store, scrypt_n=FAST_N).add(master, keyfile, "ci")
    with Unlocking(store, keyfile, write_only=False) as unlocking:
        assert unlocking.result() == (master, slot.slot_id)
    other = Credential(keyfile=Secret(generate_keyfile()))
    with pytest.raises(WrongKey) as in_line:
        KeyRing(store).open(other)
    with Unlocking(store, other, write_only=False) as unlocking, pytest.raises(WrongKey) as early:
        unlocking.result()
    assert early.value.message == in_line.value.message
    assert _unlock_threads() == []


def test_the_passphrase_key_is_rfc_7914_scrypt() -> None:
    """RFC 7914's second test vector (its first 32 bytes: a KEK is 32 bytes)."""
    kdf = {"name": "scrypt", "n": 1024, "r": 8, "p": 16, "salt": ""}
    kek = keyslots._derive_kek(keyslots.KIND_PASSPHRASE, kdf, b"NaCl", pw("password"))
    assert kek.hex() == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
