"""Key slots: the master key sealed under a user's credential (a passphrase or a key file).

A slot is a small JSON document stored under ``keys/<slot_id>``. Its layout, and the reason for each
field, is in docs/keys.md. In short: a key-encryption key (KEK) is derived from the credential --
scrypt for a passphrase, HKDF-SHA256 for a key file -- with a random per-slot salt, and seals the
serialized master key (``drkit.repo.format.crypto``) with associated data that binds every other field of
the document. A slot also carries ``check``, a short MAC of a fixed string under the KEK: it tells a
wrong credential (``check`` differs: ``WrongKey``) from a document changed after it was written (the
credential derives the right KEK, ``check`` matches, the sealed key does not open:
:class:`SlotTampered`, a ``VerificationFailed``). Slots written before ``check`` existed fail both
ways as ``WrongKey``.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from drkit.errors import ConfigError, VerificationFailed, WrongKey
from drkit.repo.format import crypto
from drkit.repo.format.crypto import KEY_SIZE
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.secret import Secret

FORMAT: Final = "drkit-keyslot"
VERSION: Final = 1
KIND_PASSPHRASE: Final = "passphrase"  # noqa: S105 (a slot kind, not a password)
KIND_KEYFILE: Final = "keyfile"
KINDS: Final = (KIND_PASSPHRASE, KIND_KEYFILE)
ROLE_MASTER: Final = "master"
ROLE_WRITER: Final = "writer"

SCRYPT_N: Final = 2**16  # 64 MiB with r=8, ~0.25 s on one core of the reference machine
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SCRYPT_MAX_MEMORY: Final = 1 << 30  # refuse slots asking for more than 1 GiB (a crafted slot as a DoS)
TEST_SCRYPT_ENV: Final = "DRKIT_SCRYPT_N"
"""Test-only override of scrypt's n, honoured only while pytest runs (PYTEST_CURRENT_TEST is set)."""

SALT_SIZE: Final = 32
SLOT_ID_BYTES: Final = 16
KEYFILE_HEADER: Final = b"# drkit key file v1 -- keep it secret: it opens the repository's key slot"
KEYFILE_MIN_BYTES: Final = 32
MAX_DOCUMENT_BYTES: Final = 64 * 1024

_AAD_PREFIX: Final = b"drkit keyslot v1"
_CHECK_INFO: Final = b"drkit keyslot v1 kek check"
CHECK_SIZE: Final = 16
_HKDF_INFO: Final = b"drkit/v1 keyslot keyfile"
_SLOT_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
_WRONG: Final = "the passphrase or key file opens no key slot"

ENV_PASSWORD: Final = "DRKIT_PASSWORD"  # noqa: S105 (names of variables)
ENV_PASSWORD_FILE: Final = "DRKIT_PASSWORD_FILE"  # noqa: S105
ENV_KEY_FILE: Final = "DRKIT_KEY_FILE"


class SlotTampered(VerificationFailed):
    """A key slot whose credential is right (its KEK check matches) but whose sealed key does not
    open: the document was changed after it was written, or is corrupt."""

    def __init__(self, slot_id: str) -> None:
        super().__init__(
            f"key slot keys/{slot_id} fails its integrity check: the credential is right for it, but its "
            "sealed key or a field bound to it was changed (tampered with or corrupt)",
            hint="open with another slot, or put back a copy of the slot kept outside the bucket "
            "(docs/keys.md, 'The key ring')",
        )
        self.slot_id = slot_id


