from __future__ import annotations

import pickle

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.masterkey import (
    MASTER_KEY_BYTES,
    SESSION_WRAP_BYTES,
    MasterKey,
    WriterKey,
    verify_signature,
)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


def test_generate_draws_independent_keys(master: MasterKey) -> None:
    keys = {master.data_key, master.id_key, master.sign_seed, master.index_key, master.box_key}
    assert len(keys) == 5
    assert all(len(k) == 32 for k in keys)
    assert MasterKey.generate() != master


def test_content_id_is_keyed_and_stable(master: MasterKey) -> None:
    other = MasterKey.generate()
    data = b"the same chunk"
    assert master.content_id(data) == master.content_id(data)
    assert len(master.content_id(data)) == 32
    assert master.content_id(data) != other.content_id(data)
    assert master.content_id(data) != master.content_id(data + b"!")


def test_content_id_known_answer() -> None:
    """Keyed BLAKE3 (not a home-made construction): the BLAKE3 test vector for keyed_hash, empty input."""
    key = b"whats the Elvish word for friend"
    master = MasterKey(data_key=bytes(32), id_key=key, sign_seed=bytes(32))
    assert master.content_id(b"").hex() == (
        "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"
    )


def test_seal_open_round_trip_and_aad(master: MasterKey) -> None:
    blob = master.seal(b"chunk bytes", b"pack 1")
    assert master.open(blob, b"pack 1") == b"chunk bytes"
    with pytest.raises(VerificationFailed, match="authentication failed"):
        master.open(blob, b"pack 2")
    with pytest.raises(VerificationFailed):
        MasterKey.generate().open(blob, b"pack 1")


def test_index_key_is_separate_from_data_key(master: MasterKey) -> None:
    blob = master.seal_index(b"index", b"i")
    assert master.open_index(blob, b"i") == b"index"
    with pytest.raises(VerificationFailed):
        master.open(blob, b"i")


