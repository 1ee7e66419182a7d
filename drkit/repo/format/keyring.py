"""The key slots of a repository, as stored objects under ``keys/<slot_id>``.

Key slots are written without retention, so that a slot (a leaked passphrase, a retired key file)
can be removed: removing a slot removes every stored version of it. That also means someone with
delete rights on the bucket can remove every slot and make the repository unreadable: keep one slot
(a key file slot and its key file) outside the bucket as well -- docs/keys.md.

An overwritten slot (a second version written by someone with writer credentials) does not lock the
owner out: :meth:`KeyRing.open` tries the older stored versions of every slot when the newest ones
open nothing.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from drkit.errors import ConfigError, DrkitError, VerificationFailed, WrongKey
from drkit.repo.format import keyslots
from drkit.repo.format.keyslots import ROLE_MASTER, ROLE_WRITER, Credential, KeySlotInfo, SlotTampered
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.repo.format.objects import agreed_read
from drkit.storage.base import Store
from drkit.storage.errors import ObjectNotFound

PREFIX: Final = "keys/"
MIN_PREFIX: Final = 4
_OPEN_PASSES: Final = 2
"""Times the slots are read and tried before no slot is said to open (see :meth:`KeyRing.open`)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotScan:
    """What ``keys/`` holds: the valid slots, and the keys of objects there that are no valid slot."""

    slots: builtins.list[KeySlotInfo]
    invalid: builtins.list[str]