@dataclass(frozen=True)
class Credential:
    """What the user gives to open (or create) a key slot. Both fields print as a mask."""

    passphrase: Secret | None = None
    keyfile: Secret | None = None  # the contents of the key file
    source: str = field(default="", compare=False)  # where it came from, for messages (never the value)

    @classmethod
    def from_env_and_options(
        cls,
        password_file: Path | None,
        key_file: Path | None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> Credential:
        """Collect the credential from options, else ``DRKIT_PASSWORD_FILE``/``DRKIT_PASSWORD`` and
        ``DRKIT_KEY_FILE``. An option wins over its environment variable. ``ConfigError`` if none."""
        environ = os.environ if env is None else env
        passphrase: Secret | None = None
        sources: list[str] = []
        if password_file is None and environ.get(ENV_PASSWORD_FILE):
            password_file = Path(environ[ENV_PASSWORD_FILE])
        if password_file is not None:
            sources.append(f"the passphrase in {password_file}")
            try:
                text = _read_file(password_file, "password file").decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError("the password file is not UTF-8 text", file=str(password_file)) from None
            passphrase = Secret(_strip_newline(text))
            _check_passphrase(passphrase, f"the password file {password_file}")
        elif environ.get(ENV_PASSWORD):
            passphrase = Secret(environ[ENV_PASSWORD])
            sources.append(f"the passphrase in {ENV_PASSWORD}")
        keyfile: Secret | None = None
        if key_file is None and environ.get(ENV_KEY_FILE):
            key_file = Path(environ[ENV_KEY_FILE])
        if key_file is not None:
            sources.append(f"the key file {key_file}")
            keyfile = Secret(_read_file(key_file, "key file"))
            _keyfile_ikm(keyfile, where=str(key_file))
        if passphrase is None and keyfile is None:
            raise ConfigError(
                "no passphrase or key file given",
                hint=f"use --password-file or --key-file, or set {ENV_PASSWORD_FILE}, {ENV_PASSWORD} or "
                f"{ENV_KEY_FILE}",
            )
        return cls(passphrase=passphrase, keyfile=keyfile, source=" and ".join(sources))

    def kinds(self) -> tuple[str, ...]:
        """The slot kinds this credential can open."""
        return tuple(
            kind
            for kind, given in ((KIND_PASSPHRASE, self.passphrase), (KIND_KEYFILE, self.keyfile))
            if given is not None
        )


@dataclass(frozen=True)
class KeySlotInfo:
    """The public facts of a key slot (nothing here is secret)."""

    slot_id: str
    kind: str  # "passphrase" | "keyfile"
    label: str
    created: datetime
    host: str
    user: str
    role: str = ROLE_MASTER  # "master" | "writer" (write-only mode, docs/keys.md)


def generate_keyfile() -> bytes:
    """New key file contents: a header line, then 32 random bytes in base64, then a newline."""
    return KEYFILE_HEADER + b"\n" + base64.b64encode(os.urandom(KEY_SIZE)) + b"\n"


def new_slot_id() -> str:
    """A random slot id (32 hex digits), never derived from a secret."""
    return os.urandom(SLOT_ID_BYTES).hex()


def wrap(
    master: MasterKey,
    credential: Credential,
    *,
    label: str,
    kind: str | None = None,
    scrypt_n: int | None = None,
    now: datetime | None = None,
) -> tuple[KeySlotInfo, bytes]:
    """Seal ``master`` into a new slot document opened by ``credential``.

    ``kind`` chooses which part of a credential holding both is used (else ``ConfigError``).
    ``scrypt_n`` lowers the cost for tests only: it must be a power of two.
    """
    return _wrap(
        master.to_bytes(), ROLE_MASTER, credential, label=label, kind=kind, scrypt_n=scrypt_n, now=now
    )


def wrap_writer(
    writer: WriterKey,
    credential: Credential,
    *,
    label: str,
    kind: str | None = None,
    scrypt_n: int | None = None,
    now: datetime | None = None,
) -> tuple[KeySlotInfo, bytes]:
    """Seal a write-only :class:`WriterKey` into a ``writer`` slot (it opens no past data)."""
    return _wrap(
        writer.to_bytes(), ROLE_WRITER, credential, label=label, kind=kind, scrypt_n=scrypt_n, now=now
    )


def unwrap(document: bytes, credential: Credential) -> MasterKey:
    """Open a master slot. ``WrongKey`` when the credential does not open it (or it was tampered with)."""
    info, raw = _unwrap(document, credential)
    if info.role != ROLE_MASTER:
        raise WrongKey(_WRONG, hint="this is a write-only (writer) slot: it holds no master key")
    try:
        return MasterKey.from_bytes(raw)
    except VerificationFailed:
        raise WrongKey(_WRONG) from None


def unwrap_writer(document: bytes, credential: Credential) -> WriterKey:
    """Open a writer slot -- or a master slot, giving the writer part of its master key."""
    info, raw = _unwrap(document, credential)
    try:
        if info.role == ROLE_MASTER:
            return MasterKey.from_bytes(raw).writer_key()
        return WriterKey.from_bytes(raw)
    except VerificationFailed:
        raise WrongKey(_WRONG) from None


def slot_info(document: bytes) -> KeySlotInfo:
    """Parse a slot document's public facts. ``VerificationFailed`` if it is not a slot document."""
    return _parse(document)[0]


# -- internals -------------------------------------------------------------------------------------


def _wrap(
    raw_key: bytes,
    role: str,
    credential: Credential,
    *,
    label: str,
    kind: str | None,
    scrypt_n: int | None,
    now: datetime | None,
) -> tuple[KeySlotInfo, bytes]:
    kind = _choose_kind(credential, kind)
    if kind == KIND_PASSPHRASE and credential.passphrase is not None:
        _check_passphrase(credential.passphrase, "the passphrase")
    if "\x00" in label or len(label) > 200:
        raise ConfigError("a key slot label has at most 200 characters and no NUL", field="label")
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    info = KeySlotInfo(
        slot_id=new_slot_id(),
        kind=kind,
        label=label,
        created=created,
        host=_host(),
        user=_user(),
        role=role,
    )
    salt = os.urandom(SALT_SIZE)
    kdf: dict[str, Any]
    if kind == KIND_PASSPHRASE:
        n = _scrypt_n(scrypt_n)
        kdf = {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)}
    else:
        kdf = {"name": "hkdf-sha256", "salt": _b64(salt)}
    kek = _derive_kek(kind, kdf, salt, credential)
    sealed = crypto.seal(kek, raw_key, _aad(info, kdf))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "slot_id": info.slot_id,
        "role": info.role,
        "kind": info.kind,
        "label": info.label,
        "created": _format_time(info.created),
        "host": info.host,
        "user": info.user,
        "kdf": kdf,
        "check": _b64(_kek_check(kek)),
        "wrapped": _b64(sealed),
    }
    return info, (json.dumps(document, indent=2, sort_keys=False) + "\n").encode()


