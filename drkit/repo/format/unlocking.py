"""A passphrase's key derived on a thread, begun as soon as the store and the credential are known.

A passphrase slot's key is derived with scrypt (~0.2 s of one core, docs/keys.md), which releases the
GIL. A command starts :class:`Unlocking` first and meanwhile imports its engines and reads what needs
no key (the config). The thread reads the slot documents under ``keys/`` and derives the key of each
passphrase slot (the newest version of each, until one's ``check`` confirms it) with only what is
loaded by then (the store, ``json``, ``hashlib``): not the AEAD, signature or key modules.
:meth:`Unlocking.result` then opens the slot in the caller's thread exactly as
:meth:`~drkit.repo.format.keyring.KeyRing.open` (or ``open_writer``) opens it, with the keys derived
ahead: a wrong credential fails with the same error, and whatever the thread met (an unreadable slot,
a store error) is met and reported there again. The thread is always joined: by :meth:`result`, or by
:meth:`close` (the ``with`` block's end) when the command fails before it asks; the keys never leave
memory.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from drkit.repo.format import keyslots
from drkit.repo.format.keyslots import Credential, Derived
from drkit.storage.base import Store

if TYPE_CHECKING:
    from drkit.repo.format.masterkey import MasterKey, WriterKey

KEYS_PREFIX = "keys/"  # drkit.repo.format.keyring.PREFIX


class Unlocking:
    """The key slot ``credential`` opens in ``store`` (a writer key when ``write_only``), its
    passphrase's key being derived on a thread. Use as a context manager, or call :meth:`close`."""

    def __init__(self, store: Store, credential: Credential, *, write_only: bool) -> None:
        self.store = store
        self.credential = credential
        self.write_only = write_only
        self._derived: Derived = {}
        self._thread = threading.Thread(target=self._run, name="drkit-unlock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.credential.passphrase is None:
            return  # a key file's key is one HKDF: nothing to get ahead of
        try:
            for key in sorted(obj.key for obj in self.store.list(KEYS_PREFIX)):
                if keyslots.derive_ahead(self.store.get(key), self.credential, self._derived):
                    return
        except Exception:  # noqa: BLE001, S110 (result() opens the slot and reports what fails)
            pass

    def result(self) -> tuple[MasterKey | WriterKey, str]:
        """The key and the id of the slot that opened it; what opening raised (``WrongKey``, ...)."""
        self._thread.join()
        from drkit.repo.format.keyring import KeyRing  # loaded by now: the command imported it meanwhile

        ring = KeyRing(self.store)
        if self.write_only:
            return ring.open_writer(self.credential, derived=self._derived)
        return ring.open(self.credential, derived=self._derived)

    def close(self) -> None:
        """Wait for the thread (a derivation cannot be stopped; it ends within its ~0.2 s)."""
        self._thread.join()

    def __enter__(self) -> Unlocking:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
