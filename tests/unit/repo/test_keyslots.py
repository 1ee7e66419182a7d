from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.errors import ConfigError, ExitCode, VerificationFailed, WrongKey
from drkit.repo.format import keyslots
from drkit.repo.format.keyslots import (
    Credential,
    KeySlotInfo,
    SlotTampered,
    generate_keyfile,
    slot_info,
    unwrap,
    unwrap_writer,
    wrap,
    wrap_writer,
)
from drkit.repo.format.masterkey import MasterKey
from drkit.secret import Secret

FAST_N = 2**10  # tests only; real slots use keyslots.SCRYPT_N
PASSPHRASE = "correct horse battery staple"


def pw(text: str = PASSPHRASE) -> Credential:
    return Credential(passphrase=Secret(text))


def kf(contents: bytes) -> Credential:
    return Credential(keyfile=Secret(contents))


@pytest.fixture(scope="module")
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture(scope="module")
def pw_slot(master: MasterKey) -> tuple[KeySlotInfo, bytes]:
    return wrap(master, pw(), label="ops laptop", scrypt_n=FAST_N)


def test_passphrase_round_trip(master: MasterKey, pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    info, document = pw_slot
    assert info.kind == "passphrase"
    assert info.role == "master"
    assert info.label == "ops laptop"
    assert unwrap(document, pw()) == master
    assert slot_info(document) == info


def test_keyfile_round_trip(master: MasterKey) -> None:
    contents = generate_keyfile()
    info, document = wrap(master, kf(contents), label="ci")
    assert info.kind == "keyfile"
    assert unwrap(document, kf(contents)) == master
    # line endings changed by an editor or a Windows checkout still open the slot
    assert unwrap(document, kf(contents.replace(b"\n", b"\r\n"))) == master


def test_any_file_of_32_bytes_or_more_is_a_keyfile(master: MasterKey) -> None:
    contents = bytes(range(64))
    _, document = wrap(master, kf(contents), label="raw")
    assert unwrap(document, kf(contents)) == master
    with pytest.raises(WrongKey):
        unwrap(document, kf(contents[:-1] + b"\xff"))
    with pytest.raises(ConfigError, match="too short"):
        wrap(master, kf(b"short"), label="x")


def test_generated_keyfiles_differ_and_have_a_header() -> None:
    a, b = generate_keyfile(), generate_keyfile()
    assert a != b
    assert a.startswith(b"# drkit key file v1")
    assert len(base64.b64decode(a.splitlines()[1])) == 32


def test_wrong_passphrase_is_wrong_key(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    _, document = pw_slot
    with pytest.raises(WrongKey, match="the passphrase or key file opens no key slot") as info:
        unwrap(document, pw("Correct horse battery staple"))
    assert "Correct horse" not in str(info.value)


def test_wrong_keyfile_and_wrong_kind_are_wrong_key(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    _, document = pw_slot
    with pytest.raises(WrongKey, match="opens no key slot"):
        unwrap(document, kf(generate_keyfile()))
    master = MasterKey.generate()
    _, kf_doc = wrap(master, kf(generate_keyfile()), label="k")
    with pytest.raises(WrongKey, match="opens no key slot"):
        unwrap(kf_doc, kf(generate_keyfile()))
    with pytest.raises(WrongKey, match="opens no key slot"):
        unwrap(kf_doc, pw())


def test_credential_with_both_opens_either_kind(master: MasterKey) -> None:
    contents = generate_keyfile()
    both = Credential(passphrase=Secret(PASSPHRASE), keyfile=Secret(contents))
    _, kf_doc = wrap(master, both, label="k", kind="keyfile")
    _, pw_doc = wrap(master, both, label="p", kind="passphrase", scrypt_n=FAST_N)
    assert unwrap(kf_doc, both) == master
    assert unwrap(pw_doc, both) == master
    with pytest.raises(ConfigError, match="either"):
        wrap(master, both, label="ambiguous")
    with pytest.raises(ConfigError):
        wrap(master, pw(), label="x", kind="keyfile")
    with pytest.raises(ConfigError, match="empty"):
        wrap(master, pw(""), label="x", scrypt_n=FAST_N)


def test_slot_id_is_random_not_derived(master: MasterKey) -> None:
    contents = generate_keyfile()
    a, _ = wrap(master, kf(contents), label="a")
    b, _ = wrap(master, kf(contents), label="a")
    assert a.slot_id != b.slot_id
    assert len(a.slot_id) == 32
    int(a.slot_id, 16)


def test_document_holds_no_secret(master: MasterKey, pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    _, document = pw_slot
    text = document.decode()
    for key in (master.data_key, master.id_key, master.sign_seed, master.index_key, master.box_key):
        assert key not in document
        assert key.hex() not in text
        assert base64.b64encode(key).decode() not in text
    assert PASSPHRASE not in text
    doc = json.loads(document)
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["n"] == FAST_N
    assert (doc["kdf"]["r"], doc["kdf"]["p"]) == (8, 1)
    assert doc["format"] == "drkit-keyslot"


def test_default_scrypt_cost_is_strong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keyslots.TEST_SCRYPT_ENV, raising=False)
    assert keyslots._scrypt_n(None) == keyslots.SCRYPT_N >= 2**15
    monkeypatch.setenv(keyslots.TEST_SCRYPT_ENV, "1024")
    assert keyslots._scrypt_n(None) == 1024  # honoured only because pytest is running
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert keyslots._scrypt_n(None) == keyslots.SCRYPT_N


# A field the KEK does not depend on, changed: the credential is right (its check matches), the sealed
# key does not open: SlotTampered (exit 13). A field the KEK depends on (kind, salt, cost) or the check
# itself, changed: indistinguishable from a wrong credential, WrongKey (exit 12).
TAMPERED = ["slot_id", "role", "label", "created", "host", "user", "wrapped"]
KEK_CHANGED = ["kind", "kdf.salt", "kdf.n"]


@pytest.mark.parametrize("field", TAMPERED + KEK_CHANGED)
def test_tampering_with_any_field_never_opens(pw_slot: tuple[KeySlotInfo, bytes], field: str) -> None:
    _, document = pw_slot
    doc = json.loads(document)
    replacements = {
        "slot_id": "0" * 32,
        "role": "writer",
        "kind": "keyfile",
        "label": "someone else",
        "created": "2020-01-01T00:00:00Z",
        "host": "evil",
        "user": "mallory",
        "kdf.salt": base64.b64encode(b"\x00" * 32).decode(),
        "kdf.n": FAST_N * 2,
    }
    if field == "wrapped":
        raw = bytearray(base64.b64decode(doc["wrapped"]))
        raw[-1] ^= 1
        doc["wrapped"] = base64.b64encode(bytes(raw)).decode()
    elif field.startswith("kdf."):
        doc["kdf"][field[4:]] = replacements[field]
    else:
        doc[field] = replacements[field]
    expected: type[Exception] = SlotTampered if field in TAMPERED else WrongKey
    with pytest.raises(expected) as err:
        unwrap(json.dumps(doc).encode(), Credential(passphrase=Secret(PASSPHRASE), keyfile=Secret(bytes(64))))
    if field in TAMPERED:
        assert "fails its integrity check" in err.value.message
        assert err.value.exit_code is ExitCode.VERIFICATION_FAILED
    else:
        assert "opens no key slot" in err.value.message


def test_a_changed_check_reads_as_a_wrong_credential(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    doc = json.loads(pw_slot[1])
    doc["check"] = base64.b64encode(b"\x00" * 16).decode()
    assert isinstance(unwrap(json.dumps(doc).encode(), pw()), MasterKey)  # consulted only on failure
    doc["label"] = "changed"
    with pytest.raises(WrongKey):
        unwrap(json.dumps(doc).encode(), pw())
    with pytest.raises(WrongKey):  # a wrong passphrase on an intact slot
        unwrap(pw_slot[1], pw("not the passphrase"))


def test_a_slot_without_check_still_opens_and_fails_as_wrong_key(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    """Slots written before the check existed: they open; tampered, they read as a wrong credential."""
    doc = json.loads(pw_slot[1])
    del doc["check"]
    assert isinstance(unwrap(json.dumps(doc).encode(), pw()), MasterKey)
    doc["label"] = "changed"
    with pytest.raises(WrongKey):
        unwrap(json.dumps(doc).encode(), pw())


@pytest.mark.parametrize(
    "document",
    [b"", b"not json", b"[]", b'{"format": "other"}', b'{"format": "drkit-keyslot", "version": 1}'],
)
def test_garbage_is_not_a_slot(document: bytes) -> None:
    with pytest.raises(VerificationFailed, match="not a valid drkit key slot"):
        slot_info(document)
    with pytest.raises(WrongKey):
        unwrap(document, pw())


def test_crafted_expensive_scrypt_is_refused(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    doc = json.loads(pw_slot[1])
    doc["kdf"]["n"] = 2**24
    with pytest.raises(VerificationFailed):
        slot_info(json.dumps(doc).encode())


def test_slot_info_fields(master: MasterKey) -> None:
    when = datetime(2026, 11, 26, 6, 30, 15, 123456, tzinfo=UTC)
    info, document = wrap(master, kf(generate_keyfile()), label="dr site", now=when)
    parsed = slot_info(document)
    assert parsed == info
    assert parsed.created == when.replace(microsecond=0)
    assert parsed.host
    assert parsed.user


def test_writer_slot(master: MasterKey) -> None:
    contents = generate_keyfile()
    info, document = wrap_writer(master.writer_key(), kf(contents), label="cluster writer")
    assert info.role == "writer"
    assert unwrap_writer(document, kf(contents)) == master.writer_key()
    assert master.data_key not in document
    with pytest.raises(WrongKey, match="opens no key slot"):
        unwrap(document, kf(contents))


def test_master_slot_gives_a_writer_key_too(master: MasterKey, pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    assert unwrap_writer(pw_slot[1], pw()) == master.writer_key()


def test_credential_repr_shows_no_secret() -> None:
    contents = generate_keyfile()
    credential = Credential(passphrase=Secret(PASSPHRASE), keyfile=Secret(contents))
    for text in (repr(credential), str(credential), f"{credential}"):
        assert PASSPHRASE not in text
        assert contents.decode() not in text
        assert contents.splitlines()[1].decode() not in text


def test_from_options_reads_files(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text(PASSPHRASE + "\n")
    key_file = tmp_path / "key"
    key_file.write_bytes(generate_keyfile())
    credential = Credential.from_env_and_options(password_file, key_file, env={})
    assert credential.passphrase == Secret(PASSPHRASE)
    assert credential.keyfile == Secret(key_file.read_bytes())


def test_options_win_over_env(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("from option\r\n")
    env = {"DRKIT_PASSWORD": "from env", "DRKIT_PASSWORD_FILE": str(tmp_path / "missing")}
    credential = Credential.from_env_and_options(password_file, None, env=env)
    assert credential.passphrase == Secret("from option")
    assert credential.keyfile is None


def test_env_sources(tmp_path: Path) -> None:
    assert Credential.from_env_and_options(None, None, env={"DRKIT_PASSWORD": "p"}).passphrase == Secret("p")
    pw_file = tmp_path / "pw"
    pw_file.write_text("file pw")
    env = {"DRKIT_PASSWORD_FILE": str(pw_file), "DRKIT_PASSWORD": "ignored"}
    assert Credential.from_env_and_options(None, None, env=env).passphrase == Secret("file pw")
    key_file = tmp_path / "key"
    key_file.write_bytes(generate_keyfile())
    credential = Credential.from_env_and_options(None, None, env={"DRKIT_KEY_FILE": str(key_file)})
    assert credential.keyfile == Secret(key_file.read_bytes())
    assert credential.passphrase is None


def test_none_given_is_config_error() -> None:
    with pytest.raises(ConfigError, match="no passphrase or key file"):
        Credential.from_env_and_options(None, None, env={"DRKIT_PASSWORD": ""})


def test_unreadable_or_bad_files_are_config_errors_without_contents(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the password file"):
        Credential.from_env_and_options(tmp_path / "absent", None, env={})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        Credential.from_env_and_options(empty, None, env={})
    short = tmp_path / "short"
    short.write_bytes(b"tiny-secret")
    with pytest.raises(ConfigError, match="too short") as info:
        Credential.from_env_and_options(None, short, env={})
    assert "tiny-secret" not in str(info.value)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(keyslots.KEYFILE_HEADER + b"\n!!!not base64!!!\n")
    with pytest.raises(ConfigError, match="damaged"):
        Credential.from_env_and_options(None, damaged, env={})


def test_passphrase_unicode_normalisation(master: MasterKey) -> None:
    composed, decomposed = "caf\u00e9 passphrase", "cafe\u0301 passphrase"
    _, document = wrap(master, pw(composed), label="u", scrypt_n=FAST_N)
    assert unwrap(document, pw(decomposed)) == master


def _independent_aad(doc: dict[str, object]) -> bytes:
    """The AAD exactly as docs/keys.md writes it down, built without drkit's code."""
    kdf = doc["kdf"]
    assert isinstance(kdf, dict)
    fields = [doc[k] for k in ("slot_id", "role", "kind", "label", "created", "host", "user")]
    fields += [kdf["name"], str(kdf.get("n", "")), str(kdf.get("r", "")), str(kdf.get("p", "")), kdf["salt"]]
    out = b"drkit keyslot v1"
    for value in fields:
        assert isinstance(value, str)
        encoded = value.encode()
        out += len(encoded).to_bytes(4, "big") + encoded
    return out


def test_documented_layout_opens_slots_without_drkit(master: MasterKey) -> None:
    """Another implementation following docs/keys.md reads both kinds of slot and the master key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    def open_blob(kek: bytes, blob: bytes, aad: bytes) -> bytes:
        assert blob[0] == 0x01  # AES-256-GCM
        return AESGCM(kek).decrypt(blob[1:13], blob[13:], blob[:1] + aad)

    contents = generate_keyfile()
    for credential, expected_kdf in ((pw(), "scrypt"), (kf(contents), "hkdf-sha256")):
        _, document = wrap(master, credential, label="interop", scrypt_n=FAST_N)
        doc = json.loads(document)
        kdf = doc["kdf"]
        assert kdf["name"] == expected_kdf
        salt = base64.b64decode(kdf["salt"])
        if expected_kdf == "scrypt":
            kek = Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(PASSPHRASE.encode())
        else:
            ikm = base64.b64decode(contents.splitlines()[1])
            kek = HKDF(hashes.SHA256(), 32, salt, b"drkit/v1 keyslot keyfile").derive(ikm)
        raw = open_blob(kek, base64.b64decode(doc["wrapped"]), _independent_aad(doc))
        assert len(raw) == 161
        assert raw[0] == 0x01
        assert raw[1:33] == master.data_key
        assert raw[33:65] == master.id_key
        assert raw[65:97] == master.sign_seed
        assert raw[97:129] == master.index_key
        assert raw[129:161] == master.box_key


def test_documented_session_wrap_opens_without_drkit(master: MasterKey) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    session_key, wrapped = master.writer_key().new_session(b"session-1")
    e_public, blob = wrapped[:32], wrapped[32:]
    box_public = master.box_public()
    shared = X25519PrivateKey.from_private_bytes(master.box_key).exchange(
        X25519PublicKey.from_public_bytes(e_public)
    )
    kek = HKDF(hashes.SHA256(), 32, e_public + box_public, b"drkit/v1 session key wrap").derive(shared)
    aad = blob[:1] + b"drkit/v1 session key" + b"session-1"
    assert AESGCM(kek).decrypt(blob[1:13], blob[13:], aad) == session_key


def test_password_file_that_is_not_text(tmp_path: Path) -> None:
    binary = tmp_path / "pw.bin"
    binary.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        Credential.from_env_and_options(binary, None, env={})
    assert "secret" not in str(info.value)


def test_bytes_passphrase(master: MasterKey) -> None:
    _, document = wrap(master, Credential(passphrase=Secret(b"\xff\xfe raw")), label="b", scrypt_n=FAST_N)
    assert unwrap(document, Credential(passphrase=Secret(b"\xff\xfe raw"))) == master
    _, document = wrap(master, Credential(passphrase=Secret(PASSPHRASE.encode())), label="b", scrypt_n=FAST_N)
    assert unwrap(document, pw()) == master


def test_naive_creation_time_is_not_a_slot(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    doc = json.loads(pw_slot[1])
    doc["created"] = "2026-11-26T06:30:15"
    with pytest.raises(VerificationFailed):
        slot_info(json.dumps(doc).encode())
