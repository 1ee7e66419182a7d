"""Who seals and who opens (drkit.repo.format.sealing): a session's sealer id, the master's index
key through Openers, and a session's key fetched once and kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.sealing import MASTER_SEALER, Openers, SessionWriteKeys

MK = MasterKey.generate()


@pytest.mark.parametrize("session_id", ["00" * 16, "ab" * 8, "ab" * 17], ids=["all zero", "short", "long"])
def test_a_session_id_is_16_bytes_and_not_all_zero(session_id: str) -> None:
    session = dataclasses.replace(MK.writer_key().start_session(), session_id=session_id)
    with pytest.raises(ValueError, match=r"^a session id is 16 bytes and not all zero$"):
        SessionWriteKeys(session)


def test_a_session_writes_under_its_own_id() -> None:
    session = MK.writer_key().start_session()
    keys = SessionWriteKeys(session)
    assert keys.sealer_id == bytes.fromhex(session.session_id) != MASTER_SEALER


def test_openers_open_what_the_master_sealed_as_an_index() -> None:
    openers = Openers(MK, lambda _sid, _check: b"")
    blob = MK.seal_index(b"an index", b"aad")
    assert openers.open_index(blob, b"aad") == b"an index"
    with pytest.raises(VerificationFailed):
        openers.open_index(blob, b"other aad")


def test_a_sessions_key_is_fetched_once_and_kept() -> None:
    session = MK.writer_key().start_session()
    keys = SessionWriteKeys(session)
    fetched: list[bytes] = []

    def fetch(sealer_id: bytes, check: Callable[[bytes], bool]) -> bytes:
        fetched.append(sealer_id)
        assert check(session.wrapped)
        assert not check(b"\0" * len(session.wrapped))
        return session.wrapped

    openers = Openers(MK, fetch)
    for text in (b"one", b"two", b"three"):
        assert openers.open(keys.sealer_id, keys.seal(text, b"aad"), b"aad") == text
    assert fetched == [keys.sealer_id]
    assert openers.sealer(keys.sealer_id) is openers.sealer(keys.sealer_id)