def _unwrap(document: bytes, credential: Credential) -> tuple[KeySlotInfo, bytes]:
    try:
        info, kdf, salt, sealed = _parse(document)
    except VerificationFailed:
        raise WrongKey(_WRONG) from None
    secret = credential.passphrase if info.kind == KIND_PASSPHRASE else credential.keyfile
    if secret is None:
        raise WrongKey(_WRONG)
    kek = _derive_kek(info.kind, kdf, salt, credential)
    try:
        return info, crypto.open_sealed(kek, sealed, _aad(info, kdf))
    except VerificationFailed:
        check = _check_of(document)
        if check is not None and hmac.compare_digest(check, _kek_check(kek)):
            raise SlotTampered(info.slot_id) from None
        raise WrongKey(_WRONG) from None


def _kek_check(kek: bytes) -> bytes:
    """A MAC of a fixed string under the KEK: tells a wrong credential from a changed document. It
    lets a guess be tested no faster than opening the sealed key already does (one KDF per guess)."""
    return hmac.new(kek, _CHECK_INFO, hashlib.sha256).digest()[:CHECK_SIZE]


def _check_of(document: bytes) -> bytes | None:
    """The ``check`` field of a parsed slot document, ``None`` when absent (an older slot) or malformed."""
    try:
        value = json.loads(document).get("check")
        return base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (ValueError, binascii.Error):
        return None


