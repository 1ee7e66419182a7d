"""Faults in transit (issue 19.11): a flipped byte is re-read, a lost put reply is not a failure.

A byte flipped on the way (and a server that sends no checksum header, so nothing below drkit
catches it) must cost a re-read, not a "corrupt" verdict; a version corrupt in the store must still
be called corrupt, and said to be consistently so. A put whose reply was lost while the request
landed must count as done for every kind of object drkit writes.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from drkit.errors import VerificationFailed, WrongKey
from drkit.repo.format import audit, keyslots
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.layout import CONFIG_KEY, pack_key
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.objects import VerifiedReader
from drkit.secret import Secret
from drkit.storage.base import Retention
from drkit.storage.errors import TransientStoreError
from drkit.storage.retry import RetryingStore
from tests.treecompare import assert_same_tree
from tests.unit.repo.repohelpers import CRED, SCRYPT_N, SafeStore, corrupt, make_tree, new_repo, open_repo


class Flipping(SafeStore):
    """Flips one byte of the next ``flips[key]`` reads of ``key`` (``"*"``: of any key, once each)."""

    def __init__(self) -> None:
        super().__init__()
        self.flips: dict[str, int] = {}
        self.flipped: list[str] = []

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        left = self.flips.get(key, 0)
        if left > 0 and data:
            self.flips[key] = left - 1
            self.flipped.append(key)
            flipped = bytearray(data)
            flipped[(len(data) // 2 + left) % len(data)] ^= 0x40  # not the same byte each time
            return bytes(flipped)
        return data


class LostReply(SafeStore):
    """Each put lands, then its reply is lost (a transient error) the first time for each key."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: list[str] = []

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        vid = super().put(key, data, retention=retention)
        if key not in self.lost:
            self.lost.append(key)
            raise TransientStoreError(f"{key}: put failed: Connection was closed before we received a reply")
        return vid


def test_a_version_that_fails_once_then_passes_is_a_fault_in_transit_not_tampering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Flipping()
    store.put("snapshots/a", b"good bytes")
    store.flips["snapshots/a"] = 1
    reader = VerifiedReader(store)
    valid = lambda data: data == b"good bytes"  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="drkit.repo.format.objects"):
        assert reader.read("snapshots/a", valid) == (b"good bytes", None)
    assert reader.events == []
    assert [e.message for e in reader.transit] == [
        "snapshots/a: failed 1 read(s), then passed (a fault in transit, not stored)"
    ]
    assert "failed 1 read(s), then passed" in caplog.text


def test_a_version_corrupt_in_the_store_is_read_a_bounded_number_of_times_then_called_corrupt() -> None:
    store = Flipping()
    store.put("snapshots/a", b"good bytes")
    store.inner._objects["snapshots/a"][0].data = b"bad bytes"
    store.flips["snapshots/a"] = 0
    reads: list[str] = []
    original = store.get

    def counting(key: str, *, version_id: str | None = None) -> bytes:
        reads.append(key)
        return original(key, version_id=version_id)

    store.get = counting  # type: ignore[method-assign]
    with pytest.raises(VerificationFailed, match="consistently corrupt: read 3 times"):
        VerifiedReader(store).read("snapshots/a", lambda data: data == b"good bytes")
    assert 3 <= len(reads) <= 6  # the version read, then (the same one, listed) no other version


