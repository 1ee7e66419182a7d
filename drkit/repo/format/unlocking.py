"""Opening a repository's key slot on a thread, begun as soon as the store and the credential are known.

A passphrase slot's key is derived with scrypt (~0.2 s of one core, docs/keys.md), which releases the
GIL. A command starts :class:`Unlocking` first and meanwhile imports its engines and reads what needs
no key (the config); :meth:`Unlocking.result` then waits for the key. The slot is opened exactly as
:meth:`~drkit.repo.format.keyring.KeyRing.open` (or ``open_writer``) opens it, on the same store, so
a wrong credential fails with the same error, raised where the result is asked for. The thread is
always joined: by :meth:`result`, or by :meth:`close` (the ``with`` block's end) when the command
fails before it asks; the key never leaves memory.
"""

from __future__ import annotations

import threading
from types import TracebackType

from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.storage.base import Store


class Unlocking:
    """The key slot ``credential`` opens in ``store`` (a writer key when ``write_only``), being opened
    on a thread. Use as a context manager, or call :meth:`close`."""

    def __init__(self, store: Store, credential: Credential, *, write_only: bool) -> None:
        self.store = store
        self.credential = credential
        self.write_only = write_only
        self._key: tuple[MasterKey | WriterKey, str] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="drkit-unlock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ring = KeyRing(self.store)
        try:
            self._key = ring.open_writer(self.credential) if self.write_only else ring.open(self.credential)
        except BaseException as exc:  # noqa: BLE001 (handed to the caller by result(): a wrong key, a store error)
            self._error = exc

    def result(self) -> tuple[MasterKey | WriterKey, str]:
        """The key and the id of the slot that opened it; what opening raised (``WrongKey``, ...)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._key is not None
        return self._key

    def close(self) -> None:
        """Wait for the thread (a derivation cannot be stopped; it ends within its ~0.2 s)."""
        self._thread.join()

    def __enter__(self) -> Unlocking:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