def _parse(document: bytes) -> tuple[KeySlotInfo, dict[str, Any], bytes, bytes]:
    bad = VerificationFailed("not a valid drkit key slot document")
    if len(document) > MAX_DOCUMENT_BYTES:
        raise bad
    try:
        doc = json.loads(document)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise bad
        kind = doc["kind"]
        role = doc.get("role", ROLE_MASTER)
        kdf = doc["kdf"]
        strings = [doc[k] for k in ("slot_id", "label", "created", "host", "user", "wrapped")]
        if (
            kind not in KINDS
            or role not in (ROLE_MASTER, ROLE_WRITER)
            or not all(isinstance(s, str) for s in strings)
            or not isinstance(kdf, dict)
            or not _SLOT_ID_RE.match(doc["slot_id"])
        ):
            raise bad
        salt = base64.b64decode(kdf["salt"], validate=True)
        sealed = base64.b64decode(doc["wrapped"], validate=True)
        _check_kdf(kind, kdf)
        info = KeySlotInfo(
            slot_id=doc["slot_id"],
            kind=kind,
            label=doc["label"],
            created=_parse_time(doc["created"]),
            host=doc["host"],
            user=doc["user"],
            role=role,
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad from None
    if len(salt) < 16:
        raise bad
    return info, kdf, salt, sealed


def _check_kdf(kind: str, kdf: dict[str, Any]) -> None:
    if kind == KIND_PASSPHRASE:
        n, r, p = kdf["n"], kdf["r"], kdf["p"]
        if kdf["name"] != "scrypt" or not all(type(v) is int and v >= 1 for v in (n, r, p)):
            raise ValueError("bad scrypt parameters")
        if n < 2 or n & (n - 1) or 128 * r * (n + p) > SCRYPT_MAX_MEMORY or p > 16:
            raise ValueError("scrypt parameters out of range")
    elif kdf["name"] != "hkdf-sha256":
        raise ValueError("bad kdf")


def _derive_kek(kind: str, kdf: dict[str, Any], salt: bytes, credential: Credential) -> bytes:
    if kind == KIND_PASSPHRASE:
        assert credential.passphrase is not None
        scrypt = Scrypt(salt=salt, length=KEY_SIZE, n=kdf["n"], r=kdf["r"], p=kdf["p"])
        return scrypt.derive(_passphrase_bytes(credential.passphrase))
    assert credential.keyfile is not None
    ikm = _keyfile_ikm(credential.keyfile, where="the key file")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=_HKDF_INFO).derive(ikm)


def _aad(info: KeySlotInfo, kdf: dict[str, Any]) -> bytes:
    """Associated data binding every field of the document but ``wrapped``: length-prefixed UTF-8."""
    fields = [
        info.slot_id,
        info.role,
        info.kind,
        info.label,
        _format_time(info.created),
        info.host,
        info.user,
        kdf["name"],
        str(kdf.get("n", "")),
        str(kdf.get("r", "")),
        str(kdf.get("p", "")),
        kdf["salt"],
    ]
    out = bytearray(_AAD_PREFIX)
    for value in fields:
        encoded = value.encode("utf-8")
        out += struct.pack(">I", len(encoded)) + encoded
    return bytes(out)


def _choose_kind(credential: Credential, kind: str | None) -> str:
    available = credential.kinds()
    if kind is None:
        if len(available) != 1:
            raise ConfigError(
                "give either a passphrase or a key file to create a key slot"
                if available
                else "no passphrase or key file given",
            )
        return available[0]
    if kind not in available:
        raise ConfigError(f"a {kind} slot needs a {kind.replace('keyfile', 'key file')}")
    return kind


def _scrypt_n(requested: int | None) -> int:
    n = requested
    if n is None:
        override = os.environ.get(TEST_SCRYPT_ENV)
        n = int(override) if override and os.environ.get("PYTEST_CURRENT_TEST") else SCRYPT_N
    if n < 2 or n & (n - 1) or 128 * SCRYPT_R * n > SCRYPT_MAX_MEMORY:
        raise ValueError("scrypt n must be a power of two within the memory bound")
    return n


def _passphrase_bytes(passphrase: Secret) -> bytes:
    """NFC-normalized UTF-8; a passphrase given as bytes that are not UTF-8 is used as it is."""
    value = passphrase.reveal()
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).encode("utf-8")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value
    return unicodedata.normalize("NFC", text).encode("utf-8")


def _check_passphrase(passphrase: Secret, where: str) -> None:
    if not passphrase.reveal_bytes():
        raise ConfigError(f"{where} is empty")


def _keyfile_ikm(keyfile: Secret, *, where: str) -> bytes:
    """The key material of a key file: the base64 line of drkit's format, else the whole file."""
    raw = keyfile.reveal_bytes()
    lines = raw.splitlines()
    if len(lines) >= 2 and lines[0].strip() == KEYFILE_HEADER:
        try:
            key = base64.b64decode(lines[1].strip(), validate=True)
        except binascii.Error:
            raise ConfigError(f"{where} is damaged (its key line is not base64)") from None
        if len(key) == KEY_SIZE:
            return key
        raise ConfigError(f"{where} is damaged (its key is not {KEY_SIZE} bytes)")
    if len(raw) < KEYFILE_MIN_BYTES:
        raise ConfigError(
            f"{where} is too short to be a key ({len(raw)} bytes, at least {KEYFILE_MIN_BYTES})"
        )
    return raw


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", file=str(path)) from None


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("a slot's creation time must carry its zone")
    return when.astimezone(UTC)


def _format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _host() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())
