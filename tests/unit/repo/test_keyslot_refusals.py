"""What a user reads when a key slot or a credential is refused (drkit.repo.format.keyslots): the exact
message naming the file, where the credential came from, and the boundaries of what is accepted."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.errors import ConfigError, VerificationFailed, WrongKey
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

FAST_N = 2**10
WRONG = "the passphrase or key file opens no key slot"


def pw(text: str = "a passphrase") -> Credential:
    return Credential(passphrase=Secret(text))


@pytest.fixture(scope="module")
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture(scope="module")
def pw_slot(master: MasterKey) -> tuple[KeySlotInfo, bytes]:
    return wrap(master, pw(), label="ops laptop", scrypt_n=FAST_N)


def _edit(document: bytes, **fields: object) -> bytes:
    doc = json.loads(document)
    for name, value in fields.items():
        if name.startswith("kdf_"):
            doc["kdf"][name[4:]] = value
        else:
            doc[name] = value
    return json.dumps(doc).encode()


# -- a changed slot -----------------------------------------------------------------------------------


def test_a_changed_slot_opened_with_the_right_passphrase_is_named_tampered(
    pw_slot: tuple[KeySlotInfo, bytes],
) -> None:
    info, document = pw_slot
    with pytest.raises(SlotTampered) as err:
        unwrap(_edit(document, label="relabelled"), pw())
    assert err.value.message == (
        f"key slot keys/{info.slot_id} fails its integrity check: the credential is right for it, but its "
        "sealed key or a field bound to it was changed (tampered with or corrupt)"
    )
    assert err.value.hint == (
        "open with another slot, or put back a copy of the slot kept outside the bucket "
        "(docs/keys.md, 'The key ring')"
    )
    assert err.value.slot_id == info.slot_id


def test_a_check_field_that_is_not_strict_base64_reads_as_a_wrong_credential(
    pw_slot: tuple[KeySlotInfo, bytes],
) -> None:
    """The check tells a changed slot from a wrong passphrase only when it is the one written: a
    check with stray characters (which a lenient decoder would skip) is malformed, so no claim of
    tampering is made on its word."""
    _, document = pw_slot
    check = json.loads(document)["check"]
    changed = _edit(document, label="relabelled", check="!" + check)
    with pytest.raises(WrongKey) as err:
        unwrap(changed, pw())
    assert not isinstance(err.value, SlotTampered)
    assert err.value.message == WRONG


def test_a_writer_slot_opened_as_master_says_why(master: MasterKey) -> None:
    _, document = wrap_writer(master.writer_key(), pw(), label="w", scrypt_n=FAST_N)
    with pytest.raises(WrongKey) as err:
        unwrap(document, pw())
    assert err.value.message == WRONG
    assert err.value.hint == "this is a write-only (writer) slot: it holds no master key"


@pytest.mark.parametrize("role", ["master", "writer"])
def test_a_slot_that_opens_to_no_valid_key_is_a_wrong_key(role: str) -> None:
    _, document = keyslots._wrap(b"not a key", role, pw(), label="odd", kind=None, scrypt_n=FAST_N, now=None)
    for opener in (unwrap, unwrap_writer) if role == "master" else (unwrap_writer,):
        with pytest.raises(WrongKey) as err:
            opener(document, pw())
        assert err.value.message == WRONG
        assert err.value.hint is None


# -- slot documents --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"kdf_name": "pbkdf2"},  # a passphrase slot must use scrypt, whatever its parameters
        {"kdf_r": 8.0},  # numbers, but not integers
        {"kdf_n": True},
        {"kdf_p": 1.5},
    ],
    ids=["another kdf", "float r", "bool n", "float p"],
)
def test_a_passphrase_slot_with_other_kdf_parameters_is_not_a_slot(
    pw_slot: tuple[KeySlotInfo, bytes], fields: dict[str, object]
) -> None:
    with pytest.raises(VerificationFailed) as err:
        slot_info(_edit(pw_slot[1], **fields))
    assert err.value.message == "not a valid drkit key slot document"


@pytest.fixture
def new_york() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_a_slot_creation_time_reads_back_in_utc(new_york: None, pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    document = _edit(pw_slot[1], created="2026-11-26T06:30:15+02:00")
    created = slot_info(document).created
    assert created == datetime(2026, 11, 26, 4, 30, 15, tzinfo=UTC)
    assert created.tzinfo is UTC


def test_a_writer_slot_keeps_the_kind_cost_and_time_asked_for(master: MasterKey) -> None:
    both = Credential(passphrase=Secret("a passphrase"), keyfile=Secret(generate_keyfile()))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    info, document = wrap_writer(
        master.writer_key(), both, label="w", kind="passphrase", scrypt_n=FAST_N, now=when
    )
    assert info.kind == "passphrase"
    assert info.created == when
    doc = json.loads(document)
    assert (doc["kind"], doc["kdf"]["n"], doc["created"]) == ("passphrase", FAST_N, "2026-01-02T03:04:05Z")
    info, _ = wrap_writer(master.writer_key(), both, label="w", kind="keyfile")
    assert info.kind == "keyfile"


# -- credentials from options and the environment --------------------------------------------------


def test_where_the_credential_came_from_is_named(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("a passphrase\n")
    key_file = tmp_path / "key"
    key_file.write_bytes(generate_keyfile())
    both = Credential.from_env_and_options(password_file, key_file, env={})
    assert both.source == f"the passphrase in {password_file} and the key file {key_file}"
    env = Credential.from_env_and_options(None, None, env={"DRKIT_PASSWORD": "p"})
    assert env.source == "the passphrase in DRKIT_PASSWORD"


def test_no_credential_names_every_way_to_give_one() -> None:
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(None, None, env={})
    assert err.value.message == "no passphrase or key file given"
    assert err.value.hint == (
        "use --password-file or --key-file, or set DRKIT_PASSWORD_FILE, DRKIT_PASSWORD or DRKIT_KEY_FILE"
    )


def test_a_password_file_that_is_not_text_or_empty_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "pw.bin"
    binary.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(binary, None, env={})
    assert err.value.message == f"{binary}: the password file is not UTF-8 text"
    assert err.value.file == str(binary)
    empty = tmp_path / "empty"
    empty.write_text("\r\n")
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(empty, None, env={})
    assert err.value.message == f"the password file {empty} is empty"


@pytest.mark.parametrize("what", ["password file", "key file"])
def test_an_unreadable_file_is_named_with_the_reason(tmp_path: Path, what: str) -> None:
    absent = tmp_path / "absent"
    args = (absent, None) if what == "password file" else (None, absent)
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(*args, env={})
    assert err.value.message == f"{absent}: cannot read the {what}: No such file or directory"
    assert err.value.file == str(absent)


def test_key_file_sizes_and_damage_are_named(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(bytes(range(32)))  # 32 bytes: the least a raw key file may have
    assert Credential.from_env_and_options(None, exact, env={}).keyfile == Secret(bytes(range(32)))
    short = tmp_path / "short"
    short.write_bytes(bytes(range(31)))
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(None, short, env={})
    assert err.value.message == f"{short} is too short to be a key (31 bytes, at least 32)"
    key_line = base64.b64encode(os.urandom(32))
    lenient = tmp_path / "lenient"  # a stray character that a lenient decoder would skip
    lenient.write_bytes(keyslots.KEYFILE_HEADER + b"\n" + key_line[:8] + b"!" + key_line[8:] + b"\n")
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(None, lenient, env={})
    assert err.value.message == f"{lenient} is damaged (its key line is not base64)"
    wrong_size = tmp_path / "wrong-size"
    wrong_size.write_bytes(keyslots.KEYFILE_HEADER + b"\n" + base64.b64encode(os.urandom(31)) + b"\n")
    with pytest.raises(ConfigError) as err:
        Credential.from_env_and_options(None, wrong_size, env={})
    assert err.value.message == f"{wrong_size} is damaged (its key is not 32 bytes)"


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [(2, 8, 1), (16, 2**18, 16), (2**14, 8, 16)],
    ids=["the least n", "exactly 1 GiB", "the most p"],
)
def test_scrypt_parameters_at_their_bounds_are_a_slot(
    pw_slot: tuple[KeySlotInfo, bytes], n: int, r: int, p: int
) -> None:
    info = slot_info(_edit(pw_slot[1], kdf_n=n, kdf_r=r, kdf_p=p))
    assert info.slot_id == pw_slot[0].slot_id


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [(1, 8, 1), (6, 8, 1), (12, 8, 1), (16, 2**18 + 1, 16), (2**20, 2**10, 1), (16, 8, 17), (16, 0, 1)],
    ids=["n 1", "n 6", "n 12", "just over 1 GiB", "far over 1 GiB", "p 17", "r 0"],
)
def test_scrypt_parameters_past_their_bounds_are_not_a_slot(
    pw_slot: tuple[KeySlotInfo, bytes], n: int, r: int, p: int
) -> None:
    """A crafted slot must not make drkit allocate more than 1 GiB or spin (a denial of service)."""
    with pytest.raises(VerificationFailed) as err:
        slot_info(_edit(pw_slot[1], kdf_n=n, kdf_r=r, kdf_p=p))
    assert err.value.message == "not a valid drkit key slot document"


# -- creating a slot -------------------------------------------------------------------------------


def test_an_empty_passphrase_is_refused_only_for_a_passphrase_slot(master: MasterKey) -> None:
    with pytest.raises(ConfigError) as err:
        wrap(master, pw(""), label="x", scrypt_n=FAST_N)
    assert err.value.message == "the passphrase is empty"
    keyfile = generate_keyfile()
    both = Credential(passphrase=Secret(""), keyfile=Secret(keyfile))
    info, document = wrap(master, both, label="x", kind="keyfile")
    assert info.kind == "keyfile"
    assert unwrap(document, Credential(keyfile=Secret(keyfile))) == master


@pytest.mark.parametrize("length", [0, 199, 200])
def test_a_label_of_up_to_200_characters_is_kept(master: MasterKey, length: int) -> None:
    info, document = wrap(master, pw(), label="l" * length, scrypt_n=FAST_N)
    assert info.label == "l" * length
    assert slot_info(document).label == "l" * length


@pytest.mark.parametrize("label", ["l" * 201, "with\x00nul", "\x00"])
def test_a_longer_label_or_one_with_nul_is_refused(master: MasterKey, label: str) -> None:
    with pytest.raises(ConfigError) as err:
        wrap(master, pw(), label=label, scrypt_n=FAST_N)
    assert err.value.message == "label: a key slot label has at most 200 characters and no NUL"
    assert err.value.field == "label"


def test_a_new_slot_is_created_now_in_utc_whatever_the_local_zone(new_york: None, master: MasterKey) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    info, document = wrap(master, pw(), label="x", scrypt_n=FAST_N)
    assert info.created.tzinfo is UTC
    assert before <= info.created <= datetime.now(UTC)
    assert json.loads(document)["created"] == info.created.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_slot_document_is_laid_out_as_documented(
    master: MasterKey, pw_slot: tuple[KeySlotInfo, bytes]
) -> None:
    """A slot is kept outside the bucket as a file (docs/keys.md): two-space JSON, fields in the
    documented order, one newline at the end."""
    document = pw_slot[1]
    doc = json.loads(document)
    assert list(doc) == [
        "format",
        "version",
        "slot_id",
        "role",
        "kind",
        "label",
        "created",
        "host",
        "user",
        "kdf",
        "check",
        "wrapped",
    ]
    assert list(doc["kdf"]) == ["name", "n", "r", "p", "salt"]
    assert document == (json.dumps(doc, indent=2) + "\n").encode()


def test_which_credential_a_slot_needs_is_named(master: MasterKey) -> None:
    cases: list[tuple[Credential, str | None, str]] = [
        (Credential(), None, "no passphrase or key file given"),
        (
            Credential(passphrase=Secret("p"), keyfile=Secret(generate_keyfile())),
            None,
            "give either a passphrase or a key file to create a key slot",
        ),
        (pw(), "keyfile", "a keyfile slot needs a key file"),
        (
            Credential(keyfile=Secret(generate_keyfile())),
            "passphrase",
            "a passphrase slot needs a passphrase",
        ),
    ]
    for credential, kind, message in cases:
        with pytest.raises(ConfigError) as err:
            wrap(master, credential, label="x", kind=kind, scrypt_n=FAST_N)
        assert err.value.message == message


def test_the_scrypt_cost_asked_for_must_be_a_power_of_two_within_1_gib() -> None:
    assert keyslots._scrypt_n(2) == 2
    assert keyslots._scrypt_n(2**20) == 2**20  # 128 * r * n = 1 GiB exactly
    for n in (1, 3, 6, 12, 2**21):
        with pytest.raises(ValueError, match=r"^scrypt n must be a power of two within the memory bound$"):
            keyslots._scrypt_n(n)


# -- reading a slot document -----------------------------------------------------------------------


def test_a_slot_document_of_up_to_64_kib_is_read(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    document = pw_slot[1]
    padded = document + b" " * (64 * 1024 - len(document))
    assert slot_info(padded).slot_id == pw_slot[0].slot_id
    with pytest.raises(VerificationFailed, match=r"^not a valid drkit key slot document$"):
        slot_info(padded + b" ")


def test_a_slot_written_before_roles_is_a_master_slot(pw_slot: tuple[KeySlotInfo, bytes]) -> None:
    doc = json.loads(pw_slot[1])
    del doc["role"]
    assert slot_info(json.dumps(doc).encode()).role == "master"


@pytest.mark.parametrize(
    "fields",
    [
        {"version": 2},
        {"format": "other"},
        {"slot_id": "not-a-slot-id"},
        {"label": 5},
        {"role": "admin"},
        {"kind": "token"},
        {"kdf": ["hkdf-sha256"]},
        {"wrapped": "!"},
        {"kdf_salt": "!" + base64.b64encode(bytes(32)).decode()},
        {"kdf_salt": base64.b64encode(bytes(15)).decode()},
    ],
    ids=["version", "format", "slot id", "label", "role", "kind", "kdf", "wrapped", "salt base64", "salt 15"],
)
def test_a_slot_with_one_field_wrong_is_not_a_slot(master: MasterKey, fields: dict[str, object]) -> None:
    """Each field alone (here on a key file slot, whose kdf has no cost to check)."""
    _, document = wrap(master, Credential(keyfile=Secret(generate_keyfile())), label="k")
    with pytest.raises(VerificationFailed) as err:
        slot_info(_edit(document, **fields))
    assert err.value.message == "not a valid drkit key slot document"


def test_a_salt_of_16_bytes_is_enough(master: MasterKey) -> None:
    _, document = wrap(master, Credential(keyfile=Secret(generate_keyfile())), label="k")
    info = slot_info(_edit(document, kdf_salt=base64.b64encode(bytes(16)).decode()))
    assert info.kind == "keyfile"


def test_the_check_field_is_the_documented_mac_of_the_kek(master: MasterKey) -> None:
    """docs/keys.md: check = HMAC-SHA256(KEK, "drkit keyslot v1 kek check"), first 16 bytes; for a
    key file slot, KEK = HKDF-SHA256(key, salt, info "drkit/v1 keyslot keyfile")."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    contents = generate_keyfile()
    _, document = wrap(master, Credential(keyfile=Secret(contents)), label="k")
    doc = json.loads(document)
    key = base64.b64decode(contents.splitlines()[1])
    salt = base64.b64decode(doc["kdf"]["salt"])
    kek = HKDF(hashes.SHA256(), 32, salt, b"drkit/v1 keyslot keyfile").derive(key)
    expected = hmac.new(kek, b"drkit keyslot v1 kek check", hashlib.sha256).digest()[:16]
    assert base64.b64decode(doc["check"]) == expected


def test_a_host_or_user_that_cannot_be_found_is_still_recorded(
    master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass
    import socket

    def no_host() -> str:
        raise OSError("no name")

    def no_user() -> str:
        raise KeyError("uid not in passwd")

    monkeypatch.setattr(socket, "gethostname", no_host)
    monkeypatch.setattr(getpass, "getuser", no_user)
    info, _ = wrap(master, pw(), label="x", scrypt_n=FAST_N)
    assert (info.host, info.user) == ("unknown", str(os.getuid()))