class KeyRing:
    """Lists, adds, removes and opens the key slots of the repository in ``store``."""

    def __init__(self, store: Store, *, scrypt_n: int | None = None) -> None:
        self.store = store
        self._scrypt_n = scrypt_n  # tests only: see keyslots.wrap

    # -- reading ---------------------------------------------------------------------------------

    def scan(self) -> SlotScan:
        """Every object under ``keys/``, each read until two reads agree (``agreed_read``): a byte
        changed in transit must not make a slot "no valid slot" (left out of ``key list``, and the
        other master slot refused by ``key remove`` as the last one)."""
        slots: builtins.list[KeySlotInfo] = []
        invalid: builtins.list[str] = []
        for key in sorted(obj.key for obj in self.store.list(PREFIX)):
            try:
                info = keyslots.slot_info(agreed_read(self.store, key))
            except ObjectNotFound:
                continue  # removed while listing
            except VerificationFailed:
                invalid.append(key)
                continue
            if key != _key(info.slot_id):
                invalid.append(key)  # a slot document copied under another name
                continue
            slots.append(info)
        slots.sort(key=lambda s: (s.created, s.slot_id))
        return SlotScan(slots=slots, invalid=invalid)

    def list(self) -> builtins.list[KeySlotInfo]:
        """Every valid slot, oldest first. Objects under ``keys/`` that are no slot are left out
        (:meth:`scan` names them)."""
        return self.scan().slots

    def resolve(self, slot_id: str) -> str:
        """The full id of the slot ``slot_id`` names (the full id, or a unique prefix of 4+ digits).

        Objects under ``keys/`` that are not valid slots (an overwritten slot) can be named too.
        """
        scan = self.scan()
        ids = sorted({s.slot_id for s in scan.slots} | {k.removeprefix(PREFIX) for k in scan.invalid})
        if slot_id in ids:
            return slot_id
        matches = [i for i in ids if len(slot_id) >= MIN_PREFIX and i.startswith(slot_id)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ConfigError(f"key slot id {slot_id!r} is ambiguous: {', '.join(matches)}")
        raise ConfigError(f"no key slot {slot_id!r}", hint="`drkit repo key list` shows the slots")

    # -- opening ---------------------------------------------------------------------------------

    def open(self, credential: Credential, *, verify_key: bytes | None = None) -> tuple[MasterKey, str]:
        """The master key and the id of the slot that opened it.

        ``WrongKey`` if no slot opens; :class:`~drkit.repo.format.keyslots.SlotTampered` (a
        ``VerificationFailed``, exit 13) if none opens and the credential is right for a slot whose
        document was changed; ``VerificationFailed`` naming the objects under ``keys/`` that are no
        valid slot document when none opens and there are such objects (one of them may have been
        the slot of this credential).

        With ``verify_key`` (the repository's Ed25519 public key, from its signed config or pinned
        by the user) a slot holding another master key -- one planted by someone with write access
        to the bucket -- is passed over as if it did not open.

        When nothing opens, the slots are read and tried once more before any of that is said: two
        reads of a slot can agree on bytes changed the same way in transit, and a fault on the way
        must not be reported as a wrong passphrase.
        """
        key, slot_id = self._open(credential, (ROLE_MASTER,), keyslots.unwrap, verify_key)
        assert isinstance(key, MasterKey)
        return key, slot_id

    def open_writer(
        self, credential: Credential, *, verify_key: bytes | None = None
    ) -> tuple[WriterKey, str]:
        """A writer key from a writer slot, or from a master slot. Fails like :meth:`open`."""
        key, slot_id = self._open(credential, (ROLE_WRITER, ROLE_MASTER), keyslots.unwrap_writer, verify_key)
        assert isinstance(key, WriterKey)
        return key, slot_id

    def _open(
        self,
        credential: Credential,
        roles: tuple[str, ...],
        unwrap: Callable[[bytes, Credential], MasterKey | WriterKey],
        verify_key: bytes | None,
    ) -> tuple[MasterKey | WriterKey, str]:
        for attempt in range(_OPEN_PASSES):
            candidates = self._candidates(credential, roles=roles)
            tampered: builtins.list[SlotTampered] = []
            for slot_id, document in candidates.documents:
                try:
                    key = unwrap(document, credential)
                except WrongKey:
                    continue
                except SlotTampered as exc:
                    tampered.append(exc)
                    continue
                if verify_key is not None and key.verify_key() != verify_key:
                    continue
                if attempt:
                    log.warning("a key slot opened when read again: the first reads were changed in transit")
                return key, slot_id
        raise _no_slot(tampered, candidates.invalid)

    def _candidates(self, credential: Credential, *, roles: tuple[str, ...]) -> _Candidates:
        """Documents worth trying: the newest version of each slot, then older stored versions; and
        the objects under ``keys/`` whose newest version is no valid slot document.

        Every object under ``keys/`` is looked at, valid or not, so that a slot whose newest version
        was overwritten with garbage still opens from its older version.
        """
        kinds = credential.kinds()
        order = {role: i for i, role in enumerate(roles)}
        newest: builtins.list[tuple[tuple[int, str, str], str, bytes]] = []
        older: builtins.list[tuple[tuple[int, str, str], str, bytes]] = []
        invalid: builtins.list[str] = []
        for key in sorted(obj.key for obj in self.store.list(PREFIX)):
            try:
                versions = self.store.versions(key)
            except ObjectNotFound:
                continue
            for i, version in enumerate(versions):
                if i > 0 and version.version_id is None:
                    break
                try:
                    document = agreed_read(self.store, key, version_id=version.version_id)
                    info = keyslots.slot_info(document)
                except ObjectNotFound:
                    continue
                except VerificationFailed:
                    if i == 0:
                        invalid.append(key)
                    continue
                if key != _key(info.slot_id):
                    if i == 0:
                        invalid.append(key)
                    continue
                if info.kind not in kinds or info.role not in roles:
                    continue
                rank = (order[info.role], info.created.isoformat(), info.slot_id)
                (newest if i == 0 else older).append((rank, info.slot_id, document))
        newest.sort(key=lambda c: c[0])
        older.sort(key=lambda c: c[0])
        documents = [(slot_id, document) for _, slot_id, document in newest + older]
        return _Candidates(documents, invalid)

    # -- changing --------------------------------------------------------------------------------

    def add(
        self, master: MasterKey, credential: Credential, label: str, *, kind: str | None = None
    ) -> KeySlotInfo:
        """Store a new slot opening ``master`` with ``credential``."""
        info, document = keyslots.wrap(master, credential, label=label, kind=kind, scrypt_n=self._scrypt_n)
        self.store.put(_key(info.slot_id), document)
        return info

    def add_writer(
        self, writer: WriterKey, credential: Credential, label: str, *, kind: str | None = None
    ) -> KeySlotInfo:
        """Store a write-only slot: it opens ``writer`` (no data key) with ``credential``."""
        info, document = keyslots.wrap_writer(
            writer, credential, label=label, kind=kind, scrypt_n=self._scrypt_n
        )
        self.store.put(_key(info.slot_id), document)
        return info

    def document(self, slot_id: str) -> bytes:
        """The stored document of a slot, to keep a copy outside the bucket (it holds no plaintext
        key; it still needs its passphrase or key file to open)."""
        full_id = self.resolve(slot_id)
        # two reads that agree: a byte changed in transit can leave a document that still parses,
        # and the copy kept outside the bucket would not open when it is needed
        document = agreed_read(self.store, _key(full_id))
        keyslots.slot_info(document)  # a valid slot, not garbage written over it
        return document

    def restore(self, document: bytes) -> KeySlotInfo:
        """Put back a slot document kept outside the bucket (after the slots were deleted)."""
        info = keyslots.slot_info(document)
        self.store.put(_key(info.slot_id), document)
        return info

    def remove(self, slot_id: str, *, current_slot: str, force: bool = False) -> KeySlotInfo | None:
        """Remove a slot (every stored version of it) and return what it was (``None`` when its
        newest version was no valid slot document).

        Refused (``ConfigError``) when no other master slot would remain -- the repository would be
        unreadable -- and, unless ``force``, for ``current_slot``, the slot this session was opened with.
        """
        slots = self.list()
        full_id = self.resolve(slot_id)
        target = next((s for s in slots if s.slot_id == full_id), None)
        if not any(s.role == ROLE_MASTER and s.slot_id != full_id for s in slots):
            raise ConfigError(
                f"key slot {full_id} is the repository's last master key slot: removing it would make "
                "every backup unreadable",
                hint="add another slot first (`drkit repo key add`)",
            )
        if full_id == current_slot and not force:
            raise ConfigError(
                f"key slot {full_id} is the one this command was opened with",
                hint="open with another slot, or pass --force",
            )
        key = _key(full_id)
        for version in self.store.versions(key):
            self.store.delete(key, version_id=version.version_id)
        return target


def _key(slot_id: str) -> str:
    return PREFIX + slot_id


@dataclass(frozen=True)
class _Candidates:
    documents: builtins.list[tuple[str, bytes]]
    invalid: builtins.list[str]  # keys under keys/ whose newest version is no valid slot document


def _no_slot(tampered: builtins.list[SlotTampered], invalid: builtins.list[str]) -> DrkitError:
    """Why no slot opened: a slot that fails its integrity check (exit 13), objects under ``keys/``
    that are no slot document (exit 13: one may have been this credential's slot), else ``WrongKey``
    (exit 12)."""
    if tampered:
        return tampered[0]
    if invalid:
        return VerificationFailed(
            "the passphrase or key file opens no key slot, and "
            + ", ".join(invalid)
            + (" is" if len(invalid) == 1 else " are")
            + " no valid key slot document (corrupt or tampered with; it may have been the slot of this "
            "credential)",
            hint="open with another slot, or put back a copy of the slot kept outside the bucket "
            "(docs/keys.md, 'The key ring'); `drkit repo key list` names the objects",
        )
    return WrongKey("the passphrase or key file opens no key slot")