def test_sign_and_verify(master: MasterKey) -> None:
    message = b'{"snapshot": "manifest"}'
    signature = master.sign(message)
    assert len(signature) == 64
    verify_signature(master.verify_key(), message, signature)
    with pytest.raises(VerificationFailed, match="signature"):
        verify_signature(master.verify_key(), message + b" ", signature)
    with pytest.raises(VerificationFailed):
        verify_signature(MasterKey.generate().verify_key(), message, signature)
    with pytest.raises(VerificationFailed):
        verify_signature(master.verify_key(), message, signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(VerificationFailed):
        verify_signature(b"short", message, signature)


def test_serialization_round_trip(master: MasterKey) -> None:
    raw = master.to_bytes()
    assert len(raw) == MASTER_KEY_BYTES == 161
    assert MasterKey.from_bytes(raw) == master
    assert MasterKey.from_bytes(raw).fingerprint() == master.fingerprint()
    with pytest.raises(VerificationFailed):
        MasterKey.from_bytes(raw[:-1])
    with pytest.raises(VerificationFailed):
        MasterKey.from_bytes(b"\x02" + raw[1:])


def test_three_key_constructor_derives_the_rest_deterministically() -> None:
    a = MasterKey(data_key=b"\x01" * 32, id_key=b"\x02" * 32, sign_seed=b"\x03" * 32)
    b = MasterKey(data_key=b"\x01" * 32, id_key=b"\x02" * 32, sign_seed=b"\x03" * 32)
    assert a == b
    assert a.index_key != a.box_key
    assert a.index_key not in (a.data_key, a.id_key, a.sign_seed)
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKey(data_key=b"short", id_key=b"\x02" * 32, sign_seed=b"\x03" * 32)


def test_repr_shows_no_key_material(master: MasterKey) -> None:
    shown = [repr(master), str(master), f"{master}", repr([master])]
    fields = [master.data_key, master.id_key, master.sign_seed, master.index_key, master.box_key]
    for text in shown:
        assert text == f"MasterKey(fingerprint={master.fingerprint()})" or master.fingerprint() in text
        for key in fields:
            assert key.hex() not in text
            assert repr(key) not in text
            assert key.hex()[:16] not in text
    assert len(master.fingerprint()) == 16
    assert master.fingerprint() not in master.verify_key().hex()


def test_keys_refuse_to_be_pickled(master: MasterKey) -> None:
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(master)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(master.writer_key())


def test_writer_key_dedups_signs_and_wraps_sessions(master: MasterKey) -> None:
    writer = master.writer_key()
    assert writer.content_id(b"x") == master.content_id(b"x")
    assert writer.verify_key() == master.verify_key()
    assert writer.fingerprint() == master.fingerprint()
    verify_signature(master.verify_key(), b"m", writer.sign(b"m"))
    assert writer.open_index(master.seal_index(b"idx", b""), b"") == b"idx"
    assert master.open_index(writer.seal_index(b"idx2", b""), b"") == b"idx2"

    session_key, wrapped = writer.new_session(b"session 7")
    assert len(wrapped) == SESSION_WRAP_BYTES
    assert session_key not in wrapped
    assert master.open_session(wrapped, b"session 7") == session_key
    with pytest.raises(VerificationFailed):
        master.open_session(wrapped, b"session 8")
    with pytest.raises(VerificationFailed):
        MasterKey.generate().open_session(wrapped, b"session 7")
    for i in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x04
        with pytest.raises(VerificationFailed):
            master.open_session(bytes(tampered), b"session 7")


def test_writer_key_holds_no_data_key(master: MasterKey) -> None:
    writer = master.writer_key()
    raw = writer.to_bytes()
    assert master.data_key not in raw
    assert master.box_key not in raw
    assert WriterKey.from_bytes(raw) == writer
    assert master.data_key.hex() not in repr(writer)
    with pytest.raises(VerificationFailed):
        WriterKey.from_bytes(master.to_bytes())
    with pytest.raises(VerificationFailed):
        MasterKey.from_bytes(raw)


def test_session_wrap_with_a_low_order_point_is_refused(master: MasterKey) -> None:
    _, wrapped = master.writer_key().new_session()
    forged = bytes(32) + wrapped[32:]  # the all-zero X25519 point gives an all-zero shared secret
    with pytest.raises(VerificationFailed, match="authentication failed"):
        master.open_session(forged)


def test_fingerprint_as_documented(master: MasterKey) -> None:
    import blake3

    context = "drkit 2026-11 master key fingerprint v1"
    expected = blake3.blake3(master.verify_key(), derive_key_context=context).digest()[:8].hex()
    assert master.fingerprint() == expected


def test_writer_session_seals_what_only_the_master_key_opens(master: MasterKey) -> None:
    from drkit.repo.format.masterkey import WriterSession

    session = master.writer_key().start_session()
    assert isinstance(session, WriterSession)
    assert len(session.session_id) == 32
    blob = session.seal(b"chunk of a new backup", b"blob aad")
    with pytest.raises(VerificationFailed):
        master.open(blob, b"blob aad")  # not the data key
    sealer = master.session_sealer(session.session_id, session.wrapped)
    assert sealer.open(blob, b"blob aad") == b"chunk of a new backup"
    with pytest.raises(VerificationFailed):
        master.session_sealer("0" * 32, session.wrapped)  # the wrapping is bound to its session id
    assert not hasattr(session, "open")
    assert session.content_id(b"x") == master.content_id(b"x")
    verify_signature(master.verify_key(), b"m", session.sign(b"m"))
    assert master.open_index(session.seal_index(b"i", b""), b"") == b"i"
    other = master.writer_key().start_session()
    assert other.session_id != session.session_id
    with pytest.raises(VerificationFailed):
        master.session_sealer(other.session_id, other.wrapped).open(blob, b"blob aad")
    assert session.session_id in repr(session)
    assert master.data_key.hex() not in repr(session)


def test_each_key_type_names_itself_when_refusing_pickling(master: MasterKey) -> None:
    writer = master.writer_key()
    for obj, name in [
        (master, "MasterKey"),
        (writer, "WriterKey"),
        (writer.start_session(), "WriterSession"),
    ]:
        with pytest.raises(TypeError) as err:
            pickle.dumps(obj)
        assert str(err.value) == f"a {name} is not pickled: key material leaves a process only in a key slot"


def test_open_session_default_aad_and_its_refusals(master: MasterKey) -> None:
    session_key, wrapped = master.writer_key().new_session()
    assert master.open_session(wrapped) == session_key  # the same empty AAD on both sides by default
    with pytest.raises(VerificationFailed) as err:
        master.open_session(b"short")
    assert (
        err.value.message
        == f"wrapped session key is 5 bytes, not {SESSION_WRAP_BYTES}: authentication failed"
    )
    low_order = bytes(32) + wrapped[32:]  # an all-zero X25519 point: no shared secret
    with pytest.raises(VerificationFailed) as err:
        master.open_session(low_order)
    assert err.value.message == "wrapped session key authentication failed"


def test_a_writer_key_of_another_version_is_refused(master: MasterKey) -> None:
    raw = master.writer_key().to_bytes()
    with pytest.raises(VerificationFailed, match=r"^the key slot holds no valid writer key$"):
        WriterKey.from_bytes(bytes([raw[0] + 1]) + raw[1:])


def test_keys_of_a_three_key_master_are_derived_as_docs_keys_md_says() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    data_key, id_key, sign_seed = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))
    key = MasterKey(data_key, id_key, sign_seed)

    def documented(label: bytes) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"drkit/v1 derived " + label)
        return hkdf.derive(data_key + id_key + sign_seed)

    assert key.index_key == documented(b"index key")
    assert key.box_key == documented(b"box key")


def test_refusal_messages_of_keys_and_signatures(master: MasterKey) -> None:
    with pytest.raises(VerificationFailed, match=r"^the key slot holds no valid master key$"):
        MasterKey.from_bytes(b"\x00" * 7)
    with pytest.raises(VerificationFailed, match=r"^signature verification failed$"):
        verify_signature(master.verify_key(), b"m", b"\x00" * 64)