def test_backup_restore_and_verify_pass_through_flipped_reads(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = Flipping()
    snap = new_repo(store).backup_path(src, host="h")
    for key in store.keys(""):
        store.flips[key] = 2  # every object read flips twice, then reads true
    repo = open_repo(store)
    repo.restore_path(snap.id, tmp_path / "out")
    assert_same_tree(src, tmp_path / "out")
    report = repo.verify(read_data_percent=100)
    assert report.problems == ()
    assert any("then passed (a fault in transit, not stored)" in w for w in report.warnings)
    assert store.flipped  # the faults did happen
    assert repo._reader.transit


def test_a_pack_corrupt_in_the_store_is_still_corrupt_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = Flipping()
    snap = new_repo(store).backup_path(src, host="h")
    for pack_id in snap.packs:
        corrupt(store, pack_key(pack_id))
    with pytest.raises(VerificationFailed, match="consistently corrupt"):
        open_repo(store).restore_path(snap.id, tmp_path / "out")


def test_a_lost_put_reply_is_success_for_init_key_add_and_audit_records() -> None:
    store = LostReply()
    retrying = RetryingStore(store, sleep=lambda _s: None, rng=random.Random(3))
    repo = new_repo(retrying)  # keys/<slot> and config: both replies lost
    assert CONFIG_KEY in store.lost
    assert any(k.startswith("keys/") for k in store.lost)
    other = Credential(passphrase=Secret("another passphrase"))
    slot = KeyRing(retrying, scrypt_n=SCRYPT_N).add(repo.key, other, "second")
    assert f"keys/{slot.slot_id}" in store.lost
    record = audit.append(repo, audit.AuditRecord.now("backup", "drkit backup", "ok"))
    assert record.key in store.lost
    assert [r.key for r in audit.list_records(open_repo(retrying)).records] == [record.key]


class OnceInTransit(SafeStore):
    """Sets the middle byte of the first read of each key under ``prefix`` to ``to`` (one byte changed
    on the way by a store that sends no checksum header: tests/infra/faultproxy.py ``flip-bare``)."""

    def __init__(self, prefix: str, to: bytes) -> None:
        super().__init__()
        self.prefix = prefix
        self.to = to
        self.changed: dict[str, bytes] = {}

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        if not key.startswith(self.prefix) or key in self.changed or not data:
            return data
        damaged = bytearray(data)
        middle = len(data) // 2
        damaged[middle] = self.to[0] if data[middle] != self.to[0] else self.to[0] + 1
        self.changed[key] = bytes(damaged)
        return bytes(damaged)


def test_a_key_slot_read_damaged_once_is_still_a_slot_for_list_and_remove() -> None:
    # A slot read with a byte changed in transit was "no valid key slot": `repo key list` left it
    # out and `repo key remove` of the other master slot refused it as the last one.
    store = OnceInTransit("keys/", b"!")  # no base64 digit: the read slot does not parse
    master = MasterKey.generate()
    ring = KeyRing(store, scrypt_n=SCRYPT_N)
    first = ring.add(master, CRED, "first")
    second = ring.add(master, Credential(passphrase=Secret("another passphrase")), "second")
    scan = ring.scan()
    assert len(store.changed) == 2  # both slots were read damaged first
    assert (sorted(s.slot_id for s in scan.slots), scan.invalid) == (
        sorted([first.slot_id, second.slot_id]),
        [],
    )
    store.changed.clear()
    assert ring.remove(first.slot_id, current_slot=second.slot_id) == first
    assert [s.slot_id for s in ring.list()] == [second.slot_id]


def test_a_key_slot_exported_is_the_stored_document_not_one_changed_in_transit() -> None:
    store = OnceInTransit("keys/", b"Q")  # a base64 digit: the changed document still parses
    ring = KeyRing(store, scrypt_n=SCRYPT_N)
    slot = ring.add(MasterKey.generate(), CRED, "kept outside the bucket")
    key = f"keys/{slot.slot_id}"
    stored = store.inner._objects[key][0].data
    ring.resolve = lambda slot_id: slot_id  # type: ignore[method-assign]  # only the export's reads
    assert ring.document(slot.slot_id) == stored
    assert store.changed[key] != stored
    assert keyslots.slot_info(store.changed[key]) == slot  # the change was silent: only a re-read shows it


class SameChangeTwice(SafeStore):
    """Changes the middle byte of the first two reads of each key under ``prefix`` the same way: two
    reads agree on bytes that are not the stored ones (the fault proxy's ``flip-bare`` flips the same
    byte each time it is drawn)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.reads: dict[str, int] = {}

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        if not key.startswith(self.prefix) or not data:
            return data
        self.reads[key] = self.reads.get(key, 0) + 1
        if self.reads[key] > 2:
            return data
        damaged = bytearray(data)
        damaged[len(data) // 2] ^= 0x01
        return bytes(damaged)


def test_a_slot_read_changed_the_same_way_twice_still_opens_and_is_no_wrong_passphrase(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # CI (2026-12-04, tests/integration/test_fault_proxy.py): `drkit prune` through the fault proxy
    # said "the passphrase or key file opens no key slot" with the right passphrase.
    store = SameChangeTwice("keys/")
    master = MasterKey.generate()
    ring = KeyRing(store, scrypt_n=SCRYPT_N)
    slot = ring.add(master, CRED, "first")
    with caplog.at_level(logging.WARNING, logger="drkit.repo.format.keyring"):
        opened, slot_id = ring.open(CRED)
    assert (opened, slot_id) == (master, slot.slot_id)
    assert store.reads[f"keys/{slot.slot_id}"] >= 3  # the agreeing, changed reads, then a true one
    assert "changed in transit" in caplog.text
    store.reads.clear()
    writer, _ = ring.open_writer(CRED)
    assert writer.verify_key() == master.verify_key()
    with pytest.raises(WrongKey):  # a wrong passphrase is still one, after the second pass
        KeyRing(store, scrypt_n=SCRYPT_N).open(Credential(passphrase=Secret("not the passphrase")))
